"""The server fixtures: missing binaries skip locally and fail under CI."""

from __future__ import annotations

import pytest

try:
    from . import conftest_servers as _servers
    from . import servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]
    import servers  # type: ignore[no-redef]


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_missing_binary_fails_under_ci_and_skips_otherwise(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setattr(servers, "find_binary", lambda name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    gen = _servers._influx(tmp_path, auth=False)
    with pytest.raises(outcome):
        next(gen)


def test_influxd_restart_keeps_port_and_data(influxdb):
    influxdb.create_database("x")
    assert influxdb.write("m v=1 1", db="x") == 204
    port = influxdb.port
    influxdb.stop()
    assert not influxdb.running
    influxdb.start_again()
    assert influxdb.port == port and influxdb.count("m", "v", db="x") == 1


influxdb = _servers.influxdb
