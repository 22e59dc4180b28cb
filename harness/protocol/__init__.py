"""Treatment protocols as data (``protocols/*.toml``), their pre-flight check and runner."""
