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


@dataclass(frozen=True)
class TableFit:
    """Measured output against a spec's output table (``output.points``).

    A device whose output follows a table rather than a line is judged by how
    closely it meets the table: the least-squares line through (table output,
    measured output) should have slope 1 and offset 0, and no level should
    deviate from its table value by more than the spec allows.
    """

    slope: float  # measured per table output (dimensionless, 1 ideal)
    offset: float  # output units at a table output of 0 (0 ideal)
    r2: float  # of measured vs table output
    worst_deviation_percent: float  # max |measured − table| / table over levels, %
    worst_level_percent: float  # the %MSO level where that happens
    n_points: int


def fit_table(
    percent: Sequence[float] | np.ndarray,
    output: Sequence[float] | np.ndarray,
    expected: Callable[[float], float],
) -> TableFit:
    """Fit measured ``output`` against the table's ``expected(percent)`` (same units).

    Raises like :func:`fit_calibration` on non-finite outputs or fewer than two levels.
    """
    x = np.asarray(percent, dtype=np.float64)
    table = np.array([expected(float(p)) for p in x])
    by_level = fit_calibration(x, output, expected)  # validates; gives the deviation
    by_table = fit_calibration(table, output, lambda v: v)
    return TableFit(
        slope=by_table.slope_per_percent,
        offset=by_table.offset,
        r2=by_table.r2,
        worst_deviation_percent=by_level.worst_deviation_percent,
        worst_level_percent=by_level.worst_level_percent,
        n_points=by_level.n_points,
    )
