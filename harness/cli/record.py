"""``tmsbench status | sync | export``: the journal and its forwarding from the shell.

Every subcommand takes ``--bench FILE`` (journal path and ``[sinks.influxdb]``
from the bench file) and/or ``--journal PATH``; ``--influx-url`` and friends
override or replace the bench file's InfluxDB sink.

Exit codes: 0 ok; 1 ``sync`` left points pending; 2 configuration error or a
fatal forwarding error (credentials, unknown database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.record import export as export_mod
from harness.record.forwarder import Forwarder
from harness.record.journal import Journal
from harness.record.outbox import Outbox, SinkStatus, known_sinks
from harness.record.records import Kind
from harness.record.schema import PartialRead
from harness.record.sinks import InfluxTarget, SinkConfigError, key_of

DEFAULT_JOURNAL = "results/journal.sqlite"


def _add_common(p: argparse.ArgumentParser, *, influx: bool) -> None:
    p.add_argument("--bench", metavar="FILE", help="bench file (journal path and sinks)")
    p.add_argument("--journal", metavar="PATH", help=f"journal file (default {DEFAULT_JOURNAL})")
    if not influx:
        return
    g = p.add_argument_group("InfluxDB sink (override the bench file)")
    g.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    g.add_argument("--api", choices=("auto", "v1", "v2"), help="write API (default auto)")
    g.add_argument("--database", help="v1 database")
    g.add_argument("--retention-policy", help="v1 retention policy")
    g.add_argument("--org", help="v2 organisation")
    g.add_argument("--bucket", help="v2 bucket")
    g.add_argument("--token-env", metavar="NAME", help="environment variable holding the token")
    g.add_argument("--no-verify-tls", action="store_true", help="do not verify TLS certificates")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``status``, ``sync`` and ``export`` subcommands."""
    p = subparsers.add_parser("status", help="journal forwarding status")
    _add_common(p, influx=True)
    p.add_argument("--max-quarantine", type=int, default=20, help="quarantined points to list")
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser("sync", help="forward everything pending to InfluxDB")
    _add_common(p, influx=True)
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds"
    )
    p.add_argument(
        "--requeue-quarantined",
        action="store_true",
        help="send quarantined points again (after fixing their cause)",
    )
    p.set_defaults(func=cmd_sync)

    p = subparsers.add_parser("export", help="export journal rows as CSV or Parquet")
    _add_common(p, influx=False)
    p.add_argument("--kind", choices=[k.value for k in Kind], help="rows of this kind only")
    p.add_argument("--serial", help="stimulator or coil serial number")
    p.add_argument("--since", help="from this time (ISO 8601, UTC if no zone, or ns)")
    p.add_argument("--until", help="before this time (ISO 8601 or ns)")
    p.add_argument("--run", help="run id")
    p.add_argument("--format", choices=("csv", "parquet"), help="default: from --output suffix")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (CSV: default stdout)")
    p.set_defaults(func=cmd_export)


# ---------------------------------------------------------------- resolution
def _bench_sinks(args: argparse.Namespace) -> Any:
    if not args.bench:
        return None
    from harness.config import load_bench

    return load_bench(args.bench).sinks


def journal_path(args: argparse.Namespace) -> Path:
    """``--journal``, else the bench file's ``[sinks.journal] path``, else the default."""
    if args.journal:
        return Path(args.journal)
    sinks = _bench_sinks(args)
    return Path(sinks.journal.path if sinks is not None else DEFAULT_JOURNAL)


