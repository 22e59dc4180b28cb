"""Retention and rollup in a real influxd 1.x: `tmsbench influx-setup` makes the retention
policies, raw pulses land in theirs, and the hourly rollup the forwarder writes is exact
whatever the batch boundaries."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from harness.cli import main
from harness.limits import Limits, Measurement
from harness.record.forwarder import Forwarder
from harness.record.journal import Journal
from harness.record.records import pulse_row
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

pytestmark = pytest.mark.integration

DB = "tms"
HOUR_NS = 3_600 * 10**9
T0 = 1_790_000_000 * 10**9 // HOUR_NS * HOUR_NS  # an hour boundary (2026-09-21)
CTX = {"station": "lab-3", "stimulator_model": "rapid2", "stimulator_serial": "SN1",
       "coil_model": "D70", "coil_serial": "C9", "waveform": "biphasic"}
TEST = "tests/bench/test_pulse_shape.py::test_x"


def _pulses(rng: random.Random, n: int, hour: int, verdicts: list[str]) -> list[tuple]:
    """(time_ns, didt, period, verdict) of ``n`` pulses spread over ``hour``."""
    return [(T0 + hour * HOUR_NS + int(rng.uniform(0, HOUR_NS - 1)),
             rng.gauss(80.0, 2.0), rng.gauss(345.0, 1.0), rng.choice(verdicts))
            for _ in range(n)]


def _journal(path: Path, pulses: list[tuple]) -> None:
    lim = Limits.around(80.0, relative=0.05)
    with Journal(path) as j:
        j.append_rows(
            pulse_row({"percent": 60.0, "peak_didt_A_per_us": d, "period_us": p},
                      tags=CTX, run_id="r1", test_id=TEST,
                      time_ns=t, verdict=v)
            for t, d, p, v in sorted(pulses))
        j.append_measurement(Measurement.check("peak dI/dt", 80.0, "A/µs", lim, tags=CTX,
                                               run_id="r1", test_id="t::test_y",
                                               time_ns=T0 + 5))


def test_setup_makes_the_policies_and_is_idempotent(influxdb, capsys) -> None:
    argv = ["influx-setup", "--influx-url", influxdb.url, "--database", DB,
            "--pulse-retention-policy", "pulses", "--pulse-days"]
    assert main([*argv, "60"]) == 0
    assert main([*argv, "60"]) == 0  # the same again: nothing changes
    assert main([*argv, "30"]) == 0  # a policy that exists is altered
    out = capsys.readouterr().out
    assert 'ALTER RETENTION POLICY "pulses" ON "tms" DURATION 30d' in out, out
    rps = {r["name"]: r for r in influxdb.series(f'SHOW RETENTION POLICIES ON "{DB}"', db=DB)}
    assert rps["autogen"]["duration"] == "0s" and rps["autogen"]["default"] is True
    assert rps["autogen"]["shardGroupDuration"] == f"{52 * 7 * 24}h0m0s"
    assert rps["pulses"]["duration"] == f"{30 * 24}h0m0s"
    assert rps["pulses"]["shardGroupDuration"] == "24h0m0s"
    assert rps["pulses"]["default"] is False


def test_raw_pulses_go_to_their_policy_and_the_rollup_is_exact(influxdb, tmp_path) -> None:
    assert main(["influx-setup", "--influx-url", influxdb.url, "--database", DB,
                 "--pulse-retention-policy", "pulses"]) == 0
    rng = random.Random(7)
    pulses = (_pulses(rng, 150, 0, ["pass", "pass", "fail"])
              + _pulses(rng, 90, 1, ["pass", "invalid"]) + _pulses(rng, 3, 5, ["pass"]))
    path = tmp_path / "j.sqlite"
    _journal(path, pulses)
    sink = InfluxTarget(url=influxdb.url, database=DB, api="v1",
                        pulse_retention_policy="pulses", batch_size=37)  # batches split hours
    res = Forwarder(path, sink).sync(timeout_s=60)
    assert res.ok and res.sent == len(pulses) + 1, res

    raw = influxdb.series('SELECT count("peak_didt_A_per_us") FROM "pulses"."tms_pulse"', db=DB)
    assert raw[0]["count"] == len(pulses)
    assert influxdb.series('SELECT * FROM "autogen"."tms_pulse"', db=DB) == []
    assert influxdb.count("tms_measurement", "value", db=DB) == 1  # the rest: the default RP

    rows = influxdb.series('SELECT * FROM "autogen"."tms_pulse_1h"', db=DB)
    assert len(rows) == 3
    for row, hour in zip(rows, (0, 1, 5), strict=True):
        mine = [(d, p, v) for t, d, p, v in pulses if (t - T0) // HOUR_NS == hour]
        assert row["time"] == T0 + hour * HOUR_NS
        assert row["pulses"] == len(mine)
        assert row["failed"] == sum(v in ("fail", "invalid") for _, _, v in mine)
        didt = [d for d, _, _ in mine]
        assert math.isclose(row["peak_didt_A_per_us"], sum(didt) / len(didt), rel_tol=1e-12)
        assert row["peak_didt_A_per_us_min"] == min(didt)
        assert row["peak_didt_A_per_us_max"] == max(didt)
        period = [p for _, p, _ in mine]
        assert math.isclose(row["period_us"], sum(period) / len(period), rel_tol=1e-12)
        assert row["stimulator_serial"] == "SN1" and row["test"] == TEST
        assert "verdict" not in row or row["verdict"] in (None, "")


def test_a_later_forward_of_the_same_hour_rewrites_its_cell(influxdb, tmp_path) -> None:
    influxdb.create_database(DB)
    rng = random.Random(3)
    first, later = _pulses(rng, 20, 0, ["pass"]), _pulses(rng, 30, 0, ["fail"])
    path = tmp_path / "j.sqlite"
    _journal(path, first)
    sink = InfluxTarget(url=influxdb.url, database=DB, api="v1")
    assert Forwarder(path, sink).sync(timeout_s=60).ok
    with Journal(path) as j:  # the same hour, forwarded later (after an outage, say)
        j.append_rows(pulse_row({"peak_didt_A_per_us": d}, tags=CTX, test_id=TEST,
                                time_ns=t, verdict=v) for t, d, _, v in later)
    assert Forwarder(path, sink).sync(timeout_s=60).ok
    (row,) = influxdb.series('SELECT * FROM "tms_pulse_1h"', db=DB)
    assert row["pulses"] == 50 and row["failed"] == 30
    didt = [d for _, d, _, _ in first + later]
    assert math.isclose(row["peak_didt_A_per_us"], sum(didt) / 50, rel_tol=1e-12)
