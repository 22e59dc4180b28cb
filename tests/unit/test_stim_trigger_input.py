"""The simulated stimulators' trigger input: edges fire the unit only as the real unit fires.

Edges are put on the world's trigger line (as the DAQ card does when its counter output
task starts); the world clock is advanced by hand. Expectations come from the
prescription and the model's documented limits (Rapid²: 50 Hz at <= 30 %MSO, 30 Hz at
<= 50 %, 20 ms minimum interval), checked on the world's own pulse record.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import BenchConfig
from instruments.sim.magstim_sim import MagstimDevice
from instruments.sim.stim_common import DeviceCore
from instruments.sim.world import World

THETA = [b * 0.2 + k * 0.02 for b in range(4) for k in range(3)]  # 4 bursts of 3 at 50 Hz


def _ready_core(bench: BenchConfig, percent: float, **faults: object) -> tuple[World, DeviceCore]:
    world = World(bench)
    if faults:
        world.configure_faults(**faults)
    core = DeviceCore(world, bench.stimulator)
    core.set_power(percent)
    assert core.arm()
    world.clock.advance(2.0)  # past arming (1 s) and the capacitor's charge
    core.catch_up(world.clock.now())
    return world, core


def _drive(world: World, core: DeviceCore, rel: list[float]) -> np.ndarray:
    """Edges at ``rel`` s from now; run the clock past them; the edges' world times."""
    t0 = world.clock.now() + 0.01
    edges = [t0 + r for r in rel]
    world.trigger_in.emit(edges, "test")
    for t in edges:  # the serial thread wakes for each edge (next_deadline)
        assert core.next_deadline() == pytest.approx(t)
        world.clock.advance(t - world.clock.now() + 1e-4)
        core.catch_up(world.clock.now())
    return np.array(edges)


def test_armed_ready_unit_fires_each_edge_at_its_time_and_level(sim_bench) -> None:
    world, core = _ready_core(sim_bench, 30.0)
    edges = _drive(world, core, THETA)
    times = np.array([p.t_s for p in world.pulses])
    np.testing.assert_allclose(times, edges, atol=1e-12)
    assert all(p.discharged for p in world.pulses)
    v0 = sim_bench.sim.stimulator.vmax_V * 0.30  # the set 30 %MSO of the charger's full scale
    assert [p.v0_V for p in world.pulses] == pytest.approx([v0] * len(edges), rel=0.005)
    assert core.refused_triggers == []


def test_disarmed_unit_gives_no_pulse(sim_bench) -> None:
    world, core = _ready_core(sim_bench, 30.0)
    core.disarm()
    _drive(world, core, [0.0, 0.1])
    assert world.pulses == []
    assert [why for _, why in core.refused_triggers] == ["not armed", "not armed"]


def test_edges_faster_than_the_unit_recharges_at_its_level_give_no_pulse(sim_bench) -> None:
    # 40 %MSO: the Rapid² makes 30 Hz at most (31-50 %MSO), so of 50 Hz edges 20 ms apart
    # it fires on 0, 40, 80 ms (>= 33.3 ms after its last pulse), not on 20 and 60 ms
    world, core = _ready_core(sim_bench, 40.0)
    edges = _drive(world, core, [0.0, 0.02, 0.04, 0.06, 0.08])
    fired = [p.t_s for p in world.pulses]
    assert fired == pytest.approx([edges[0], edges[2], edges[4]], abs=1e-12)
    assert [t for t, _ in core.refused_triggers] == pytest.approx([edges[1], edges[3]])
    assert all("recharging" in why for _, why in core.refused_triggers)


def test_edges_while_arming_give_no_pulse(sim_bench) -> None:
    world = World(sim_bench)
    core = DeviceCore(world, sim_bench.stimulator)
    core.set_power(30.0)
    core.arm()
    _drive(world, core, [0.0])  # 10 ms after arming: the Rapid² takes 1 s
    assert world.pulses == []
    assert core.refused_triggers[0][1] == "still arming"


def test_fault_knobs_act_on_triggered_pulses(sim_bench) -> None:
    world, core = _ready_core(sim_bench, 30.0, timing_jitter_us=300.0, missing_pulse_every=4)
    edges = _drive(world, core, THETA)
    assert len(world.pulses) == len(edges)  # every edge fired (a missing pulse still fires)
    err_us = (np.array([p.t_s for p in world.pulses]) - edges) * 1e6
    assert 100 < np.std(err_us) < 700  # 300 µs std on 12 pulses (chi-square: ~1e-4 outside)
    discharged = [p.discharged for p in world.pulses]
    assert discharged == [(k + 1) % 4 != 0 for k in range(len(edges))]


def test_rapid2_in_repetitive_mode_gives_no_pulse_on_its_trigger(sim_bench) -> None:
    world = World(sim_bench)
    front = MagstimDevice(world, sim_bench.stimulator, lambda data, reply: None)
    front.core.set_power(30.0)
    front.core.arm()
    world.clock.advance(2.0)
    front.single_pulse_mode = False  # as after a train set-up ("[" with a duration)
    _drive(world, front.core, [0.0])
    assert world.pulses == []
    assert front.core.refused_triggers[0][1] == "in repetitive (train) mode"
    front.single_pulse_mode = True
    _drive(world, front.core, [0.0])
    assert len(world.pulses) == 1


def test_magpro_fires_on_its_trigger_too(magventure_bench) -> None:
    world, core = _ready_core(magventure_bench, 30.0)
    edges = _drive(world, core, THETA[:6])
    assert [p.t_s for p in world.pulses] == pytest.approx(list(edges), abs=1e-12)


def test_edges_in_the_pause_after_the_units_own_train_give_no_pulse(sim_bench) -> None:
    world, core = _ready_core(sim_bench, 30.0)
    core.start_train(rate_hz=10.0, pulses=3)  # its own train: 0, 100, 200 ms
    world.clock.advance(0.25)
    core.catch_up(world.clock.now())
    assert len(world.pulses) == 3
    edges = _drive(world, core, [0.0, 0.6])  # 260 ms and 860 ms after its last pulse
    assert [p.t_s for p in world.pulses[3:]] == pytest.approx([edges[1]], abs=1e-12)
    assert core.refused_triggers[0][1] == "waiting out the pause after its own train"  # 500 ms
