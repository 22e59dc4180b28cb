"""Benchmark: journal commands on 10 million rows, beside the same on 1 million.

Run: ``.venv/bin/python benchmarks/journal_scale.py [--rows 10000000] [--devices 200]``.

Builds two journals with ``benchmarks/journal_queries.py``'s generator (per device a
calibration check every hour round-robin: the two calibration series among 48 other
measurements per check): ``--rows`` rows and a tenth of them (the baseline, same run).
On each, as a user runs them, each in a fresh Python process (wall time of the command's
``main()`` and the process's peak RSS, which includes the interpreter and imports):
``tmsbench drift`` (all devices, no figures), ``tmsbench export --serial`` of one device
to CSV, ``tmsbench status``. Target for drift: < 5 s and < 300 MB at 10M rows, the cost
growing with the calibration records, not the journal. By default both journals hold one
check per 50 rows (the big one 10x the checks too); ``--same-checks`` gives the big one the
small one's checks and 10x the other rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests" / "integration")]

from fleet import row, tmsbench  # noqa: E402
from journal_queries import build  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--same-checks", action="store_true",
                    help="the big journal has the small one's calibration checks, 10x the rest")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tmsbench-scale-") as tmp:
        big, small = Path(tmp) / "big.sqlite", Path(tmp) / "small.sqlite"
        # --same-checks: both journals hold the same calibration checks, the big one 10x
        # the other rows (a station's journal grows by its pulses and bench tests)
        per_check = {big: 500 if args.same_checks else 50, small: 50}
        for path, n in ((big, args.rows), (small, args.rows // 10)):
            t = time.perf_counter()
            build(path, n, args.devices, per_check[path])
            print(f"{path.name}: {n:,} measurement rows, {n // per_check[path]:,} calibration "
                  f"checks, {args.devices} devices, "
                  f"{path.stat().st_size / 2**20:,.0f} MiB, built in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
        print(f"\n{'command':<44} {f'{args.rows:,} rows':>21} | "
              f"{f'{args.rows // 10:,} rows':>21} | ratio")
        cases = [
            ("drift (all devices)", ("drift", "--out", "")),
            ("export --serial SN-0001 (CSV)", ("export", "--serial", "SN-0001", "-o", os.devnull)),
            ("status", ("status",)),
        ]
        for label, argv in cases:
            print(row(label, tmsbench(*argv, "--journal", str(big)),
                      tmsbench(*argv, "--journal", str(small))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
