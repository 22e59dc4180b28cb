"""``tmsbench protocol list`` and ``tmsbench protocol run NAME --threshold-from LAST|VALUE``.

``run`` delivers the whole protocol through the bench suite's protocol test
(``tests/bench/test_protocols.py::test_protocol_full[NAME]``, with ``--run-slow``) under
pytest, as ``tmsbench calibrate`` runs its test: the plugin's safety layer, journal,
forwarder and report come with it. The name, the threshold and, for ``LAST``, a journaled
threshold for this stimulator are checked first (exit 2 with one line when wrong).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.args import positive_float
from harness.protocol.schema import available, find_protocol, load_protocol
from harness.protocol.threshold import NoThreshold, last_threshold, parse_threshold
from harness.resources import bench_file, suite_args, suite_dir


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def list_protocols(args: argparse.Namespace) -> int:
    """Print the shipped protocols, one line each."""
    for name, path in available().items():
        p = load_protocol(path)
        print(
            f"{name:<20} v{p.version:<4} {p.pulses:>6} pulses  {_duration(p.duration_s):>7}  "
            f"{p.intensity_percent_mt:g} % MT  {p.title}"
        )
    return 0


def _fail(text: str) -> int:
    print(f"tmsbench protocol: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Deliver one protocol on the bench (pytest on the protocol's bench test)."""
    import pytest

    from harness.config import load_bench

    proto = find_protocol(args.name)  # ConfigError: one line per problem, exit 2
    if proto.name not in available():
        return _fail(f"{args.name}: only shipped protocols run (`tmsbench protocol list`)")
    try:
        value = parse_threshold(args.threshold_from)
    except ValueError as err:
        return _fail(f"--threshold-from: {err}")
    bench = load_bench(args.bench or bench_file())
    if value is None:
        journal = Path(args.journal or bench.sinks.journal.path)
        serial = args.dut_serial or bench.stimulator.serial
        try:
            found = last_threshold(journal, serial)
        except NoThreshold as err:
            return _fail(f"--threshold-from LAST: {err}")
        print(f"tmsbench protocol: motor threshold {found.percent:g} %MSO ({found.detail})")
    tests = suite_dir() / "test_protocols.py"
    node = f"{tests}::test_protocol_full[{proto.name}]"
    argv = [*suite_args(node), "--run-slow", "--threshold-from", args.threshold_from,
            "--results", args.results]
    for opt in ("bench", "station", "operator", "journal", "dut_serial"):
        if val := getattr(args, opt):
            argv += [f"--{opt.replace('_', '-')}", val]
    if args.sim_speed:
        argv += ["--sim-speed", str(args.sim_speed)]
    if args.junitxml:
        argv += [f"--junitxml={args.junitxml}"]
    return int(pytest.main(argv))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench protocol list|run``."""
    p = sub.add_parser("protocol", help="treatment protocols: list them, deliver one")
    ps = p.add_subparsers(dest="protocol_command", required=True, metavar="ACTION")
    ls = ps.add_parser("list", help="the shipped protocols (protocols/*.toml)")
    ls.set_defaults(func=list_protocols)
    r = ps.add_parser("run", help="deliver a protocol and check it against its prescription")
    r.add_argument("name", metavar="NAME", help="a protocol name from `tmsbench protocol list`")
    r.add_argument(
        "--threshold-from",
        required=True,
        metavar="LAST|VALUE",
        help="motor threshold: LAST (the last one journaled for this stimulator) or %%MSO",
    )
    r.add_argument("--bench", help="bench file (default: the simulated bench)")
    r.add_argument("--journal", help="journal file (default: the bench file's)")
    r.add_argument("--station")
    r.add_argument("--operator")
    r.add_argument("--dut-serial", help="serial of the stimulator (default: the bench file's)")
    r.add_argument("--results", default="results", help="folder for the report")
    r.add_argument("--junitxml", help="also write JUnit XML here")
    r.add_argument(
        "--sim-speed", type=positive_float, help="simulated bench: world-clock speed factor"
    )
    r.set_defaults(func=run)
