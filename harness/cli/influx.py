"""``tmsbench influx-setup``: the InfluxDB 1.x database, retention policies, shard durations."""

from __future__ import annotations

import argparse
import sys

from harness.cli.record import influx_sink
from harness.record.credentials import CredentialError
from harness.record.influx_setup import DEFAULT_PULSE_DAYS, InfluxQLError, setup


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``influx-setup`` subcommand."""
    p = subparsers.add_parser(
        "influx-setup",
        help="create the InfluxDB 1.x database with tmsbench's retention policies",
        description=(
            "Create the sink's database; keep records (verdicts, calibrations, runs, the "
            "hourly pulse rollup) forever in 52-week shard groups; keep raw pulses "
            "(pulse_retention_policy) for --pulse-days in 1-day shard groups. Safe to run "
            "again: existing policies are altered to match."
        ),
    )
    p.add_argument("--bench", metavar="FILE", help="bench file (its [sinks.influxdb])")
    p.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    p.add_argument("--database", help="database")
    p.add_argument("--retention-policy", help="records' retention policy (default autogen)")
    p.add_argument("--pulse-retention-policy", help="raw pulses' retention policy")
    p.add_argument("--pulse-days", type=int, default=DEFAULT_PULSE_DAYS,
                   help=f"days raw pulses are kept (default {DEFAULT_PULSE_DAYS})")
    p.add_argument("--token-env", metavar="NAME", help="environment variable holding the token")
    p.add_argument("--no-verify-tls", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--api", default=None, help=argparse.SUPPRESS)
    p.add_argument("--org", default=None, help=argparse.SUPPRESS)
    p.add_argument("--bucket", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_setup, journal=None)


def cmd_setup(args: argparse.Namespace) -> int:
    """``tmsbench influx-setup``."""
    if args.pulse_days < 1:
        print(f"tmsbench influx-setup: --pulse-days {args.pulse_days}: give 1 or more",
              file=sys.stderr)
        return 2
    sink = influx_sink(args)
    if sink is None:
        print("tmsbench influx-setup: no InfluxDB sink: give --bench FILE with "
              "[sinks.influxdb] or --influx-url and --database", file=sys.stderr)
        return 2
    try:
        done = setup(sink, pulse_days=args.pulse_days)
    except (InfluxQLError, CredentialError, OSError) as exc:
        print(f"tmsbench influx-setup: {exc}", file=sys.stderr)
        return 1
    for statement in done:
        print(statement)
    return 0
