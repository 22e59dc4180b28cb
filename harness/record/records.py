"""Domain records → journal rows.

Each ``*_row`` function turns one result (a Measurement, a pulse summary, a
calibration, ...) into a :data:`Row`, the tuple the journal stores. Rows keep
the exact values; the InfluxDB view of a row (tags vs fields) is decided here
once, so that everything downstream treats all kinds alike:

* ``tags`` holds only bounded-cardinality context (:data:`CONTEXT_TAG_KEYS`
  plus kind-specific bounded tags such as ``name``, ``unit``, ``verdict``,
  ``test``). Any other key in a caller's ``tags`` is moved to the fields, so an
  unbounded value can never become an InfluxDB tag by accident.
* ``run_id`` and ``test_id`` are always fields (unbounded).
* numbers in free-form metric dicts are stored as floats (``bool`` stays
  ``bool``) so one field never changes type between points, which InfluxDB
  would reject as a field type conflict.
"""

from __future__ import annotations

import enum
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from harness.limits import Limits, Measurement, Verdict


class Kind(enum.StrEnum):
    """Kinds of journal rows; the InfluxDB measurement is ``tms_<kind>``."""

    MEASUREMENT = "measurement"
    PULSE = "pulse"
    TRAIN = "train"
    TEMPERATURE = "temperature"
    CALIBRATION = "calibration"
    RUN = "run"
    AUDIT = "audit"  # who did what to the records (harness.record.audit)
    TEST = "test"  # one attempt of one test: outcome, attempt number, reason
    DOSE = "dose"  # one delivered treatment protocol: prescribed vs delivered pulses

    @property
    def influx_measurement(self) -> str:
        """Name of the InfluxDB measurement for this kind."""
        return f"tms_{self.value}"


#: Context tags every kind may carry (all bounded: a bench has few of each).
CONTEXT_TAG_KEYS: frozenset[str] = frozenset(
    {"station", "stimulator_model", "stimulator_serial", "coil_model", "coil_serial", "waveform"}
)

#: Field name of the ``value`` column per kind (kinds without one use only ``data``).
VALUE_FIELD: dict[str, str] = {Kind.MEASUREMENT: "value", Kind.TEMPERATURE: "celsius"}

LIMIT_FIELDS: tuple[str, ...] = ("low", "high", "marginal_low", "marginal_high", "nominal")

Scalar = float | bool | str

#: Field names the schema itself uses; a free-form key equal to one of them is
#: stored as ``extra_<key>``.
RESERVED_FIELDS: frozenset[str] = frozenset(
    {"value", "celsius", *LIMIT_FIELDS, "run_id", "test_id", "time"}
)


def field_key(key: object) -> str:
    """Key of a free-form field: ``extra_<key>`` when it would clash with the schema."""
    k = str(key)
    return f"extra_{k}" if k in RESERVED_FIELDS else k


class Row(NamedTuple):
    """One journal row before the journal interns its tag set."""

    kind: str
    time_ns: int
    tags: tuple[tuple[str, str], ...]  # sorted (key, value) pairs, bounded
    run_id: str
    test_id: str
    value: float | None
    limits: tuple[float | None, float | None, float | None, float | None, float | None]
    data: dict[str, Any] | None


_NO_LIMITS: tuple[None, None, None, None, None] = (None, None, None, None, None)


@lru_cache(maxsize=4096)
def test_name(test_id: str) -> str:
    """Bounded test name: the pytest node id without its ``[parameters]``."""
    return test_id.split("[", 1)[0]


