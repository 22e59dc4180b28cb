"""`tmsbench drift --record`: the journal records of an assessment (harness.drift.record)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tomli_w

from harness.cli import main
from harness.drift import Status, assess_device
from harness.drift.record import (
    CROSSING_NAME,
    DAYS_NAME,
    DRIFT_TEST,
    RATE_NAME,
    VERDICT_OF_STATUS,
    drift_measurements,
    predicted_crossing,
    record_drifts,
)
from harness.drift.source import CalibrationHistory, histories_from_journal, histories_from_points
from harness.drift.trend import NS_PER_DAY
from harness.limits import Limits, Measurement, Verdict
from harness.record.export import Query, query
from harness.record.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
NOMINAL = 68.82
LOW, HIGH = 0.95 * NOMINAL, 1.05 * NOMINAL
DAY0 = 20_000.0
TAGS = {"station": "sim-1", "stimulator_model": "rapid2", "coil_serial": "C1"}


def make_history(serial: str, rate_pct_per_day: float, seed: int, *, n: int = 26,
                 step_last: int = 0, offset: float = 0.0) -> CalibrationHistory:
    """Weekly checks (times at whole ns), optional −2 % step over the last checks."""
    rng = np.random.default_rng(seed)
    t_ns = ((DAY0 + np.arange(n) * 7.0) * NS_PER_DAY).astype(np.int64) + 123_456_789
    t = t_ns / NS_PER_DAY
    y = NOMINAL * (1 + offset) * (1 - rate_pct_per_day / 100 * (t - t[0]))
    y = y * (1 + rng.normal(0.0, 0.003, n))
    if step_last:
        y[-step_last:] *= 0.98
    return CalibrationHistory(serial, t_ns, y, NOMINAL, LOW, HIGH,
                              np.array([], dtype=np.int64), np.array([]), None, dict(TAGS))


def assess(h: CalibrationHistory, **kw: Any):
    return assess_device(h.serial, h.t_days, h.output_A_per_us, expected_A_per_us=NOMINAL,
                         low_A_per_us=LOW, high_A_per_us=HIGH, **kw)


def by_name(ms: list[Measurement]) -> dict[str, Measurement]:
    out = {m.name: m for m in ms}
    assert len(out) == len(ms)
    return out


# ------------------------------------------------------------------ the records
def test_records_carry_the_assessment_values() -> None:
    h = make_history("SN-D", 0.02, 0)  # −0.6 %/month: significant, crosses later
    d = assess(h)
    c = predicted_crossing(d)
    assert d.status is Status.DRIFTING and c is not None and c.day > d.last_day
    ms = by_name(drift_measurements(h, d))
    assert set(ms) == {RATE_NAME, DAYS_NAME, CROSSING_NAME}
    for m in ms.values():
        assert m.time_ns == int(h.time_ns[-1])  # the last check, exactly
        assert m.tags == {**TAGS, "stimulator_serial": "SN-D"}
        assert m.verdict is Verdict.MARGINAL and m.test_id == DRIFT_TEST and m.run_id == ""
        assert m.extra["drift_status"] == "drifting" and m.extra["confidence"] == 0.95
    rate = ms[RATE_NAME]
    assert (rate.value, rate.unit) == (d.rate_pct_per_month, "%/month")
    assert rate.limits == Limits(low=d.rate_low_pct_per_month, high=d.rate_high_pct_per_month)
    assert rate.extra["checks"] == 26.0
    s = 86_400.0
    assert (rate.extra["crossing_s"], rate.extra["crossing_early_s"],
            rate.extra["crossing_late_s"]) == (c.day * s, c.early_day * s, c.late_day * s)
    assert rate.extra["days_to_tolerance"] == c.day - d.last_day
    cross = ms[CROSSING_NAME]
    assert (cross.value, cross.unit) == (c.day * s, "s")
    assert cross.limits == Limits(low=c.early_day * s, high=c.late_day * s)
    assert (cross.extra["tolerance_side"], cross.extra["tolerance_bound"]) == ("low", LOW)
    days = ms[DAYS_NAME]
    assert (days.value, days.unit) == (c.day - d.last_day, "d")
    assert days.limits == Limits(low=c.early_day - d.last_day, high=c.late_day - d.last_day)
    assert days.limits.low < days.value < days.limits.high


def test_no_prediction_no_crossing_records() -> None:
    h = make_history("SN-S", 0.0, 7)
    d = assess(h)
    assert d.status is Status.OK and predicted_crossing(d) is None
    assert d.crossing is None or math.isinf(d.crossing.late_day)  # "may never": open interval
    (rate,) = drift_measurements(h, d)
    assert rate.name == RATE_NAME and rate.verdict is Verdict.PASS
    assert not {k for k in rate.extra if k.startswith("crossing") or k == "days_to_tolerance"}


def test_flat_trend_has_no_crossing() -> None:
    h = make_history("SN-F", 0.0, 0)
    flat = CalibrationHistory(h.serial, h.time_ns, np.full(h.time_ns.size, NOMINAL), NOMINAL,
                              LOW, HIGH, h.slope_time_ns, h.slope_A_per_us_per_pct)
    d = assess(flat)
    assert d.crossing is None
    (rate,) = drift_measurements(flat, d)
    assert rate.value == 0.0 and rate.tags == {"stimulator_serial": "SN-F"}  # no tags known


def test_an_infinite_ci_bound_is_no_bound() -> None:
    # robust_trend reports (−inf, inf) when Sen's interval is undefined
    h = make_history("SN-3", 0.02, 1, n=3)
    d = dataclasses.replace(assess(h), rate_low_pct_per_month=-math.inf,
                            rate_high_pct_per_month=math.inf)
    (rate, *_) = drift_measurements(h, d)
    assert rate.limits.low is None and rate.limits.high is None


@pytest.mark.parametrize(
    ("kwargs", "status", "verdict"),
    [
        ({"rate_pct_per_day": 0.0, "seed": 7}, Status.OK, Verdict.PASS),
        ({"rate_pct_per_day": 0.02, "seed": 0}, Status.DRIFTING, Verdict.MARGINAL),
        ({"rate_pct_per_day": 0.0, "seed": 2, "step_last": 3}, Status.ALARM, Verdict.FAIL),
        ({"rate_pct_per_day": 0.06, "seed": 1, "n": 20}, Status.OUT_OF_TOLERANCE, Verdict.FAIL),
    ],
)
def test_verdict_follows_the_status(kwargs: dict, status: Status, verdict: Verdict) -> None:
    h = make_history("SN", **kwargs)
    d = assess(h)
    assert d.status is status
    ms = drift_measurements(h, d)
    assert {m.verdict for m in ms} == {verdict}
    assert VERDICT_OF_STATUS[status] is verdict


def test_every_status_has_a_verdict() -> None:
    assert set(VERDICT_OF_STATUS) == set(Status)
    assert Verdict.INVALID not in VERDICT_OF_STATUS.values()


def test_out_of_tolerance_records_a_past_crossing() -> None:
    h = make_history("SN-X", 0.06, 1, n=20)
    d = assess(h)
    ms = by_name(drift_measurements(h, d))
    assert ms[DAYS_NAME].value < 0  # the trend crossed before the last check


# ------------------------------------------------------------------ the journal
def drift_rows(path: Path) -> list[dict[str, Any]]:
    return [r for r in query(path, Query(kind="measurement")) if r["test_id"] == DRIFT_TEST]


def test_record_appends_once_and_rerun_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    pairs = [(h, assess(h)) for h in (make_history("A", 0.02, 0), make_history("B", 0.0, 7))]
    res = record_drifts(path, pairs)
    assert (res.appended, res.unchanged, res.devices) == (4, 0, 2)
    rows = drift_rows(path)
    assert len(rows) == 4
    rate_a = next(r for r in rows if r["name"] == RATE_NAME and r["stimulator_serial"] == "A")
    d = pairs[0][1]
    assert rate_a["value"] == d.rate_pct_per_month and rate_a["verdict"] == "marginal"
    assert (rate_a["low"], rate_a["high"]) == (d.rate_low_pct_per_month,
                                               d.rate_high_pct_per_month)
    assert rate_a["time_ns"] == int(pairs[0][0].time_ns[-1]) and rate_a["station"] == "sim-1"
    assert rate_a["test"] == DRIFT_TEST
    again = record_drifts(path, [(h, assess(h)) for h, _ in pairs])  # fresh assessments
    assert (again.appended, again.unchanged) == (0, 4)
    assert len(drift_rows(path)) == 4


def test_a_changed_assessment_of_the_same_check_is_appended_later(tmp_path: Path) -> None:
    import sqlite3

    from harness.drift import DriftParams

    path = tmp_path / "j.sqlite"
    h = make_history("A", 0.02, 0)
    record_drifts(path, [(h, assess(h))])
    res = record_drifts(path, [(h, assess(h, params=DriftParams(confidence=0.9)))])
    assert res.appended == 3
    db = sqlite3.connect(path)
    try:
        ts = db.execute("SELECT p.ts, p.time_ns, p.data FROM points p JOIN tagsets t"
                        " ON t.id = p.tagset WHERE json_extract(t.tags, '$.name') = ?"
                        " ORDER BY p.id", (RATE_NAME,)).fetchall()
    finally:
        db.close()
    (ts1, t1, _), (ts2, t2, data2) = ts
    assert t1 == t2 == int(h.time_ns[-1]) and t1 <= ts1 < ts2  # newest point is the latest
    assert '"confidence":0.9' in data2


def journal_with_checks(path: Path, histories: list[CalibrationHistory]) -> None:
    with Journal(path) as j:
        for h in histories:
            for t, y in zip(h.time_ns, h.output_A_per_us, strict=True):
                j.append_measurement(Measurement.check(
                    "calibration reference output", float(y), "A/µs",
                    Limits(low=LOW, high=HIGH, nominal=NOMINAL),
                    tags={**TAGS, "coil_model": "D70", "stimulator_serial": h.serial},
                    test_id="check", time_ns=int(t)))


def test_history_knows_the_latest_checks_tags(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_checks(path, [make_history("A", 0.02, 0)])
    (h,) = histories_from_journal(path)
    assert h.tags == TAGS  # coil_model is not kept
    pts = [{"time_ns": 2, "name": "calibration reference output", "stimulator_serial": "B",
            "value": 1.0, "station": "new", "coil_serial": None},
           {"time_ns": 1, "name": "calibration reference output", "stimulator_serial": "B",
            "value": 1.0, "station": "old", "coil_serial": "C9"}]
    (b,) = histories_from_points(pts)
    assert b.tags == {"station": "new"}


def test_cli_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_checks(path, [make_history("A", 0.02, 0), make_history("B", 0.0, 7)])
    assert main(["drift", "--journal", str(path), "--out", ""]) == 0
    assert drift_rows(path) == []  # off by default
    assert main(["drift", "--journal", str(path), "--out", "", "--record"]) == 0
    assert "recorded 4 drift rows for 2 devices" in capsys.readouterr().out
    assert main(["drift", "--journal", str(path), "--out", "", "--record"]) == 0
    assert "recorded 0 drift rows for 2 devices" in capsys.readouterr().out
    assert len(drift_rows(path)) == 4
    # the records do not disturb the history they came from
    assert [h.serial for h in histories_from_journal(path)] == ["A", "B"]


def test_cli_record_from_influx_needs_a_journal(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    import harness.drift.source as source

    h = make_history("A", 0.02, 0)
    monkeypatch.setattr(source, "histories_from_influx", lambda *a, **k: [h])
    args = ["drift", "--influx-url", "http://127.0.0.1:1", "--database", "x", "--out", ""]
    assert main([*args, "--record"]) == 2
    path = tmp_path / "j.sqlite"
    assert main([*args, "--record", "--journal", str(path)]) == 0
    assert len(drift_rows(path)) == 3


class FakeForwarder:
    calls: ClassVar[list[tuple[Path, Any, float | None]]] = []
    pending = 0

    def __init__(self, path: Path, sink: Any) -> None:
        self.path, self.sink, self.key = Path(path), sink, "fake"

    def sync(self, timeout_s: float | None = None) -> Any:
        from harness.record.forwarder import SyncResult

        FakeForwarder.calls.append((self.path, self.sink, timeout_s))
        return SyncResult(sent=3, quarantined=0, pending=self.pending,
                          error="down" if self.pending else None)

    def close(self) -> None:
        pass


def test_cli_record_forwards_to_the_bench_influxdb(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    import harness.record.forwarder as forwarder

    monkeypatch.setattr(forwarder, "Forwarder", FakeForwarder)
    FakeForwarder.calls = []
    journal = tmp_path / "bench-journal.sqlite"
    journal_with_checks(journal, [make_history("A", 0.02, 0)])
    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    raw["spec"] = str((ROOT / "specs" / "magstim-rapid2-d70.toml").resolve())
    raw.setdefault("sinks", {})["journal"] = {"path": str(journal)}
    bench = tmp_path / "bench.toml"
    bench.write_text(tomli_w.dumps(raw))
    assert main(["drift", "--bench", str(bench), "--out", "", "--record"]) == 0
    assert FakeForwarder.calls == []  # no [sinks.influxdb]: journal only
    assert len(drift_rows(journal)) == 3
    raw["sinks"]["influxdb"] = {"url": "http://127.0.0.1:1", "database": "tms", "api": "v1"}
    bench.write_text(tomli_w.dumps(raw))
    assert main(["drift", "--bench", str(bench), "--out", "", "--record"]) == 0
    ((path, sink, timeout),) = FakeForwarder.calls
    assert path == journal and sink.database == "tms" and timeout is not None
    FakeForwarder.pending = 2
    try:
        assert main(["drift", "--bench", str(bench), "--out", "", "--record"]) == 1
    finally:
        FakeForwarder.pending = 0
