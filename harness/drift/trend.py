"""Robust linear trend of a calibration quantity over calendar time.

Method: Theil–Sen (median of all pairwise slopes, :func:`scipy.stats.theilslopes`)
on times centred at their median (the *pivot*). Its confidence interval is
Sen's distribution-free interval from Kendall's tau (valid for any continuous
noise, robust to up to ~29 % outliers). The level at the pivot is
``median(y − b·(t − t_pivot))``; its confidence half-width is taken as the
median's standard error under normal noise, ``z · 1.2533 · σ / √n``, with σ
the residuals' scale (1.4826 · MAD). Times are days (float) since the Unix
epoch; values are in the caller's unit (slopes in that unit per day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_MONTH = 365.25 / 12.0  # mean Gregorian month (d)
MAD_TO_SIGMA = 1.4826  # σ of normal noise per median absolute deviation
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2.0)  # SE(median) / SE(mean) for normal noise


def days_from_ns(time_ns: npt.ArrayLike) -> np.ndarray:
    """Unix ns → days (float) since the Unix epoch."""
    return np.asarray(time_ns, dtype=np.int64) / NS_PER_DAY


def ns_from_days(days: float) -> int:
    """Days since the Unix epoch → Unix ns."""
    return round(days * NS_PER_DAY)


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for ``confidence`` (0.95 → 1.96)."""
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


@dataclass(frozen=True)
class Trend:
    """A robust straight line ``value(t) = level + slope_per_day · (t_day − pivot_day)``.

    ``slope_low_per_day`` / ``slope_high_per_day`` bound the slope at
    ``confidence``; ``level_halfwidth`` bounds the level at the pivot;
    ``residual_sigma`` is the robust scatter about the line (value units).
    """

    slope_per_day: float
    slope_low_per_day: float
    slope_high_per_day: float
    level: float
    level_halfwidth: float
    pivot_day: float
    residual_sigma: float
    n: int
    confidence: float

    def at(self, day: npt.ArrayLike) -> np.ndarray:
        """Trend value(s) at ``day`` (days since the epoch)."""
        return self.level + self.slope_per_day * (np.asarray(day, dtype=float) - self.pivot_day)

    @property
    def significant(self) -> bool:
        """True when the slope's confidence interval excludes zero."""
        return self.slope_low_per_day > 0.0 or self.slope_high_per_day < 0.0

    def pct_per_month(self, reference: float) -> tuple[float, float, float]:
        """(slope, low, high) as % of ``reference`` per mean month."""
        k = DAYS_PER_MONTH * 100.0 / reference
        return (self.slope_per_day * k, self.slope_low_per_day * k, self.slope_high_per_day * k)


def robust_trend(
    t_days: npt.ArrayLike, values: npt.ArrayLike, *, confidence: float = 0.95
) -> Trend:
    """Theil–Sen trend of ``values`` over ``t_days`` (non-finite pairs are dropped).

    Needs at least 3 points at 2 or more distinct times (``ValueError`` otherwise).
    With so few points that Sen's interval is undefined, the slope interval is
    (−inf, inf).
    """
    t = np.asarray(t_days, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"times {t.shape} and values {y.shape} differ in shape")
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.size < 3 or np.ptp(t) == 0.0:
        raise ValueError("a trend needs at least 3 points at 2 or more distinct times")
    pivot = float(np.median(t))
    res = stats.theilslopes(y, t - pivot, alpha=confidence)
    slope = float(res.slope)
    lo, hi = float(res.low_slope), float(res.high_slope)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = -math.inf, math.inf
    level = float(np.median(y - slope * (t - pivot)))
    resid = y - (level + slope * (t - pivot))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(resid - np.median(resid))))
    half = z_value(confidence) * MEDIAN_SE_FACTOR * sigma / math.sqrt(t.size)
    return Trend(
        slope_per_day=slope,
        slope_low_per_day=min(lo, slope),
        slope_high_per_day=max(hi, slope),
        level=level,
        level_halfwidth=half,
        pivot_day=pivot,
        residual_sigma=sigma,
        n=int(t.size),
        confidence=confidence,
    )
