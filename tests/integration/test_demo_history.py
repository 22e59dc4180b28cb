"""demo-history runs real calibration checks on aging simulated devices; `tmsbench drift`
finds the drifting one, and its estimated rate matches the configured aging law (the truth).
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
import tomli_w

from harness.cli import main
from harness.drift.source import histories_from_influx, histories_from_journal
from harness.history import AgingLaw, demo_history

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

ROOT = Path(__file__).resolve().parents[2]
STABLE = AgingLaw("IT-STABLE", 0.0, 0.004, label="stable")
DRIFTING = AgingLaw("IT-DRIFT", 0.001, -0.005, label="drifting")  # −3.0 %/month
SPEED = 200.0


def _covers(lo: float, hi: float, truth: float, slack: float = 0.5) -> bool:
    """``truth`` in the CI widened by ``slack`` of its half-width on each side.

    The CI is a 95 % interval and the simulated bench is not bit-for-bit
    repeatable (thread timing), so the plain interval would fail ~1 run in 20;
    widened by half it fails ~1 in 300 while still rejecting a wrong rate.
    """
    half = (hi - lo) / 2
    return lo - slack * half <= truth <= hi + slack * half


@pytest.mark.integration
def test_drift_finds_the_drifting_device_with_the_right_rate(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    lines: list[str] = []
    hist = demo_history(
        days=30, every_days=3, journal=str(journal), results=str(tmp_path / "results"),
        sim_speed=SPEED, laws=[STABLE, DRIFTING], seed=3, report=lines.append,
    )
    assert [h.law.serial for h in hist] == ["IT-STABLE", "IT-DRIFT"] and len(lines) == 2
    for h in hist:
        assert len(h.verdicts) == 11
        span_days = (h.last_ns - h.first_ns) / 86_400e9
        assert span_days == pytest.approx(30.0, abs=0.01)  # calendar dates from the world clock
    # the records in the journal are the checks that ran, one output per check
    (drifting,) = histories_from_journal(journal, "IT-DRIFT")
    assert drifting.serial == "IT-DRIFT" and drifting.output_A_per_us.size == 11
    assert list(drifting.output_A_per_us) == pytest.approx(list(hist[1].output_A_per_us))

    out = tmp_path / "figures"
    summary = tmp_path / "drift.json"
    rc = main(["drift", "--journal", str(journal), "--out", str(out), "--json", str(summary)])
    assert rc == 0
    rows = {r["serial"]: r for r in json.loads(summary.read_text())}
    d, s = rows["IT-DRIFT"], rows["IT-STABLE"]
    assert d["status"] == "drifting"
    lo, hi = d["rate_ci_pct_per_month"]
    truth = DRIFTING.rate_pct_per_month
    assert truth == pytest.approx(-3.03, abs=0.02)
    assert hi < 0 and _covers(lo, hi, truth), (d["rate_pct_per_month"], lo, hi, truth)
    assert s["status"] != "drifting" and _covers(*s["rate_ci_pct_per_month"], 0.0)
    # crossing: the truth (the law, from the first check) inside the stated interval
    true_day = hist[1].first_ns / 86_400e9 + DRIFTING.crossing_day(0.95)
    early, late = d["crossing_early_day"], d["crossing_late_day"] or math.inf
    half = (late - early) / 2
    assert early - 0.5 * half <= true_day <= late + 0.5 * half
    for name in ("drift-overview.png", "drift-IT-DRIFT.png", "drift-IT-STABLE.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.integration
def test_history_reaches_influxdb_and_drift_reads_it_back(influxdb, tmp_path: Path) -> None:
    influxdb.create_database("tms")
    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    raw["spec"] = str((ROOT / "specs" / "magstim-rapid2-d70.toml").resolve())
    raw.setdefault("sinks", {})["influxdb"] = {"url": influxdb.url, "database": "tms",
                                               "api": "v1"}
    bench = tmp_path / "sim-influx.toml"
    bench.write_text(tomli_w.dumps(raw))
    journal = tmp_path / "journal.sqlite"
    demo_history(
        days=9, every_days=3, bench=str(bench), journal=str(journal),
        results=str(tmp_path / "results"), sim_speed=SPEED, laws=[DRIFTING], report=None,
    )
    (from_journal,) = histories_from_journal(journal)
    (from_influx,) = histories_from_influx(influxdb.url, "tms", serial="IT-DRIFT")
    assert list(from_influx.time_ns) == list(from_journal.time_ns)
    assert list(from_influx.output_A_per_us) == list(from_journal.output_A_per_us)
    assert from_influx.low_A_per_us == from_journal.low_A_per_us
    assert from_influx.tags == from_journal.tags == {
        "station": "sim-1", "stimulator_model": "rapid2", "coil_serial": "SIM-D70-0001"}
    rc = main(["drift", "--influx-url", influxdb.url, "--database", "tms", "--out", ""])
    assert rc == 0
    # --record: into the bench's journal, forwarded to the bench's InfluxDB
    summary = tmp_path / "drift.json"
    rc = main(["drift", "--bench", str(bench), "--journal", str(journal), "--out", "",
               "--json", str(summary), "--record"])
    assert rc == 0
    (d,) = json.loads(summary.read_text())
    answer = influxdb.query(
        "SELECT \"value\", \"drift_status\" FROM \"tms_measurement\" WHERE \"name\" = "
        "'drift rate' GROUP BY \"stimulator_serial\", \"station\", \"verdict\"", db="tms")
    (series,) = answer["results"][0]["series"]
    assert series["tags"]["stimulator_serial"] == "IT-DRIFT"
    assert series["tags"]["station"] == "sim-1"
    ((t, rate, status),) = series["values"]
    assert 0 <= t - int(from_journal.time_ns[-1]) < 1000  # at the last check
    assert (rate, status) == (d["rate_pct_per_month"], d["status"])
