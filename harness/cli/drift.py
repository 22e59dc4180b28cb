"""``tmsbench drift`` and ``tmsbench demo-history``.

``drift`` reads the calibration history (journal by default; InfluxDB via
InfluxQL with ``--influx-url``), assesses every device (:mod:`harness.drift`),
prints one table row per device and writes PNG figures to ``--out``. With
``--record`` it appends the assessments to the journal
(:mod:`harness.drift.record`: rules for names, verdicts, predictions and
re-runs) and, when the bench file has ``[sinks.influxdb]``, forwards them.
``demo-history`` fills a journal with months of real calibration checks on
aging simulated devices (:mod:`harness.history`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from harness.cli.args import positive_float, positive_int

DEFAULT_JOURNAL = "results/journal.sqlite"
DEFAULT_OUT = "results/drift"
SYNC_TIMEOUT_S = 60.0  # forwarding after --record


def _date(day: float) -> str:
    return dt.datetime.fromtimestamp(day * 86_400.0, dt.UTC).strftime("%Y-%m-%d")


def crossing_text(d: Any) -> str:
    """Predicted crossing as ``YYYY-MM-DD −a/+b d`` (or why there is none)."""
    c = d.crossing
    if c is None:
        return "-"
    if c.day <= d.last_day:
        return f"crossed ~{_date(c.day)}"
    if not math.isfinite(c.late_day):
        return f"not before {_date(c.early_day)} (may never)"
    return f"{_date(c.day)} -{c.minus_days:.0f}/+{c.plus_days:.0f} d"


def table(drifts: list[Any]) -> str:
    """The per-device table as text."""
    head = ("serial", "checks", "first", "last", "output now", "trend %/month [95% CI]",
            "status", "leaves tolerance")
    rows = [head]
    for d in drifts:
        rows.append((
            d.serial,
            str(d.n_checks),
            _date(d.first_day),
            _date(d.last_day),
            f"{d.output_now_A_per_us:.2f} A/µs",
            f"{d.rate_pct_per_month:+.2f} [{d.rate_low_pct_per_month:+.2f}, "
            f"{d.rate_high_pct_per_month:+.2f}]",
            d.status.value,
            crossing_text(d),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def summary(d: Any) -> dict[str, Any]:
    """Machine-readable summary of one device (``--json``)."""
    c = d.crossing
    return {
        "serial": d.serial,
        "n_checks": d.n_checks,
        "first": _date(d.first_day),
        "last": _date(d.last_day),
        "output_now_A_per_us": d.output_now_A_per_us,
        "expected_A_per_us": d.expected_A_per_us,
        "rate_pct_per_month": d.rate_pct_per_month,
        "rate_ci_pct_per_month": [d.rate_low_pct_per_month, d.rate_high_pct_per_month],
        "slope_rate_pct_per_month": d.slope_rate_pct_per_month,
        "status": d.status.value,
        "reason": d.reason,
        "chart_first_signal": None if d.chart is None else d.chart.first_signal,
        "crossing_day": None if c is None else c.day,
        "crossing_early_day": None if c is None else c.early_day,
        "crossing_late_day": None if c is None or not math.isfinite(c.late_day) else c.late_day,
    }


def _token(args: argparse.Namespace) -> str | None:
    return os.environ.get(args.token_env) if args.token_env else None


def journal_path(args: argparse.Namespace) -> Path | None:
    """``--journal``, else the bench file's journal, else (reading the journal) the default;
    ``None`` when reading InfluxDB without either."""
    if args.journal:
        return Path(args.journal)
    if args.bench:
        from harness.config import load_bench

        return Path(load_bench(args.bench).sinks.journal.path)
    return None if args.influx_url else Path(DEFAULT_JOURNAL)


def load_histories(args: argparse.Namespace) -> list[Any]:
    """Histories from InfluxDB (``--influx-url``) or the journal."""
    from harness.drift.source import histories_from_influx, histories_from_journal

    if args.influx_url:
        if not args.database:
            raise SystemExit("tmsbench drift: --influx-url needs --database")
        return histories_from_influx(
            args.influx_url, args.database, serial=args.serial, token=_token(args),
            retention_policy=args.retention_policy, verify_tls=not args.no_verify_tls,
        )
    path = journal_path(args)
    assert path is not None
    if not path.exists():
        raise FileNotFoundError(f"no journal at {path}")
    return histories_from_journal(path, args.serial)


def record(args: argparse.Namespace, assessed: list[tuple[Any, Any]]) -> int:
    """``--record``: append to the journal, forward to the bench's InfluxDB; exit code."""
    from harness.drift.record import record_drifts

    path = journal_path(args)
    if path is None:
        print("tmsbench drift: --record with --influx-url needs --journal or --bench",
              file=sys.stderr)
        return 2
    res = record_drifts(path, assessed)
    print(f"recorded {res.appended} drift rows for {res.devices} devices in {path}"
          + (f" ({res.unchanged} already there)" if res.unchanged else ""))
    sink = None
    if args.bench:
        from harness.config import load_bench

        sink = load_bench(args.bench).sinks.influxdb
    if sink is None:
        return 0
    return forward(path, sink, "tmsbench drift", SYNC_TIMEOUT_S)


