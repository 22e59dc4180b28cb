"""``tmsbench verify``: walk the journal's hash chain and check every issued certificate file."""

from __future__ import annotations

import argparse
import sys

from harness.cli.record import DEFAULT_JOURNAL, journal_path
from harness.record import certificates, chain
from harness.record.archive import connect_reader


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` subcommand."""
    p = subparsers.add_parser(
        "verify",
        help="check the journal's hash chain (exit 0 intact, 1 broken, 2 no journal)",
        description=(
            "Walk every journal row in order and recompute its hash. Says the chain is "
            "intact (rows, last row, head hash) or names the first row that was changed, "
            "deleted, inserted or moved, and exits 1. Every certificate file the journal "
            "issued is hashed again: one edited since is named, and exits 1."
        ),
    )
    p.add_argument("--bench", metavar="FILE", help="bench file (its [sinks.journal] path)")
    p.add_argument("--journal", metavar="PATH", help=f"journal file (default {DEFAULT_JOURNAL})")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """``tmsbench verify``."""
    path = journal_path(args)
    if not path.is_file():
        print(f"tmsbench verify: no journal at {path}", file=sys.stderr)
        return 2
    db = connect_reader(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < 2:
            print(
                f"{path}: journal schema {version} has no hash chain; any run that opens it "
                "with this tmsbench chains its rows (and audits that)",
                file=sys.stderr,
            )
            return 1
        rep = chain.verify(db)
        registered = certificates.issues(db)
        changed, missing = certificates.check_files(registered)
        n_files = len(registered)
    finally:
        db.close()
    for line in changed:
        print(f"{path}: certificate file changed since it was issued: {line}", file=sys.stderr)
    if missing:
        print(
            f"{path}: {len(missing)} issued certificate files not found here: "
            + ", ".join(missing[:5])
            + (" …" if len(missing) > 5 else "")
        )
    if rep.ok:
        print(
            f"{path}: chain intact: {rep.rows} rows, last row {rep.last_id}, "
            f"head {rep.last_hash.hex()}"
        )
        if n_files:
            print(
                f"{path}: certificates: {n_files - len(changed) - len(missing)} of {n_files} "
                f"issued files checked and unchanged"
            )
        return 1 if changed else 0
    print(
        f"{path}: chain BROKEN: {rep.problem} "
        f"({rep.rows} rows before it verified, up to row {rep.last_id})",
        file=sys.stderr,
    )
    return 1
