"""``tmsbench calibrate --serial SN``: the curated calibration run for manufacturing."""

from __future__ import annotations

import argparse

from harness.cli.args import positive_float
from harness.resources import suite_args, suite_dir


def run(args: argparse.Namespace) -> int:
    """Run the calibration subset of the bench suite for one serial number."""
    import pytest

    tests = suite_dir() / "test_calibration.py"
    if not tests.is_file():
        print(f"tmsbench calibrate: {tests} not found (tmsbench installed without its data)")
        return 2
    argv = [*suite_args(tests), "-q", "--dut-serial", args.serial, "--results", args.results]
    for opt in ("bench", "spec", "station", "operator", "journal"):
        value = getattr(args, opt)
        if value:
            argv += [f"--{opt}", value]
    if args.sim_speed:
        argv += ["--sim-speed", str(args.sim_speed)]
    if args.junitxml:
        argv += [f"--junitxml={args.junitxml}"]
    if args.allow_expired_references:
        argv += ["--allow-expired-references"]
    return int(pytest.main(argv))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench calibrate``."""
    p = sub.add_parser("calibrate", help="calibration check and certificate for one serial")
    p.add_argument("--serial", required=True, help="serial number of the stimulator under test")
    p.add_argument("--bench", help="bench file (default: the simulated bench)")
    p.add_argument("--spec", help="spec file (default: the bench file's)")
    p.add_argument("--station")
    p.add_argument("--operator")
    p.add_argument("--journal", help="journal file (default: the bench file's)")
    p.add_argument("--results", default="results", help="folder for reports and certificates")
    p.add_argument("--junitxml", help="also write JUnit XML here")
    p.add_argument(
        "--allow-expired-references",
        action="store_true",
        help="run although a reference instrument is past its due date (not traceable)",
    )
    p.add_argument(
        "--sim-speed", type=positive_float, help="simulated bench: world-clock speed factor"
    )
    p.set_defaults(func=run)
