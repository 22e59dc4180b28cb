"""Coil cooling time constant from two temperature windows (Newton's law of cooling).

A lumped coil cools as ``dT/dt = -(T - T_amb) / tau``. Fit a straight line to a
window of coil temperature before a heating train (mean ``T1``, slope ``s1``)
and to one after it (``T2``, ``s2``). Subtracting the two cooling equations
removes the ambient temperature:

    tau = (T2 - T1) / (s1 - s2)

so no ambient sensor is needed, and a coil still warm from an earlier test is
fine: only the difference between the windows counts. Each window must be
short against ``tau`` (the line's slope then equals the exponential's slope at
the window's centre to within (D/tau)^2/12 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


@dataclass(frozen=True)
class WindowFit:
    """A straight line through one temperature window."""

    mean_C: float  # mean temperature (°C), the line's value at the window centre
    slope_K_per_s: float  # dT/dt (K/s)
    slope_se_K_per_s: float  # standard error of the slope (K/s)
    mean_se_C: float  # standard error of the mean (°C)
    duration_s: float  # first to last sample (s)
    n: int  # samples


@dataclass(frozen=True)
class CoolingResult:
    """Cooling time constant from a window before and one after heating."""

    before: WindowFit
    after: WindowFit
    rise_K: float  # T2 - T1 (K)
    tau_s: float  # cooling time constant (s); NaN when invalid
    tau_se_s: float  # its standard error (s); NaN when invalid
    ambient_C: float  # ambient the fit implies (°C); NaN when invalid
    invalid_reason: str = ""

    @property
    def valid(self) -> bool:
        """True when ``tau_s`` was measured."""
        return not self.invalid_reason

    @property
    def tau_uncertainty_percent(self) -> float:
        """Standard error of tau relative to tau (%); NaN when invalid."""
        if not self.valid or self.tau_s <= 0:
            return math.nan
        return 100.0 * self.tau_se_s / self.tau_s


def fit_window(t_s: ArrayLike, temp_C: ArrayLike) -> WindowFit:
    """Least-squares line through ``temp_C`` (°C) sampled at ``t_s`` (s).

    Raises ValueError for fewer than 3 samples, mismatched lengths, all samples
    at one time, or a non-finite sample (an open thermocouple reads as a DAQ
    error before it gets here; a NaN here is a corrupted record).
    """
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(temp_C, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"times and temperatures differ in shape: {t.shape} vs {y.shape}")
    if t.size < 3:
        raise ValueError(f"a temperature window needs at least 3 samples, got {t.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("temperature window has non-finite samples")
    tc = t - t.mean()
    sxx = float(tc @ tc)
    if sxx <= 0:
        raise ValueError("temperature window: all samples at the same time")
    mean = float(y.mean())
    slope = float(tc @ (y - mean)) / sxx
    resid = y - mean - slope * tc
    s2 = float(resid @ resid) / (t.size - 2)
    return WindowFit(
        mean_C=mean,
        slope_K_per_s=slope,
        slope_se_K_per_s=math.sqrt(s2 / sxx),
        mean_se_C=math.sqrt(s2 / t.size),
        duration_s=float(t[-1] - t[0]),
        n=int(t.size),
    )


def cooling_time_constant(
    before: WindowFit, after: WindowFit, *, min_rise_K: float = 0.5
) -> CoolingResult:
    """Newton cooling time constant (s) from a window ``before`` and ``after`` heating.

    Invalid (with a reason, tau NaN) when the heating raised the coil less
    than ``min_rise_K`` (K) or the hotter window did not cool faster.
    """
    rise = after.mean_C - before.mean_C
    dslope = before.slope_K_per_s - after.slope_K_per_s  # > 0: hotter cools faster
    nan = math.nan
    reason = ""
    if not rise >= min_rise_K:
        reason = (
            f"the heating train raised the coil {rise:.2f} K; a cooling measurement "
            f"needs at least {min_rise_K:g} K"
        )
    elif not dslope > 0:
        reason = (
            f"the coil did not cool faster when hotter (slope {after.slope_K_per_s * 60:+.3f} "
            f"K/min after heating, {before.slope_K_per_s * 60:+.3f} K/min before)"
        )
    if reason:
        return CoolingResult(before, after, rise, nan, nan, nan, reason)
    tau = rise / dslope
    rel_slope = math.hypot(before.slope_se_K_per_s, after.slope_se_K_per_s) / dslope
    rel_rise = math.hypot(before.mean_se_C, after.mean_se_C) / rise
    ambient = before.mean_C + tau * before.slope_K_per_s
    return CoolingResult(before, after, rise, tau, tau * math.hypot(rel_slope, rel_rise), ambient)
