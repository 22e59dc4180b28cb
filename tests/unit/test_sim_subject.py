"""The simulated MEP subject: its threshold, variability, EMG trace and population."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from instruments.sim.subject import PP_PER_RMS, Subject, mep_shape, population

FS = 5000.0


def test_true_threshold_is_the_50_percent_point_by_monte_carlo() -> None:
    s = Subject(rmt_pct=47.0, slope_pct=3.5, sigma_x_pct=3.0, sigma_y_log10=0.2)
    rng = np.random.default_rng(7)
    n = 20_000
    for pct, lo, hi in [(47.0, 0.48, 0.52), (42.0, 0.0, 0.2), (52.0, 0.8, 1.0)]:
        hits = sum(s.mep_uV(pct, rng) >= 50.0 for _ in range(n)) / n
        assert lo <= hits <= hi, (pct, hits)
    assert s.p_response(47.0) == pytest.approx(0.5, abs=1e-6)


def test_both_variability_sources_act() -> None:
    rng = np.random.default_rng(1)
    fixed = Subject(sigma_x_pct=0.0, sigma_y_log10=0.0)
    a = {fixed.mep_uV(55.0, rng) for _ in range(5)}
    assert len(a) == 1  # no variability: one amplitude
    only_y = Subject(sigma_x_pct=0.0, sigma_y_log10=0.2)
    logs = np.log10([only_y.mep_uV(55.0, rng) for _ in range(4000)])
    assert np.std(logs) == pytest.approx(0.2, rel=0.08)  # εy acts after the sigmoid
    only_x = Subject(sigma_x_pct=3.0, sigma_y_log10=0.0)
    amps = [only_x.mep_uV(50.0, rng) for _ in range(4000)]
    assert np.mean(np.array(amps) >= 50.0) == pytest.approx(0.5, abs=0.03)


def test_recruitment_rises_with_intensity_and_saturates() -> None:
    s = Subject(sigma_x_pct=0.0, sigma_y_log10=0.0, max_uV=3000.0)
    rng = s.rng()
    amps = [s.mep_uV(p, rng) for p in range(30, 101, 5)]
    assert all(b > a for a, b in itertools.pairwise(amps))
    assert amps[-1] <= 3000.0 and amps[-1] > 2000.0
    assert s.mep_uV(0.0, rng) == 0.0


def test_emg_trace_has_the_mep_at_its_latency_and_the_noise_floor() -> None:
    s = Subject(rmt_pct=40.0, sigma_x_pct=0.0, sigma_y_log10=0.0, noise_pp_uV=15.0)
    t = np.arange(int(0.08 * FS)) / FS
    rng = s.rng()
    quiet = s.emg_trace_uV(t, [], rng)
    assert np.std(quiet) == pytest.approx(15.0 / PP_PER_RMS, rel=0.1)
    y = s.emg_trace_uV(t, [(0.010, 70.0)], rng)
    onset = t[np.argmax(np.abs(y) > 10 * np.std(quiet))] - 0.010
    assert 0.020 <= onset <= 0.025  # hand-muscle latency ~20-25 ms
    # peak-to-peak of the shape is 1, so the trace's equals the drawn amplitude ± noise
    expected = s.mep_uV(70.0, np.random.default_rng(0))
    assert np.ptp(y) == pytest.approx(expected, abs=25.0)
    assert np.ptp(mep_shape(t)) == pytest.approx(1.0, rel=1e-3)


def test_seeded_subject_repeats() -> None:
    s = Subject(seed=11)
    a = [s.mep_uV(52.0, r) for r in [s.rng()] for _ in range(5)]
    b = [s.mep_uV(52.0, r) for r in [s.rng()] for _ in range(5)]
    assert a == b


def test_population_is_reproducible_and_spread() -> None:
    pop = population(300, seed=3)
    assert pop == population(300, seed=3)
    rmt = np.array([s.rmt_pct for s in pop])
    assert rmt.min() >= 30.0 and rmt.max() <= 85.0
    assert 6.0 < rmt.std() < 10.0
    assert len({s.seed for s in pop}) == 300
    assert all(10.0 <= s.noise_pp_uV <= 20.0 for s in pop)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slope_pct": 0.0}, "slope_pct = 0.0 must be > 0"),
        ({"sigma_x_pct": -1.0}, "sigma_x_pct = -1.0 must be ≥ 0"),
        ({"rmt_pct": 120.0}, r"rmt_pct = 120.0 must be in \(0, 100\]"),
        ({"max_uV": 40.0}, "max_uV = 40.0 must exceed 50.0"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Subject(**kwargs)
