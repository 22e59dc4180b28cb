"""The simulated Magstim on its pty: device timing, watchdogs and protocol error replies.

Device facts (tmsbench design notes): arming ~1 s; power settles ~10 ms per %MSO
up and ~100 ms per %MSO down; remote control lapses (and the unit disarms)
after ~1 s without a command; Rapid² rate limits from the spec.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from stim_sim import sim_stimulator, wait_until  # shared set-up (this folder is on sys.path)

from harness.config import load_spec
from harness.safety import armed
from instruments.stimulator import DeviceRejected, Train
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator.magstim import MagstimStimulator

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benches/sim.toml"
pytestmark = pytest.mark.integration


def test_arming_takes_the_device_time_at_real_speed() -> None:
    with sim_stimulator(BENCH, speed=1.0) as sim:
        stim = sim.open()
        assert isinstance(stim, MagstimStimulator)
        try:
            stim.set_intensity(30)
            r = stim.exchange(mc.ARM)
            assert not r.status & mc.ARMED  # a reply's status is from before the command
            st = stim.exchange(mc.PARAMETERS).status
            assert st & mc.ARMED and not st & mc.READY  # armed, not ready yet
            stim.arm()  # waits on the ready bit
            waited = sim.world.clock.now() - sim.world.state.armed_since
            assert waited >= sim.world.sim.stimulator.arming_time_s
            assert stim.status().ready
        finally:
            stim.disarm()
            stim.close()


def test_power_changes_settle_for_the_device_time() -> None:
    with sim_stimulator(BENCH, speed=20.0, sim_stimulator={"remote_timeout_s": 20.0}) as sim:
        stim = sim.open()
        clock = sim.world.clock
        try:
            stim.set_intensity(30)
            stim.arm()
            t = clock.now()
            stim.set_intensity(60)  # +30 % -> >= 0.3 s of device time
            assert clock.now() - t >= 0.3
            t = clock.now()
            stim.set_intensity(55)  # -5 % -> >= 0.5 s
            assert clock.now() - t >= 0.5
            assert stim.status().ready
        finally:
            stim.disarm()
            stim.close()


def test_remote_control_lapses_without_keep_alive_and_holds_with_it() -> None:
    with sim_stimulator(BENCH, speed=4.0) as sim:
        world = sim.world
        timeout = world.sim.stimulator.remote_timeout_s
        stim = sim.open()
        try:
            spec = load_spec(sim.bench.spec_path())
            with armed(stim, spec.limits, intensity_percent=30):
                end = world.clock.now() + 3 * timeout
                while world.clock.now() < end:  # no commands from this thread
                    time.sleep(0.02)
                assert world.armed and world.state.remote
            stim.arm()  # now without the safety layer: nobody pokes Q@
            wait_until(lambda: not world.armed, 3 * timeout / sim.speed + 2, "remote lapse")
            assert world.state.disarm_reason == "remote control lapsed"
        finally:
            stim.close()


def test_unit_disarms_itself_after_the_armed_timeout() -> None:
    with sim_stimulator(
        BENCH, speed=20.0, sim_stimulator={"armed_timeout_s": 2.0, "remote_timeout_s": 60.0}
    ) as sim:
        stim = sim.open()
        try:
            stim.set_intensity(30)
            stim.arm()
            wait_until(lambda: not sim.world.armed, 2.0, "armed timeout")
            assert sim.world.state.disarm_reason == "armed timeout"
            assert stim.status().armed is False
        finally:
            stim.close()


def test_hot_coil_disarms_the_unit_and_refuses_to_arm() -> None:
    with sim_stimulator(BENCH, speed=20.0, sim_stimulator={"remote_timeout_s": 60.0}) as sim:
        stim = sim.open()
        try:
            stim.set_intensity(30)
            stim.arm()
            sim.world.set_coil_temperature(45.0)
            wait_until(lambda: not sim.world.armed, 2.0, "over-temperature disarm")
            assert sim.world.state.disarm_reason == "coil over temperature"
            assert stim.coil_temperature() == pytest.approx(45.0, abs=0.2)
            assert "replace coil" in stim.status().errors
            with pytest.raises(DeviceRejected) as err:
                stim.arm()
            assert err.value.kind == "state_conflict"
        finally:
            stim.close()


def test_bad_commands_get_the_protocol_error_replies() -> None:
    with sim_stimulator(BENCH, speed=20.0, sim_stimulator={"remote_timeout_s": 60.0}) as sim:
        stim = sim.open()
        assert isinstance(stim, MagstimStimulator)
        try:
            cases = [
                (mc.frame("Z"), "invalid_command", b"?"),
                (mc.frame("@", "150"), "invalid_data", bytes.fromhex("40 3F 80")),
                (mc.FIRE, "state_conflict", bytes.fromhex("45 53 67")),  # not armed
                (mc.frame("A", "050"), "invalid_command", b"?"),  # a Rapid has no unit B
                (b"EB\x00", "invalid_command", b"?"),  # bad CRC
            ]
            for frame, kind, wire in cases:
                with pytest.raises(DeviceRejected) as err:
                    stim.exchange(frame)
                assert err.value.kind == kind, frame
                assert err.value.received == wire
            stim.set_intensity(60)
            with pytest.raises(DeviceRejected) as err:
                stim.exchange(mc.frequency(19.0))  # above 18 Hz at 60 % (spec)
            assert err.value.kind == "invalid_data"
        finally:
            stim.close()


def test_bistim_paired_pulse_and_old_rapid_firmware() -> None:
    with sim_stimulator(
        BENCH,
        speed=20.0,
        stimulator={"model": "bistim2"},
        sim_stimulator={"remote_timeout_s": 60.0},
    ) as sim:
        stim = sim.open()
        try:
            with armed(stim, load_spec(sim.bench.spec_path()).limits, intensity_percent=60) as s:
                s.paired_pulse(60, intensity_b_percent=30)
        finally:
            stim.close()
        a, b = sim.world.pulses
        assert (a.channel, b.channel) == ("A", "B")
        assert b.t_s - a.t_s == pytest.approx(0.060, abs=1e-9)
        assert b.v0_V == pytest.approx(sim.world.v0_for(30), rel=1e-9)

    with sim_stimulator(
        BENCH,
        speed=20.0,
        stimulator={"software_version": 8},
        sim_stimulator={"remote_timeout_s": 60.0},
    ) as sim:
        stim = sim.open()
        try:
            with armed(stim, load_spec(sim.bench.spec_path()).limits, intensity_percent=40) as s:
                s.train(Train(rate_hz=20.0, pulses=5))
        finally:
            stim.close()
        times = [p.t_s for p in sim.world.pulses]
        assert len(times) == 5
        assert times[-1] - times[0] == pytest.approx(0.2, abs=1e-9)
