"""Shared set-up of the DAQ integration tests: a fast simulated bench and train firing."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.config import BenchConfig, load_bench
from instruments.sim.world import World

ROOT = Path(__file__).resolve().parents[2]


def sim_bench(speed: float = 20.0) -> BenchConfig:
    """benches/sim.toml with a fast clock and a light, quick coil (visible heating)."""
    bench = load_bench(ROOT / "benches" / "sim.toml")
    assert bench.sim is not None
    thermal = bench.sim.thermal.model_copy(
        update={"heat_capacity_J_per_K": 150.0, "cooling_tau_s": 10.0}
    )
    sim = bench.sim.model_copy(update={"speed": speed, "thermal": thermal})
    return bench.model_copy(update={"sim": sim})


def armed_world(percent: float = 60.0, speed: float = 20.0) -> World:
    """A world on the fast bench (clock ``speed`` x wall time), armed at ``percent`` %MSO."""
    w = World(sim_bench(speed))
    w.set_intensity(percent)
    w.arm()
    return w


def fire_train(world: World, t_start: float, pulses: int, rate_hz: float) -> threading.Thread:
    """Fire ``pulses`` at ``rate_hz`` from world time ``t_start``, each when its time comes."""

    def run() -> None:
        for k in range(pulses):
            t = t_start + k / rate_hz
            world.clock.sleep_until(t)
            world.fire(at=t)

    th = threading.Thread(target=run, name="train", daemon=True)
    th.start()
    return th
