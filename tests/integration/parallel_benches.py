"""Two simulated benches for ``pytest -n 2``, and the bench suite run on them.

The bench files are the embedded simulated bench (benches/sim.toml) with another station,
stimulator serial and seed each; with ``shared=True`` both name the shared simulated
scope ``sim:<scope>`` (instruments/sim/scope_switch.py), its switch and log in
``<tmp>/shared``. Lock files go to ``<tmp>/locks`` (``TMSBENCH_LOCK_DIR``), so a run
never meets another run's lock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parents[2]
SUBSET = "pulse_shape or intensity"  # a short part of the bench suite (a few s per bench)


def write_benches(tmp: Path, n: int = 2, *, shared: bool, scope: str = "lab-scope") -> list[Path]:
    """``n`` bench files in ``tmp`` (stations sim-a, sim-b, ...)."""
    paths = []
    for k in range(n):
        raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
        raw["spec"] = str((ROOT / "specs" / "magstim-rapid2-d70.toml").resolve())
        letter = "abcdefgh"[k]
        raw["station"] = f"sim-{letter}"
        raw["stimulator"]["serial"] = f"SIM-R2-P{k}"
        raw["sim"]["seed"] = 11 + k
        if shared:
            raw["scope"]["resource"] = f"sim:{scope}"
            raw["sim"]["shared_dir"] = "shared"  # relative to the bench file
        path = tmp / f"bench-{letter}.toml"
        path.write_text(tomli_w.dumps(raw))
        paths.append(path)
    return paths


def run_suite(
    tmp: Path, benches: list[Path], *args: str, speed: float = 5.0, workers: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run :data:`SUBSET` of tests/bench on ``benches`` (``-n len(benches)`` when
    ``workers``); the finished process and its wall time (s)."""
    bench_args = [a for b in benches for a in ("--bench", str(b))]
    n = ["-n", str(len(benches))] if workers else []
    env = {**os.environ, "TMSBENCH_LOCK_DIR": str(tmp / "locks")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "bench"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            SUBSET,
            *n,
            *bench_args,
            "--sim-speed",
            str(speed),
            "--results",
            str(tmp / "results"),
            "--journal",
            str(tmp / "journal.sqlite"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=env,
        timeout=600,
    )
    return proc, time.perf_counter() - t0
