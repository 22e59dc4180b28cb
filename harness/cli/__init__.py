"""The ``tmsbench`` command.

Subcommands live next to the code they drive; each module listed in
``_COMMAND_MODULES`` exposes ``register(subparsers)``. A subcommand that sets the
default ``pass_through=True`` gets the arguments argparse does not know in
``args.pytest_args``; any other rejects them. A bad bench or spec file
ends with its one-line-per-problem message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sqlite3
import sys
from collections.abc import Sequence

from harness.config import ConfigError
from harness.record.schema import JournalError

EXIT_CODES = """exit codes:
  0    done; every test or check passed
  1    a test, check or calibration failed (or `dashboards build --check` found a change,
       or `verify` found the journal's hash chain broken)
  2    bad input: bench/spec file, argument or journal (one line says what), or a pytest
       run interrupted by Ctrl-C (the stimulator is disarmed first)
  4, 5 `tmsbench bench` exits with pytest's code: also 4 a pytest usage error, 5 no test
       selected
  130  `tmsbench sim` stopped by Ctrl-C (143: by SIGTERM); a pytest run on SIGTERM: 143"""

_COMMAND_MODULES = (
    "harness.cli.bench",
    "harness.cli.sim",
    "harness.cli.record",
    "harness.cli.archive",
    "harness.cli.influx",
    "harness.cli.calibrate",
    "harness.cli.protocol",
    "harness.cli.drift",
    "harness.cli.dashboards",
    "harness.cli.audit",
    "harness.cli.approve",
    "harness.cli.trace",
    "harness.cli.station",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tmsbench")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tmsbench",
        description="TMS stimulator test harness and data logger",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    parser.add_argument("--version", action="version", version=f"tmsbench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not an absent module
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tmsbench``; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # only a command that passes arguments on (``bench``: to pytest) takes them
        if not getattr(args, "pass_through", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.pytest_args = extra
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"tmsbench: configuration error\n{exc}", file=sys.stderr)
        return 2
    except JournalError as exc:
        print(f"tmsbench: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # damage found after the journal was opened
        print(
            f"tmsbench: journal error: {exc}; run `tmsbench export` to save what can be read",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