def _float_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def normalize_scalar(value: Any) -> Any:
    """Metric value as stored: numbers → float, bool/str kept, others kept as-is."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    return value


@lru_cache(maxsize=2048)
def _split_context(items: tuple[tuple[str, str], ...]) -> tuple[tuple[tuple[str, str], ...], tuple]:
    tags = tuple(
        sorted((k, str(v)) for k, v in items if k in CONTEXT_TAG_KEYS and v not in ("", None))
    )
    extra = tuple((f"tag_{k}", str(v)) for k, v in items if k not in CONTEXT_TAG_KEYS)
    return tags, extra


def split_tags(tags: Mapping[str, str]) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """Bounded context tags (sorted pairs) and the rest as ``tag_<key>`` fields."""
    ctx, extra = _split_context(tuple(tags.items()))
    return ctx, dict(extra)


def _tags(context: tuple[tuple[str, str], ...], **own: str) -> tuple[tuple[str, str], ...]:
    merged = dict(context)
    for k, v in own.items():
        if v:
            merged[k] = v
    return tuple(sorted(merged.items()))


@lru_cache(maxsize=8192)
def _measurement_tags(
    context_items: tuple[tuple[str, str], ...], name: str, unit: str, verdict: str, test_id: str
) -> tuple[tuple[tuple[str, str], ...], tuple]:
    ctx, extra = _split_context(context_items)
    return _tags(ctx, name=name, unit=unit, verdict=verdict, test=test_name(test_id)), extra


def measurement_row(m: Measurement) -> Row:
    """Row of one :class:`~harness.limits.Measurement` (value in ``m.unit``)."""
    tags, extra = _measurement_tags(
        tuple(m.tags.items()), m.name, m.unit, str(m.verdict), m.test_id
    )
    lim = m.limits
    data: dict[str, Any] | None = None
    if extra or m.extra:
        data = dict(extra)
        for k, v in m.extra.items():
            data[field_key(k)] = normalize_scalar(v)
    value = m.value
    if value is not None and type(value) is not float:
        value = float(value)
    return Row(
        Kind.MEASUREMENT,
        m.time_ns,
        tags,
        m.run_id,
        m.test_id,
        value,
        (lim.low, lim.high, lim.marginal_low, lim.marginal_high, lim.nominal),
        data,
    )


def _metrics_row(
    kind: Kind,
    metrics: Mapping[str, Any],
    tags: Mapping[str, str] | None,
    run_id: str,
    test_id: str,
    time_ns: int | None,
    verdict: Verdict | str | None,
    own_tags: Mapping[str, str] | None = None,
) -> Row:
    ctx, extra = split_tags(tags or {})
    data: dict[str, Any] = dict(extra)
    for k, v in metrics.items():
        data[field_key(k)] = normalize_scalar(v)
    own = dict(own_tags or {})
    own["test"] = test_name(test_id)
    if verdict is not None:
        own["verdict"] = str(verdict)
    return Row(
        kind,
        time.time_ns() if time_ns is None else int(time_ns),
        _tags(ctx, **own),
        run_id,
        test_id,
        None,
        _NO_LIMITS,
        data,
    )


def pulse_row(
    metrics: Mapping[str, Any],
    *,
    tags: Mapping[str, str] | None = None,
    run_id: str = "",
    test_id: str = "",
    time_ns: int | None = None,
    verdict: Verdict | str | None = None,
) -> Row:
    """Row of one pulse summary: ``metrics`` maps metric name → value (units in the name,
    e.g. ``peak_didt_a_per_us``)."""
    return _metrics_row(Kind.PULSE, metrics, tags, run_id, test_id, time_ns, verdict)


def train_row(
    metrics: Mapping[str, Any],
    *,
    tags: Mapping[str, str] | None = None,
    run_id: str = "",
    test_id: str = "",
    time_ns: int | None = None,
    verdict: Verdict | str | None = None,
) -> Row:
    """Row of one train summary (e.g. ``{"rate_hz": 10.0, "n_pulses": 50, ...}``)."""
    return _metrics_row(Kind.TRAIN, metrics, tags, run_id, test_id, time_ns, verdict)


def temperature_row(
    celsius: float | None,
    *,
    sensor: str = "coil",
    tags: Mapping[str, str] | None = None,
    run_id: str = "",
    test_id: str = "",
    time_ns: int | None = None,
) -> Row:
    """Row of one temperature trace point in °C (``sensor`` is a bounded tag)."""
    ctx, extra = split_tags(tags or {})
    return Row(
        Kind.TEMPERATURE,
        time.time_ns() if time_ns is None else int(time_ns),
        _tags(ctx, sensor=sensor, test=test_name(test_id)),
        run_id,
        test_id,
        _float_or_none(celsius),
        _NO_LIMITS,
        dict(extra) or None,
    )


@dataclass(frozen=True)
class CalibrationRecord:
    """Result of one calibration fit ``measured = slope · setting + offset``.

    ``slope`` and ``offset`` are in the units of ``quantity`` (``unit``, per
    unit of setting for the slope); ``worst_deviation`` is the largest
    |residual| relative to the expected value (fraction, 0.02 = 2 %).
    """

    serial: str
    slope: float
    offset: float
    r_squared: float
    worst_deviation: float
    verdict: Verdict
    quantity: str = ""
    unit: str = ""
    device: str = "stimulator"  # whose serial: "stimulator" or "coil"
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    test_id: str = ""
    time_ns: int = field(default_factory=time.time_ns)
    certificate: str = ""  # the certificate issued for this check (its number), if any


def calibration_row(rec: CalibrationRecord) -> Row:
    """Row of one :class:`CalibrationRecord`."""
    tags = dict(rec.tags)
    tags[f"{rec.device}_serial"] = rec.serial
    ctx, extra = split_tags(tags)
    data: dict[str, Any] = dict(extra)
    data.update(
        slope=float(rec.slope),
        offset=float(rec.offset),
        r_squared=float(rec.r_squared),
        worst_deviation=float(rec.worst_deviation),
    )
    if rec.certificate:
        data["certificate"] = rec.certificate
    return Row(
        Kind.CALIBRATION,
        int(rec.time_ns),
        _tags(
            ctx,
            name=rec.quantity,
            unit=rec.unit,
            verdict=str(rec.verdict),
            test=test_name(rec.test_id),
        ),
        rec.run_id,
        rec.test_id,
        None,
        _NO_LIMITS,
        data,
    )


@dataclass(frozen=True)
class RunInfo:
    """Context of one run (one pytest session or one CLI procedure)."""

    run_id: str
    station: str = ""
    operator: str = ""
    git_revision: str = ""
    bench: str = ""  # bench file name (not a path)
    started_ns: int = field(default_factory=time.time_ns)
    #: Context of the unit under test (:meth:`harness.context.RunContext.tags`: station,
    #: models, serials); the run's points carry them as tags, so dashboards count runs per
    #: stimulator and coil serial like every other result.
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: The method that judged the run (:meth:`harness.context.RunContext.method`: spec
    #: name, version, content hash, run type), fields of the start point.
    method: Mapping[str, str] = field(default_factory=dict, hash=False)


def run_row(
    info: RunInfo,
    event: str,
    *,
    time_ns: int,
    verdict: Verdict | str | None = None,
    duration_s: float | None = None,
    counts: Mapping[str, int] | None = None,
) -> Row:
    """Row of a run start (``event="start"``) or finish (``event="finish"``).

    ``counts`` (a finish): ``tests`` run, ``first_pass`` passed at their first
    attempt, ``final_pass`` passed at their last: first-pass and final yield.

    Tags: the context of ``info.tags`` (other keys become ``tag_<key>`` fields, as for
    every kind), ``station``, ``bench``, ``event`` and, on a finish, ``verdict``.
    """
    ctx, extra = split_tags(info.tags)
    data: dict[str, Any] = {"operator": info.operator, "git_revision": info.git_revision, **extra}
    if event == "start":
        data.update(info.method)
    if duration_s is not None:
        data["duration_s"] = float(duration_s)
    data.update({k: int(v) for k, v in (counts or {}).items()})
    own = {"station": info.station, "bench": info.bench, "event": event}
    if verdict is not None:
        own["verdict"] = str(verdict)
    return Row(Kind.RUN, int(time_ns), _tags(ctx, **own), info.run_id, "", None, _NO_LIMITS, data)


def test_row(
    tags: Mapping[str, str],
    *,
    run_id: str,
    test_id: str,
    outcome: str,
    attempt: int,
    reason: str,
    duration_s: float,
    time_ns: int,
) -> Row:
    """Row of one attempt of one test.

    Tags: the context, ``test`` (the test's name) and ``outcome``; fields ``attempt``
    (1 first), ``reason`` (``first``, ``rerun`` after a failure in the same run,
    ``retest`` in a run started to test again), ``passed`` (1 or 0) and ``duration_s``.
    First-pass yield is the mean of ``passed`` over ``attempt = 1``.
    """
    ctx, extra = split_tags(tags)
    data: dict[str, Any] = {
        **extra,
        "attempt": int(attempt),
        "reason": reason,
        "passed": int(outcome == "passed"),
        "duration_s": float(duration_s),
    }
    own = _tags(ctx, test=test_name(test_id), outcome=outcome)
    return Row(Kind.TEST, int(time_ns), own, run_id, test_id, None, _NO_LIMITS, data)


def dose_row(
    fields: Mapping[str, Any],
    *,
    protocol: str,
    verdict: Verdict | str,
    tags: Mapping[str, str] | None = None,
    run_id: str = "",
    test_id: str = "",
    time_ns: int,
) -> Row:
    """Row of one delivered protocol (a dose record).

    Tags: the context, ``protocol`` (the protocol's name: few per clinic), ``verdict``
    and ``test``; ``fields`` are the dose's figures (``version``, ``threshold_percent``,
    ``pulses_prescribed``, ``pulses_delivered``, per-train statistics, ...).
    """
    return _metrics_row(
        Kind.DOSE, fields, tags, run_id, test_id, time_ns, verdict, {"protocol": protocol}
    )


def limits_of(row_limits: tuple[float | None, ...]) -> Limits:
    """:class:`Limits` rebuilt from a row's limit columns."""
    return Limits(*row_limits)
