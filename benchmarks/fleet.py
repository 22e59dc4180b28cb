"""Benchmark: a fleet's history, in the journal and in a real influxd, beside a 10x smaller one.

Run: ``.venv/bin/python benchmarks/fleet.py [--devices 200] [--days 1095] [--every-days 7]
[--skip-influx]``.

Builds two journals with ``tmsbench demo-history --fleet`` (:mod:`harness.fleet`): the
fleet (``--devices`` devices, a calibration run every ``--every-days`` over ``--days``,
13 rows per run) and the baseline, the same devices over a tenth of the days (a tenth of
the rows). On each, in the same run, as a user runs them (each command in a fresh Python
process: wall time of the command's ``main()`` and the process's peak RSS, which includes
the interpreter and imports, ~60 MiB):

* ``tmsbench drift`` (all devices, no figures);
* ``tmsbench export --serial <one device>`` to CSV;
* ``tmsbench status`` (after forwarding: the sink's counts);

and the CSV export of all rows (baseline journal) and of one serial (fleet) with the rows
in memory (how ``export`` wrote CSV before) beside the streamed export, each in a fresh
process.

Both fleets are forwarded by the real forwarder to a real influxd 1.x, each into a
database with influxd's defaults (``autogen``, 7-day shard groups), and the fleet once
more into a database laid out by ``tmsbench influx-setup`` (records in 52-week shard
groups, raw pulses in their own retention policy; :mod:`harness.record.influx_setup`);
series cardinality (``SHOW SERIES``) is printed, then every panel query of every
dashboard (``dashboards/json``, all variables = All) over the last year, expanded as
Grafana expands it (:mod:`dashboards.macros`, ``$__interval`` = one year / 1000 points),
is timed (median of 3) on all three.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]

from servers import InfluxDB1  # noqa: E402

from dashboards import build  # noqa: E402
from dashboards.macros import Variable, expand  # noqa: E402
from harness.config import load_spec  # noqa: E402
from harness.fleet import fleet_devices, write_fleet  # noqa: E402
from harness.record.forwarder import Forwarder  # noqa: E402
from harness.record.influx_setup import setup as influx_setup  # noqa: E402
from harness.record.sinks import InfluxTarget  # noqa: E402

YEAR_MS = 365 * 86_400_000

#: Runs one ``tmsbench`` command in this fresh process, its output discarded; prints
#: ``{"s": wall seconds of main(), "rss_mib": peak RSS, "rc": exit code}``.
_RUNNER = """
import contextlib, io, json, sys, time
sys.path.insert(0, sys.argv[1])
from harness.cli import main
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(sys.argv[2:])
s = time.perf_counter() - t
# VmHWM: this process image's peak RSS (ru_maxrss would carry the forked parent's over exec)
hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
rss = int(hwm.split()[1]) / 1024
print(json.dumps({"s": s, "rss_mib": rss, "rc": rc}))
"""


def tmsbench(*argv: str) -> dict[str, Any]:
    """Time one ``tmsbench`` command in a fresh process (see :data:`_RUNNER`)."""
    out = subprocess.run([sys.executable, "-c", _RUNNER, str(ROOT), *argv], check=True,
                         capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"tmsbench {' '.join(argv)}: exit {res['rc']}: {out.stderr[-500:]}")
    return res


def make_fleet(path: Path, devices: int, days: float, every: float) -> tuple[float, int]:
    """What ``demo-history --fleet`` writes, into ``path``; (seconds, rows)."""
    spec = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml")
    t = time.perf_counter()
    fleet = fleet_devices(devices, days=days, every_days=every)
    res = write_fleet(path, spec, fleet, days=days, every_days=every)
    return time.perf_counter() - t, res.rows


def series_count(srv: InfluxDB1, db: str) -> int:
    """Number of series in ``db`` (``SHOW SERIES``: exact, one row per series key)."""
    answer = srv.query("SHOW SERIES", db=db)["results"][0]
    return sum(len(s["values"]) for s in answer.get("series", []))


def panel_queries(srv: InfluxDB1, db: str, to_ms: int) -> list[tuple[str, str]]:
    """(dashboard/panel title, expanded query) of every panel, variables = All."""
    from_ms = to_ms - YEAR_MS
    interval = YEAR_MS // 1000
    out = []
    for m in build.MODULES:
        dash = json.loads((build.ROOT / "json" / f"{m.UID}.json").read_text())
        variables: dict[str, Variable] = {}
        for var in dash["templating"]["list"]:
            q = expand(var["query"], variables, from_ms=from_ms, to_ms=to_ms,
                       interval_ms=interval)
            answer = srv.query(q, db=db)["results"][0]
            options = sorted(v for s in answer.get("series", []) for _, v in s["values"])
            variables[var["name"]] = Variable(var["name"], None, options=options,
                                              multi=var["multi"], include_all=var["includeAll"])
        for panel in dash["panels"]:
            for target in panel["targets"]:
                q = expand(target["query"], variables, from_ms=from_ms, to_ms=to_ms,
                           interval_ms=interval)
                out.append((f"{dash['title']}: {panel['title']}", q))
    return out


def time_query(srv: InfluxDB1, db: str, q: str, repeat: int = 3) -> float:
    """Median wall seconds of ``q`` (HTTP round trip included); raises on an error answer."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        answer = srv.query(q, db=db)["results"][0]
        times.append(time.perf_counter() - t)
        if "error" in answer:
            raise RuntimeError(f"{q}: {answer['error']}")
    return statistics.median(times)


