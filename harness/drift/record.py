"""Drift assessments as journal records (``tmsbench drift --record``).

For every assessed device, at the time of its **last calibration check**
(the exact ``time_ns`` of its last ``calibration reference output``), up to
three :class:`~harness.limits.Measurement` rows, ``test`` = :data:`DRIFT_TEST`,
``run_id`` empty (an assessment is not a bench run), tags = the stimulator
serial plus the history's station, stimulator model and coil serial (those it
knows; :data:`harness.drift.source.HISTORY_TAG_KEYS`), all bounded:

``drift rate`` (``%/month``), always
    value = the output's trend in % of the expected output per mean month;
    ``low``/``high`` = its confidence interval (**not** a tolerance). Fields:
    ``drift_status`` (ok, drifting, alarm, out of tolerance), ``confidence``,
    ``checks``; when a crossing is predicted also ``crossing_s``,
    ``crossing_early_s``, ``crossing_late_s`` (Unix seconds) and
    ``days_to_tolerance``. This row is the assessment's summary: the dashboard
    reads the latest one per device, so a prediction that a later assessment
    no longer makes is not shown as current.
``drift days to tolerance`` (``d``), only when a crossing is predicted
    value = days from the last check to the predicted crossing (negative: the
    trend line had already crossed that many days before the last check);
    ``low``/``high`` = the interval.
``drift predicted crossing`` (``s``), only when a crossing is predicted
    value = Unix seconds of the predicted date; ``low``/``high`` = the interval;
    fields ``tolerance_side`` (low/high) and ``tolerance_bound`` (A/µs).

**Prediction rule.** A crossing is predicted when the trend has one
(:attr:`DeviceDrift.crossing` is not ``None``) *and its interval is closed*
(the slope's confidence interval excludes 0, so the late end is finite). With
a flat trend, or an interval open at the late end (``tmsbench drift`` prints
"not before … (may never)"), no date is recorded: no sentinel, no made-up
number, and ``drift rate`` has no ``crossing_*`` fields.

**Verdict** (tag, from the status, not from ``low``/``high``): ok → pass,
drifting → marginal, alarm and out of tolerance → fail. The same verdict on
every row of the device.

**Re-running** on the same history. The journal gives every row a wire
timestamp unique in the journal (the recorded ``time_ns``, else the next free
nanosecond), so a second copy of a record would land a few ns after the
first: a second InfluxDB point, not an overwrite. Hence a row equal to one the
journal already holds for the same device and check (same name, tags, value,
limits and fields) is not appended again: re-running ``drift --record`` on an
unchanged history writes nothing, here or in InfluxDB. A *different*
assessment of the same check (another ``--confidence``, a changed algorithm)
is appended: the journal is append-only and keeps both; the new row's wire
timestamp is a few ns after the earlier one's, so InfluxDB keeps both points
and the dashboard, which takes the latest row per device, shows the new one.
A new check of the device gives the next assessment that check's time.

An infinite confidence bound (too few checks for Sen's interval) is recorded
as no bound (``low``/``high`` left empty).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drift.assess import Crossing, DeviceDrift, Status
from harness.drift.source import CalibrationHistory
from harness.limits import Limits, Measurement, Verdict

#: ``test`` tag (and ``test_id``) of drift records.
DRIFT_TEST = "tmsbench drift"
RATE_NAME = "drift rate"
DAYS_NAME = "drift days to tolerance"
CROSSING_NAME = "drift predicted crossing"
NAMES: tuple[str, ...] = (RATE_NAME, DAYS_NAME, CROSSING_NAME)

SECONDS_PER_DAY = 86_400.0

#: Verdict of a drift status (module notes).
VERDICT_OF_STATUS: dict[Status, Verdict] = {
    Status.OK: Verdict.PASS,
    Status.DRIFTING: Verdict.MARGINAL,
    Status.ALARM: Verdict.FAIL,
    Status.OUT_OF_TOLERANCE: Verdict.FAIL,
}

#: Largest shift of a wire timestamp from its ``time_ns`` looked at when searching
#: for earlier records (a shift is 1 ns per row recorded in the same ns).
_MAX_TS_SHIFT_NS = 1_000_000_000


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def predicted_crossing(d: DeviceDrift) -> Crossing | None:
    """The crossing, when one is predicted (a closed, finite interval), else ``None``."""
    c = d.crossing
    if c is None or not all(math.isfinite(x) for x in (c.day, c.early_day, c.late_day)):
        return None
    return c


def drift_measurements(h: CalibrationHistory, d: DeviceDrift) -> list[Measurement]:
    """The records of one assessment (module notes); ``h`` is the history ``d`` came from."""
    if h.serial != d.serial or h.time_ns.size == 0:
        raise ValueError(f"history {h.serial!r} does not match assessment {d.serial!r}")
    if not math.isfinite(d.rate_pct_per_month):
        return []
    time_ns = int(h.time_ns.max())
    tags = {**h.tags, "stimulator_serial": d.serial}
    verdict = VERDICT_OF_STATUS[d.status]
    common: dict[str, Any] = {
        "drift_status": d.status.value,
        "confidence": float(d.output_trend.confidence),
    }

    def m(name: str, value: float, unit: str, low: float, high: float,
          extra: dict[str, Any]) -> Measurement:
        return Measurement(
            name, float(value), unit, Limits(low=_finite(low), high=_finite(high)), verdict,
            tags=dict(tags), test_id=DRIFT_TEST, time_ns=time_ns, extra={**common, **extra},
        )

    rate_extra: dict[str, Any] = {"checks": float(d.n_checks)}
    out = []
    c = predicted_crossing(d)
    if c is not None:
        s, early_s, late_s = (x * SECONDS_PER_DAY for x in (c.day, c.early_day, c.late_day))
        days = c.day - d.last_day
        days_lo, days_hi = c.early_day - d.last_day, c.late_day - d.last_day
        rate_extra.update(crossing_s=s, crossing_early_s=early_s, crossing_late_s=late_s,
                          days_to_tolerance=days)
        out.append(m(DAYS_NAME, days, "d", days_lo, days_hi, {}))
        out.append(m(CROSSING_NAME, s, "s", early_s, late_s,
                     {"tolerance_side": c.side, "tolerance_bound": c.bound}))
    rate = m(RATE_NAME, d.rate_pct_per_month, "%/month", d.rate_low_pct_per_month,
             d.rate_high_pct_per_month, rate_extra)
    return [rate, *out]


@dataclass(frozen=True)
class RecordResult:
    """What :func:`record_drifts` did."""

    appended: int  # rows appended to the journal
    unchanged: int  # rows the journal already held (not appended again)
    devices: int  # devices assessed


def _key(time_ns: int, tags: Iterable[tuple[str, str]], value: Any, limits: Sequence[Any],
         data: Any) -> tuple[Any, ...]:
    return (int(time_ns), tuple(sorted(tags)), value, tuple(limits),
            json.dumps(data or {}, sort_keys=True, default=str))


def _recorded(path: Path, times_ns: set[int]) -> set[tuple[Any, ...]]:
    """Keys of the drift rows the journal holds at ``times_ns``."""
    from harness.record.schema import connect, migrate

    if not path.exists() or not times_ns:
        return set()
    db = connect(path)
    try:
        migrate(db)
        found = set()
        for t in sorted(times_ns):
            rows = db.execute(
                "SELECT p.time_ns, t.tags, p.value, p.low, p.high, p.marginal_low,"
                " p.marginal_high, p.nominal, p.data FROM points p"
                " JOIN tagsets t ON t.id = p.tagset"
                " WHERE p.ts BETWEEN ? AND ? AND p.time_ns = ? AND p.kind = 'measurement'"
                " AND p.test_id = ?",
                (t, t + _MAX_TS_SHIFT_NS, t, DRIFT_TEST),
            )
            for time_ns, tags, value, *rest in rows:
                *lim, data = rest
                found.add(_key(time_ns, json.loads(tags).items(), value, lim,
                               json.loads(data) if data else None))
        return found
    finally:
        db.close()


def record_drifts(
    journal_path: str | Path,
    assessed: Iterable[tuple[CalibrationHistory, DeviceDrift]],
) -> RecordResult:
    """Append the records of every (history, assessment) pair to the journal, in one
    transaction, leaving out rows the journal already holds (module notes)."""
    from harness.record.journal import Journal
    from harness.record.records import measurement_row

    path = Path(journal_path)
    pairs = list(assessed)
    rows = [measurement_row(m) for h, d in pairs for m in drift_measurements(h, d)]
    have = _recorded(path, {r.time_ns for r in rows})
    new = []
    for r in rows:
        data = json.loads(json.dumps(r.data, default=str)) if r.data else None
        key = _key(r.time_ns, r.tags, r.value, r.limits, data)
        if key not in have:
            new.append(r)
            have.add(key)
    if new:
        with Journal(path) as journal:
            journal.append_rows(new)
    return RecordResult(appended=len(new), unchanged=len(rows) - len(new), devices=len(pairs))
