"""Benchmark: two DUTs with ``pytest -n 2`` beside the same two benches one after the other.

Run: ``.venv/bin/python benchmarks/parallel_duts.py [--speed 1] [-k EXPR] [--repeat 1]``.

The same subset of the bench suite (default ``pulse_shape or intensity``) on two simulated
benches (benches/sim.toml with other stations, serials and seeds:
tests/integration/parallel_benches.py), each configuration a fresh pytest process, in the
same run:

* baseline: bench A, then bench B, each with its own scope (two pytest runs);
* ``-n 2``, each bench its own scope;
* ``-n 2``, both benches sharing one scope (``sim:NAME``): every capture holds the
  scope's lock, so the waits for it are what sharing costs (summed from the journal's
  ``scope_lock_wait_ms``).

Wall time is the whole pytest process (start-up, collection, worker start included). The
world clock runs at ``--speed`` (1: the device's own waits, as on a real bench). Prints
the speed-up (baseline / parallel), the tests run (the same number in each), the CPU
time of the pytest processes and the machine's load average: about half of a bench run
is CPU (Python start-up, analysis, report figures), so on a machine other jobs keep busy
the speed-up falls towards the share of the cores left to the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]

from parallel_benches import SUBSET, run_suite, write_benches  # noqa: E402


def _journal(tmp: Path) -> tuple[int, int, float]:
    """(tests recorded, measurement rows, total scope-lock wait in ms) of ``tmp``'s journal."""
    db = sqlite3.connect(tmp / "journal.sqlite")
    try:
        (tests,) = db.execute("SELECT count(*) FROM points WHERE kind='test'").fetchone()
        (rows,) = db.execute("SELECT count(*) FROM points WHERE kind='measurement'").fetchone()
        waits = [
            json.loads(d).get("scope_lock_wait_ms", 0.0)
            for (d,) in db.execute("SELECT data FROM points WHERE kind IN ('pulse', 'train')")
        ]
    finally:
        db.close()
    return tests, rows, sum(waits)


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(tmp: Path, *, shared: bool, parallel: bool, speed: float, k: str) -> tuple[float, str]:
    benches = write_benches(tmp, shared=shared)
    cpu0 = _children_cpu_s()
    args = ["-k", k] if k != SUBSET else []
    if parallel:
        proc, wall = run_suite(tmp, benches, *args, speed=speed)
        procs = [proc]
    else:
        procs, wall = [], 0.0
        for b in benches:
            proc, t = run_suite(tmp, [b], *args, speed=speed, workers=False)
            procs.append(proc)
            wall += t
    for p in procs:
        if p.returncode != 0:
            raise SystemExit(f"pytest failed ({p.returncode}):\n{p.stdout[-2000:]}")
    tests, rows, waited = _journal(tmp)
    cpu = _children_cpu_s() - cpu0
    load = os.getloadavg()[0]
    return wall, (
        f"{tests} tests, {rows} measurements, scope lock waits {waited / 1e3:.2f} s, "
        f"CPU {cpu:.1f} s, load average {load:.1f} on {os.cpu_count()} CPUs"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speed", type=float, default=1.0, help="world-clock speed factor")
    ap.add_argument("-k", default=SUBSET, help=f"bench tests to run (default: {SUBSET!r})")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    a = ap.parse_args()
    configs = [
        ("one after the other, own scopes", False, False),
        ("-n 2, own scopes", False, True),
        ("-n 2, one shared scope", True, True),
    ]
    best: dict[str, float] = {}
    for r in range(a.repeat):
        for name, shared, parallel in configs:
            with tempfile.TemporaryDirectory(prefix="tmsbench-pd-") as d:
                wall, what = _run(Path(d), shared=shared, parallel=parallel, speed=a.speed, k=a.k)
            best[name] = min(best.get(name, wall), wall)
            print(f"[{r + 1}] {name:34s} {wall:7.2f} s  ({what})", flush=True)
    base = best[configs[0][0]]
    print(f"\nspeed {a.speed:g}, tests {a.k!r}, best of {a.repeat}:")
    for name, _, _ in configs:
        print(f"  {name:34s} {best[name]:7.2f} s  speed-up {base / best[name]:.2f}x")
    own, shared = best[configs[1][0]], best[configs[2][0]]
    print(f"  sharing one scope costs {shared - own:+.2f} s ({(shared / own - 1) * 100:+.0f} %)")


if __name__ == "__main__":
    main()
