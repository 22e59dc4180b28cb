"""Helpers for tests that drive a simulated stimulator through its pty.

``with sim_stimulator("benches/sim.toml", speed=20) as sim: stim = sim.open()``
builds the bench with only the stimulator simulated (scope and DAQ are not
started), overriding world-clock speed, device timing, thermal and fault knobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import BenchConfig, load_bench
from instruments.sim.bench import SimBench
from instruments.sim.stimulators import SimStimulatorServer
from instruments.sim.world import World
from instruments.stimulator import Stimulator, open_stimulator


@dataclass
class SimStim:
    """A running simulated stimulator: the live bench, its world and its server."""

    bench: BenchConfig
    world: World
    server: SimStimulatorServer
    speed: float

    @property
    def resource(self) -> str:
        return self.bench.stimulator.resource

    def open(self, **kw: Any) -> Stimulator:
        """Open the driver the bench names on the live pty resource."""
        return open_stimulator(self.bench.stimulator, clock_speed=self.speed, **kw)

    @property
    def commands_seen(self) -> int:
        """Commands the simulated device has received (its link fault counter)."""
        return self.server.device.faults.commands  # type: ignore[attr-defined]


def bench_with(
    path: str | Path,
    *,
    speed: float = 20.0,
    stimulator: dict[str, Any] | None = None,
    sim_stimulator: dict[str, Any] | None = None,
    thermal: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
) -> BenchConfig:
    """``path`` with only the stimulator simulated and the given overrides."""
    bench = load_bench(path)
    assert bench.sim is not None, f"{path}: not a simulated bench"
    sim = bench.sim.model_copy(
        update={
            "speed": speed,
            "stimulator": bench.sim.stimulator.model_copy(update=sim_stimulator or {}),
            "thermal": bench.sim.thermal.model_copy(update=thermal or {}),
            "faults": bench.sim.faults.model_copy(update=faults or {}),
        }
    )
    return bench.model_copy(
        update={
            "scope": None,
            "daq": None,
            "sim": sim,
            "stimulator": bench.stimulator.model_copy(update=stimulator or {}),
        }
    )


@contextmanager
def sim_stimulator(path: str | Path, **overrides: Any) -> Iterator[SimStim]:
    """Run the simulated stimulator of bench file ``path`` (see :func:`bench_with`)."""
    bench = bench_with(path, **overrides)
    with SimBench(bench) as sb:
        server = sb.front_ends["stimulator"]
        assert isinstance(server, SimStimulatorServer)
        yield SimStim(sb.live, sb.world, server, bench.sim.speed if bench.sim else 1.0)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str = "condition") -> None:
    """Poll ``predicate`` until true; AssertionError after ``timeout_s`` wall seconds."""
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.01)
