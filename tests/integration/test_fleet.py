"""``tmsbench demo-history --fleet`` writes a fleet's calibration history straight to the
journal; ``tmsbench drift`` reads it back: every device, with the rate of its aging law."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from pathlib import Path

import pytest
import tomli_w

from harness.cli import main
from harness.drift.source import histories_from_influx, histories_from_journal
from harness.fleet import fleet_devices

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

DEVICES, STATIONS, DAYS, EVERY = 12, 3, 730.0, 14.0


def _covers(lo: float, hi: float, truth: float, slack: float = 0.5) -> bool:
    """``truth`` in the CI widened by ``slack`` of its half-width on each side."""
    half = (hi - lo) / 2
    return lo - slack * half <= truth <= hi + slack * half


def test_drift_reads_every_device_of_a_fleet_with_its_aging_rate(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    rc = main(["demo-history", "--fleet", "--devices", str(DEVICES), "--stations",
               str(STATIONS), "--days", str(DAYS), "--every-days", str(EVERY),
               "--journal", str(journal), "--seed", "5"])
    assert rc == 0
    summary = tmp_path / "drift.json"
    rc = main(["drift", "--journal", str(journal), "--out", "", "--json", str(summary)])
    assert rc == 0
    rows = {r["serial"]: r for r in json.loads(summary.read_text())}
    assert sorted(rows) == [f"FLEET-{i:04d}" for i in range(1, DEVICES + 1)]
    # a check every 14 days over two years: 52 or 53 per device
    assert all(r["n_checks"] in (52, 53) for r in rows.values())
    # the same aging laws the generator used (same arguments): the truth
    laws = {d.law.serial: d.law for d in fleet_devices(DEVICES, stations=STATIONS, days=DAYS,
                                                       every_days=EVERY, seed=5)}
    linear = [s for s, law in laws.items() if law.step_day is None]
    assert len(linear) >= DEVICES - 2
    for serial in linear:
        lo, hi = rows[serial]["rate_ci_pct_per_month"]
        truth = laws[serial].rate_pct_per_month
        assert _covers(lo, hi, truth), (serial, rows[serial]["rate_pct_per_month"], lo, hi, truth)
    # fast drifters are seen as drifting (or worse), never ok
    fast = [s for s in linear if laws[s].rate_pct_per_month < -0.15]
    assert all(rows[s]["status"] != "ok" for s in fast)
    # the histories keep the context tags real runs have: each station seen
    hist = histories_from_journal(journal)
    assert {h.tags["station"] for h in hist} == {f"line-{k}" for k in range(1, STATIONS + 1)}
    # one run per check, each finished with a verdict, one test attempt each
    db = sqlite3.connect(journal)
    try:
        checks = sum(r["n_checks"] for r in rows.values())
        (runs, unfinished) = db.execute(
            "SELECT count(*), sum(verdict IS NULL) FROM runs").fetchone()
        assert (runs, unfinished) == (checks, 0)
        kinds = dict(db.execute("SELECT kind, count(*) FROM points GROUP BY kind").fetchall())
    finally:
        db.close()
    assert kinds == {"run": 2 * checks, "pulse": 5 * checks, "measurement": 4 * checks,
                     "calibration": checks, "test": checks}
    rc = main(["verify", "--journal", str(journal)])
    assert rc == 0


def test_fleet_reaches_the_benchs_influxdb_and_drift_reads_it_there(influxdb, tmp_path: Path):
    influxdb.create_database("tms")
    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    raw["spec"] = str((ROOT / "specs" / "magstim-rapid2-d70.toml").resolve())
    raw.setdefault("sinks", {})["influxdb"] = {"url": influxdb.url, "database": "tms",
                                               "api": "v1"}
    bench = tmp_path / "fleet-influx.toml"
    bench.write_text(tomli_w.dumps(raw))
    journal = tmp_path / "journal.sqlite"
    rc = main(["demo-history", "--fleet", "--devices", "4", "--days", "120", "--bench",
               str(bench), "--journal", str(journal)])
    assert rc == 0
    from_journal = histories_from_journal(journal)
    from_influx = histories_from_influx(influxdb.url, "tms")
    assert [h.serial for h in from_influx] == [h.serial for h in from_journal] == [
        f"FLEET-{i:04d}" for i in range(1, 5)]
    for a, b in zip(from_influx, from_journal, strict=True):
        assert list(a.time_ns) == list(b.time_ns) and a.tags == b.tags
        assert list(a.output_A_per_us) == list(b.output_A_per_us)
    db = sqlite3.connect(journal)
    try:
        (pulses,) = db.execute("SELECT count(*) FROM points WHERE kind = 'pulse'").fetchone()
    finally:
        db.close()
    assert pulses > 0
    assert influxdb.count("tms_pulse", "peak_didt_A_per_us", db="tms") == pulses
