"""A protocol delivery fails on the faults that change the dose, naming the check.

The first pulses of a protocol (tests/bench/test_protocols.py) run on the simulated bench
with one fault: every 7th pulse missing in iTBS's first train (bursts of 3: the 7th pulse
is the first of burst 3, so 26 of 30 delivered and burst 3 named), 500 µs of timing
jitter in the 10 Hz protocol's first train (the spec allows 200 µs), a capacitor faded
by 15 % (every 10 Hz pulse 15 % below the spec's dI/dt at the prescribed %MSO, outside
its ±5 %). The healthy bench passes
in ``make demo`` and in test_protocol_cli.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from .bench_run import ROOT, faulted_bench, run_bench_suite
except ImportError:
    from bench_run import ROOT, faulted_bench, run_bench_suite  # type: ignore[no-redef]

TARGET = str(ROOT / "tests" / "bench" / "test_protocols.py")


@pytest.mark.parametrize(
    ("protocol", "faults", "message"),
    [
        ("itbs", "missing_pulse_every = 7",
         r"itbs: pulses seen by the scope: 26 pulses, expected = 30 .*"
         r"itbs: pulses in train 1 of 1 \(burst 3: 2 of 3 pulses\): 26 pulses"),
        ("10hz-fda", "timing_jitter_us = 500",
         r"10hz-fda: interval jitter \(worst train\): [\d.]+ µs, expected ≤ 200 µs"),
        ("10hz-fda", "capacitor_fade = 0.15",
         r"10hz-fda: pulses outside the dI/dt tolerance: 40 pulses, expected = 0 pulses"),
    ],
    ids=["missing_pulse", "jitter", "faded"],
)
def test_protocol_fault_fails_its_check(tmp_path: Path, protocol: str, faults: str,
                                        message: str) -> None:
    test = f"test_protocol_first_pulses[{protocol}]"
    results, _, printed = run_bench_suite(
        tmp_path, faulted_bench(tmp_path, "sim.toml", faults), target=f"{TARGET}::{test}"
    )
    got, msg = results[test]
    assert got == "failure", printed
    assert re.search(message, msg, re.DOTALL), msg[:800]
