"""EWMA control chart with its centre from an in-control baseline period.

Method (Roberts 1959; Lucas & Saccucci 1990):

* centre ``μ0`` = mean of the first ``baseline_checks`` values (the device's
  in-control baseline, e.g. its first two months of weekly checks);
* short-term σ = median(|Δy − b·Δt|) / 0.9539: the median moving range of
  consecutive checks, detrended by the Theil–Sen slope ``b`` when the caller
  gives it. It measures check-to-check scatter only, so neither a slow drift
  nor a single step inflates it, and it uses the whole history, which a
  baseline of a few checks could not estimate reliably;
* ``z_i = λ·x_i + (1 − λ)·z_{i−1}``, ``z_0 = μ0``; limits
  ``μ0 ± L·σ·√(λ/(2−λ)·(1 − (1−λ)^(2i)) + 1/n0)``. The ``1/n0`` term is the
  variance of the estimated centre (mean of ``n0`` baseline checks): without it
  a baseline of 8 checks would make the limits ~30 % too tight (a false alarm
  on about one stable device in five over 26 checks).

λ = 0.2 and L = 3 (in-control average run length ≈ 560 checks with known
parameters) signalled on 5 % of stable 26-check histories with estimated
parameters (200 seeds) and caught a 6.7σ step within 1 check on average.
A signal means: the device is no longer where its baseline was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MR_MEDIAN_TO_SIGMA = 0.9539  # median |x1 − x2| of two N(0, σ²) draws, in σ


@dataclass(frozen=True, eq=False)
class EwmaChart:
    """An EWMA chart over a series (all arrays have one entry per check, in value units)."""

    ewma: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    center: float
    sigma: float
    baseline_checks: int
    lam: float
    width_sigma: float

    @property
    def signals(self) -> np.ndarray:
        """Boolean per check: the EWMA is outside its limits."""
        return (self.ewma < self.lower) | (self.ewma > self.upper)

    @property
    def first_signal(self) -> int | None:
        """Index of the first check that signals, or ``None``."""
        hits = np.flatnonzero(self.signals)
        return int(hits[0]) if hits.size else None

    def signalling_within(self, last_checks: int) -> bool:
        """True when any of the last ``last_checks`` checks signals."""
        return bool(self.signals[-max(1, last_checks) :].any())

    @property
    def standardized(self) -> np.ndarray:
        """(EWMA − centre) / σ (dimensionless), for plotting devices on one axis."""
        return (self.ewma - self.center) / self.sigma


def short_term_sigma(
    values: npt.ArrayLike, t_days: npt.ArrayLike | None = None, slope_per_day: float = 0.0
) -> float:
    """Check-to-check σ from the median moving range (detrended by ``slope_per_day``)."""
    y = np.asarray(values, dtype=float)
    d = np.diff(y)
    if t_days is not None and slope_per_day:
        d = d - slope_per_day * np.diff(np.asarray(t_days, dtype=float))
    if d.size == 0:
        return math.nan
    return float(np.median(np.abs(d))) / MR_MEDIAN_TO_SIGMA


def ewma_chart(
    values: npt.ArrayLike,
    *,
    t_days: npt.ArrayLike | None = None,
    slope_per_day: float = 0.0,
    baseline_checks: int = 8,
    lam: float = 0.2,
    width_sigma: float = 3.0,
    sigma_floor: float = 0.0,
    center: float | None = None,
) -> EwmaChart:
    """EWMA chart of ``values`` (see module notes).

    ``baseline_checks`` is capped at half the series (at least 2 checks);
    ``sigma_floor`` (value units) bounds σ from below, e.g. the instrument's
    repeatability, so a run of identical readings cannot make the limits vanish.
    A known ``center`` (e.g. 0 for residuals from a fit) replaces the baseline
    mean and its estimation term. Needs at least 4 values (``ValueError`` otherwise).
    """
    y = np.asarray(values, dtype=float)
    if y.size < 4:
        raise ValueError("an EWMA chart needs at least 4 checks")
    if not 0.0 < lam <= 1.0:
        raise ValueError(f"EWMA λ must be in (0, 1], got {lam}")
    n_base = int(min(baseline_checks, max(2, y.size // 2)))
    center_var = 1.0 / n_base  # of the estimated centre, in σ²
    if center is None:
        center = float(np.mean(y[:n_base]))
    else:
        n_base, center_var = 0, 0.0
    sigma = max(short_term_sigma(y, t_days, slope_per_day), sigma_floor, 1e-12 * abs(center))
    z = np.empty_like(y)
    prev = center
    for i, x in enumerate(y):
        prev = lam * x + (1.0 - lam) * prev
        z[i] = prev
    steps = np.arange(1, y.size + 1)
    var_z = lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * steps))
    half = width_sigma * sigma * np.sqrt(var_z + center_var)
    return EwmaChart(
        ewma=z,
        lower=center - half,
        upper=center + half,
        center=center,
        sigma=sigma,
        baseline_checks=n_base,
        lam=lam,
        width_sigma=width_sigma,
    )
