"""Every dashboard panel query, expanded as Grafana expands it, against a real influxd.

The history is recorded the way the harness records it and forwarded by the
real forwarder (no hand-written line protocol):

* ``harness.history.demo_history``: real calibration checks on two simulated
  devices over 30 days (calibration measurements, calibration records, pulses),
  one stable and one drifting towards its low tolerance limit;
* ``tmsbench drift --record`` on that journal: the drift assessments
  (``drift rate``, and for the drifting device ``drift days to tolerance`` and
  ``drift predicted crossing``);
* production-line records built with ``harness.record`` / ``harness.limits``
  on two more stations (measurements with every verdict, trains, coil and
  ambient temperatures, monophasic pulses), with tag values that need regex
  escaping (``line (3)``, ``C/7+1``).

Each panel's target is expanded with :mod:`dashboards.macros` (template
variables first, then ``$timeFilter`` and ``$__interval``) and its answer is
compared with what the journal holds, computed here in Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
import re
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's dashboards/

from dashboards import build
from dashboards.macros import Variable, expand
from harness.cli import main
from harness.drift.record import DRIFT_TEST, RATE_NAME
from harness.limits import Limits, Measurement, Verdict
from harness.record.forwarder import Backoff, Forwarder
from harness.record.journal import Journal
from harness.record.records import RunInfo, dose_row
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

pytestmark = pytest.mark.integration

DB = "tmsbench"
DAY_NS = 86_400 * 10**9
END = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)
DAYS = 30
START_NS = int((END - dt.timedelta(days=DAYS)).timestamp()) * 10**9
FROM_MS = (START_NS - 2 * DAY_NS) // 10**6
TO_MS = (START_NS + (DAYS + 2) * DAY_NS) // 10**6
INTERVAL_MS = 86_400_000  # $__interval = 1d

LINE_DEVICES = (
    {"station": "line.2", "stimulator_model": "rapid2", "stimulator_serial": "DEMO-01",
     "coil_model": "D70", "coil_serial": "SIM-D70-0001"},
    {"station": "line (3)", "stimulator_model": "rapid2", "stimulator_serial": "DEMO-02",
     "coil_model": "D70", "coil_serial": "C/7+1"},
)
RATE_TEST = "tests/bench/test_train.py::test_rate"
DOSE_TEST = "tests/bench/test_protocols.py::test_protocol_full[itbs]"
THERMAL_TEST = "tests/bench/test_thermal.py::test_coil_heating"
ALL_FAIL_DAY = 7  # device 0's rate test fails every characteristic that day
UNFINISHED_DAY = 12  # device 0's run that day never finishes


# ------------------------------------------------------------------ history
def record_production_line(journal: Journal, seed: int = 7) -> None:
    """Thirty days of line tests on two stations through the harness records: one run per
    device and day (verdict fail when a measurement failed or was invalid, as the plugin
    judges), plus aborted runs and a run that never finished."""
    rng = random.Random(seed)
    for day in range(DAYS):
        for i, ctx in enumerate(LINE_DEVICES):
            t = START_NS + day * DAY_NS + (9 + 2 * i) * 3_600 * 10**9
            run_id = f"line-{i}-{day:02d}"
            all_fail = i == 0 and day == ALL_FAIL_DAY
            journal.start_run(RunInfo(run_id, station=ctx["station"], bench="line.toml",
                                      started_ns=t, tags=ctx))
            verdicts: list[Verdict] = []

            def m(name: str, value: float | None, unit: str, limits: Limits, test: str,
                  dt_s: float, ctx: dict = ctx, t: int = t, run_id: str = run_id,
                  verdicts: list[Verdict] = verdicts) -> None:
                meas = Measurement.check(
                    name, value, unit, limits, tags=ctx, run_id=run_id,
                    test_id=f"{test}[10Hz]", time_ns=t + int(dt_s * 1e9),
                )
                journal.append_measurement(meas)
                verdicts.append(meas.verdict)

            rate_err = 5.0 if all_fail else rng.uniform(-1.4, 1.4)
            m("rate error", rate_err, "%", Limits(low=-1.0, high=1.0, nominal=0.0), RATE_TEST, 1)
            seen = 40 if all_fail else (50 if rng.random() < 0.8 else 49)
            m("pulses seen by the scope", seen, "pulses", Limits(low=50, high=50), RATE_TEST, 2)
            jitter = None if all_fail or rng.random() < 0.1 else rng.uniform(1.0, 30.0)
            m("interval jitter", jitter, "µs", Limits(high=20.0), RATE_TEST, 3)
            m("ambient temperature", 22.0 + rng.random(), "°C", Limits(), RATE_TEST, 4)

            before = 24.0 + rng.uniform(-1.0, 1.0)
            after = before + rng.uniform(5.0, 20.0)
            train = {"percent": 60.0, "rate_hz": 10.0, "expected_pulses": 40,
                     "valid_pulses": 40 if rng.random() < 0.9 else 39,
                     "mean_rate_hz": 10.0 + rng.uniform(-0.05, 0.05)}
            tid = f"{THERMAL_TEST}[60]"
            journal.append_temperature(before, tags={**ctx, "phase": "before"}, run_id=run_id,
                                       test_id=tid, time_ns=t + 10 * 10**9)
            journal.append_train(train, tags=ctx, run_id=run_id, test_id=tid,
                                 time_ns=t + 14 * 10**9)
            journal.append_temperature(after, tags={**ctx, "phase": "after"}, run_id=run_id,
                                       test_id=tid, time_ns=t + 15 * 10**9)
            journal.append_temperature(21.5, sensor="ambient", tags=ctx, run_id=run_id,
                                       test_id=tid, time_ns=t + 16 * 10**9)
            m("coil temperature after 40 pulses at 60 %MSO", after, "°C", Limits(high=40.0),
              THERMAL_TEST, 17)
            m("coil temperature rise", after - before, "K", Limits(low=0.0), THERMAL_TEST, 18)
            if i == 1:
                journal.append_pulse(
                    {"period_us": 480.0 + rng.uniform(-5, 5), "phase_ratio": 0.0,
                     "template_correlation": 0.99 + rng.uniform(-0.01, 0.0)},
                    tags={**ctx, "waveform": "monophasic"}, run_id=run_id,
                    test_id="tests/bench/test_pulse_shape.py::test_shape[monophasic]",
                    time_ns=t + 20 * 10**9,
                )
            if day % 3 == i:  # a treatment protocol; device 1 delivers one pulse short
                journal.append_rows([dose_row(
                    {"version": "1", "pulses_prescribed": 600,
                     "pulses_delivered": 600 - i, "threshold_percent": 33.0},
                    protocol="itbs", verdict="fail" if i else "pass", tags=ctx, run_id=run_id,
                    test_id=DOSE_TEST, time_ns=t + 25 * 10**9)])
            if i == 0 and day == UNFINISHED_DAY:
                continue  # the station lost power: a start point, no finish
            failed = any(v in (Verdict.FAIL, Verdict.INVALID) for v in verdicts)
            journal.finish_run(run_id, Verdict.FAIL if failed else Verdict.PASS,
                               time_ns=t + 30 * 10**9)
            if not failed and day % 2:  # a re-run the operator stopped: not judged
                retry = f"{run_id}-stopped"
                journal.start_run(RunInfo(retry, station=ctx["station"], bench="line.toml",
                                          started_ns=t + 3_600 * 10**9, tags=ctx))
                journal.finish_run(retry, Verdict.ABORTED, time_ns=t + 3_610 * 10**9)


@dataclass(frozen=True)
class History:
    journal: Path
    devices: tuple[Any, ...]  # harness.history.DeviceHistory
    drift: dict[str, dict[str, Any]]  # serial -> `tmsbench drift --json` row of --record's run


def demo_laws() -> list[Any]:
    """The demo's stable device and its "drifting" one (leaves tolerance half a history
    after the end: a significant trend, so a crossing is predicted in every run)."""
    from harness.history import aging_laws

    laws = aging_laws(4, DAYS, every_days=5)
    assert (laws[0].label, laws[3].label) == ("stable", "drifting")
    return [laws[0], dataclasses.replace(laws[3], serial="DEMO-02")]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The journal with both histories and the drift records (recorded once per module)."""
    from harness.history import demo_history

    tmp = tmp_path_factory.mktemp("dashboards-history")
    path = tmp / "journal.sqlite"
    devices = demo_history(days=DAYS, every_days=5, journal=str(path), laws=demo_laws(),
                           results=str(tmp / "results"), end=END, report=None)
    with Journal(path, synchronous="NORMAL") as journal:
        record_production_line(journal)
    summary = tmp / "drift.json"
    assert main(["drift", "--journal", str(path), "--record", "--out", "",
                 "--json", str(summary)]) == 0
    drift = {r["serial"]: r for r in json.loads(summary.read_text())}
    return History(path, tuple(devices), drift)


