"""What the results pages show, read from the journal (no web code here).

Runs come from the journal's run points (start and finish, with the run's context tags);
a run's measurements and a device's calibration history from its measurement points,
through :func:`harness.record.export.query`, as ``tmsbench export`` reads them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drift.source import OUTPUT_NAME, SLOPE_NAME
from harness.record.export import Query, count_by_tags, query


@dataclass(frozen=True)
class RunRow:
    """One run as the runs table lists it."""

    run_id: str
    started_ns: int
    station: str
    operator: str
    serial: str
    coil_serial: str
    spec: str
    verdict: str  # "" while it has not finished (or never did: a killed run)
    duration_s: float | None
    finished_ns: int | None = None  # the finish point's time

    @property
    def date(self) -> str:
        """Start date, UTC (YYYY-MM-DD)."""
        return _utc(self.started_ns)[:10]

    @property
    def duration_text(self) -> str:
        """The run's length as a person reads it (world-clock runs may last months)."""
        d = self.duration_s
        if d is None:
            return ""
        if d < 120:
            return f"{d:.1f} s"
        if d < 2 * 3600:
            return f"{d / 60:.1f} min"
        if d < 2 * 86_400:
            return f"{d / 3600:.1f} h"
        return f"{d / 86_400:.0f} d"

    @property
    def started(self) -> str:
        """Start time, UTC."""
        return _utc(self.started_ns)


def _utc(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def runs(
    journal: Path,
    *,
    serial: str = "",
    station: str = "",
    verdict: str = "",
    date: str = "",
) -> list[RunRow]:
    """Runs in the journal, newest first, filtered (empty filter: any)."""
    if not journal.exists():
        return []
    start: dict[str, dict[str, Any]] = {}
    finish: dict[str, dict[str, Any]] = {}
    for r in query(journal, Query(kind="run")):
        (start if r.get("event") == "start" else finish)[r["run_id"]] = r
    out = []
    for run_id, s in start.items():
        f = finish.get(run_id, {})
        row = RunRow(
            run_id=run_id,
            started_ns=int(s["time_ns"]),
            station=str(s.get("station", "")),
            operator=str(s.get("operator", "")),
            serial=str(s.get("stimulator_serial", "")),
            coil_serial=str(s.get("coil_serial", "")),
            spec=str(s.get("spec_name", "")),
            verdict=str(f.get("verdict", "")),
            duration_s=f.get("duration_s"),
            finished_ns=int(f["time_ns"]) if f else None,
        )
        if (
            (not serial or serial in (row.serial, row.coil_serial))
            and (not station or row.station == station)
            and (not verdict or row.verdict == verdict)
            and (not date or row.date == date)
        ):
            out.append(row)
    return sorted(out, key=lambda r: r.started_ns, reverse=True)


def run_measurements(journal: Path, run_id: str) -> list[dict[str, Any]]:
    """Every measurement of one run, in journal order."""
    if not journal.exists():
        return []
    return query(journal, Query(kind="measurement", run_id=run_id))


@dataclass(frozen=True)
class CalibrationCheck:
    """One calibration check of a device: output at the reference intensity and slope."""

    run_id: str
    time: str
    output: float | None
    output_low: float | None
    output_high: float | None
    output_verdict: str
    slope: float | None
    slope_verdict: str


def calibration_history(journal: Path, serial: str) -> list[CalibrationCheck]:
    """A device's calibration checks, oldest first (the rows ``tmsbench drift`` reads).

    Each reference-output measurement is one check; the slope measured after it in the
    same run belongs to it (one run may hold many checks: ``tmsbench demo-history``).
    """
    if not journal.exists():
        return []
    checks: list[dict[str, Any]] = []
    latest: dict[str, dict[str, Any]] = {}  # run id -> its latest check
    for r in query(journal, Query(kind="measurement", serial=serial,
                                  names=(OUTPUT_NAME, SLOPE_NAME))):
        if r.get("stimulator_serial") != serial:
            continue
        if r.get("name") == OUTPUT_NAME:
            latest[r["run_id"]] = {"output": r}
            checks.append(latest[r["run_id"]])
        elif r.get("name") == SLOPE_NAME and r["run_id"] in latest:
            latest[r["run_id"]].setdefault("slope", r)
    out = []
    for c in checks:
        o, s = c["output"], c.get("slope", {})
        out.append(
            CalibrationCheck(
                run_id=str(o["run_id"]),
                time=_utc(int(o["time_ns"])),
                output=o.get("value"),
                output_low=o.get("low"),
                output_high=o.get("high"),
                output_verdict=str(o.get("verdict", "")),
                slope=s.get("value"),
                slope_verdict=str(s.get("verdict", "")),
            )
        )
    return sorted(out, key=lambda c: c.time)


#: as the Manufacturing dashboard counts them (dashboards/manufacturing.py)
PASSED = ("pass", "marginal")
JUDGED = ("pass", "marginal", "fail", "invalid")  # aborted runs are left out
FAILED = ("fail", "invalid")


@dataclass(frozen=True)
class StationDay:
    """Unit pass rate of one station on one UTC day of the runs' finish (runs, not
    measurements): runs that finished pass or marginal of those that finished judged."""

    station: str
    date: str
    runs: int  # judged
    passed: int

    @property
    def pass_rate_pct(self) -> float:
        return 100.0 * self.passed / self.runs if self.runs else 0.0


def _finish_day(r: RunRow) -> str:
    return _utc(r.finished_ns if r.finished_ns is not None else r.started_ns)[:10]


def pass_rate_by_station_day(rows: list[RunRow]) -> list[StationDay]:
    """The Manufacturing dashboard's "Unit pass rate per station and day"."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.verdict in JUDGED:
            c = counts[(r.station, _finish_day(r))]
            c[0] += 1
            c[1] += r.verdict in PASSED
    return [StationDay(st, d, n, p) for (st, d), (n, p) in sorted(counts.items())]


def runs_per_day_by_verdict(rows: list[RunRow]) -> list[tuple[str, str, int]]:
    """The dashboard's "Runs per day by verdict": (UTC day of the finish, verdict, runs)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        if r.verdict:
            counts[(_finish_day(r), r.verdict)] += 1
    return [(d, v, n) for (d, v), n in sorted(counts.items())]


def failures_by_characteristic(journal: Path) -> list[tuple[str, int]]:
    """The dashboard's "Failures by characteristic": measurements that failed or could not
    be measured, by name, most first (``tmsbench drift --record`` rows left out)."""
    from harness.drift.record import DRIFT_TEST

    if not journal.exists():
        return []
    counts: dict[str, int] = defaultdict(int)
    for tags, n in count_by_tags(
        journal, "measurement",
        lambda t: t.get("verdict") in FAILED and t.get("test") != DRIFT_TEST,
    ):
        counts[str(tags.get("name", ""))] += n
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
