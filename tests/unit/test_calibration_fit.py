"""Calibration fit on synthetic sweeps with known slope, offset and errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.calibration_fit import fit_calibration


def expected(p: float) -> float:
    return 1.147 * p


def test_ideal_linear_device() -> None:
    x = np.repeat([10, 20, 40, 60, 80, 100], 3).astype(float)
    fit = fit_calibration(x, 1.147 * x, expected)
    assert fit.slope_per_percent == pytest.approx(1.147)
    assert fit.offset == pytest.approx(0.0, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.worst_deviation_percent == pytest.approx(0.0, abs=1e-9)
    assert fit.n_points == 18 and fit.levels_percent[0] == 10


def test_faded_device_and_worst_level() -> None:
    x = np.array([20, 40, 60, 80, 100], dtype=float)
    y = 1.147 * x * 0.9
    y[2] *= 0.95  # one level extra low
    fit = fit_calibration(x, y, expected)
    assert fit.worst_level_percent == 60
    assert fit.worst_deviation_percent == pytest.approx((1 - 0.9 * 0.95) * 100)
    assert fit.r2 < 1.0


def test_noise_lowers_r2() -> None:
    rng = np.random.default_rng(3)
    x = np.repeat(np.arange(10, 101, 10), 5).astype(float)
    y = 1.147 * x + rng.normal(0, 3.0, x.size)
    fit = fit_calibration(x, y, expected)
    assert 0.95 < fit.r2 < 0.999
    assert fit.slope_per_percent == pytest.approx(1.147, rel=0.03)


def test_invalid_points_are_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid \(non-finite\) output at \[40.0\]"):
        fit_calibration([20, 40, 60], [23.0, float("nan"), 69.0], expected)
    with pytest.raises(ValueError, match="two intensity levels"):
        fit_calibration([50, 50], [57.0, 57.5], expected)
