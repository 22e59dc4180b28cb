"""A protocol delivery fails on the faults that change the dose, naming the check.

The 10 Hz protocol's first train (40 pulses, tests/bench/test_protocols.py) runs on the
simulated bench with one fault: every 7th pulse missing (35 of 40 delivered), 500 µs of
timing jitter (the spec allows 200 µs), a capacitor faded by 15 % (every pulse 15 % below
the spec's dI/dt at the prescribed %MSO, outside its ±5 %). The healthy bench passes
in ``make demo`` and in test_protocol_cli.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from .bench_run import ROOT, run_bench_suite
except ImportError:
    from bench_run import ROOT, run_bench_suite  # type: ignore[no-redef]

TARGET = str(ROOT / "tests" / "bench" / "test_protocols.py")
TEST = "test_protocol_first_pulses[10hz-fda]"


def _bench(tmp: Path, faults: str) -> Path:
    text = (ROOT / "benches" / "sim.toml").read_text()
    text = text.replace('spec = "../specs/', f'spec = "{ROOT / "specs"}/')
    text = text.replace('# all off; see README "Fault knobs"', faults)
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ("missing_pulse_every = 7",
         r"10hz-fda: pulses seen by the scope: 35 pulses, expected = 40 .*"
         r"10hz-fda: pulses in train 1 of 1: 35 pulses"),
        ("timing_jitter_us = 500",
         r"10hz-fda: interval jitter \(worst train\): [\d.]+ µs, expected ≤ 200 µs"),
        ("capacitor_fade = 0.15",
         r"10hz-fda: pulses outside the dI/dt tolerance: 40 pulses, expected = 0 pulses"),
    ],
    ids=["missing_pulse", "jitter", "faded"],
)
def test_protocol_fault_fails_its_check(tmp_path: Path, faults: str, message: str) -> None:
    results, _, printed = run_bench_suite(
        tmp_path, _bench(tmp_path, faults), "-k", "first_pulses and 10hz", target=TARGET
    )
    got, msg = results[TEST]
    assert got == "failure", printed
    assert re.search(message, msg, re.DOTALL), msg[:800]
