"""The simulated bench: one world, several protocol front-ends, one process.

:class:`SimBench` builds a :class:`~instruments.sim.world.World` from a bench
file, starts a front-end for every instrument the file names (stimulator on a
pseudo-terminal, scope on a TCP port, DAQ as an NI gRPC device server), and
writes a copy of the bench file with the live resource strings, so drivers
connect exactly as they would to real instruments.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import tomli_w

from harness.config import BenchConfig
from instruments.sim.world import World

log = logging.getLogger(__name__)

SIM_RESOURCE = "sim"  # a resource left as "sim" in a bench file is served by the simulator


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

    Use as a context manager; ``live`` is the bench with real resources and
    ``bench_file`` its TOML copy (written when ``out_dir`` is given).
    """

    def __init__(self, bench: BenchConfig, out_dir: Path | None = None) -> None:
        self.bench = bench
        self.world = World(bench)
        self.out_dir = out_dir
        self.front_ends: dict[str, FrontEnd] = {}
        self.live: BenchConfig = bench
        self.bench_file: Path | None = None

    def start(self) -> BenchConfig:
        """Start every front-end; return the bench with live resources."""
        update: dict[str, Any] = {}
        try:
            if self.bench.stimulator.resource == SIM_RESOURCE:
                from instruments.sim.stimulators import SimStimulatorServer

                fe = SimStimulatorServer(self.world, self.bench.stimulator)
                self.front_ends["stimulator"] = fe
                res = fe.start()
                update["stimulator"] = self.bench.stimulator.model_copy(update={"resource": res})
            if self.bench.scope is not None and self.bench.scope.resource == SIM_RESOURCE:
                from instruments.sim.scope_server import SimScopeServer

                fe = SimScopeServer(self.world, self.bench.scope)
                self.front_ends["scope"] = fe
                res = fe.start()
                update["scope"] = self.bench.scope.model_copy(update={"resource": res})
            if self.bench.daq is not None and self.bench.daq.grpc == SIM_RESOURCE:
                from instruments.sim.daq_server import SimDaqServer

                fe = SimDaqServer(self.world, self.bench.daq)
                self.front_ends["daq"] = fe
                res = fe.start()
                update["daq"] = self.bench.daq.model_copy(update={"grpc": res})
        except BaseException:
            self.stop()
            raise
        self.live = self.bench.model_copy(update=update)
        if self.out_dir is not None:
            self.bench_file = self.write_bench(self.out_dir / "sim-live.toml")
        return self.live

    def write_bench(self, path: Path) -> Path:
        """Write the live bench as TOML to ``path`` (spec path made absolute)."""
        data = self.live.model_dump(mode="json", exclude_none=True)
        spec = self.live.spec_path()
        if spec is not None:
            data["spec"] = str(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# written by tmsbench sim: live resources of the simulated bench\n"
            + tomli_w.dumps(data)
        )
        return path

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
