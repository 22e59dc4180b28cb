"""Benchmark: `tmsbench drift` on a large journal, beside the way it read before.

Run: ``.venv/bin/python benchmarks/journal_queries.py [--rows N] [--devices D]``.

Builds a journal of N measurement rows (default 300,000) from D devices: per
device a calibration check every few days (the two series drift reads:
``calibration reference output`` and ``calibration slope``) among many other
measurements (intensity, train, shape readings), as a station's journal looks
after years. Then times, on the same file in the same run:

* baseline: every measurement row read into Python and filtered by name there
  (what ``drift`` did before: ``query(kind=measurement)`` then a name filter);
* now: the name filter in SQLite (tag sets are few) and rows streamed.

Each figure is wall time and peak memory (tracemalloc) of building the
histories for all devices; both must give the same histories.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from harness.drift.source import (  # noqa: E402
    OUTPUT_NAME,
    SLOPE_NAME,
    histories_from_journal,
    histories_from_points,
)
from harness.limits import Limits, Measurement  # noqa: E402
from harness.record.export import Query, query  # noqa: E402
from harness.record.journal import Journal  # noqa: E402

OTHER = [f"peak dI/dt at {p} %MSO" for p in (30, 60, 90)] + [
    "E-field at 2 cm at 60 %MSO",
    "pulse-to-pulse CV of dI/dt over 10 pulses",
    "train rate error",
    "template correlation",
    "period",
]


def build(path: Path, rows: int, devices: int, per_check: int = 50) -> None:
    """``rows`` measurements: per check 2 calibration rows + ``per_check - 2`` others,
    round-robin devices."""
    checks = rows // per_check
    t0 = 1_700_000_000 * 10**9
    with Journal(path, synchronous="NORMAL") as j:
        batch: list[Measurement] = []
        for c in range(checks):
            serial = f"SN-{c % devices:04d}"
            tags = {"station": f"line-{c % 3}", "stimulator_model": "rapid2",
                    "stimulator_serial": serial, "coil_serial": f"C-{c % devices:04d}"}
            t = t0 + c * 3_600 * 10**9
            batch.append(Measurement.check(OUTPUT_NAME, 68.8 - 1e-4 * c / devices, "A/µs",
                                           Limits.around(68.82, relative=0.05), tags=tags,
                                           run_id=f"r{c}", test_id="cal", time_ns=t))
            batch.append(Measurement.check(SLOPE_NAME, 1.147, "A/µs per %MSO",
                                           Limits.around(1.147, relative=0.03), tags=tags,
                                           run_id=f"r{c}", test_id="cal", time_ns=t + 1))
            for k in range(per_check - 2):
                batch.append(Measurement.check(OTHER[k % len(OTHER)], 1.0, "", Limits(high=2.0),
                                               tags=tags, run_id=f"r{c}", test_id=f"t{k}",
                                               time_ns=t + 2 + k))
            if len(batch) >= 50_000:
                j.append_measurements(batch)
                batch = []
        if batch:
            j.append_measurements(batch)


def before(path: Path) -> list[Any]:
    """How drift read the journal before: every measurement row, filtered in Python."""
    rows = query(path, Query(kind="measurement"))
    return histories_from_points(r for r in rows if r.get("name") in (OUTPUT_NAME, SLOPE_NAME))


def measure(fn: Callable[[], list[Any]]) -> tuple[float, float, list[Any]]:
    """(seconds, peak MiB, result) of ``fn()``: timed untraced, then run again traced
    for its peak Python memory (tracemalloc slows allocation several times)."""
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return dt, peak, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--devices", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        t = time.perf_counter()
        build(path, args.rows, args.devices)
        print(f"journal: {args.rows:,} measurement rows, {args.devices} devices "
              f"({path.stat().st_size / 2**20:.0f} MiB, built in {time.perf_counter() - t:.0f} s)")
        b_s, b_mb, b_h = measure(lambda: before(path))
        n_s, n_mb, n_h = measure(lambda: histories_from_journal(path))
        same = [(h.serial, len(h.time_ns), h.output_A_per_us.tolist()) for h in b_h] == [
            (h.serial, len(h.time_ns), h.output_A_per_us.tolist()) for h in n_h
        ]
        print(f"drift (all devices), baseline (all rows into Python): {b_s:6.2f} s, "
              f"peak {b_mb:7.1f} MiB")
        print(f"drift (all devices), now (SQL filter, streamed):      {n_s:6.2f} s, "
              f"peak {n_mb:7.1f} MiB   ({b_s / n_s:.0f}x faster)")
        print(f"same histories: {same} ({len(n_h)} devices)")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
