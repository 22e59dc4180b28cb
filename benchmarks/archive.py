"""Benchmark: `tmsbench archive` on a large journal, and what reading through it costs.

Run: ``.venv/bin/python benchmarks/archive.py [--rows N] [--devices D]``.

Builds the journal of ``benchmarks/journal_queries.py`` (N measurement rows, one
calibration check an hour per device round-robin), marks every row acknowledged by a sink,
then in the same run:

* baseline: ``drift`` (all devices) and a full ``export`` row count on the whole journal;
* ``archive --before`` the time 90 % of the rows were recorded: its wall time, the
  journal's size before and after;
* the same ``drift`` and ``export`` reading archive + journal (the union view): they must
  give the same histories and the same rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from journal_queries import build  # noqa: E402

from harness.drift.source import histories_from_journal  # noqa: E402
from harness.record.archive import archive  # noqa: E402
from harness.record.export import Query, stream  # noqa: E402


def _reads(path: Path) -> tuple[float, float, list[tuple[str, int]], int]:
    """(drift s, export s, histories summary, exported rows)."""
    t = time.perf_counter()
    hist = [(h.serial, len(h.time_ns)) for h in histories_from_journal(path)]
    t_drift = time.perf_counter() - t
    t = time.perf_counter()
    n = sum(1 for _ in stream(path, Query(kind="measurement")))
    return t_drift, time.perf_counter() - t, hist, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--devices", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        build(path, args.rows, args.devices)
        with sqlite3.connect(path) as db:
            (top,) = db.execute("SELECT max(id) FROM points").fetchone()
            db.execute("INSERT INTO cursors (sink, sent_upto) VALUES ('influx', ?)", (top,))
            (cut,) = db.execute("SELECT time_ns FROM points WHERE id = ?",
                                (int(top * 0.9),)).fetchone()
        d0, e0, h0, n0 = _reads(path)
        size0 = path.stat().st_size
        t = time.perf_counter()
        res = archive(path, cut)
        t_arch = time.perf_counter() - t
        d1, e1, h1, n1 = _reads(path)
        print(f"journal: {args.rows:,} measurement rows, {args.devices} devices, "
              f"{size0 / 2**20:.0f} MiB")
        print(f"archive --before (90 % of rows): {res.rows:,} rows moved in {t_arch:.1f} s "
              f"(copy, check, delete, VACUUM); journal {size0 / 2**20:.0f} MiB → "
              f"{res.journal_bytes_after / 2**20:.0f} MiB")
        print(f"drift (all devices): journal only {d0:.2f} s; archive + journal {d1:.2f} s")
        print(f"export (all measurements, streamed): journal only {e0:.2f} s; "
              f"archive + journal {e1:.2f} s")
        same = h0 == h1 and n0 == n1
        print(f"same histories and rows: {same} ({n1:,} rows)")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