def forward(path: Path, sink: Any, prog: str, timeout_s: float) -> int:
    """Send the journal's pending points to ``sink`` and say how it went; exit code
    (0 sent, 1 some left pending, 2 a bad sink)."""
    from harness.record.forwarder import Forwarder
    from harness.record.sinks import SinkConfigError

    try:
        fwd = Forwarder(path, sink)
    except SinkConfigError as exc:
        print(f"{prog}: [sinks.influxdb]: {exc}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        sync = fwd.sync(timeout_s=timeout_s)
    finally:
        fwd.close()
    if not sync.ok:
        print(f"{prog}: {sync.pending} points not forwarded to {fwd.key} "
              f"({sync.error}); they stay in the journal, run `tmsbench sync`", file=sys.stderr)
        return 1
    print(f"forwarded {sync.sent} points to {fwd.key} in {time.monotonic() - t0:.1f} s")
    return 0


MIN_CHECKS = 3  # fewer calibration checks give no trend


def assess_histories(histories: list[Any], params: Any) -> list[Any]:
    """Each device's drift assessment (``harness.drift.DeviceDrift``) from its calibration
    history, with ``params`` (``harness.drift.DriftParams``): what ``drift`` prints."""
    from harness.drift import assess_device

    return [
        assess_device(
            h.serial, h.t_days, h.output_A_per_us,
            expected_A_per_us=h.expected_A_per_us,
            low_A_per_us=h.low_A_per_us, high_A_per_us=h.high_A_per_us,
            slope_t_days=h.slope_t_days, cal_slope_A_per_us_per_pct=h.slope_A_per_us_per_pct,
            expected_slope_A_per_us_per_pct=h.expected_slope_A_per_us_per_pct,
            params=params,
        )
        for h in histories
    ]


def cmd_drift(args: argparse.Namespace) -> int:
    """``tmsbench drift``."""
    from harness.drift import DriftParams
    from harness.drift.plot import device_plot, overview_plot

    try:
        histories = load_histories(args)
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"tmsbench drift: {exc}", file=sys.stderr)
        return 2
    usable = [h for h in histories if h.output_A_per_us.size >= MIN_CHECKS]
    for h in histories:
        if h not in usable:
            print(f"{h.serial}: {h.output_A_per_us.size} checks, need {MIN_CHECKS} for a trend",
                  file=sys.stderr)
    if not usable:
        print("tmsbench drift: no calibration history found", file=sys.stderr)
        return 1
    drifts = assess_histories(usable, DriftParams(confidence=args.confidence))
    print(table(drifts))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for h, d in zip(usable, drifts, strict=True):
            (out / f"drift-{_safe(d.serial)}.png").write_bytes(device_plot(h, d))
        (out / "drift-overview.png").write_bytes(overview_plot(usable, drifts))
        print(f"figures in {out}/ (drift-overview.png, drift-<serial>.png)")
    if args.json:
        Path(args.json).write_text(json.dumps([summary(d) for d in drifts], indent=2))
    if args.record:
        return record(args, list(zip(usable, drifts, strict=True)))
    return 0


def _safe(serial: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in serial)


def cmd_fleet(args: argparse.Namespace) -> int:
    """``tmsbench demo-history --fleet``: rows straight to the journal (:mod:`harness.fleet`),
    then forwarded to the bench's ``[sinks.influxdb]`` when it has one."""
    from harness.cli.sim import DEFAULT_BENCH
    from harness.config import load_bench, load_spec
    from harness.fleet import fleet_devices, write_fleet
    from harness.history import DEFAULT_LEVELS

    t0 = time.monotonic()
    bench = load_bench(args.bench or DEFAULT_BENCH)
    spec_path = bench.spec_path()
    if spec_path is None:
        print(f"tmsbench demo-history: {args.bench or DEFAULT_BENCH}: the bench file names no "
              "spec", file=sys.stderr)
        return 2
    spec = load_spec(spec_path)
    journal = Path(args.journal or bench.sinks.journal.path)
    levels = [float(x) for x in args.levels.split(",")] if args.levels else DEFAULT_LEVELS
    fleet = fleet_devices(args.devices, stations=args.stations, days=args.days,
                          every_days=args.every_days, seed=args.seed)
    method = {"spec_name": spec.name, "spec_version": spec.version,
              "spec_sha256": spec.content_sha256, "run_type": "demo"}
    res = write_fleet(journal, spec, fleet, days=args.days, every_days=args.every_days,
                      levels=levels, seed=args.seed, method=method)
    print(f"fleet: {res.checks} calibration checks on {res.devices} devices at "
          f"{args.stations} stations, {res.rows} rows in {journal} "
          f"in {time.monotonic() - t0:.1f} s")
    if bench.sinks.influxdb is None:
        return 0
    return forward(journal, bench.sinks.influxdb, "tmsbench demo-history", args.sync_timeout)


