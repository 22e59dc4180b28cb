"""The threshold bench test fails when the stimulator's output is off, passes when it is not.

A faded capacitor (``capacitor_fade = 0.15``) delivers 85 % of the nominal E-field at
each setting, so the subject's threshold appears at 47 / 0.85 ≈ 55 %MSO: the ML-PEST hunt
must find it there and its verdict against the bench file's 47 %MSO must fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    from .bench_run import ROOT, faulted_bench, run_bench_suite
except ImportError:
    from bench_run import ROOT, faulted_bench, run_bench_suite  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

TARGET = str(ROOT / "tests" / "bench" / "test_motor_threshold.py")
ML = "test_motor_threshold_hunt[ml_pest-25-2.0-25]"


@pytest.mark.parametrize(
    ("faults", "outcome", "message"),
    [
        ("", "passed", r"^$"),
        ("capacitor_fade = 0.15", "failure", r"ml_pest: motor threshold.*5[3-8](\.\d+)? %MSO"),
    ],
    ids=["healthy", "faded"],
)
def test_ml_pest_hunt_verdict(tmp_path: Path, faults: str, outcome: str, message: str) -> None:
    results, _, printed = run_bench_suite(
        tmp_path, faulted_bench(tmp_path, "sim-mep.toml", faults), "-k", "ml_pest", target=TARGET
    )
    got, msg = results[ML]
    assert got == outcome, printed
    assert re.search(message, msg, re.DOTALL), msg[:500]
