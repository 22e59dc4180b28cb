"""Safety behaviour: out-of-spec requests are refused before anything is sent;
remote control that lapses disarms the device."""

from __future__ import annotations

import pytest

from harness.limits import Limits
from harness.safety import LimitExceeded, check_intensity, check_train
from instruments.stimulator import Train


def test_intensity_above_spec_refused(spec) -> None:
    too_high = spec.limits.intensity_max_percent + 1
    with pytest.raises(LimitExceeded, match="intensity"):
        check_intensity(spec.limits, too_high)


def test_rate_above_spec_refused(spec) -> None:
    pct = 100.0
    max_rate = spec.limits.max_rate_hz(pct)
    if max_rate is None:
        pytest.skip("the spec sets no rate limit")
    with pytest.raises(LimitExceeded, match="rate"):
        check_train(spec.limits, pct, Train(rate_hz=max_rate * 1.5, pulses=10))


@pytest.mark.needs("trains")
def test_refused_train_sends_nothing(spec, train, sim_world) -> None:
    before = len(sim_world.pulses)
    max_rate = spec.limits.max_rate_hz(100.0)
    if max_rate is None:
        pytest.skip("the spec sets no rate limit")
    with pytest.raises(LimitExceeded):
        train(rate_hz=max_rate * 2, pulses=10, percent=100)
    assert len(sim_world.pulses) == before
    assert not sim_world.armed


@pytest.mark.needs("trains")
def test_refused_pattern_sends_nothing(spec, triggered_train, sim_world) -> None:
    """A card-timed burst faster than the spec allows at its level never starts the card."""
    before = len(sim_world.pulses)
    max_rate = spec.limits.max_rate_hz(100.0)
    if max_rate is None:
        pytest.skip("the spec sets no rate limit")
    with pytest.raises(LimitExceeded, match="pulse rate at 100 %MSO"):
        triggered_train(rate_hz=max_rate * 2, pulses=3, trains=2, iti_s=1.0, percent=100)
    assert len(sim_world.pulses) == before
    assert not sim_world.armed
    assert sim_world.trigger_in.pending == []


def test_remote_control_lapse_disarms(stimulator, measure) -> None:
    if stimulator.keepalive_interval_s is None:
        pytest.skip("this protocol holds no remote-control keep-alive")
    stimulator.set_intensity(20)
    stimulator.arm()
    stimulator.sleep(2.5)  # no keep-alive: the device gives up remote control and disarms
    status = stimulator.status()
    measure("armed after remote control lapsed", float(status.armed), "", Limits(low=0, high=0))
