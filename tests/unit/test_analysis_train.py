"""Train and burst timing from synthetic time stamps with known errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis import analyze_bursts, analyze_paired_pulses, analyze_train


def test_single_train_rate_error_and_jitter() -> None:
    rng = np.random.default_rng(0)
    true_interval = 1 / 10.0 * 1.002  # 0.2 % slow clock → rate −0.1996 %
    t = 0.5 + true_interval * np.arange(100) + rng.normal(0, 20e-6, 100)
    res = analyze_train(t, 10.0)
    assert res.n_pulses == 100 and res.n_trains == 1 and res.missing_pulses == 0
    assert res.rate_error_pct == pytest.approx(100 * (1 / 1.002 - 1), abs=0.02)
    # std of differences of iid jitter σ is σ·√2
    assert res.jitter_us == pytest.approx(20 * math.sqrt(2), rel=0.2)
    assert res.train_durations_s[0] == pytest.approx(99 * true_interval, abs=1e-4)


def test_trains_split_on_gaps_with_inter_train_interval() -> None:
    trains = [0.0 + 0.05 * np.arange(40), 10.0 + 0.05 * np.arange(40), 20.0 + 0.05 * np.arange(40)]
    res = analyze_train(np.concatenate(trains), 20.0)
    assert res.n_trains == 3
    assert res.pulses_per_train == (40, 40, 40)
    assert res.inter_train_intervals_s == pytest.approx((10.0 - 1.95, 10.0 - 1.95))
    assert res.train_durations_s == pytest.approx((1.95, 1.95, 1.95))
    assert res.rate_error_pct == pytest.approx(0.0, abs=1e-9)


def test_missing_pulses_are_counted_not_split() -> None:
    t = np.delete(0.1 * np.arange(50), [10, 30, 31])  # one single and one double gap
    res = analyze_train(t, 10.0)
    assert res.n_trains == 1
    assert res.missing_pulses == 3
    assert res.missing_after_index == (9, 28)
    assert res.mean_rate_hz == pytest.approx(10.0)


def test_theta_burst() -> None:
    """iTBS-style: 3 pulses at 50 Hz repeated at 5 Hz."""
    bursts = [b * 0.2 + 0.02 * np.arange(3) for b in range(10)]
    t = np.concatenate(bursts)
    t[4] += 1e-3  # burst 2, middle pulse late: intra intervals 21 ms then 19 ms
    res = analyze_bursts(t, intra_rate_hz=50, burst_rate_hz=5, pulses_per_burst=3)
    assert res.n_bursts == 10 and res.complete
    assert res.intra_interval_s == pytest.approx(0.02, abs=1e-9)
    assert res.burst_rate_hz == pytest.approx(5.0)
    assert res.intra_jitter_us > 100
    broken = analyze_bursts(np.delete(t, 5), intra_rate_hz=50, burst_rate_hz=5, pulses_per_burst=3)
    assert not broken.complete and broken.pulses_per_burst[1] == 2


def test_paired_pulse_interval() -> None:
    t = np.concatenate([[k * 5.0, k * 5.0 + 0.003] for k in range(6)])
    res = analyze_paired_pulses(t, isi_s=0.003, pair_interval_s=5.0)
    assert res.n_bursts == 6 and res.complete
    assert res.intra_interval_s == pytest.approx(0.003)
    assert res.burst_rate_error_pct == pytest.approx(0.0, abs=1e-9)


def test_empty_train() -> None:
    res = analyze_train(np.array([]), 10.0)
    assert res.n_pulses == 0 and math.isnan(res.mean_rate_hz)
