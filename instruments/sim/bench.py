"""The simulated bench: one world, several protocol front-ends, one process.

:class:`SimBench` builds a :class:`~instruments.sim.world.World` from a bench
file, starts a front-end for every instrument the file names (stimulator on a
pseudo-terminal, scope on a TCP port, DAQ as an NI gRPC device server), and
writes a copy of the bench file with the live resource strings, so drivers
connect exactly as they would to real instruments. Writing that copy as a
bench file is the harness's job (it owns the file format).
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any, Protocol

from instruments.sim.scope_switch import ScopeSwitch, default_folder, shared_scope_name
from instruments.sim.settings import SimBenchSettings
from instruments.sim.world import World

log = logging.getLogger(__name__)

SIM_RESOURCE = "sim"  # a resource left as "sim" in a bench file is served by the simulator


def _served(resource: str) -> bool:
    """True for ``sim`` and for ``sim:NAME`` (a simulated scope shared by benches)."""
    return resource == SIM_RESOURCE or shared_scope_name(resource) is not None


class FrontEnd(Protocol):
    """A simulated instrument serving one protocol on a real transport."""

    def start(self) -> str:
        """Start serving; return the resource string a driver opens."""
        ...

    def stop(self) -> None:
        """Stop serving and release the transport."""
        ...


class SimBench:
    """Run the simulated instruments of ``bench`` around one world.

    Use as a context manager; ``live`` is the bench with real resources (the
    same model class as ``bench``, so a harness bench file stays one).
    """

    def __init__(self, bench: SimBenchSettings) -> None:
        self.bench = bench
        self.world = World(bench)
        self.front_ends: dict[str, FrontEnd] = {}
        self.live: SimBenchSettings = bench

    def start(self) -> SimBenchSettings:
        """Start every front-end; return the bench with live resources."""
        update: dict[str, Any] = {}
        try:
            if self.bench.stimulator.resource == SIM_RESOURCE:
                from instruments.sim.stimulators import SimStimulatorServer

                stim_fe = SimStimulatorServer(self.world, self.bench.stimulator)
                self.front_ends["stimulator"] = stim_fe
                res = stim_fe.start()
                update["stimulator"] = self.bench.stimulator.model_copy(update={"resource": res})
            if self.bench.scope is not None and _served(self.bench.scope.resource):
                from instruments.sim.scope_server import SimScopeServer

                scope_fe = SimScopeServer(self.world, self.bench.scope)
                scope_fe.engine.switch = self._switch(self.bench.scope.resource)
                self.front_ends["scope"] = scope_fe
                res = scope_fe.start()
                update["scope"] = self.bench.scope.model_copy(update={"resource": res})
            if self.bench.daq is not None and self.bench.daq.grpc == SIM_RESOURCE:
                from instruments.sim.daq_server import SimDaqServer

                daq_fe = SimDaqServer(self.world, self.bench.daq)
                self.front_ends["daq"] = daq_fe
                res = daq_fe.start()
                update["daq"] = self.bench.daq.model_copy(update={"grpc": res})
        except BaseException:
            self.stop()
            raise
        self.live = self.bench.model_copy(update=update)
        return self.live

    def _switch(self, resource: str) -> ScopeSwitch | None:
        """The switch to the shared scope ``sim:NAME`` (None: this bench's own scope)."""
        name = shared_scope_name(resource)
        if name is None:
            return None
        sim = self.bench.sim
        folder = default_folder()
        if sim is not None and sim.shared_dir:
            folder = self.bench.folder() / sim.shared_dir
        return ScopeSwitch(name, folder, f"{self.bench.station}:{os.getpid()}")

    def stop(self) -> None:
        """Stop every front-end (the world disarms first: the device is left safe)."""
        self.world.disarm("simulator stopped")
        for name, fe in reversed(list(self.front_ends.items())):
            try:
                fe.stop()
            except Exception:  # stopping must reach every front-end
                log.exception("stopping simulated %s failed", name)
        self.front_ends.clear()

    def __enter__(self) -> SimBench:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
