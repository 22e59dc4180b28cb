"""pytest fixtures for real servers (import them from ``conftest.py``).

    from conftest_servers import influxdb, influxdb_auth, victoria_metrics  # noqa: F401

A missing server binary skips the test, except when the environment variable
``CI`` is set: there it FAILS, so a CI machine without the servers cannot pass
by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from .servers import InfluxDB1, ServerUnavailable, VictoriaMetrics
except ImportError:  # tests/ is not a package: imported via sys.path (rootdir import)
    from servers import InfluxDB1, ServerUnavailable, VictoriaMetrics  # type: ignore[no-redef]


def missing_server(exc: ServerUnavailable) -> None:
    """Skip (developer machine) or fail (``CI`` set) for a missing server binary."""
    if os.environ.get("CI"):
        pytest.fail(f"{exc} (required when CI is set)", pytrace=False)
    pytest.skip(str(exc))


def _influx(tmp_path: Path, auth: bool) -> Iterator[InfluxDB1]:
    try:
        srv = InfluxDB1.start(tmp_path / "influxdb", auth=auth)
    except ServerUnavailable as exc:
        missing_server(exc)
        raise
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxDB1]:
    """A fresh influxd 1.x (no auth) on a free loopback port, data in tmp_path."""
    yield from _influx(tmp_path, auth=False)


@pytest.fixture
def influxdb_auth(tmp_path: Path) -> Iterator[InfluxDB1]:
    """A fresh influxd 1.x with auth enabled; ``.credentials`` is ``"admin:<pw>"``."""
    yield from _influx(tmp_path, auth=True)


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A fresh VictoriaMetrics on a free loopback port, data in tmp_path."""
    try:
        srv = VictoriaMetrics.start(tmp_path / "victoria-metrics")
    except ServerUnavailable as exc:
        missing_server(exc)
        raise
    try:
        yield srv
    finally:
        srv.stop()
