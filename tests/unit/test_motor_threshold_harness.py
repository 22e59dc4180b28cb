"""Motor-threshold plumbing: capabilities, the hunt loop, the staircase figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.threshold import MaximumLikelihood, MillsNithi, run_hunt
from harness.capabilities import missing
from harness.config import load_bench, load_spec
from harness.motor_threshold import emg_channel, hunt
from harness.report.staircase import staircase_plot

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str):
    bench = load_bench(ROOT / "benches" / name)
    return bench, load_spec(bench.spec_path())


def test_mep_bench_has_emg_and_subject() -> None:
    bench, spec = _bench("sim-mep.toml")
    assert missing(("emg", "subject"), bench, spec) is None
    assert emg_channel(bench.daq) == "emg"
    assert bench.sim is not None and bench.sim.subject is not None
    assert bench.sim.subject.rmt_pct == 47.0


def test_default_bench_skips_threshold_tests_with_reasons() -> None:
    bench, spec = _bench("sim.toml")
    why = missing(("emg", "subject"), bench, spec) or ""
    assert 'no ai_voltage channel in units "uV"' in why
    assert "needs a simulated subject ([sim.subject])" in why


def test_emg_without_trigger_input_is_named() -> None:
    bench, spec = _bench("sim-mep.toml")
    assert bench.daq is not None
    no_trig = bench.model_copy(update={"daq": bench.daq.model_copy(update={"trigger_in": None})})
    assert "names no trigger_in terminal" in (missing(("emg",), no_trig, spec) or "")


class FakeArmed:
    """Stands in for ArmedStimulator: keeps the intensity it was set to and counts fires."""

    def __init__(self, start: float) -> None:
        self.intensity_percent = start
        self.set_calls: list[float] = []
        self.fired = 0

    def set_intensity(self, pct: float) -> None:
        self.set_calls.append(pct)
        self.intensity_percent = pct

    def fire(self) -> None:
        self.fired += 1


class FakeReader:
    """A muscle with a sharp threshold at 44 %MSO, read at the stimulator's intensity."""

    def __init__(self, stim: FakeArmed) -> None:
        self.stim = stim

    def pulse(self, fire) -> float:
        fire()
        return 120.0 if self.stim.intensity_percent >= 44 else 15.0


def test_hunt_sets_each_intensity_fires_once_per_step_and_waits_between() -> None:
    proc = MillsNithi()
    stim = FakeArmed(start=proc.next_intensity())
    waits: list[float] = []
    steps: list[tuple[int, int, float]] = []
    result = hunt(
        stim,  # type: ignore[arg-type]
        FakeReader(stim),  # type: ignore[arg-type]
        proc,
        interval_s=5.0,
        sleep=waits.append,
        on_step=lambda n, p, a: steps.append((n, p, a)),
    )
    assert result.converged and result.estimate_pct == pytest.approx(43.5)
    assert stim.fired == result.pulses == len(steps)
    assert waits == [5.0] * (result.pulses - 1)  # no wait before the first pulse
    # the intensity is only sent when it changes
    changes = sum(1 for a, b in zip(result.steps, result.steps[1:], strict=False)
                  if a.intensity_pct != b.intensity_pct)  # fmt: skip
    assert len(stim.set_calls) == changes
    assert [p for _, p, _ in steps] == [s.intensity_pct for s in result.steps]


def test_staircase_figure_is_a_png() -> None:
    res = run_hunt(MaximumLikelihood(max_pulses=12), lambda p: 80.0 if p >= 51 else 20.0)
    png = staircase_plot(res, true_pct=50.5)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
