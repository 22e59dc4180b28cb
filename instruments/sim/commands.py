"""``tmsbench sim``: run the simulated bench, or describe its world."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from harness.config import load_bench

DEFAULT_BENCH = Path(__file__).resolve().parents[2] / "benches" / "sim.toml"


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
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out = Path(args.write_bench).parent if args.write_bench else Path("results")
    with SimBench(load_bench(bench_path), out_dir=out) as sim:
        live = sim.bench_file
        if args.write_bench and live is not None and Path(args.write_bench) != live:
            live = sim.write_bench(Path(args.write_bench))
        print(f"simulated bench running; live bench file: {live}", flush=True)
        for name, fe in sim.front_ends.items():
            print(f"  {name}: {type(fe).__name__}", flush=True)
        stop.wait()
    print("simulated bench stopped; stimulator disarmed", flush=True)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tmsbench sim`` to the command line."""
    p = sub.add_parser("sim", help="run the simulated bench (or --describe its world)")
    p.add_argument("--bench", default=str(DEFAULT_BENCH), help="bench file with a [sim] table")
    p.add_argument("--describe", action="store_true", help="print the world's parameters and exit")
    p.add_argument("--write-bench", help="where to write the live bench file")
    p.set_defaults(func=run)
