"""``tmsbench trace --instrument SERIAL``: what relied on one reference instrument.

Exit codes: 0 listed (also when nothing relied on it); 2 bad argument or journal.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from harness.record.export import parse_time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``trace`` subcommand."""
    p = subparsers.add_parser(
        "trace", help="runs, DUTs, certificates and measurements that relied on an instrument"
    )
    p.add_argument("--instrument", required=True, metavar="SERIAL", help="its serial number")
    p.add_argument("--since", help="runs started from this time (ISO 8601, UTC if no zone)")
    p.add_argument("--journal", metavar="PATH", default="results/journal.sqlite")
    p.add_argument("--csv", action="store_true", help="one CSV line per record, on stdout")
    p.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    """List what relied on ``--instrument``."""
    from harness.trace import CSV_COLUMNS, csv_rows, trace

    journal = Path(args.journal)
    if not journal.is_file():
        print(f"tmsbench trace: {journal}: no journal there", file=sys.stderr)
        return 2
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as exc:
        print(f"tmsbench trace: argument --since: {exc}", file=sys.stderr)
        return 2
    runs = trace(journal, args.instrument, since)
    if args.csv:
        w = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(csv_rows(runs))
        return 0
    if not runs:
        print(f"no run in {journal} relied on instrument {args.instrument}")
        return 0
    certs = [c for r in runs for c in r.certificates]
    duts = sorted({r.dut_serial for r in runs})
    print(
        f"instrument {args.instrument}: {len(runs)} runs, {len(duts)} DUTs "
        f"({', '.join(duts)}), {len(certs)} certificates"
    )
    for r in runs:
        mark = "" if r.traceable else "  [NOT TRACEABLE]"
        print(f"run {r.run_id}  {r.started}  station {r.station}  DUT {r.dut_serial}{mark}")
        print(f"  as {r.reference}")
        for c in r.certificates:
            print(f"  certificate {c}")
        n_meas = sum(1 for x in r.rows if x["kind"] == "measurement")
        if n_meas:
            names = sorted({str(x.get("name")) for x in r.rows if x["kind"] == "measurement"})
            print(f"  {n_meas} measurements: {', '.join(names)}")
    return 0
