"""The simulator's RLC physics against closed forms and measured devices.

Reference rows: normalised E-field waveforms measured on real devices,
Drakaki et al. 2022, Brain Stimulation (dI/dt max at 100 %MSO).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import BenchConfig
from instruments.sim.rlc import Circuit, current_and_didt, summarise
from instruments.sim.world import World

# system: (first zero µs, second zero µs, end of cycle µs, 2nd/1st phase peak, dI/dt max A/µs)
MEASURED = {
    "sim_bench": (83.0, 255.0, 345.0, 0.83, 114.7),  # Magstim Rapid + D70
    "magventure_bench": (74.0, 225.0, 303.0, 0.89, 155.3),  # MagPro X100 + MC-B70
}


def zero_crossings(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sign changes of ``y``, linearly interpolated (same units as ``t``)."""
    s = np.signbit(y)
    idx = np.nonzero(s[1:] != s[:-1])[0]
    return t[idx] - y[idx] * (t[idx + 1] - t[idx]) / (y[idx + 1] - y[idx])


@pytest.mark.parametrize("bench_name", list(MEASURED))
def test_simulated_presets_reproduce_measured_waveforms(
    bench_name: str, request: pytest.FixtureRequest
) -> None:
    bench: BenchConfig = request.getfixturevalue(bench_name)
    world = World(bench)
    world.set_intensity(100)
    world.arm()
    world.clock.advance(5.0)  # let the charger reach full voltage
    event = world.fire()
    assert event is not None and event.discharged
    t = np.arange(0, 400e-6, 10e-9)
    e = event.signals(t)["efield"]
    first, second, end, ratio, didt_max = MEASURED[bench_name]
    zc = zero_crossings(t, e[: len(t)]) * 1e6
    assert zc[0] == pytest.approx(first, rel=0.02)
    assert zc[1] == pytest.approx(second, rel=0.02)
    cycle_end = t[np.nonzero(e)[0][-1]] * 1e6  # biphasic: conduction stops after one period
    assert cycle_end == pytest.approx(end, rel=0.02)
    lobe1 = e[t * 1e6 < zc[0]].max()
    lobe2 = -e[(t * 1e6 > zc[0]) & (t * 1e6 < zc[1])].min()
    assert lobe2 / lobe1 == pytest.approx(ratio, rel=0.02)
    didt = event.signals(np.array([0.0]))["didt"][0]
    assert didt == pytest.approx(didt_max, rel=0.005)


CIRCUITS = [Circuit(16e-6, 187.8e-6, 34.6e-3), Circuit(12e-6, 193.5e-6, 18.5e-3, 0.15)]


@pytest.mark.parametrize("c", CIRCUITS)
@pytest.mark.parametrize("topology", ["biphasic", "halfsine", "monophasic"])
def test_energy_balance(c: Circuit, topology: str) -> None:
    """Energy lost in R (numerical ∫R i²) plus what is left in C equals the stored energy."""
    v0 = 1500.0
    s = summarise(c, v0, topology)  # type: ignore[arg-type]
    t = np.linspace(0, 8e-3, 800_001)
    i, _ = current_and_didt(c, v0, topology, t)  # type: ignore[arg-type]
    in_r = c.resistance_ohm * np.trapezoid(i**2, t)
    assert in_r == pytest.approx(s.coil_dissipated_J, rel=2e-3)
    left = 0.5 * c.capacitance_F * s.v_end_V**2
    if topology == "monophasic":
        t0 = c.t_mono_switch_s
        in_rd = c.damping_resistance_ohm * np.trapezoid(i[t >= t0] ** 2, t[t >= t0])
        assert in_r + in_rd == pytest.approx(s.stored_J, rel=2e-3)
        assert left == 0
    else:
        assert in_r + left == pytest.approx(s.stored_J, rel=1e-3)


@pytest.mark.parametrize("topology", ["biphasic", "halfsine", "monophasic"])
def test_didt_is_the_derivative_of_the_current(topology: str) -> None:
    c = CIRCUITS[0]
    t = np.linspace(0, 1e-3, 200_001)
    i, didt = current_and_didt(c, 1000.0, topology, t)  # type: ignore[arg-type]
    numeric = np.gradient(i, t)
    inside = (t > 1e-6) & (np.abs(t - c.conduction_end_s(topology)) > 2e-6)  # type: ignore[arg-type]
    scale = np.abs(didt).max()
    assert np.max(np.abs(numeric[inside] - didt[inside])) < 1e-3 * scale
    assert didt[0] == pytest.approx(1000.0 / c.inductance_H)


def test_monophasic_has_no_negative_current_and_decays() -> None:
    c = Circuit(16e-6, 187.8e-6, 34.6e-3, 0.08)
    t = np.linspace(0, 3e-3, 30_001)
    i, _ = current_and_didt(c, 1000.0, "monophasic", t)
    assert i.min() >= 0
    assert i[-1] < 1e-3 * i.max()
    tau = c.inductance_H / (c.resistance_ohm + c.damping_resistance_ohm)
    t0 = c.t_mono_switch_s
    k = np.searchsorted(t, t0 + tau)
    ref = np.searchsorted(t, t0)
    assert i[k] / i[ref] == pytest.approx(math.exp(-1), rel=0.01)


@settings(max_examples=60, deadline=None)
@given(
    L=st.floats(5e-6, 40e-6),
    C=st.floats(20e-6, 400e-6),
    R_frac=st.floats(0.01, 0.4),
    v0=st.floats(100, 3000),
)
def test_peak_and_period_property(L: float, C: float, R_frac: float, v0: float) -> None:
    """Peak current and time of peak agree with a dense numerical search."""
    r = R_frac * 2 * math.sqrt(L / C)  # a fraction of critical damping: always underdamped
    c = Circuit(L, C, r)
    s = summarise(c, v0, "biphasic")
    t = np.linspace(0, c.period_s, 100_001)
    i, _ = current_and_didt(c, v0, "biphasic", t)
    k = int(np.argmax(i))
    assert i[k] == pytest.approx(s.peak_current_A, rel=1e-6)
    assert t[k] == pytest.approx(s.t_peak_s, abs=2 * (t[1] - t[0]))
    assert c.period_s == pytest.approx(2 * math.pi * math.sqrt(L * C) / math.sqrt(1 - R_frac**2))


def test_overdamped_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="overdamped"):
        Circuit(16e-6, 187.8e-6, 1.0)
