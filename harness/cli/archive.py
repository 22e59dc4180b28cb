"""``tmsbench archive --before DATE``: move old, acknowledged journal rows into an archive."""

from __future__ import annotations

import argparse
import os
import sys

from harness.cli.record import DEFAULT_JOURNAL, journal_path
from harness.record import export as export_mod
from harness.record.archive import archive, default_archive_path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``archive`` subcommand."""
    p = subparsers.add_parser(
        "archive",
        help="move journal rows older than a date, that every sink has, into an archive file",
        description=(
            "Move the oldest journal rows, recorded before DATE and acknowledged by every "
            "sink (none still in quarantine), into an archive file, then compact the "
            "journal. export, drift, verify and trace still read them (the journal "
            "registers the archive; keep the file beside it). An audit row records the move."
        ),
    )
    p.add_argument("--before", required=True, metavar="DATE",
                   help="rows recorded before this time (ISO 8601, UTC if no zone, or ns)")
    p.add_argument("--bench", metavar="FILE", help="bench file (its [sinks.journal] path)")
    p.add_argument("--journal", metavar="PATH", help=f"journal file (default {DEFAULT_JOURNAL})")
    p.add_argument("--to", metavar="FILE",
                   help="archive file (default: <journal>-archive.sqlite beside the journal)")
    p.add_argument("--no-vacuum", action="store_true",
                   help="do not compact the journal afterwards (faster; the file keeps its size)")
    p.set_defaults(func=cmd_archive)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cmd_archive(args: argparse.Namespace) -> int:
    """``tmsbench archive``."""
    path = journal_path(args)
    if not path.is_file():
        print(f"tmsbench archive: no journal at {path}", file=sys.stderr)
        return 2
    try:
        before = export_mod.parse_time(args.before)
    except ValueError as exc:
        print(f"tmsbench archive: --before: {exc}", file=sys.stderr)
        return 2
    try:
        res = archive(path, before, to=args.to, vacuum=not args.no_vacuum,
                      who=os.environ.get("TMSBENCH_OPERATOR", ""))
    except ValueError as exc:
        print(f"tmsbench archive: {exc}", file=sys.stderr)
        return 2
    target = res.file if args.to else default_archive_path(path)
    if not res.rows:
        print(f"{path}: nothing archived: {res.reason}")
        return 0
    print(
        f"{path}: archived rows {res.first_id}…{res.last_id} ({res.rows} rows, "
        f"{export_mod.iso_time(res.first_ns)} to {export_mod.iso_time(res.last_ns)}) to "
        f"{target}; stopped there because {res.reason}; journal "
        f"{_mb(res.journal_bytes_before)} → {_mb(res.journal_bytes_after)}"
    )
    return 0
