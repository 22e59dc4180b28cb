"""Template shapes from a spec agree with the RLC closed form they describe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.reference_shape import alpha_from_ratio, template_efield
from harness.analysis.template import compare_to_template

# Magstim Rapid² + D70 loop (see benches/sim.toml)
L, C, R = 16e-6, 187.8e-6, 34.6e-3
ALPHA = R / (2 * L)
WD = math.sqrt(1 / (L * C) - ALPHA**2)
T = 2 * math.pi / WD


def ratio_closed_form(alpha: float, wd: float) -> float:
    phi = math.atan(alpha / wd)
    return math.exp(-alpha * (math.pi - 2 * phi) / wd)


def test_alpha_from_ratio_inverts_the_closed_form() -> None:
    r = ratio_closed_form(ALPHA, WD)
    assert alpha_from_ratio(r, T) == pytest.approx(ALPHA, rel=1e-9)


def test_biphasic_template_zero_crossings_and_end() -> None:
    t = np.linspace(0, 400e-6, 400_001)
    e = template_efield(
        t, period_s=T, phase_ratio=ratio_closed_form(ALPHA, WD), topology="biphasic"
    )
    assert e[0] == pytest.approx(1.0)
    s = np.signbit(e[:-1]) != np.signbit(e[1:])
    zc = t[np.nonzero(s)[0]]
    first = math.atan(WD / ALPHA) / WD
    assert zc[0] == pytest.approx(first, abs=2e-9)
    assert zc[1] == pytest.approx(first + math.pi / WD, abs=2e-9)
    assert np.all(e[t > T + 1e-9] == 0)


def test_template_matches_itself_not_a_longer_period() -> None:
    dt = 50e-9
    t = np.arange(-50e-6, 500e-6, dt)
    ratio = ratio_closed_form(ALPHA, WD)
    ref = template_efield(np.arange(0, T, dt), period_s=T, phase_ratio=ratio, topology="biphasic")
    rec = 120.0 * template_efield(t, period_s=T, phase_ratio=ratio, topology="biphasic")
    base = (t[0], -10e-6)
    same = compare_to_template(
        rec * 1e6, dt, ref, dt, channel="didt", t0_s=t[0], baseline_window_s=base
    )
    assert same.valid and same.correlation > 0.9999 and same.nrmse < 0.01
    longer = 120.0 * template_efield(t, period_s=1.1 * T, phase_ratio=ratio, topology="biphasic")
    m = compare_to_template(
        longer * 1e6, dt, ref, dt, channel="didt", t0_s=t[0], baseline_window_s=base
    )
    assert m.correlation < 0.99 and m.nrmse > 0.05
