"""``tmsbench sim``: run the simulated bench, or describe its world."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

from harness.config import LIVE_HEADER, as_bench, load_bench, write_bench
from harness.resources import bench_file

DEFAULT_BENCH = bench_file()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return json.dumps(value) if not value else ""
    return str(value)


def describe(bench_path: Path) -> str:
    """The world's parameters for ``bench_path`` as aligned text lines."""
    from instruments.sim.world import World

    world = World(load_bench(bench_path))
    lines = [f"simulated world for {bench_path}"]
    for key, value in world.describe().items():
        lines.append(f"  {key:<34} {_fmt(value)}")
        if isinstance(value, dict):
            for k2, v2 in value.items():
                lines.append(f"    {k2:<32} {_fmt(v2)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``tmsbench sim``."""
    bench_path = Path(args.bench)
    if args.describe:
        print(describe(bench_path))
        return 0
    from instruments.sim.bench import SimBench

    stop = threading.Event()
    stopped_by: list[int] = []

    def _stop(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    out = Path(args.write_bench) if args.write_bench else Path("results") / "sim-live.toml"
    with SimBench(load_bench(bench_path)) as sim:
        # the device's own arming state, as it changes: what safety checks read from outside
        sim.world.on_state(lambda what: print(f"{time.time():.3f} stimulator {what}", flush=True))
        live = as_bench(sim.live)
        written = write_bench(live, out, LIVE_HEADER, served=True)
        print(f"simulated bench running; live bench file: {written}", flush=True)
        print(f"  stimulator: {live.stimulator.resource}", flush=True)
        if live.scope is not None:
            print(f"  scope:      {live.scope.resource}", flush=True)
        if live.daq is not None:
            print(f"  daq:        {live.daq.device} on NI gRPC {live.daq.grpc}", flush=True)
        print(f"run: tmsbench bench --bench {written}", flush=True)
        stop.wait()
    print("simulated bench stopped; stimulator disarmed", flush=True)
    return 128 + stopped_by[0] if stopped_by else 0  # shell convention: 130 Ctrl-C, 143 SIGTERM


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench sim`` to the command line."""
    p = sub.add_parser("sim", help="run the simulated bench (or --describe its world)")
    p.add_argument("--bench", default=str(DEFAULT_BENCH), help="bench file with a [sim] table")
    p.add_argument("--describe", action="store_true", help="print the world's parameters and exit")
    p.add_argument("--write-bench", help="where to write the live bench file")
    p.set_defaults(func=run)
