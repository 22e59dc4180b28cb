"""Verdicts near the tolerance edge: a faded capacitor is caught, a healthy one is not.

The intensity band is ±5 % of the spec's dI/dt (and ±7 % of its E-field). With
``capacitor_fade`` 0.065 the device delivers 6.5 % low, 1.5 % past the band: every
intensity test must fail, on every seed. With 0.035 it is 3.5 % low, 1.5 % inside:
none may fail. A reading that scatters ~1 % per pulse (the old dI/dt estimate)
decided some of these wrongly; 1.5 % is ~6 sd of the fitted dI/dt at the default
0.2 % probe noise (see tests/unit/test_analysis_didt_fit.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    from .bench_run import ROOT, run_bench_suite
except ImportError:
    from bench_run import ROOT, run_bench_suite  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

SEEDS = range(1, 11)
INTENSITY = {f"test_intensity_accuracy[{p}pct]" for p in (30, 60, 90)}


def _bench(tmp: Path, seed: int, fade: float) -> Path:
    text = (ROOT / "benches" / "sim.toml").read_text()
    text = text.replace('spec = "../specs/', f'spec = "{ROOT / "specs"}/')
    assert "seed = 1\n" in text
    text = text.replace("seed = 1\n", f"seed = {seed}\n", 1)
    marker = '# all off; see README "Fault knobs"'
    assert marker in text
    text = text.replace(marker, f"capacitor_fade = {fade}\ntiming_jitter_us = 2.0")
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("fade", "outcome"), [(0.065, "failure"), (0.035, "passed")])
def test_intensity_verdicts_at_the_band_edge(
    fade: float, outcome: str, seed: int, tmp_path: Path
) -> None:
    results, _, printed = run_bench_suite(
        tmp_path, _bench(tmp_path, seed, fade), "-k", "test_intensity_accuracy", speed=4
    )
    assert set(results) == INTENSITY, printed
    wrong = {t: m[:300] for t, (o, m) in results.items() if o != outcome}
    assert not wrong, f"fade {fade}, seed {seed}: expected {outcome}: {wrong}"
    if outcome == "failure":  # failed on the amplitude, not on anything else
        for t, (_, msg) in results.items():
            assert "peak dI/dt at" in msg and "[FAIL]" in msg, f"{t}: {msg[:400]}"
