"""Safety layer without a device: limits refused before sending, exit paths, watchdogs.

Limits: the Magstim Rapid² spec (single PSU 50/30/18/15 Hz at 30/50/80/100 %MSO,
min pulse interval 20 ms, >= 0.5 s between trains; tmsbench design notes "The pulse").
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from harness.config import RateLimit, SafetyLimits, StimulatorSettings
from harness.safety import (
    CoilOverTemperature,
    DisarmFailed,
    LimitExceeded,
    Terminated,
    armed,
    check_interval,
    check_train,
)
from instruments.stimulator import ExpectedProtocol, ReplyTimeout, Train, open_stimulator
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator.base import Identity, Status, Stimulator

RAPID2 = SafetyLimits(
    intensity_max_percent=100,
    rate_limits=[
        RateLimit(up_to_percent=30, max_rate_hz=50),
        RateLimit(up_to_percent=50, max_rate_hz=30),
        RateLimit(up_to_percent=80, max_rate_hz=18),
        RateLimit(up_to_percent=100, max_rate_hz=15),
    ],
    min_pulse_interval_ms=20,
    max_train_pulses=1000,
    min_intertrain_interval_s=0.5,
    coil_temperature_max_C=40,
)
CONFIG = StimulatorSettings(driver="magstim", resource="fake", model="rapid2", serial="S1")


class FakeStimulator(Stimulator):
    """Records calls; ``fail_disarm`` makes disarm raise; ``temps`` feeds temperature reads."""

    keepalive_interval_s = 0.01

    def __init__(self, temps: list[float] | None = None, fail_disarm: int = 0) -> None:
        super().__init__(CONFIG, clock_speed=1.0)
        self.calls: list[str] = []
        self.is_armed = False
        self.temps = temps or [25.0]
        self.fail_disarm = fail_disarm
        self.keepalives = 0

    def identify(self) -> Identity:
        return Identity("fake", "rapid2", "S1")

    def status(self) -> Status:
        return Status(armed=self.is_armed)

    def set_intensity(self, percent: float, channel: str = "A") -> None:
        self.calls.append(f"intensity {channel} {percent}")

    def set_waveform(self, topology: str) -> None:  # type: ignore[override]
        self.calls.append(f"waveform {topology}")

    def arm(self) -> None:
        self.calls.append("arm")
        self.is_armed = True

    def disarm(self) -> None:
        self.calls.append("disarm")
        if self.fail_disarm:
            self.fail_disarm -= 1
            raise ReplyTimeout("no reply", device=self.name, resource="fake", sent=b"EA")
        self.is_armed = False

    def fire(self) -> float | None:
        self.calls.append("fire")
        return None

    def paired_pulse(self, interval_ms: float, intensity_b_percent: float | None = None) -> None:
        self.calls.append(f"pair {interval_ms}")

    def run_train(
        self, train: Train, *, poll: Callable[[], None] | None = None, poll_device_s: float = 0.25
    ) -> None:
        self.calls.append(f"train {train.rate_hz} x {train.pulses}")
        for _ in range(5):
            if poll is not None:
                poll()

    def coil_temperature(self) -> float:
        return self.temps.pop(0) if len(self.temps) > 1 else self.temps[0]

    def keep_alive(self) -> None:
        self.keepalives += 1

    def close(self) -> None:
        pass


def test_rate_limits_follow_intensity() -> None:
    check_train(RAPID2, 60, Train(rate_hz=18, pulses=10))
    with pytest.raises(LimitExceeded) as err:
        check_train(RAPID2, 60, Train(rate_hz=19, pulses=10))
    assert err.value.value == 19 and err.value.limit == 18
    assert "19 Hz" in str(err.value) and "18 Hz" in str(err.value)
    check_train(RAPID2, 30, Train(rate_hz=50, pulses=10))
    with pytest.raises(LimitExceeded, match="pulse interval"):
        check_train(SafetyLimits(min_pulse_interval_ms=20), 30, Train(rate_hz=60, pulses=2))


def test_train_length_and_intertrain_limits() -> None:
    with pytest.raises(LimitExceeded, match="pulses per train 1001"):
        check_train(RAPID2, 50, Train(rate_hz=10, pulses=1001))
    with pytest.raises(LimitExceeded, match=r"inter-train interval 0\.4 s"):
        check_train(RAPID2, 50, Train(rate_hz=10, pulses=10, trains=2, iti_s=0.4))


def test_paired_interval_limits() -> None:
    check_interval(RAPID2, 60, 100)
    with pytest.raises(LimitExceeded, match=r"pulse interval at 60 %MSO 50 ms"):
        check_interval(RAPID2, 60, 50)  # 18 Hz at 60 % -> 55.6 ms


def test_out_of_range_intensity_is_refused_before_any_byte_is_sent() -> None:
    connect = [
        (mc.REMOTE_ON, mc.encode_reply("Q", 0x89)),
        (mc.VERSION, mc.encode_version("9.0.0")),
        (mc.PARAMETERS, mc.encode_reply("J", 0x89, fields=((0, 3), (0, 3), (0, 3)))),
    ]
    wire = ExpectedProtocol(connect)
    stim = open_stimulator(CONFIG, clock_speed=1000, transport=wire)
    with (
        pytest.raises(LimitExceeded, match="intensity 101 %MSO") as err,
        armed(stim, RAPID2, intensity_percent=101),
    ):
        pass
    assert err.value.limit == 100
    assert wire.written == [mc.REMOTE_ON, mc.VERSION, mc.PARAMETERS]  # only the connect


def test_limits_inside_the_block_are_checked_before_the_driver_is_called() -> None:
    fake = FakeStimulator()
    with pytest.raises(LimitExceeded), armed(fake, RAPID2, intensity_percent=60) as s:
        s.train(Train(rate_hz=20, pulses=10))
    assert not any(c.startswith("train") for c in fake.calls)
    assert fake.calls[-1] == "disarm" and not fake.is_armed


def test_every_exit_disarms() -> None:
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        fake = FakeStimulator()
        with pytest.raises(type(exc)), armed(fake, RAPID2, intensity_percent=50):
            raise exc
        assert fake.calls == ["intensity A 50", "arm", "disarm"]


def test_a_failing_disarm_is_retried_then_loud() -> None:
    fake = FakeStimulator(fail_disarm=1)
    with armed(fake, RAPID2, intensity_percent=50):
        pass
    assert fake.calls.count("disarm") == 2 and not fake.is_armed
    fake = FakeStimulator(fail_disarm=99)
    with pytest.raises(DisarmFailed, match="may still be ARMED") as err, armed(fake, RAPID2):
        raise RuntimeError("the test failed first")
    assert isinstance(err.value.__cause__, ReplyTimeout)
    assert isinstance(err.value.__context__, RuntimeError)


def test_keep_alive_runs_only_while_armed() -> None:
    fake = FakeStimulator()
    with armed(fake, RAPID2):
        deadline = time.monotonic() + 5
        while fake.keepalives < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert fake.keepalives >= 3
    after = fake.keepalives
    time.sleep(0.05)
    assert fake.keepalives == after
    assert not any(t.name == "stimulator-keepalive" for t in threading.enumerate())


def test_hot_coil_stops_the_train_with_the_reading() -> None:
    fake = FakeStimulator(temps=[25.0, 30.0, 41.5, 42.0])
    with pytest.raises(CoilOverTemperature) as err, armed(fake, RAPID2, intensity_percent=50) as s:
        s.train(Train(rate_hz=10, pulses=20))
    assert err.value.reading_C == 41.5 and "41.5 °C" in str(err.value)
    assert not fake.is_armed


def test_sigterm_inside_the_block_disarms_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    fake = FakeStimulator()
    with pytest.raises(Terminated) as err, armed(fake, RAPID2):
        signal.raise_signal(signal.SIGTERM)
        time.sleep(1)  # the handler raises before this ends
    assert err.value.code == 128 + signal.SIGTERM
    assert not fake.is_armed
    assert signal.getsignal(signal.SIGTERM) is before
