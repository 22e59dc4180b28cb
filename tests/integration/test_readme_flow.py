"""The README's two-terminal flow: `tmsbench sim --write-bench live.toml`, then pytest on it.

The bench suite must pass on the served bench exactly as on the embedded one (no second,
unconnected world), and Ctrl-C of `tmsbench sim` ends it with 130 after disarming.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from stop_rig import SimProcess  # this folder is on sys.path

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_sim_then_pytest_on_the_live_file(tmp_path: Path) -> None:
    sim = SimProcess(tmp_path)
    try:
        live = tomllib.loads(sim.live.read_text())
        assert live["sim"]["served"] is True  # the run must not build a world of its own
        for line in ("stimulator: ASRL", "scope:      TCPIP::", "daq:        SimDev1 on NI gRPC"):
            assert any(line in printed for printed in sim.lines), (
                sim.lines
            )  # resources, not classes
        proc = subprocess.run(
            [
                sys.executable, "-m", "pytest", str(ROOT / "tests" / "bench"),
                "-p", "no:cacheprovider", "--bench", str(sim.live),
                "--results", str(tmp_path / "results"), "--journal", str(tmp_path / "j.sqlite"),
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]
    finally:
        if sim.proc.poll() is None:
            sim.proc.send_signal(signal.SIGINT)
        rc = sim.proc.wait(30)
    assert rc == 130, "\n".join(sim.lines[-20:])
    assert any("stimulator disarmed" in line for line in sim.lines[-5:]), sim.lines[-5:]
