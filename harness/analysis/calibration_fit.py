"""Calibration fit: measured output vs %MSO (pure numpy).

A stimulator's output (peak dI/dt, A/µs) should be linear in the intensity
setting. The fit gives slope (A/µs per %MSO), offset (A/µs), R² and the worst
deviation of any level from the spec's expected output (in %).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CalibrationFit:
    """Least-squares line through (percent, output) points."""

    slope_per_percent: float  # output units per %MSO
    offset: float  # output units at 0 %MSO
    r2: float
    worst_deviation_percent: float  # max |measured − expected| / expected over levels, %
    worst_level_percent: float  # the %MSO level where that happens
    n_points: int
    levels_percent: tuple[float, ...]
    mean_output: tuple[float, ...]  # mean measured output per level
    expected_output: tuple[float, ...]


def fit_calibration(
    percent: Sequence[float] | np.ndarray,
    output: Sequence[float] | np.ndarray,
    expected: Callable[[float], float],
) -> CalibrationFit:
    """Fit ``output`` (e.g. A/µs) against ``percent`` (%MSO); ``expected(p)`` is the spec curve.

    Repeated pulses at one level are averaged for the deviation figure but all
    points enter the fit. NaN outputs (invalid pulses) are an error: a
    calibration never silently drops a level.
    """
    x = np.asarray(percent, dtype=np.float64)
    y = np.asarray(output, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"percent and output must be 1-D of one length, got {x.shape}, {y.shape}")
    if not np.all(np.isfinite(y)):
        bad = sorted(set(x[~np.isfinite(y)].tolist()))
        raise ValueError(f"invalid (non-finite) output at {bad} %MSO: calibration incomplete")
    levels = np.unique(x)
    if len(levels) < 2:
        raise ValueError("a calibration fit needs at least two intensity levels")
    slope, offset = np.polyfit(x, y, 1)
    resid = y - (slope * x + offset)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 0.0
    means = np.array([y[x == lv].mean() for lv in levels])
    exp = np.array([expected(float(lv)) for lv in levels])
    dev = np.abs(means - exp) / np.abs(exp) * 100.0
    k = int(np.argmax(dev))
    return CalibrationFit(
        slope_per_percent=float(slope),
        offset=float(offset),
        r2=r2,
        worst_deviation_percent=float(dev[k]),
        worst_level_percent=float(levels[k]),
        n_points=int(x.size),
        levels_percent=tuple(levels.tolist()),
        mean_output=tuple(means.tolist()),
        expected_output=tuple(exp.tolist()),
    )