#: Exports the rows of one query to /dev/null in this fresh process, ``memory`` (rows in a
#: list, then written: how ``export`` wrote CSV before) or ``streamed``; prints seconds and
#: the peak RSS (VmHWM) as JSON.
_EXPORTER = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from harness.record.export import Query, query, stream_csv, write_csv
q = Query(serial=sys.argv[4] or None)
t = time.perf_counter()
with open(os.devnull, "w", newline="") as out:
    if sys.argv[3] == "memory":
        write_csv(query(sys.argv[2], q), out)
    else:
        stream_csv(sys.argv[2], q, out)
s = time.perf_counter() - t
hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"s": s, "rss_mib": int(hwm.split()[1]) / 1024}))
"""


def exporter(path: Path, how: str, serial: str) -> dict[str, Any]:
    """Time one CSV export in a fresh process (see :data:`_EXPORTER`)."""
    out = subprocess.run([sys.executable, "-c", _EXPORTER, str(ROOT), str(path), how, serial],
                         check=True, capture_output=True, text=True)
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def export_figures(big: Path, small: Path, serial: str) -> str:
    """CSV export of all rows of the baseline journal (the fleet's would take a minute)
    and of one serial of the fleet, each in a fresh process: the rows in memory (how
    ``export`` wrote CSV before) beside streamed (peak RSS includes the interpreter)."""
    lines = [f"\n{'CSV export (to /dev/null)':<44} {'rows in memory':>21} | "
             f"{'streamed':>21} | ratio"]
    for label, path, sel in (("all rows of the baseline", small, ""),
                             (f"--serial {serial} of the fleet", big, serial)):
        m, st = exporter(path, "memory", sel), exporter(path, "streamed", sel)
        lines.append(f"{label:<44} {m['s']:8.2f} s {m['rss_mib']:7.0f} MiB | {st['s']:8.2f} s "
                     f"{st['rss_mib']:7.0f} MiB | {m['rss_mib'] / st['rss_mib']:5.1f}x memory")
    return "\n".join(lines)


def row(label: str, big: dict[str, Any], small: dict[str, Any]) -> str:
    return (f"{label:<44} {big['s']:8.2f} s {big['rss_mib']:7.0f} MiB | "
            f"{small['s']:8.2f} s {small['rss_mib']:7.0f} MiB | {big['s'] / small['s']:6.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--days", type=float, default=1095.0)
    ap.add_argument("--every-days", type=float, default=7.0)
    ap.add_argument("--skip-influx", action="store_true", help="journal commands only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tmsbench-fleet-") as tmp:
        big, small = Path(tmp) / "fleet.sqlite", Path(tmp) / "baseline.sqlite"
        gen_b, rows_b = make_fleet(big, args.devices, args.days, args.every_days)
        gen_s, rows_s = make_fleet(small, args.devices, args.days / 10, args.every_days)
        print(f"fleet:    {args.devices} devices, {args.days:g} days, {rows_b:,} rows "
              f"({big.stat().st_size / 2**20:.0f} MiB) written in {gen_b:.1f} s "
              f"({rows_b / gen_b:,.0f} rows/s)")
        print(f"baseline: {args.devices} devices, {args.days / 10:g} days, {rows_s:,} rows "
              f"({small.stat().st_size / 2**20:.0f} MiB) written in {gen_s:.1f} s")
        srv = None
        if not args.skip_influx:
            srv = InfluxDB1.start(tmp)
            for db, path in (("fleet", big), ("baseline", small), ("fleet_setup", big)):
                target = InfluxTarget(url=srv.url, database=db, api="v1")
                if db == "fleet_setup":  # tmsbench influx-setup's layout
                    target.pulse_retention_policy = "pulses"
                    influx_setup(target, pulse_days=5000)  # keeps the 3 simulated years
                else:  # influxd's defaults: autogen, 7-day shard groups
                    srv.create_database(db)
                t = time.perf_counter()
                sync = Forwarder(path, target).sync(timeout_s=1800)
                if not sync.ok:
                    raise RuntimeError(f"forwarding {path.name}: {sync}")
                s = time.perf_counter() - t
                print(f"forwarded {db}: {sync.sent:,} points in {s:.1f} s "
                      f"({sync.sent / s:,.0f} points/s); series cardinality "
                      f"{series_count(srv, db):,}")
        print(f"\n{'command':<44} {'fleet':>21} | {'baseline (1/10)':>21} | ratio")
        serial = "FLEET-0001"
        with tempfile.TemporaryDirectory() as out:
            cases = [
                ("drift (all devices)", ("drift", "--out", "")),
                (f"export --serial {serial} (CSV)", ("export", "--serial", serial, "-o",
                                                     str(Path(out) / "x.csv"))),
                ("status", ("status",)),
            ]
            for label, argv in cases:
                rb = tmsbench(*argv, "--journal", str(big))
                rs = tmsbench(*argv, "--journal", str(small))
                print(row(label, rb, rs))
        print(export_figures(big, small, serial))
        if srv is not None:
            try:
                to_ms = int(time.time() * 1000)
                q_big = panel_queries(srv, "fleet", to_ms)
                q_small = panel_queries(srv, "baseline", to_ms)
                q_setup = panel_queries(srv, "fleet_setup", to_ms)
                print(f"\n{'dashboard panel (1 year, all selected)':<64} {'fleet':>8} "
                      f"{'defaults':>9} {'1/10':>9}")
                print(f"{'':<64} {'setup':>8} {'':>9} {'defaults':>9}")
                worst = worst_default = 0.0
                for (title, q), (_, q_s), (_, q_r) in zip(q_big, q_small, q_setup, strict=True):
                    tr = time_query(srv, "fleet_setup", q_r)
                    tb = time_query(srv, "fleet", q)
                    ts = time_query(srv, "baseline", q_s)
                    worst, worst_default = max(worst, tr), max(worst_default, tb)
                    print(f"{title[:64]:<64} {tr * 1000:5.0f} ms {tb * 1000:6.0f} ms "
                          f"{ts * 1000:6.0f} ms")
                print(f"slowest panel query on the fleet: {worst * 1000:.0f} ms with "
                      f"influx-setup's layout, {worst_default * 1000:.0f} ms with influxd's "
                      "defaults")
            finally:
                srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
