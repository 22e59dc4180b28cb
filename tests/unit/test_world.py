"""The simulated world: state, fault knobs, capacitor and thermal models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import BenchConfig
from instruments.sim.rlc import summarise
from instruments.sim.world import Recorder, World


def armed_world(bench: BenchConfig, percent: float = 60, **faults: float) -> World:
    world = World(bench)
    if faults:
        world.configure_faults(**faults)
    world.set_intensity(percent)
    world.arm()
    world.clock.advance(2.0)
    return world


def fire_train(world: World, n: int, rate_hz: float) -> list:
    t0 = world.clock.now()
    events = []
    for k in range(n):
        world.clock.advance(max(0.0, t0 + k / rate_hz - world.clock.now()))
        events.append(world.fire(at=t0 + k / rate_hz))
    return events


def test_disarmed_world_does_not_fire(sim_bench: BenchConfig) -> None:
    world = World(sim_bench)
    assert world.fire() is None
    assert world.pulses == []


def test_fire_records_v0_and_notifies(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 60)
    rec = Recorder()
    world.subscribe(rec)
    event = world.fire()
    assert event is not None
    assert event.v0_V == pytest.approx(0.6 * 1835.0, rel=1e-9)
    assert rec.events == [event] and world.pulses == [event]


def test_disarm_keeps_reason(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench)
    world.disarm("remote control lapsed")
    assert not world.armed
    assert world.state.disarm_reason == "remote control lapsed"


def test_capacitor_fade_and_charge_error(sim_bench: BenchConfig) -> None:
    faded = armed_world(sim_bench, 50, capacitor_fade=0.1).fire()
    wrong = armed_world(sim_bench, 50, charge_error=0.05).fire()
    assert faded is not None and wrong is not None
    assert faded.v0_V == pytest.approx(0.5 * 1835 * 0.9)
    assert wrong.v0_V == pytest.approx(0.5 * 1835 * 1.05)


def test_inductance_shift_lengthens_the_period(sim_bench: BenchConfig) -> None:
    base = armed_world(sim_bench).fire()
    shifted = armed_world(sim_bench, inductance_shift=0.2).fire()
    assert base is not None and shifted is not None
    ratio = shifted.circuit.period_s / base.circuit.period_s
    assert ratio == pytest.approx(math.sqrt(1.2), rel=0.01)


def test_missing_pulse_every(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 40, missing_pulse_every=3)
    events = fire_train(world, 9, 5.0)
    assert [e.discharged for e in events] == [True, True, False] * 3
    assert np.all(events[2].signals(np.linspace(0, 4e-4, 50))["current"] == 0)


def test_thyristor_misfire_cuts_biphasic_to_halfsine(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 40, thyristor_misfire=1.0)
    event = world.fire()
    assert event is not None and event.topology == "halfsine"
    t = np.linspace(0, 400e-6, 4001)
    i = event.signals(t)["current"]
    assert np.all(i[t > event.circuit.period_s / 2 + 1e-6] == 0)


def test_timing_jitter(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 30, timing_jitter_us=50.0)
    events = fire_train(world, 200, 20.0)
    errors = np.diff([e.t_s for e in events]) - 1 / 20.0  # interval errors: std = √2·jitter
    assert 30e-6 < np.std(errors) / math.sqrt(2) < 80e-6


def test_recharge_limits_v0_when_firing_too_fast(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 100)
    first = world.fire()
    second = world.fire(at=first.t_s + 0.001)  # 1 ms later: the charger cannot keep up
    assert first is not None and second is not None
    v_end = summarise(first.circuit, first.v0_V, "biphasic").v_end_V
    assert v_end < second.v0_V < first.v0_V


def test_coil_heats_per_pulse_and_cools(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 80)
    th = sim_bench.sim.thermal  # type: ignore[union-attr]
    t_before = world.coil_temperature_C()
    event = world.fire()
    assert event is not None
    rise = summarise(event.circuit, event.v0_V, "biphasic").coil_dissipated_J
    rise *= th.coil_loss_fraction / th.heat_capacity_J_per_K
    assert event.coil_temperature_C - t_before == pytest.approx(rise, rel=0.01)
    world.clock.advance(th.cooling_tau_s)
    cooled = world.coil_temperature_C() - th.ambient_C
    assert cooled == pytest.approx((event.coil_temperature_C - th.ambient_C) / math.e, rel=0.01)


def test_degraded_cooling_cools_slower(sim_bench: BenchConfig) -> None:
    good, bad = armed_world(sim_bench), armed_world(sim_bench, coil_cooling_degraded=0.5)
    for w in (good, bad):
        w.set_coil_temperature(35.0)
        w.clock.advance(300.0)
    assert bad.coil_temperature_C() > good.coil_temperature_C() + 1.0


def test_capacitor_trace_sags_at_each_pulse(sim_bench: BenchConfig) -> None:
    world = armed_world(sim_bench, 60)
    events = fire_train(world, 5, 10.0)
    world.clock.advance(1.0)
    t = np.arange(events[0].t_s - 0.05, events[-1].t_s + 0.09, 1e-4)
    v = world.capacitor_trace(t)
    drops = np.nonzero(np.diff(v) < -50)[0]
    assert len(drops) == 5
    assert v[0] == pytest.approx(0.6 * 1835, rel=1e-6)
    assert v[-1] == pytest.approx(0.6 * 1835, rel=1e-6)


def test_probe_noise_knob_raises_noise(sim_bench: BenchConfig) -> None:
    world = World(sim_bench)
    base = world.noise_fraction
    world.configure_faults(probe_noise=0.05)
    assert world.noise_fraction == pytest.approx(base + 0.05)


def test_fault_knobs_are_validated(sim_bench: BenchConfig) -> None:
    world = World(sim_bench)
    with pytest.raises(ValueError, match="capacitor_fade"):
        world.configure_faults(capacitor_fade=2.0)


def test_world_clock_speed(sim_bench: BenchConfig) -> None:
    fast = sim_bench.model_copy(
        update={"sim": sim_bench.sim.model_copy(update={"speed": 1000.0})}  # type: ignore[union-attr]
    )
    world = World(fast)
    t0 = world.clock.now()
    world.clock.sleep(5.0)  # 5 world seconds = 5 ms of wall time
    assert world.clock.now() - t0 >= 5.0
