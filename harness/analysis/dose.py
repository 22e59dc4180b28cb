"""Delivered dose vs prescription: pure checks of a protocol's pulses (no I/O).

Inputs are numbers from the rig (scope time tags and dI/dt per pulse on the device
clock, DAQ trigger-out counts, the start of each train on the session clock, the
hottest coil reading) and the prescription in plain numbers; each check comes back as
a :class:`DoseCheck` (value, unit, limits) that the harness records as a measurement.

Definitions: a train's pulses are split into bursts at intervals longer than half-way
between the pulse interval and the gap between bursts (1.5/``rate_hz`` without bursts); a
train's span is its first to last pulse; train starts are compared with the
prescription relative to the first train (the host's latency from "start" to the first
pulse cancels); the total duration is the first train's start to the last train's start
plus the last train's span, vs the prescription's first-to-last pulse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.analysis.train import analyze_bursts, analyze_train


@dataclass(frozen=True)
class Prescription:
    """What one delivery should be, in plain numbers (units in the names)."""

    pulses_per_burst: int
    bursts_per_train: int
    rate_hz: float  # within a burst (within a train without bursts)
    burst_rate_hz: float | None
    train_starts_s: tuple[float, ...]  # each train's start, s after the first train's start
    train_span_s: float  # first to last pulse of one train
    duration_s: float  # first to last pulse of the whole delivery
    expected_didt_A_per_us: float  # at the prescribed %MSO (the spec's output table)
    didt_relative: float  # the spec's dI/dt tolerance: max(absolute, relative·expected)
    didt_absolute: float
    coil_temperature_max_C: float
    rate_error_percent_max: float
    burst_rate_error_percent_max: float
    jitter_us_max: float
    span_tolerance_ms: float  # a train's first-to-last pulse (device-timed)
    schedule_tolerance_ms: float  # train starts and total duration (host-timed)

    @property
    def pulses_per_train(self) -> int:
        """Pulses in one train."""
        return self.pulses_per_burst * self.bursts_per_train

    @property
    def trains(self) -> int:
        """Trains in the delivery."""
        return len(self.train_starts_s)

    @property
    def pulses(self) -> int:
        """Pulses in the delivery."""
        return self.pulses_per_train * self.trains


@dataclass(frozen=True)
class DeliveredTrain:
    """One train as the instruments saw it."""

    start_s: float  # session clock when the train was started
    times_s: np.ndarray  # scope trigger time tags (s, device clock)
    n_scope: int
    n_daq: int | None
    n_valid: int
    didt_A_per_us: np.ndarray  # peak dI/dt of each valid pulse
    max_temperature_C: float | None = None


@dataclass(frozen=True)
class DoseCheck:
    """One check of the delivery: a value and its limits (``None``: unbounded)."""

    name: str
    value: float | None
    unit: str
    low: float | None = None
    high: float | None = None
    nominal: float | None = None
    where: str = ""  # which train or burst, when the check points at one

    @property
    def passed(self) -> bool:
        """Inside its limits (a missing or NaN value never passes)."""
        v = self.value
        if v is None or not math.isfinite(v):
            return False
        return (self.low is None or v >= self.low - 1e-9) and (
            self.high is None or v <= self.high + 1e-9
        )


@dataclass(frozen=True)
class TrainStats:
    """Per-train figures of the dose record."""

    index: int
    pulses_scope: int
    pulses_daq: int | None
    pulses_valid: int
    rate_hz: float
    jitter_us: float
    span_s: float
    burst_rate_hz: float
    mean_didt_A_per_us: float
    start_s: float


@dataclass(frozen=True)
class DoseResult:
    """Every check and the per-train figures."""

    checks: list[DoseCheck]
    trains: list[TrainStats] = field(default_factory=list)
    pulses_delivered: int = 0

    @property
    def passed(self) -> bool:
        """Every check inside its limits."""
        return all(c.passed for c in self.checks)


def _exact(name: str, value: float, n: float, unit: str) -> DoseCheck:
    return DoseCheck(name, value, unit, n, n, n)


def _band(name: str, value: float, nominal: float, half: float, unit: str) -> DoseCheck:
    return DoseCheck(name, value, unit, nominal - half, nominal + half, nominal)


def _split_s(rx: Prescription) -> float:
    """Intervals longer than this start a new burst: half-way between the pulse interval
    and the gap between bursts (a missing pulse inside a burst does not split it)."""
    if rx.burst_rate_hz is None:
        return 1.5 / rx.rate_hz
    gap = 1.0 / rx.burst_rate_hz - (rx.pulses_per_burst - 1) / rx.rate_hz
    return 0.5 * (1.0 / rx.rate_hz + gap)


def _bursts(times: np.ndarray, split_s: float) -> list[int]:
    """Pulses per burst (intervals > ``split_s`` start a new burst)."""
    if times.size == 0:
        return []
    new = np.flatnonzero(np.diff(np.sort(times)) > split_s) + 1
    edges = np.concatenate(([0], new, [times.size]))
    return [int(c) for c in np.diff(edges)]


def _short_burst(rx: Prescription, times: np.ndarray) -> str:
    """Which burst of a short train lacks pulses (" (burst 7 short)"), "" without bursts."""
    if rx.bursts_per_train <= 1:
        return ""
    counts = _bursts(times, _split_s(rx))
    short = [i for i, c in enumerate(counts) if c != rx.pulses_per_burst]
    if short:
        i = short[0]
        return f" (burst {i + 1}: {counts[i]} of {rx.pulses_per_burst} pulses)"
    if len(counts) < rx.bursts_per_train:
        return f" ({len(counts)} of {rx.bursts_per_train} bursts)"
    return ""


def _worst(values: list[float]) -> float:
    """The value farthest from zero (NaN when there is none)."""
    finite = [v for v in values if math.isfinite(v)]
    return max(finite, key=abs) if finite else math.nan


def verify_dose(rx: Prescription, delivered: list[DeliveredTrain]) -> DoseResult:
    """Judge ``delivered`` (in prescription order) against ``rx``; see the module notes."""
    n = rx.trains
    checks: list[DoseCheck] = [_exact("trains delivered", len(delivered), n, "trains")]
    scope = sum(t.n_scope for t in delivered)
    checks.append(_exact("pulses seen by the scope", scope, rx.pulses, "pulses"))
    daq = [t.n_daq for t in delivered]
    if delivered and all(c is not None for c in daq):
        checks.append(
            _exact("pulses counted by the DAQ (trigger-out)", sum(c or 0 for c in daq),
                   rx.pulses, "pulses")
        )
    valid = sum(t.n_valid for t in delivered)
    checks.append(_exact("valid pulse records", valid, rx.pulses, "pulses"))

    stats: list[TrainStats] = []
    short: list[DoseCheck] = []
    rate_err: list[float] = []
    jitter: list[float] = []
    span_dev: list[float] = []
    burst_err: list[float] = []
    for k, t in enumerate(delivered):
        times = np.sort(np.asarray(t.times_s, dtype=np.float64))
        counts = {t.n_scope, t.n_daq if t.n_daq is not None else t.n_scope}
        if counts != {rx.pulses_per_train}:
            got = min(counts)
            ppt = rx.pulses_per_train
            # named only when short: the name says which train (and burst) it was
            name = f"pulses in train {k + 1} of {n}{_short_burst(rx, times)}"
            short.append(DoseCheck(name, got, "pulses", ppt, ppt, ppt, where=name))
        m = analyze_train(times, rx.rate_hz) if times.size else None
        b = None
        if rx.bursts_per_train > 1 and rx.burst_rate_hz and times.size > 1:
            b = analyze_bursts(times, intra_rate_hz=rx.rate_hz, burst_rate_hz=rx.burst_rate_hz,
                               pulses_per_burst=rx.pulses_per_burst,
                               split_factor=_split_s(rx) * rx.rate_hz)
        rate = (1.0 / b.intra_interval_s) if b is not None else (m.mean_rate_hz if m else math.nan)
        jit = (b.intra_jitter_us if b is not None else m.jitter_us) if m else math.nan
        span = float(times[-1] - times[0]) if times.size > 1 else math.nan
        rate_err.append(100.0 * (rate / rx.rate_hz - 1.0))
        jitter.append(jit)
        span_dev.append((span - rx.train_span_s) * 1e3)
        if b is not None:
            burst_err.append(b.burst_rate_error_pct)
        didt = np.asarray(t.didt_A_per_us, dtype=np.float64)
        stats.append(TrainStats(
            k + 1, t.n_scope, t.n_daq, t.n_valid, rate, jit, span,
            b.burst_rate_hz if b is not None else math.nan,
            float(didt.mean()) if didt.size else math.nan, t.start_s,
        ))
    # trains never delivered (a run cut short) are not counted as having their pulses
    checks.append(_exact("trains with the prescribed pulses", len(delivered) - len(short), n,
                         "trains"))
    checks.extend(short)

    lim = rx.rate_error_percent_max
    checks.append(_band("pulse rate error (worst train)", _worst(rate_err), 0.0, lim, "%"))
    finite_jit = [j for j in jitter if math.isfinite(j)]
    if finite_jit:
        checks.append(DoseCheck("interval jitter (worst train)", max(finite_jit), "µs",
                                high=rx.jitter_us_max))
    if rx.pulses_per_train > 1:
        checks.append(_band("train span deviation (worst train)", _worst(span_dev), 0.0,
                            rx.span_tolerance_ms, "ms"))
    if burst_err:
        checks.append(_band("burst rate error (worst train)", _worst(burst_err), 0.0,
                            rx.burst_rate_error_percent_max, "%"))

    if len(delivered) > 1:
        t0 = delivered[0].start_s
        dev = [
            ((t.start_s - t0) - rx.train_starts_s[k]) * 1e3
            for k, t in enumerate(delivered[: len(rx.train_starts_s)])
        ]
        checks.append(_band("train start deviation (worst train)", _worst(dev), 0.0,
                            rx.schedule_tolerance_ms, "ms"))
    if delivered:
        last = delivered[-1]
        span_last = float(np.ptp(last.times_s)) if np.size(last.times_s) else 0.0
        total = last.start_s - delivered[0].start_s + span_last
        checks.append(_band("total duration", total, rx.duration_s,
                            rx.schedule_tolerance_ms / 1e3, "s"))

    didt = np.concatenate([np.asarray(t.didt_A_per_us, dtype=np.float64) for t in delivered]) \
        if delivered else np.array([])
    didt = didt[np.isfinite(didt)]
    e = rx.expected_didt_A_per_us
    half = max(rx.didt_absolute, rx.didt_relative * abs(e))
    outside = int(np.count_nonzero(np.abs(didt - e) > half))
    checks.append(_exact("pulses outside the dI/dt tolerance", outside, 0, "pulses"))
    worst = float(didt[np.argmax(np.abs(didt - e))]) if didt.size else math.nan
    checks.append(_band("peak dI/dt (farthest pulse)", worst, e, half, "A/µs"))

    temps = [t.max_temperature_C for t in delivered if t.max_temperature_C is not None]
    if temps:
        checks.append(DoseCheck("coil temperature (highest)", max(temps), "°C",
                                high=rx.coil_temperature_max_C))
    return DoseResult(checks, stats, pulses_delivered=valid)
