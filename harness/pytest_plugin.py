"""tmsbench pytest plugin (options, markers, fixtures). Filled in by the plugin issue."""