def influx_sink(args: argparse.Namespace) -> Any:
    """The InfluxDB sink from the bench file and/or flags (None if none configured)."""
    sinks = _bench_sinks(args)
    base = sinks.influxdb if sinks is not None else None
    overrides = {
        "url": args.influx_url,
        "api": args.api,
        "database": args.database,
        "retention_policy": args.retention_policy,
        "org": args.org,
        "bucket": args.bucket,
        "token_env": args.token_env,
        "pulse_retention_policy": getattr(args, "pulse_retention_policy", None),
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_verify_tls:
        overrides["verify_tls"] = False
    if base is None and "url" not in overrides:
        return None
    if base is None:
        return InfluxTarget(**overrides)
    if hasattr(base, "model_copy"):
        return base.model_copy(update=overrides)
    return replace(base, **overrides)


# ---------------------------------------------------------------- commands
def _fmt_ns(ns: int | None) -> str:
    if ns is None:
        return "never"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_status(st: SinkStatus, out: Any = None) -> None:
    """Human-readable status of one sink."""
    out = out or sys.stdout
    print(f"sink {st.sink}", file=out)
    print(
        f"  points {st.total}: sent {st.sent}, pending {st.pending}, quarantined {st.quarantined}",
        file=out,
    )
    print(f"  last success: {_fmt_ns(st.last_ok_ns)}", file=out)
    if st.last_error:
        print(f"  last error ({_fmt_ns(st.last_error_ns)}): {st.last_error}", file=out)
    for q in st.quarantine:
        print(
            f"  quarantined #{q.point_id} ({q.kind}, {_fmt_ns(q.time_ns)}): {q.message}", file=out
        )
    if len(st.quarantine) < st.quarantined:
        print(f"  ... and {st.quarantined - len(st.quarantine)} more", file=out)


def cmd_status(args: argparse.Namespace) -> int:
    """``tmsbench status``."""
    path = journal_path(args)
    if not path.exists():
        print(f"no journal at {path}", file=sys.stderr)
        return 2
    try:
        sink = influx_sink(args)
        keys = [key_of(sink)] if sink is not None else known_sinks(path)
    except SinkConfigError as exc:
        print(f"tmsbench status: {exc}", file=sys.stderr)
        return 2
    print(f"journal {path}")
    if not keys:
        with Outbox(path, "") as ob:
            print(f"  points {ob.last_id()}; no InfluxDB sink configured")
        return 0
    for key in keys:
        with Outbox(path, key) as ob:
            print_status(ob.status(max_quarantine=args.max_quarantine))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """``tmsbench sync``: exit 0 when nothing is pending afterwards."""
    path = journal_path(args)
    try:
        sink = influx_sink(args)
        if sink is None:
            print("tmsbench sync: no InfluxDB sink (use --bench or --influx-url)", file=sys.stderr)
            return 2
        fwd = Forwarder(path, sink)
    except SinkConfigError as exc:
        print(f"tmsbench sync: {exc}", file=sys.stderr)
        return 2
    if args.requeue_quarantined:
        with Outbox(path, fwd.key) as ob:
            n = ob.requeue_quarantined()
        _audit(
            path,
            "requeue",
            f"{n} quarantined points released for {fwd.key}",
            "tmsbench sync --requeue-quarantined",
        )
        print(f"released {n} quarantined points")
    # audited before sending, so the audit row travels with this sync (a row written
    # after it would leave one point pending after every sync)
    _audit(path, "sync", f"sync of the pending points to {fwd.key} started", "tmsbench sync")
    pending = fwd.status().pending
    print(
        f"sending {pending} pending points to {fwd.key} (gives up after {args.timeout:g} s)",
        file=sys.stderr,
        flush=True,
    )
    try:
        res = fwd.sync(timeout_s=args.timeout, progress=_say)
    finally:
        fwd.close()
    print(f"sent {res.sent}, quarantined {res.quarantined}, pending {res.pending}")
    if res.error:
        print(f"last error: {res.error}", file=sys.stderr)
    if res.fatal:
        return 2
    return 0 if res.pending == 0 else 1


def _audit(path: Path, action: str, what: str, why: str) -> None:
    """One audit row in the journal at ``path`` (who: the operator or the OS account)."""
    with Journal(path) as journal:
        journal.append_audit(
            action, what=what, why=why, who=os.environ.get("TMSBENCH_OPERATOR", "")
        )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_export(args: argparse.Namespace) -> int:
    """``tmsbench export``."""
    path = journal_path(args)
    if not path.exists():
        print(f"no journal at {path}", file=sys.stderr)
        return 2
    try:
        since = export_mod.parse_time(args.since) if args.since else None
        until = export_mod.parse_time(args.until) if args.until else None
    except ValueError as exc:
        print(f"tmsbench export: {exc}", file=sys.stderr)
        return 2
    q = export_mod.Query(
        kind=args.kind, serial=args.serial, since_ns=since, until_ns=until, run_id=args.run
    )
    fmt = args.format or (
        "parquet" if args.output and args.output.endswith((".parquet", ".pq")) else "csv"
    )
    damaged: PartialRead | None = None
    if fmt == "csv":  # streamed: memory does not grow with the rows exported
        return _exported(*_export_csv(path, q, args.output))
    try:
        rows = export_mod.query(path, q)
    except PartialRead as exc:  # salvage: write what was read, say where it stopped
        damaged, rows = exc, exc.rows
    if fmt == "parquet":
        if not args.output:
            print("tmsbench export: Parquet needs --output FILE", file=sys.stderr)
            return 2
        if not export_mod.parquet_available():
            print("tmsbench export: Parquet needs pyarrow (pip install pyarrow)", file=sys.stderr)
            return 2
        n = export_mod.write_parquet(rows, args.output)
    elif args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as fh:
            n = export_mod.write_csv(rows, fh)
    else:
        n = export_mod.write_csv(rows, sys.stdout)
    return _exported(n, damaged)


def _export_csv(path: Path, q: Any, output: str | None) -> tuple[int, PartialRead | None]:
    if output:
        with open(output, "w", newline="", encoding="utf-8") as fh:
            return export_mod.stream_csv(path, q, fh)
    return export_mod.stream_csv(path, q, sys.stdout)


def _exported(n: int, damaged: PartialRead | None) -> int:
    print(f"exported {n} rows", file=sys.stderr)
    if damaged is not None:
        print(f"tmsbench export: {damaged}; the rows before it were exported", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of these subcommands without the rest of ``tmsbench`` (tests, scripts)."""
    parser = argparse.ArgumentParser(prog="tmsbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