def cmd_demo_history(args: argparse.Namespace) -> int:
    """``tmsbench demo-history``."""
    from harness.history import demo_history

    if args.fleet:
        return cmd_fleet(args)
    t0 = time.monotonic()
    levels = [float(x) for x in args.levels.split(",")] if args.levels else None
    optional: dict[str, Any] = {"levels": levels} if levels else {}
    hist = demo_history(
        devices=args.devices,
        days=args.days,
        every_days=args.every_days,
        bench=args.bench,
        journal=args.journal,
        results=args.results,
        seed=args.seed,
        sim_speed=args.sim_speed,
        pulses_per_level=args.pulses_per_level,
        **optional,
    )
    n = sum(len(h.verdicts) for h in hist)
    print(f"{n} calibration checks on {len(hist)} devices in {time.monotonic() - t0:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench drift`` and ``tmsbench demo-history``."""
    p = sub.add_parser("drift", help="calibration drift per device: trend, chart, crossing date")
    p.add_argument("--serial", help="one stimulator serial (default: every device)")
    p.add_argument("--journal", metavar="PATH", help=f"journal file (default {DEFAULT_JOURNAL})")
    p.add_argument("--bench", metavar="FILE", help="bench file (its journal path)")
    p.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"folder for PNG figures (default {DEFAULT_OUT}; '' for none)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    p.add_argument("--confidence", type=float, default=0.95, help="of the intervals (0.95)")
    p.add_argument("--record", action="store_true",
                   help="append the assessments to the journal (--journal, else the bench's) "
                   "as 'drift rate', 'drift days to tolerance' and 'drift predicted crossing' "
                   "measurements at each device's last check, and forward them to the bench's "
                   "[sinks.influxdb]; exit 1 if some could not be forwarded")
    g = p.add_argument_group("InfluxDB (read with InfluxQL instead of the journal)")
    g.add_argument("--influx-url", metavar="URL", help="e.g. http://127.0.0.1:8086")
    g.add_argument("--database", help="database (2.x: the DBRP-mapped name)")
    g.add_argument("--retention-policy", help="retention policy")
    g.add_argument("--token-env", metavar="NAME",
                   help="environment variable holding user:password (1.x) or a token (2.x)")
    g.add_argument("--no-verify-tls", action="store_true", help="do not verify TLS certificates")
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser("demo-history",
                       help="months of real calibration checks on aging simulated devices")
    p.add_argument("--devices", type=positive_int, default=5, help="how many devices (5)")
    p.add_argument("--days", type=positive_float, default=180.0, help="length of the history (180)")
    p.add_argument("--every-days", type=positive_float, default=7.0, help="days between checks (7)")
    p.add_argument("--journal", metavar="PATH", help="journal file (default: the bench file's)")
    p.add_argument("--bench", metavar="FILE", help="a simulated bench file (default sim.toml)")
    p.add_argument("--results", default="results", help="folder for the certificates")
    p.add_argument("--seed", type=int, default=1, help="aging laws and noise (1)")
    p.add_argument("--sim-speed", type=positive_float, default=200.0,
                   help="world seconds per wall second (200)")
    p.add_argument("--levels", help="calibration levels in %%MSO (default 20,40,60,80,100)")
    p.add_argument("--pulses-per-level", type=positive_int, default=1,
                   help="(1; --fleet: always 1)")
    g = p.add_argument_group(
        "fleet (rows written straight to the journal, no bench: e.g. "
        "--fleet --devices 200 --days 1095)")
    g.add_argument("--fleet", action="store_true",
                   help="write the checks' records directly (fast), then forward them to the "
                   "bench's [sinks.influxdb] if it has one")
    g.add_argument("--stations", type=positive_int, default=4, help="stations of the fleet (4)")
    g.add_argument("--sync-timeout", type=positive_float, default=600.0,
                   help="seconds to wait for InfluxDB (600)")
    p.set_defaults(func=cmd_demo_history)
