"""Cooling time constant from two temperature windows (harness.analysis.thermal)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from harness.analysis.thermal import cooling_time_constant, fit_window


def newton(t_s: np.ndarray, t0_C: float, ambient_C: float, tau_s: float) -> np.ndarray:
    """Temperature of a lumped body cooling from ``t0_C`` at t = 0 (closed form)."""
    return ambient_C + (t0_C - ambient_C) * np.exp(-t_s / tau_s)


def windows(
    tau_s: float,
    *,
    ambient_C: float = 23.0,
    start_C: float = 24.0,
    rise_K: float = 3.0,
    gap_s: float = 20.0,
    window_s: float = 10.0,
    rate_hz: float = 200.0,
    noise_C: float = 0.0,
    seed: int = 0,
):
    """A window cooling from ``start_C``, then (after heating by ``rise_K``) a second one."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(window_s * rate_hz)) / rate_hz
    y1 = newton(t, start_C, ambient_C, tau_s)
    hot = newton(np.array([window_s + gap_s]), start_C, ambient_C, tau_s)[0] + rise_K
    y2 = newton(t, hot, ambient_C, tau_s)
    if noise_C:
        y1 = y1 + rng.normal(0, noise_C, t.size)
        y2 = y2 + rng.normal(0, noise_C, t.size)
    return fit_window(t, y1), fit_window(t, y2)


def test_line_fit_recovers_slope_and_mean() -> None:
    t = np.linspace(0, 10, 1001)
    w = fit_window(t, 30.0 - 0.01 * t)
    assert w.slope_K_per_s == pytest.approx(-0.01, rel=1e-9)
    assert w.mean_C == pytest.approx(30.0 - 0.05, rel=1e-12)
    assert w.slope_se_K_per_s < 1e-12 and w.n == 1001 and w.duration_s == pytest.approx(10.0)


@pytest.mark.parametrize("tau_s", [300.0, 600.0, 1200.0])
@pytest.mark.parametrize("ambient_C", [18.0, 23.0, 30.0])
def test_noise_free_newton_cooling_gives_tau_without_knowing_ambient(
    tau_s: float, ambient_C: float
) -> None:
    # the coil starts warm from earlier work (not at ambient): only differences count
    before, after = windows(tau_s, ambient_C=ambient_C, start_C=ambient_C + 1.5)
    r = cooling_time_constant(before, after)
    assert r.valid
    # a 10 s line on an exponential: slope error ~ (D/tau)^2/24, mean error ~ the same order
    assert r.tau_s == pytest.approx(tau_s, rel=1e-3)
    assert r.ambient_C == pytest.approx(ambient_C, abs=0.02)


def test_stated_uncertainty_matches_the_scatter() -> None:
    """Over many noisy repeats, (tau - true) / stated se is ~ N(0, 1)."""
    tau = 600.0
    z, rel = [], []
    for seed in range(300):
        r = cooling_time_constant(*windows(tau, noise_C=0.02, seed=seed))
        z.append((r.tau_s - tau) / r.tau_se_s)
        rel.append(r.tau_uncertainty_percent)
    z_arr = np.array(z)
    assert abs(z_arr.mean()) < 0.25
    assert 0.8 < z_arr.std() < 1.25
    # 3 K rise, 0.02 °C noise, 2 x 2000 samples over 10 s: about 3 % (computed by hand:
    # se(slope) = 0.02 * sqrt(12 / 2000) / 10 = 1.55e-4 K/s; x sqrt 2 / (3 / 600) = 4.4 %)
    assert 3.5 < float(np.median(rel)) < 5.5


def test_degraded_cooling_is_a_longer_time_constant() -> None:
    healthy = cooling_time_constant(*windows(600.0, noise_C=0.02, seed=1))
    degraded = cooling_time_constant(*windows(600.0 / (1 - 0.5), noise_C=0.02, seed=1))
    assert degraded.tau_s > 1.7 * healthy.tau_s


def test_too_little_heating_is_invalid_with_the_reason() -> None:
    r = cooling_time_constant(*windows(600.0, rise_K=0.2), min_rise_K=0.5)
    assert not r.valid and math.isnan(r.tau_s) and math.isnan(r.tau_uncertainty_percent)
    # 0.2 K of heat, less the cooling between the window centres (20 s gap + 10 s)
    assert re.search(r"raised the coil 0\.1\d K", r.invalid_reason), r.invalid_reason
    assert "at least 0.5 K" in r.invalid_reason


def test_hotter_coil_not_cooling_faster_is_invalid() -> None:
    t = np.arange(2000) / 200.0
    before = fit_window(t, 24.0 - 1e-3 * t)
    after = fit_window(t, 27.0 + 1e-3 * t)  # still warming: the probe lags the winding
    r = cooling_time_constant(before, after)
    assert not r.valid and "did not cool faster" in r.invalid_reason


@pytest.mark.parametrize(
    ("t", "y", "match"),
    [
        ([0.0, 1.0], [1.0, 2.0], "at least 3 samples"),
        ([0.0, 1.0, 2.0], [1.0, 2.0], "differ in shape"),
        ([0.0, 1.0, 2.0], [1.0, float("nan"), 2.0], "non-finite"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "same time"),
    ],
)
def test_bad_windows_are_refused(t: list[float], y: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_window(t, y)
