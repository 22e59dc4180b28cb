"""Train and burst timing from pulse time stamps (s, on the device/scope clock).

Definitions (nominal interval P = 1/expected rate):

- intervals are split into: regular (≤ ``gap_factor``·P), missing-pulse gaps
  (within ±``missing_tol``·P of k·P for k = 2 … ``max_missing`` + 1: k − 1
  pulses missing) and train breaks (any other interval > ``gap_factor``·P);
- ``mean_rate_hz`` = 1 / mean of the regular intervals; ``rate_error_pct`` =
  100·(mean_rate / expected − 1);
- ``jitter_us`` = standard deviation (ddof=1) of the regular intervals, µs;
- ``train_durations_s``: last − first pulse of each train;
  ``inter_train_intervals_s``: first pulse of a train − last pulse of the
  previous train.

Bursts (theta burst: 3 pulses at 50 Hz repeated at 5 Hz; paired pulses: 2
pulses at the inter-stimulus interval): intervals > ``split_factor`` × the
intra-burst interval start a new burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainResult:
    """Timing of one or more trains of pulses."""

    n_pulses: int
    n_trains: int
    mean_rate_hz: float
    rate_error_pct: float
    mean_interval_s: float
    jitter_us: float
    train_durations_s: tuple[float, ...]
    pulses_per_train: tuple[int, ...]
    inter_train_intervals_s: tuple[float, ...]
    missing_pulses: int
    missing_after_index: tuple[int, ...]  # index of the pulse before each missing-pulse gap


def analyze_train(
    timestamps_s: np.ndarray,
    expected_rate_hz: float,
    *,
    gap_factor: float = 1.5,
    missing_tol: float = 0.25,
    max_missing: int = 3,
) -> TrainResult:
    """Train timing from sorted pulse time stamps (s); see the module notes."""
    t = np.sort(np.asarray(timestamps_s, dtype=np.float64))
    if expected_rate_hz <= 0:
        raise ValueError("expected_rate_hz must be > 0")
    nominal = 1.0 / expected_rate_hz
    if t.size == 0:
        return TrainResult(0, 0, math.nan, math.nan, math.nan, math.nan, (), (), (), 0, ())
    d = np.diff(t)
    ratio = d / nominal
    k = np.rint(ratio)
    is_missing = (
        (ratio > gap_factor)
        & (k >= 2)
        & (k <= max_missing + 1)
        & (np.abs(ratio - k) <= missing_tol)
    )
    is_break = (ratio > gap_factor) & ~is_missing
    regular = ratio <= gap_factor
    breaks = np.flatnonzero(is_break)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [t.size - 1]))
    durations = tuple(float(t[e] - t[s]) for s, e in zip(starts, ends, strict=True))
    counts = tuple(int(e - s + 1) for s, e in zip(starts, ends, strict=True))
    itis = tuple(float(d[b]) for b in breaks)
    reg = d[regular]
    mean_iv = float(reg.mean()) if reg.size else math.nan
    rate = 1.0 / mean_iv if reg.size else math.nan
    jitter = float(reg.std(ddof=1) * 1e6) if reg.size > 1 else math.nan
    missing = int((k[is_missing] - 1).sum())
    return TrainResult(
        n_pulses=int(t.size),
        n_trains=len(starts),
        mean_rate_hz=rate,
        rate_error_pct=100.0 * (rate / expected_rate_hz - 1.0),
        mean_interval_s=mean_iv,
        jitter_us=jitter,
        train_durations_s=durations,
        pulses_per_train=counts,
        inter_train_intervals_s=itis,
        missing_pulses=missing,
        missing_after_index=tuple(int(i) for i in np.flatnonzero(is_missing)),
    )


@dataclass(frozen=True)
class BurstResult:
    """Timing of a burst protocol (theta burst, paired pulses)."""

    n_bursts: int
    pulses_per_burst: tuple[int, ...]
    complete: bool  # every burst has the expected number of pulses
    intra_interval_s: float  # mean interval between pulses inside bursts
    intra_rate_error_pct: float
    intra_jitter_us: float
    burst_rate_hz: float  # 1 / mean interval between burst starts
    burst_rate_error_pct: float
    burst_jitter_us: float


def analyze_bursts(
    timestamps_s: np.ndarray,
    *,
    intra_rate_hz: float,
    burst_rate_hz: float,
    pulses_per_burst: int,
    split_factor: float = 1.5,
) -> BurstResult:
    """Burst timing (e.g. theta burst: ``intra_rate_hz=50, burst_rate_hz=5,
    pulses_per_burst=3``)."""
    t = np.sort(np.asarray(timestamps_s, dtype=np.float64))
    nominal = 1.0 / intra_rate_hz
    d = np.diff(t)
    new = d > split_factor * nominal
    starts = np.concatenate(([0], np.flatnonzero(new) + 1)) if t.size else np.array([], int)
    ends = np.concatenate((starts[1:] - 1, [t.size - 1])) if t.size else starts
    counts = tuple(int(e - s + 1) for s, e in zip(starts, ends, strict=True))
    intra = d[~new]
    period = np.diff(t[starts]) if starts.size > 1 else np.array([])

    def _stats(x: np.ndarray) -> tuple[float, float]:
        mean = float(x.mean()) if x.size else math.nan
        jit = float(x.std(ddof=1) * 1e6) if x.size > 1 else math.nan
        return mean, jit

    intra_mean, intra_jit = _stats(intra)
    per_mean, per_jit = _stats(period)
    burst_rate = 1.0 / per_mean if period.size else math.nan
    return BurstResult(
        n_bursts=len(counts),
        pulses_per_burst=counts,
        complete=bool(counts) and all(c == pulses_per_burst for c in counts),
        intra_interval_s=intra_mean,
        intra_rate_error_pct=100.0 * (1.0 / intra_mean / intra_rate_hz - 1.0),
        intra_jitter_us=intra_jit,
        burst_rate_hz=burst_rate,
        burst_rate_error_pct=100.0 * (burst_rate / burst_rate_hz - 1.0),
        burst_jitter_us=per_jit,
    )


def analyze_paired_pulses(
    timestamps_s: np.ndarray, *, isi_s: float, pair_interval_s: float
) -> BurstResult:
    """Paired-pulse protocol: pairs ``isi_s`` apart, one pair every ``pair_interval_s``.

    ``intra_interval_s`` of the result is the measured inter-stimulus interval.
    """
    return analyze_bursts(
        timestamps_s,
        intra_rate_hz=1.0 / isi_s,
        burst_rate_hz=1.0 / pair_interval_s,
        pulses_per_burst=2,
    )


@dataclass(frozen=True)
class BurstCheck:
    """One prescribed burst as delivered (times in s, device clock).

    ``start_gap_s``: first pulse of this burst − first pulse of the previous one (NaN for
    the first burst, or when either burst has no pulse); ``intervals_s``: between its
    consecutive pulses.
    """

    index: int  # 0-based
    n_pulses: int
    intervals_s: tuple[float, ...]
    start_gap_s: float


def check_bursts(
    timestamps_s: np.ndarray,
    *,
    rate_hz: float,
    pulses_per_burst: int,
    bursts: int,
    iti_s: float,
) -> tuple[BurstCheck, ...]:
    """Split pulse time stamps into the ``bursts`` prescribed bursts and measure each.

    A burst of ``pulses_per_burst`` pulses at ``rate_hz`` starts every
    P = (pulses_per_burst − 1)/rate + ``iti_s``. Each pulse belongs to the burst
    whose middle is nearest (k = round((t − t₀ − span/2)/P), t₀ the first pulse), so a
    missing pulse leaves its burst short instead of shifting the rest; pulses beyond
    the prescribed bursts are counted in the last one.
    """
    t = np.sort(np.asarray(timestamps_s, dtype=np.float64))
    span = (pulses_per_burst - 1) / rate_hz
    period = span + iti_s
    groups: list[list[float]] = [[] for _ in range(bursts)]
    if t.size:
        k = np.rint((t - t[0] - span / 2) / period) if period > 0 else np.zeros(t.size)
        for ti, ki in zip(t, np.clip(k, 0, bursts - 1).astype(int), strict=True):
            groups[ki].append(float(ti))
    out = []
    for i, g in enumerate(groups):
        prev = groups[i - 1] if i else []
        gap = g[0] - prev[0] if g and prev else math.nan
        out.append(BurstCheck(i, len(g), tuple(float(x) for x in np.diff(g)), gap))
    return tuple(out)


def burst_times(*, rate_hz: float, pulses: int, trains: int = 1, iti_s: float = 0.0) -> np.ndarray:
    """Prescribed pulse times (s from the first pulse): ``trains`` bursts of ``pulses`` at
    ``rate_hz``, ``iti_s`` from a burst's last pulse to the next burst's first."""
    if rate_hz <= 0 or pulses < 1 or trains < 1 or iti_s < 0:
        raise ValueError(
            f"a pattern needs rate_hz > 0, pulses >= 1, trains >= 1 and iti_s >= 0 "
            f"(got {rate_hz:g} Hz, {pulses}, {trains}, {iti_s:g} s)"
        )
    period = (pulses - 1) / rate_hz + iti_s
    k = np.arange(pulses, dtype=np.float64) / rate_hz
    return np.concatenate([b * period + k for b in range(trains)])
