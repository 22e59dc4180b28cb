"""A card-timed pattern is judged before anything is sent (harness.safety.check_pattern),
and the driver's pulse specifications put each rising edge where it was asked
(instruments.daq.base.pulse_pattern)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_spec
from harness.safety import LimitExceeded, check_pattern
from instruments.daq.base import pulse_pattern

ROOT = Path(__file__).resolve().parents[2]

THETA = [b * 0.2 + k * 0.02 for b in range(10) for k in range(3)]


@pytest.fixture
def limits():
    return load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml").limits


def test_theta_burst_at_30_percent_is_within_the_rapid2_limits(limits) -> None:
    check_pattern(limits, 30.0, THETA)  # 50 Hz allowed up to 30 %MSO


def test_theta_burst_above_30_percent_breaks_the_rate_limit(limits) -> None:
    above = r"pulse rate at 40 %MSO 50 Hz is above the maximum 30 Hz"
    with pytest.raises(LimitExceeded, match=above):
        check_pattern(limits, 40.0, THETA)


def test_pulses_closer_than_the_minimum_interval_are_refused(limits) -> None:
    below = r"shortest pulse interval 10 ms is below the minimum 20 ms"
    with pytest.raises(LimitExceeded, match=below):
        check_pattern(limits, 10.0, [0.0, 0.5, 0.51])


def test_intensity_and_length_are_judged_too(limits) -> None:
    with pytest.raises(LimitExceeded, match="intensity 120 %MSO"):
        check_pattern(limits, 120.0, [0.0])
    with pytest.raises(LimitExceeded, match="pulses in the pattern 10001"):
        check_pattern(limits, 10.0, [k * 1.0 for k in range(10001)])


def test_pulse_pattern_puts_each_rising_edge_at_its_time() -> None:
    times = [0.05, 0.07, 0.09, 0.25]
    delay, pulses = pulse_pattern(times, high_time_s=1e-3)
    edges, t = [], delay
    for high, low in pulses:  # idle low: a pulse rises, stays high, then low
        edges.append(t)
        t += high + low
    assert edges == pytest.approx(times, abs=1e-12)
    assert all(h == 1e-3 for h, _ in pulses)
    assert pulse_pattern([0.0, 0.001])[1][0][0] == pytest.approx(0.0005)  # at most half a gap
    with pytest.raises(ValueError, match="pulse times must rise: pulse 3"):
        pulse_pattern([0.0, 0.1, 0.1])
    with pytest.raises(ValueError, match="at least one"):
        pulse_pattern([])
