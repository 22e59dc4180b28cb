"""``tmsbench station``: the operator station web page (see :mod:`harness.station`)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from harness.cli.args import positive_float

DEFAULT_PORT = 8080


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def run(args: argparse.Namespace) -> int:
    """Serve the station until Ctrl-C; a run still going is stopped (and disarms) first."""
    if not _loopback(args.host) and not args.allow_remote:
        print(f"tmsbench station: --host {args.host} is not a loopback address: anyone who can "
              "reach it could start and stop runs; add --allow-remote to serve it anyway",
              file=sys.stderr)
        return 2
    import uvicorn

    from harness.config import load_bench
    from harness.session import DEFAULT_BENCH
    from harness.station.app import Station, create_app
    from harness.station.plans import load_plans
    from harness.station.runner import Runner, RunnerOptions

    bench_path = Path(args.bench) if args.bench else DEFAULT_BENCH
    bench = load_bench(bench_path)  # a bad bench file: one line per problem, exit 2
    plans = load_plans(Path(args.plans) if args.plans else None)
    results = Path(args.results)
    journal = Path(args.journal or bench.sinks.journal.path)
    runner = Runner(RunnerOptions(
        workdir=results / "station", results=results, bench=args.bench, journal=args.journal,
        station=args.station, sim_speed=args.sim_speed,
    ))
    station = Station(
        runner=runner, plans=plans, journal=journal, results_dir=results,
        bench_name=bench_path.name, simulated=bench.sim is not None,
        station_name=args.station or bench.station,
    )
    if not _loopback(args.host):
        print(f"tmsbench station: WARNING: serving on {args.host}, not loopback: anyone who can "
              "reach this address can start and stop runs on this bench", file=sys.stderr)
    where = "SIMULATED bench" if station.simulated else "bench"
    print(f"tmsbench station: http://{args.host}:{args.port}/  ({where} {bench_path.name}, "
          f"journal {journal})", flush=True)
    # the app's shutdown stops a run still going (uvicorn then re-raises the signal)
    uvicorn.run(create_app(station), host=args.host, port=args.port, log_level="warning")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench station``."""
    p = sub.add_parser("station", help="the operator station: a web page to run, watch and stop "
                       "tests, browse results and see drift")
    p.add_argument("--bench", metavar="FILE", help="bench file (default: the simulated bench)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"(default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host that is not loopback (prints a warning)")
    p.add_argument("--station", help="station name (default: the bench file's)")
    p.add_argument("--journal", metavar="PATH", help="journal file (default: the bench file's)")
    p.add_argument("--results", default="results", help="folder for reports (default results)")
    p.add_argument("--plans", metavar="DIR", help="folder of plan files (default: the shipped)")
    p.add_argument("--sim-speed", type=positive_float,
                   help="simulated bench: world-clock speed factor")
    p.set_defaults(func=run)
