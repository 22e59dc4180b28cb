"""InfluxDB series cardinality of a fleet's history grows with the devices, not the runs:
``run_id``/``test_id`` are fields, never tags (a real influxd, the real forwarder)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.config import load_spec
from harness.fleet import FleetDevice, write_fleet
from harness.history import AgingLaw
from harness.record.forwarder import Backoff, Forwarder
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
END = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
TAG_KEYS = {"station", "stimulator_model", "stimulator_serial", "coil_model", "coil_serial",
            "waveform", "name", "unit", "verdict", "test", "event", "bench", "outcome"}


def _stable_fleet(devices: int) -> list[FleetDevice]:
    """Devices that neither age nor leave their marginal band: every check passes, so the
    tag values (verdicts) are the same in a short and a long history."""
    return [FleetDevice(AgingLaw(f"CARD-{i:03d}", 0.0, 0.0), f"line-{i % 2 + 1}", "rapid2",
                        f"D70-{i:03d}", phase_days=0.5 * i) for i in range(devices)]


def _series(srv, db: str) -> list[str]:
    answer = srv.query("SHOW SERIES", db=db)
    (result,) = answer["results"]
    ((series),) = result["series"]
    return [v[0] for v in series["values"]]


def _load(srv, tmp_path: Path, db: str, devices: int, days: float) -> tuple[list[str], int]:
    journal = tmp_path / f"{db}.sqlite"
    spec = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml")
    res = write_fleet(journal, spec, _stable_fleet(devices), days=days, every_days=7.0, end=END)
    srv.create_database(db)
    sync = Forwarder(journal, InfluxTarget(url=srv.url, database=db, api="v1"),
                     backoff=Backoff(initial_s=0.05, max_s=0.3)).sync(timeout_s=120)
    assert sync.ok and sync.sent == res.rows, sync
    return _series(srv, db), srv.count("tms_run", "operator", db=db)


def test_series_grow_with_devices_not_with_runs(influxdb, tmp_path: Path) -> None:
    short, runs_short = _load(influxdb, tmp_path, "short", devices=5, days=60)
    long, runs_long = _load(influxdb, tmp_path, "long", devices=5, days=240)
    wide, _ = _load(influxdb, tmp_path, "wide", devices=10, days=60)
    assert runs_long >= 3.5 * runs_short  # four times the history: four times the runs...
    assert sorted(long) == sorted(short)  # ...and not one series more
    assert len(wide) == 2 * len(short)  # twice the devices: twice the series
    for key in short:  # "tms_pulse,coil_model=D70,...": only bounded tags
        tags = {kv.split("=", 1)[0] for kv in key.split(",")[1:]}
        assert tags <= TAG_KEYS, key
        assert "run_id" not in tags and "test_id" not in tags
    per_device = len(short) / 5
    assert 5 <= per_device <= 20, short
