"""Every serial fault knob: the driver raises its typed error and the device ends disarmed.

The device state is asked of the simulator's World, never of the driver.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from stim_sim import (  # shared set-up (this folder is on sys.path)
    SimStim,
    sim_stimulator,
    wait_until,
)

from harness.config import SafetyLimits, load_spec
from harness.safety import DisarmFailed, armed
from instruments.stimulator import BadCrc, MalformedReply, ReplyTimeout, StimulatorError

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {
    "magstim": ROOT / "benches/sim.toml",
    "magventure": ROOT / "benches/sim-magventure.toml",
}
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("driver", BENCHES)]

SPEED = 20.0
TIMEOUT_MS = 200


def run(driver: str, **timing: float) -> AbstractContextManager[SimStim]:
    """The simulated ``driver`` at SPEED with a short link timeout and long watchdogs."""
    return sim_stimulator(
        BENCHES[driver],
        speed=SPEED,
        stimulator={"timeout_ms": TIMEOUT_MS},
        sim_stimulator={"remote_timeout_s": 60.0, "armed_timeout_s": 60.0, **timing},
    )


def limits(sim: SimStim) -> SafetyLimits:
    return load_spec(sim.bench.spec_path()).limits


def assert_names_the_exchange(err: StimulatorError, sim: SimStim) -> None:
    text = str(err)
    assert sim.bench.stimulator.serial in text and sim.resource in text
    assert err.sent and err.sent.hex(" ").upper() in text


def test_serial_drop(driver: str) -> None:
    # the Magstim's remote watchdog acts; the MagPro has only its armed timeout
    watchdog = "remote_timeout_s" if driver == "magstim" else "armed_timeout_s"
    with run(driver, **{watchdog: 5.0}) as sim:
        stim = sim.open()
        try:
            with (
                pytest.raises(DisarmFailed) as err,
                armed(stim, limits(sim), intensity_percent=30, keep_alive=False) as s,
            ):
                sim.world.configure_faults(serial_drop_after_n=1)  # the link dies now
                with pytest.raises(ReplyTimeout) as first:
                    s.fire()
                assert_names_the_exchange(first.value, sim)
                raise first.value
            assert isinstance(err.value.__cause__, ReplyTimeout)
            wait_until(lambda: not sim.world.armed, 5.0 / SPEED + 5, "self-disarm")
            reason = sim.world.state.disarm_reason  # no disarm command got through: the unit did it
            assert reason == ("remote control lapsed" if driver == "magstim" else "armed timeout")
            assert len(sim.world.pulses) == 0
        finally:
            stim.transport.close()  # type: ignore[attr-defined]


def test_reply_delay_within_timeout_is_tolerated(driver: str) -> None:
    with run(driver) as sim:
        sim.world.configure_faults(reply_delay_ms=TIMEOUT_MS / 4)
        stim = sim.open()
        try:
            with armed(stim, limits(sim), intensity_percent=30, keep_alive=False) as s:
                s.fire()
            assert len(sim.world.pulses) == 1
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
        finally:
            stim.close()


def test_slow_link_holds_remote_control_through_arming(driver: str) -> None:
    """Real watchdogs (1 s remote lapse on the Magstim), 200 ms per reply: the unit stays
    armed through the ~1 s arming wait and fires (the wait pokes it, the lock is held)."""
    with sim_stimulator(BENCHES[driver], speed=1.0) as sim:
        sim.world.configure_faults(reply_delay_ms=200)
        stim = sim.open()
        try:
            with armed(stim, limits(sim), intensity_percent=30) as s:
                s.fire()
            assert len(sim.world.pulses) == 1
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
        finally:
            sim.world.configure_faults(reply_delay_ms=0)
            stim.close()


def test_reply_delay_beyond_timeout(driver: str) -> None:
    with run(driver) as sim:
        stim = sim.open()
        try:
            with (
                pytest.raises((ReplyTimeout, DisarmFailed)),
                armed(stim, limits(sim), intensity_percent=30, keep_alive=False) as s,
            ):
                sim.world.configure_faults(reply_delay_ms=TIMEOUT_MS * 2)
                with pytest.raises(ReplyTimeout) as err:
                    s.status()
                assert_names_the_exchange(err.value, sim)
                raise err.value
            # the disarm command reached the device even though its reply came late
            wait_until(lambda: not sim.world.armed, 2.0, "disarm")
            assert sim.world.state.disarm_reason == "command"
        finally:
            sim.world.configure_faults(reply_delay_ms=0)
            stim.close()


@pytest.mark.parametrize(
    ("knob", "error"), [("garbage_reply_every_n", MalformedReply), ("bad_crc_every_n", BadCrc)]
)
def test_corrupt_replies(driver: str, knob: str, error: type[StimulatorError]) -> None:
    with run(driver) as sim:
        stim = sim.open()
        try:
            with (
                pytest.raises(error) as err,
                armed(stim, limits(sim), intensity_percent=30, keep_alive=False) as s,
            ):
                sim.world.configure_faults(**{knob: 2})
                for _ in range(4):
                    s.status()
            assert_names_the_exchange(err.value, sim)
            assert err.value.received  # what came back is in the error
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
        finally:
            sim.world.configure_faults(**{knob: 0})
            stim.close()


def test_serial_drop_answers_exactly_n_commands(driver: str) -> None:
    with sim_stimulator(
        BENCHES[driver],
        speed=SPEED,
        stimulator={"timeout_ms": TIMEOUT_MS},
        faults={"serial_drop_after_n": 4},
    ) as sim:
        stim = sim.open()
        answered = sim.commands_seen  # the connect exchange
        try:
            with pytest.raises(ReplyTimeout):
                for _ in range(10):
                    stim.coil_temperature()
                    answered += 1
        finally:
            stim.transport.close()  # type: ignore[attr-defined]
        assert answered == 4 and sim.commands_seen == 4
