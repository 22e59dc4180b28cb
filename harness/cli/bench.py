"""``tmsbench bench [--bench FILE] [PYTEST_ARGS ...]``: the bench suite, from anywhere.

pytest on the bench suite shipped in the package (:func:`harness.resources.suite_dir`;
in a checkout, ``tests/bench``), so an installed wheel needs no checkout. Arguments
argparse does not know reach pytest unchanged (see :func:`harness.cli.main`).
"""

from __future__ import annotations

import argparse

from harness.resources import suite_args

USAGE = "tmsbench bench [-h] [--bench FILE] [PYTEST_ARGS ...]"
DESCRIPTION = (
    "Run the bench suite shipped with tmsbench (in a checkout: tests/bench) with the tmsbench "
    "pytest plugin. Without --bench the plugin starts the embedded simulated bench. Every "
    "other argument goes to pytest unchanged; the exit code is pytest's (0 passed, 1 a test "
    "failed, 2 bad input or Ctrl-C, 4 a pytest usage error, 5 no test selected, 143 SIGTERM)."
)


def run(args: argparse.Namespace) -> int:
    """Run the packaged bench suite; returns pytest's exit code."""
    import pytest

    argv = suite_args()
    if args.bench:
        argv += ["--bench", args.bench]
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return int(pytest.main([*argv, *extra]))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench bench``; its unknown arguments are passed on to pytest."""
    p = sub.add_parser(
        "bench",
        help="run the bench suite (default: on the embedded simulated bench)",
        usage=USAGE,
        description=DESCRIPTION,
        epilog="PYTEST_ARGS: e.g. -k intensity, --run-slow, --results DIR, --junitxml=FILE, "
        "--operator NAME, --sim-speed X; `pytest --help` lists them all (group 'TMS bench')",
    )
    p.add_argument("--bench", metavar="FILE", help="bench file (default: the simulated bench)")
    p.set_defaults(func=run, pytest_args=[], pass_through=True)