def load(srv: Any, journal: Path) -> None:
    srv.create_database(DB)
    res = Forwarder(journal, InfluxTarget(url=srv.url, database=DB, api="v1"),
                    backoff=Backoff(initial_s=0.05, max_s=0.3)).sync(timeout_s=60)
    assert res.ok and res.quarantined == 0, res


# ------------------------------------------------------------------ the journal, in Python
@dataclass(frozen=True)
class Point:
    kind: str
    ts: int
    tags: dict[str, str]
    fields: dict[str, Any]


def journal_points(path: Path) -> list[Point]:
    """Every journal row as the InfluxDB point it becomes (tags and fields)."""
    db = sqlite3.connect(path)
    try:
        tagsets = {i: json.loads(t) for i, t in db.execute("SELECT id, tags FROM tagsets")}
        rows = db.execute(
            "SELECT kind, ts, tagset, run_id, value, low, high, data FROM points ORDER BY ts"
        ).fetchall()
    finally:
        db.close()
    out = []
    for kind, ts, tagset, run_id, value, low, high, data in rows:
        fields: dict[str, Any] = {"run_id": run_id}
        if value is not None:
            fields["celsius" if kind == "temperature" else "value"] = value
        for key, v in (("low", low), ("high", high)):
            if v is not None:
                fields[key] = v
        fields.update(json.loads(data) if data else {})
        out.append(Point(kind, ts, tagsets[tagset], fields))
    return out


