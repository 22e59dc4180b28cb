"""Threshold steppers against scripted muscles whose threshold is known by construction."""

from __future__ import annotations

import math

import pytest

from harness.analysis.threshold import (
    MaximumLikelihood,
    MillsNithi,
    RelativeFrequency,
    make_procedure,
    run_hunt,
)


def step_muscle(threshold_pct: int):
    """Responds 100 µV at or above ``threshold_pct`` and 10 µV below: no variability."""
    return lambda pct: 100.0 if pct >= threshold_pct else 10.0


def probabilistic_muscle(pattern: dict[int, list[bool]]):
    """Replays a fixed hit/miss list per intensity (cycled), as 80 µV / 20 µV."""
    count: dict[int, int] = {}

    def respond(pct: int) -> float:
        seq = pattern.get(pct, [pct > max(pattern)])
        i = count.get(pct, 0)
        count[pct] = i + 1
        return 80.0 if seq[i % len(seq)] else 20.0

    return respond


@pytest.mark.parametrize("true_t", [23, 41, 57, 78])
def test_relative_frequency_finds_the_lowest_intensity_with_5_of_10(true_t: int) -> None:
    res = run_hunt(RelativeFrequency(start_pct=60), step_muscle(true_t))
    assert res.converged
    assert res.estimate_pct == true_t
    assert res.ci_pct is None
    # every intensity below the estimate that was tried failed; the estimate itself passed
    tried_below = {s.intensity_pct for s in res.steps if s.intensity_pct < true_t}
    assert true_t - 1 in tried_below


def test_relative_frequency_blocks_stop_once_decided() -> None:
    # at 50: hits, misses alternating -> 5 hits after 9 pulses: passes; at 49: never
    pattern = {50: [True, False], 49: [False], 55: [True], 45: [False]}
    res = run_hunt(RelativeFrequency(start_pct=55), probabilistic_muscle(pattern))
    at = [s.intensity_pct for s in res.steps]
    assert at[:5] == [55] * 5  # 5 hits decide a block: no 6th pulse
    assert at.count(50) == 9  # hit, miss, ... the 5th hit is pulse 9
    assert at.count(49) == 6  # the 6th miss makes 5 of 10 impossible
    assert res.estimate_pct == 50


def test_relative_frequency_climbs_when_started_below_threshold() -> None:
    res = run_hunt(RelativeFrequency(start_pct=30), step_muscle(47))
    assert res.converged and res.estimate_pct == 47
    assert res.steps[0].intensity_pct == 30


@pytest.mark.parametrize("true_t", [31, 52, 66])
def test_mills_nithi_is_the_mean_of_lower_and_upper_thresholds(true_t: int) -> None:
    proc = MillsNithi()
    res = run_hunt(proc, step_muscle(true_t))
    assert res.converged
    assert proc.lower_pct == true_t - 1  # highest intensity with 0 of 10
    assert proc.upper_pct == true_t  # lowest with 10 of 10
    assert res.estimate_pct == pytest.approx(true_t - 0.5)
    assert res.steps[0].intensity_pct == 20  # Mills & Nithi start at 20 %MSO


def test_mills_nithi_widens_between_thresholds_on_a_noisy_muscle() -> None:
    # 47: always silent; 48..51 mixed; 52: always responds -> LT 47, UT 52
    mixed = [True, False, True]
    pattern = {47: [False], 48: mixed, 49: mixed, 50: mixed, 51: mixed, 52: [True]}
    pattern.update({p: [True] for p in range(53, 101)})
    pattern.update({p: [False] for p in range(20, 47)})
    proc = MillsNithi()
    res = run_hunt(proc, probabilistic_muscle(pattern))
    assert (proc.lower_pct, proc.upper_pct) == (47, 52)
    assert res.estimate_pct == pytest.approx(49.5)


@pytest.mark.parametrize("true_t", [35, 50, 72])
def test_ml_pest_converges_on_a_sharp_threshold(true_t: int) -> None:
    res = run_hunt(MaximumLikelihood(max_pulses=20), step_muscle(true_t))
    assert res.pulses == 20 and res.converged
    # the 50 % point of a step between true_t - 1 and true_t lies in that interval
    assert true_t - 1.0 <= res.estimate_pct <= true_t + 0.5
    lo, hi = res.ci_pct or (math.nan, math.nan)
    assert lo <= res.estimate_pct <= hi
    assert hi - lo < 0.1 * true_t  # the model spread is 7 % of the threshold
    # the next pulse always went at the previous estimate, rounded to whole %MSO
    for prev, cur in zip(res.steps, res.steps[1:], strict=False):
        assert cur.intensity_pct == round(prev.estimate_pct)


def test_ml_pest_first_pulse_is_mid_range() -> None:
    # seeded with a miss at 0 and a hit at 100 %MSO (MTAT): the first estimate lies between
    proc = MaximumLikelihood()
    first = proc.next_intensity()
    assert 30 <= first <= 70


def test_ml_pest_stops_on_interval_width() -> None:
    res = run_hunt(MaximumLikelihood(max_pulses=60, stop_ci_width_pct=3.0), step_muscle(44))
    assert res.converged and res.pulses < 60
    lo, hi = res.ci_pct or (math.nan, math.nan)
    assert hi - lo <= 3.0


def test_budget_exhausted_is_not_converged() -> None:
    res = run_hunt(RelativeFrequency(start_pct=90, max_pulses=12), step_muscle(40))
    assert not res.converged and res.pulses == 12
    assert "pulse budget of 12" in res.reason


def test_no_response_at_maximum_is_reported() -> None:
    res = run_hunt(MillsNithi(), lambda pct: 5.0)
    assert not res.converged
    assert "100 %MSO" in res.reason
    assert math.isnan(res.estimate_pct)


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown threshold method 'pest'"):
        make_procedure("pest")
    proc = make_procedure("ml_pest")
    with pytest.raises(ValueError, match="not finite"):
        proc.observe(math.nan)
    done = run_hunt(MaximumLikelihood(max_pulses=3), step_muscle(50))
    assert done.pulses == 3
