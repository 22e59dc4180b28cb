"""Per-burst analysis of card-timed patterns (harness.analysis.train.check_bursts, burst_times).

Time stamps are built from the prescription by hand (burst b, pulse k at b·P + k/rate),
then damaged the way the faults do: a pulse taken out, one moved.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.train import burst_times, check_bursts

RATE, PULSES, BURSTS, ITI = 50.0, 3, 10, 0.16  # theta burst: bursts every 200 ms


def _theta(t0: float = 12.5) -> list[float]:
    return [t0 + b * 0.2 + k * 0.02 for b in range(BURSTS) for k in range(PULSES)]


def _check(times: list[float]):
    return check_bursts(
        np.array(times), rate_hz=RATE, pulses_per_burst=PULSES, bursts=BURSTS, iti_s=ITI
    )


def test_burst_times_follow_the_prescription() -> None:
    t = burst_times(rate_hz=RATE, pulses=PULSES, trains=BURSTS, iti_s=ITI)
    assert t == pytest.approx([x - 12.5 for x in _theta()], abs=1e-12)
    assert burst_times(rate_hz=10.0, pulses=4) == pytest.approx([0.0, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="rate_hz > 0"):
        burst_times(rate_hz=0.0, pulses=3)


def test_a_whole_pattern_gives_whole_bursts() -> None:
    checks = _check(_theta())
    assert [c.n_pulses for c in checks] == [3] * BURSTS
    assert all(c.intervals_s == pytest.approx((0.02, 0.02)) for c in checks)
    assert math.isnan(checks[0].start_gap_s)
    assert [c.start_gap_s for c in checks[1:]] == pytest.approx([0.2] * (BURSTS - 1))


@pytest.mark.parametrize("lost", [0, 1, 2, 20, 29])  # first, middle, last of a burst
def test_a_missing_pulse_leaves_its_own_burst_short(lost: int) -> None:
    times = _theta()
    del times[lost]
    counts = [c.n_pulses for c in _check(times)]
    expected = [3] * BURSTS
    expected[lost // 3] = 2
    assert counts == expected


def test_a_late_pulse_shows_in_its_bursts_interval() -> None:
    times = _theta()
    times[13] += 0.0034  # burst 5, middle pulse 3.4 ms late
    checks = _check(times)
    assert checks[4].intervals_s == pytest.approx((0.0234, 0.0166))
    assert checks[3].intervals_s == pytest.approx((0.02, 0.02))


def test_no_pulses_gives_empty_bursts() -> None:
    checks = _check([])
    assert [c.n_pulses for c in checks] == [0] * BURSTS