Selection = dict[str, set[str]]  # tag -> allowed values (what the variables expand to)
Series = dict[tuple[tuple[str, str], ...], list[list[Any]]]


def selected(points: Iterable[Point], kind: str, sel: Selection) -> list[Point]:
    return [p for p in points if p.kind == kind
            and all(p.tags.get(tag, "") in ok for tag, ok in sel.items())]


def grouped(points: Iterable[Point], tags: tuple[str, ...],
            bucket: bool = False) -> dict[tuple, list[Point]]:
    out: dict[tuple, list[Point]] = defaultdict(list)
    for p in points:
        key = tuple((t, p.tags.get(t, "")) for t in tags)
        out[(key, p.ts // DAY_NS * DAY_NS) if bucket else (key, None)].append(p)
    return out


def per_bucket(points: list[Point], tags: tuple[str, ...],
               agg: Callable[[list[Point]], list[Any] | None]) -> Series:
    """Rows ``[bucket_ns, *agg(points)]`` per series, buckets without a row left out."""
    series: Series = defaultdict(list)
    for (key, bucket), ps in sorted(grouped(points, tags, bucket=True).items()):
        row = agg(ps)
        if row is not None:
            series[key].append([bucket, *row])
    return dict(series)


def per_series(points: list[Point], tags: tuple[str, ...],
               agg: Callable[[list[Point]], list[Any]]) -> Series:
    """One row ``agg(points)`` per series (time column dropped)."""
    return {key: [agg(ps)] for (key, _), ps in grouped(points, tags).items()}


def raw(points: list[Point], tags: tuple[str, ...], fields: tuple[str, ...]) -> Series:
    """Rows ``[ts, *fields]`` per series (a raw SELECT)."""
    series: Series = defaultdict(list)
    for p in points:
        key = tuple((t, p.tags.get(t, "")) for t in tags)
        series[key].append([p.ts, *(p.fields.get(f) for f in fields)])
    return dict(series)


def values(ps: list[Point], field: str) -> list[float]:
    return [p.fields[field] for p in ps if field in p.fields]


def mean(xs: list[float]) -> float:
    return math.fsum(xs) / len(xs)


def named(points: list[Point], pred: Callable[[str], bool]) -> list[Point]:
    return [p for p in points if pred(p.tags.get("name", ""))]


PASSED, JUDGED, FAILED = {"pass", "marginal"}, {"pass", "marginal", "fail", "invalid"}, {
    "fail", "invalid"}


def pass_rate(ps: list[Point]) -> list[Any] | None:
    judged = [p for p in ps if p.tags["verdict"] in JUDGED]
    if not judged:
        return None
    return [100.0 * sum(p.tags["verdict"] in PASSED for p in judged) / len(judged)]


def yields(ps: list[Point]) -> list[Any] | None:
    """First-pass and final yield (%) of finished runs that counted their tests."""
    counted = [p for p in ps if p.fields.get("tests", 0) > 0]
    if not counted:
        return None
    tests = sum(p.fields["tests"] for p in counted)
    return [100.0 * sum(p.fields["first_pass"] for p in counted) / tests,
            100.0 * sum(p.fields["final_pass"] for p in counted) / tests]


def agg_or_none(field: str, *fns: Callable[[list[float]], float]) -> Callable:
    def agg(ps: list[Point]) -> list[Any] | None:
        xs = values(ps, field)
        return [fn(xs) for fn in fns] if xs else None
    return agg


DEVICE = ("stimulator_serial", "coil_serial")
CAL = "calibration reference output"
PREDICTED = "Predicted date of leaving tolerance"
PREDICTED_FIELDS = ("value", "low", "high", "drift_status", "crossing_s", "crossing_early_s",
                    "crossing_late_s", "days_to_tolerance")


def latest_assessment(ps: list[Point]) -> list[Any]:
    """The newest ``drift rate`` row of a device as the panel shows it (dates in ms)."""
    last = max(ps, key=lambda p: p.ts)
    row: list[Any] = [last.ts]
    for f in PREDICTED_FIELDS:
        v = last.fields.get(f)
        row.append(v * 1000 if v is not None and f.startswith("crossing_") else v)
    return row


def expectations(points: list[Point], sel: Selection) -> dict[tuple[str, str], Series]:
    """What every panel must answer for ``sel``, keyed by (dashboard uid, panel title)."""
    meas = selected(points, "measurement", sel)
    tests = [p for p in meas if p.tags.get("test") != DRIFT_TEST]  # manufacturing: no drift
    pulses = selected(points, "pulse", sel)
    temps = [p for p in selected(points, "temperature", sel) if p.tags.get("sensor") == "coil"]
    trains = selected(points, "train", sel)
    finished = [p for p in selected(points, "run", sel) if p.tags.get("event") == "finish"]
    doses = selected(points, "dose", sel)

    def limited(name: str, *fields: str) -> Series:
        return raw(named(meas, lambda n: n == name), DEVICE, ("value", *fields))

    def latest(ps: list[Point]) -> list[Any]:
        last = max(ps, key=lambda p: p.ts)
        return [last.fields["value"], last.fields["low"], last.fields["high"], len(ps)]

    shape = ("stimulator_serial", "waveform")
    coil = ("coil_serial",)
    return {
        ("tmsbench-calibration-drift", "Output at the reference intensity"):
            limited(CAL, "low", "high"),
        ("tmsbench-calibration-drift", "Calibration slope"):
            limited("calibration slope", "low", "high"),
        ("tmsbench-calibration-drift", "Calibration R²"): limited("calibration R²", "low"),
        ("tmsbench-calibration-drift", "Worst deviation from the expected output"):
            limited("calibration worst deviation", "high"),
        ("tmsbench-calibration-drift", "Latest calibration per device"):
            per_series(named(meas, lambda n: n == CAL), DEVICE, latest),
        ("tmsbench-calibration-drift", PREDICTED):
            per_series(named(meas, lambda n: n == RATE_NAME), DEVICE, latest_assessment),
        ("tmsbench-calibration-drift", "Delivered vs prescribed pulses per device"):
            per_bucket(doses, DEVICE, lambda ps: [math.fsum(values(ps, "pulses_prescribed")),
                                                  math.fsum(values(ps, "pulses_delivered"))]),
        ("tmsbench-pulse-shape", "Pulse period"):
            per_bucket(pulses, shape, agg_or_none("period_us", mean)),
        ("tmsbench-pulse-shape", "Phase ratio (2nd/1st)"):
            per_bucket(pulses, shape, agg_or_none("phase_ratio", mean)),
        ("tmsbench-pulse-shape", "Template correlation"):
            per_bucket(pulses, shape, agg_or_none("template_correlation", mean, min)),
        ("tmsbench-manufacturing", "Pass rate per station and day"):
            per_bucket(tests, ("station",), pass_rate),
        ("tmsbench-manufacturing", "Measurements per day by verdict"):
            per_bucket(tests, ("verdict",), lambda ps: [len(ps)]),
        ("tmsbench-manufacturing", "Pass rate per station, test and day"):
            per_bucket(tests, ("station", "test"), pass_rate),
        ("tmsbench-manufacturing", "Failures by characteristic"):
            per_series([p for p in tests if p.tags["verdict"] in FAILED], ("name",),
                       lambda ps: [len(ps)]),
        ("tmsbench-manufacturing", "Unit pass rate per station and day"):
            per_bucket(finished, ("station",), pass_rate),
        ("tmsbench-manufacturing", "Runs per day by verdict"):
            per_bucket(finished, ("verdict",), lambda ps: [len(ps)]),
        ("tmsbench-manufacturing", "First-pass and final yield per station and day"):
            per_bucket(finished, ("station",), yields),
        ("tmsbench-coil-thermal", "Coil temperature"):
            per_bucket(temps, coil, agg_or_none("celsius", max)),
        ("tmsbench-coil-thermal", "Trains"):
            per_bucket(trains, coil, lambda ps: [mean(values(ps, "mean_rate_hz")),
                                                 math.fsum(values(ps, "valid_pulses"))]),
        ("tmsbench-coil-thermal", "Coil temperature checks"):
            raw(named(meas, lambda n: n.startswith("coil temperature after")), coil,
                ("value", "high")),
        ("tmsbench-coil-thermal", "Hottest reading per coil"):
            per_series(temps, coil, lambda ps: [max(values(ps, "celsius")), len(ps)]),
    }


# ------------------------------------------------------------------ Grafana's side
def dashboards() -> list[dict]:
    return [json.loads((build.ROOT / "json" / f"{m.UID}.json").read_text()) for m in build.MODULES]


Picks = dict[str, list[str] | None]  # variable name -> chosen values (None: All)


def variable_options(srv: Any, dash: dict, picks: Picks) -> dict[str, Variable]:
    """Run the variable queries in order (as Grafana does); ``None`` picks = All."""
    out: dict[str, Variable] = {}
    for var in dash["templating"]["list"]:
        q = expand(var["query"], out, from_ms=FROM_MS, to_ms=TO_MS, interval_ms=INTERVAL_MS)
        answer = srv.query(q, db=DB)["results"][0]
        assert "error" not in answer, (q, answer)
        options = sorted(v for s in answer.get("series", []) for _, v in s["values"])
        out[var["name"]] = Variable(var["name"], picks.get(var["name"]), options=options,
                                    multi=var["multi"], include_all=var["includeAll"])
    return out


def influx_series(answer: dict, *, with_time: bool) -> Series:
    assert "error" not in answer, answer
    out: Series = {}
    for s in answer.get("series", []):
        key = tuple(sorted((s.get("tags") or {}).items()))
        rows = [row if with_time else row[1:] for row in s["values"]]
        out[key] = rows
    return out


def normalise(series: Series) -> Series:
    return {tuple(sorted(k)): v for k, v in series.items()}


def same_rows(got: list[list[Any]], expected: list[list[Any]]) -> bool:
    """Equal shapes; times and counts exact, floats to 1e-12 (InfluxDB sums in another order)."""
    if len(got) != len(expected):
        return False
    if any(len(a) != len(b) for a, b in zip(got, expected, strict=True)):
        return False
    for a_row, b_row in zip(got, expected, strict=True):
        for a, b in zip(a_row, b_row, strict=True):
            if isinstance(b, float) or isinstance(a, float):
                if a is None or a != pytest.approx(b, rel=1e-12, abs=1e-12):
                    return False
            elif a != b:
                return False
    return True


def run_panel(srv: Any, panel: dict, variables: dict[str, Variable]) -> tuple[str, dict]:
    (target,) = panel["targets"]
    q = expand(target["query"], variables, from_ms=FROM_MS, to_ms=TO_MS, interval_ms=INTERVAL_MS)
    assert not re.search(r"\$\w|\$\{|\[\[", q), q  # every macro and variable expanded
    return q, srv.query(q, db=DB)["results"][0]


def check_all_panels(srv: Any, points: list[Point], picks: Picks) -> Selection:
    """Run every panel of every dashboard; compare with the journal. Returns the selection."""
    checked = set()
    sel: Selection = {}
    for dash in dashboards():
        variables = variable_options(srv, dash, picks)
        sel = {tag: set(variables[name].current or variables[name].options)
               for name, tag in (("station", "station"), ("serial", "stimulator_serial"),
                                 ("coil", "coil_serial"))}
        expected_all = expectations(points, sel)
        for panel in dash["panels"]:
            key = (dash["uid"], panel["title"])
            assert key in expected_all, f"no expectation for panel {key}: add one"
            expected = normalise(expected_all[key])
            q, answer = run_panel(srv, panel, variables)
            with_time = any(len(rows[0]) > 0 and isinstance(rows[0][0], int)
                            and rows[0][0] > 10**18 for rows in expected.values() if rows)
            got = influx_series(answer, with_time=with_time or not expected)
            assert set(got) == set(expected), (key, q, sorted(got), sorted(expected))
            for series_key, rows in expected.items():
                assert same_rows(got[series_key], rows), (key, series_key, q, got[series_key],
                                                          rows)
            checked.add(key)
    assert checked == set(expected_all)
    return sel


# ------------------------------------------------------------------ tests
def test_every_panel_answers_what_was_recorded_all_selected(influxdb, history):
    load(influxdb, history.journal)
    points = journal_points(history.journal)
    sel = check_all_panels(influxdb, points, {})
    assert sel["station"] == {"sim-1", "line.2", "line (3)"}
    assert sel["coil_serial"] == {"SIM-D70-0001", "C/7+1"}
    # nothing vacuous: every panel has data with everything selected
    for key, series in expectations(points, sel).items():
        assert series and all(series.values()), key


def test_calibration_output_matches_the_demo_history_fits(influxdb, history):
    load(influxdb, history.journal)
    dash = json.loads((build.ROOT / "json" / "tmsbench-calibration-drift.json").read_text())
    panel = next(p for p in dash["panels"] if p["title"] == "Output at the reference intensity")
    _, answer = run_panel(influxdb, panel, variable_options(influxdb, dash, {}))
    got = influx_series(answer, with_time=True)
    for dev in history.devices:
        rows = got[(("coil_serial", "SIM-D70-0001"), ("stimulator_serial", dev.law.serial))]
        assert [r[1] for r in rows] == pytest.approx(list(dev.output_A_per_us), rel=1e-12)
        # recorded during each check; first_ns/last_ns are taken just after a check
        assert START_NS - DAY_NS < rows[0][0] <= dev.first_ns and rows[-1][0] <= dev.last_ns
        assert all(r[2] < r[1] < r[3] for r in rows)  # inside the tolerance band


def test_predicted_date_panel_shows_what_drift_record_wrote(influxdb, history):
    # re-running on the same history writes nothing (no second point a few ns later)
    def count() -> int:
        with Journal(history.journal) as j:
            return j.count()

    before = count()
    assert main(["drift", "--journal", str(history.journal), "--record", "--out", ""]) == 0
    assert count() == before
    load(influxdb, history.journal)
    dash = json.loads((build.ROOT / "json" / "tmsbench-calibration-drift.json").read_text())
    panel = next(p for p in dash["panels"] if p["title"] == PREDICTED)
    q, answer = run_panel(influxdb, panel, variable_options(influxdb, dash, {}))
    got = influx_series(answer, with_time=True)
    last_check = {dev.law.serial: max(p.ts for p in journal_points(history.journal)
                                      if p.kind == "measurement" and p.tags.get("name") == CAL
                                      and p.tags["stimulator_serial"] == dev.law.serial)
                  for dev in history.devices}
    assert set(history.drift) == set(last_check) == {"DEMO-01", "DEMO-02"}
    for serial, d in history.drift.items():
        ((ts, rate, lo, hi, status, cross, early, late, days),) = got[
            (("coil_serial", "SIM-D70-0001"), ("stimulator_serial", serial))]
        assert 0 <= ts - last_check[serial] < 1000  # at the last check (journal-unique ts)
        assert [rate, lo, hi] == pytest.approx(
            [d["rate_pct_per_month"], *d["rate_ci_pct_per_month"]], rel=1e-12)
        assert status == d["status"]
        if d["crossing_day"] is None or d["crossing_late_day"] is None:
            assert (cross, early, late, days) == (None, None, None, None), q  # none predicted
        else:
            assert [cross, early, late] == pytest.approx(
                [d[k] * 86_400.0 * 1000 for k in
                 ("crossing_day", "crossing_early_day", "crossing_late_day")], rel=1e-12)
            last_day = last_check[serial] / DAY_NS
            assert days == pytest.approx(d["crossing_day"] - last_day, abs=1e-6)
    drifting = history.drift["DEMO-02"]
    assert drifting["status"] == "drifting" and drifting["crossing_late_day"] is not None
    assert got[(("coil_serial", "SIM-D70-0001"), ("stimulator_serial", "DEMO-02"))][0][5] > (
        END.timestamp() * 1000)  # leaves tolerance after the history ends


def test_variables_narrow_every_panel_with_regex_escaped_values(influxdb, history):
    load(influxdb, history.journal)
    points = journal_points(history.journal)
    sel = check_all_panels(influxdb, points, {"serial": ["DEMO-02"]})
    assert sel["stimulator_serial"] == {"DEMO-02"}
    sel = check_all_panels(influxdb, points, {"station": ["line (3)", "sim-1"], "coil": ["C/7+1"]})
    assert sel["station"] == {"line (3)", "sim-1"} and sel["coil_serial"] == {"C/7+1"}
    assert sel["stimulator_serial"] == {"DEMO-01", "DEMO-02"}  # All, narrowed by station


def test_pass_rate_of_a_group_without_a_pass_is_zero_not_missing(influxdb, history):
    load(influxdb, history.journal)
    dash = json.loads((build.ROOT / "json" / "tmsbench-manufacturing.json").read_text())
    panel = next(p for p in dash["panels"] if p["title"] == "Pass rate per station, test and day")
    _, answer = run_panel(influxdb, panel, variable_options(influxdb, dash, {}))
    rows = influx_series(answer, with_time=True)[(("station", "line.2"), ("test", RATE_TEST))]
    day = (START_NS + ALL_FAIL_DAY * DAY_NS) // DAY_NS * DAY_NS
    assert [day, 0.0] in rows
    assert len(rows) == DAYS  # one row per day with judged measurements, no invented days


def test_demo_history_runs_finish_on_the_world_clock_with_the_unit_tags(history):
    """``BenchSession`` writes the unit's serials on its run points and stamps the finish
    with the clock of every other record (the world's calendar on the simulated bench)."""
    runs = [p for p in journal_points(history.journal) if p.kind == "run"]
    for dev in history.devices:
        start, finish = (p for p in runs if p.fields["run_id"] == dev.run_id)
        for p in (start, finish):
            assert (p.tags["stimulator_serial"], p.tags["coil_serial"]) == (
                dev.law.serial, "SIM-D70-0001")
        assert (start.tags["event"], finish.tags["event"]) == ("start", "finish")
        assert finish.tags["verdict"] in JUDGED
        assert dev.last_ns <= finish.ts < END.timestamp() * 10**9 + DAY_NS  # not the wall clock
        assert finish.fields["duration_s"] == pytest.approx((finish.ts - start.ts) / 1e9)
        assert finish.fields["duration_s"] > (DAYS - 1) * 86_400  # the 30 simulated days


# ------------------------------------------------------------------ unit pass rate, by hand
D1 = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)  # UTC midnight: InfluxDB's 1d bucket start
D1_NS = int(D1.timestamp()) * 10**9
D2_NS = D1_NS + DAY_NS
HOUR_NS = 3_600 * 10**9
UNIT_A1 = {"station": "line A", "stimulator_model": "rapid2", "stimulator_serial": "SN-1",
           "coil_model": "D70", "coil_serial": "C-1"}
UNIT_A2 = {**UNIT_A1, "stimulator_serial": "SN-2"}
UNIT_B3 = {**UNIT_A1, "station": "line B", "stimulator_serial": "SN-3", "coil_serial": "C-2"}
#: (unit, start, finish or None = never finished, run verdict)
HAND_RUNS: tuple[tuple[dict[str, str], int, int | None, Verdict], ...] = (
    (UNIT_A1, D1_NS + 9 * HOUR_NS, D1_NS + 10 * HOUR_NS, Verdict.PASS),
    (UNIT_A2, D1_NS + 10 * HOUR_NS, D1_NS + 11 * HOUR_NS, Verdict.PASS),
    (UNIT_A1, D1_NS + 11 * HOUR_NS, D1_NS + 12 * HOUR_NS, Verdict.FAIL),
    (UNIT_A2, D1_NS + 12 * HOUR_NS, D1_NS + 13 * HOUR_NS, Verdict.ABORTED),
    (UNIT_A1, D1_NS + 23 * HOUR_NS, D2_NS + HOUR_NS // 6, Verdict.PASS),  # finishes on day 2
    (UNIT_A1, D2_NS + 9 * HOUR_NS, D2_NS + 10 * HOUR_NS, Verdict.MARGINAL),
    (UNIT_A2, D2_NS + 10 * HOUR_NS, D2_NS + 11 * HOUR_NS, Verdict.INVALID),
    (UNIT_A2, D2_NS + 11 * HOUR_NS, D2_NS + 12 * HOUR_NS, Verdict.FAIL),
    (UNIT_A1, D2_NS + 12 * HOUR_NS, None, Verdict.PASS),  # no finish point: not counted
    (UNIT_B3, D1_NS + 9 * HOUR_NS, D1_NS + 10 * HOUR_NS, Verdict.FAIL),
    (UNIT_B3, D2_NS + 9 * HOUR_NS, D2_NS + 10 * HOUR_NS, Verdict.ABORTED),
)


def test_unit_pass_rate_counts_runs_by_their_finish_verdict(influxdb, tmp_path):
    path = tmp_path / "units.sqlite"
    with Journal(path, synchronous="NORMAL") as journal:
        for k, (unit, start, finish, verdict) in enumerate(HAND_RUNS):
            run_id = f"hand-{k}"
            journal.start_run(RunInfo(run_id, station=unit["station"], bench="line.toml",
                                      started_ns=start, tags=unit))
            # one measurement per run: the variables list the units that have measurements
            journal.append_measurement(Measurement.check(
                "rate error", 0.1, "%", Limits(low=-1.0, high=1.0), tags=unit, run_id=run_id,
                test_id=f"{RATE_TEST}[10Hz]", time_ns=start + 10**9))
            if finish is not None:
                journal.finish_run(run_id, verdict, time_ns=finish)
    load(influxdb, path)
    dash = json.loads((build.ROOT / "json" / "tmsbench-manufacturing.json").read_text())
    rate = next(p for p in dash["panels"] if p["title"] == "Unit pass rate per station and day")
    runs = next(p for p in dash["panels"] if p["title"] == "Runs per day by verdict")
    line_a, line_b = (("station", "line A"),), (("station", "line B"),)

    def answer(panel: dict, picks: Picks) -> Series:
        _, res = run_panel(influxdb, panel, variable_options(influxdb, dash, picks))
        return influx_series(res, with_time=True)

    got = answer(rate, {})
    # line A day 1: pass, pass, fail (the aborted run left out) -> 2 of 3;
    # day 2: pass (started on day 1), marginal, invalid, fail -> 2 of 4
    # line B day 1: fail -> 0 % (a row, not a gap); day 2: aborted only -> no row
    assert set(got) == {line_a, line_b}
    assert got[line_a] == [[D1_NS, pytest.approx(66.666_666_666_666_7, rel=1e-12)],
                           [D2_NS, 50.0]]
    assert got[line_b] == [[D1_NS, 0.0]]

    # SN-1 only: day 1 pass, fail -> 50 %; day 2 pass, marginal -> 100 % (its unfinished
    # run not counted)
    assert answer(rate, {"serial": ["SN-1"]}) == {line_a: [[D1_NS, 50.0], [D2_NS, 100.0]]}

    got = answer(runs, {})
    assert got == {
        (("verdict", "pass"),): [[D1_NS, 2], [D2_NS, 1]],
        (("verdict", "fail"),): [[D1_NS, 2], [D2_NS, 1]],
        (("verdict", "aborted"),): [[D1_NS, 1], [D2_NS, 1]],
        (("verdict", "marginal"),): [[D2_NS, 1]],
        (("verdict", "invalid"),): [[D2_NS, 1]],
    }
