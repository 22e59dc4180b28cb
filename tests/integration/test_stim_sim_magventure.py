"""The simulated MagPro on its pty: unprompted frames, silence on bad frames, watchdogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from stim_sim import sim_stimulator, wait_until  # shared set-up (this folder is on sys.path)

from instruments.stimulator import ReplyTimeout
from instruments.stimulator import magventure_codec as mv
from instruments.stimulator.magventure import MagVentureStimulator

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benches/sim-magventure.toml"
pytestmark = pytest.mark.integration


def test_unprompted_frames_are_absorbed_not_mistaken_for_replies() -> None:
    with sim_stimulator(BENCH, speed=20.0) as sim:
        stim = sim.open()
        assert isinstance(stim, MagVentureStimulator)
        try:
            stim.set_intensity(50)  # the device volunteers a status frame after the reply
            sim.world.set_coil_temperature(31.0)  # ... and a temperature frame
            wait_until(lambda: sim.server.device.reported_temperature == 31, 2.0, "temp frame")
            st = stim.device_status()
            assert st.amplitude_a == 50 and st.temperature_C == 31
            idents = [f.ident for f in stim.unprompted]
            assert mv.R_STATUS in idents and mv.R_TEMPERATURE in idents
            stim.set_waveform("monophasic")
            assert sim.world.state.waveform == "monophasic"
        finally:
            stim.close()


def test_frames_the_device_cannot_use_get_no_answer() -> None:
    with sim_stimulator(BENCH, speed=20.0, stimulator={"timeout_ms": 200}) as sim:
        stim = sim.open()
        assert isinstance(stim, MagVentureStimulator)
        try:
            bad_crc = bytes.fromhex("FE 01 00 01 FF")  # a status request, CRC 01 not 00
            with pytest.raises(ReplyTimeout) as err:
                stim.exchange(bad_crc)
            assert "FE 01 00 01 FF" in str(err.value)
            stim.send(bytes.fromhex("FE 02 02 01 00 FF"))  # enable with a bad CRC
            stim.send(mv.encode(mv.AMPLITUDE, bytes([101])))  # out of range
            st = stim.device_status()  # the link recovers; neither command took effect
            assert st.enabled is False and st.amplitude_a == 0
            assert not sim.world.armed
        finally:
            stim.close()


def test_unit_disarms_itself_after_the_armed_timeout_and_when_hot() -> None:
    with sim_stimulator(BENCH, speed=20.0, sim_stimulator={"armed_timeout_s": 2.0}) as sim:
        stim = sim.open()
        try:
            stim.set_intensity(30)
            stim.arm()
            wait_until(lambda: not sim.world.armed, 2.0, "armed timeout")
            assert sim.world.state.disarm_reason == "armed timeout"
            stim.arm()
            sim.world.set_coil_temperature(45.0)
            wait_until(lambda: not sim.world.armed, 2.0, "over-temperature disarm")
            assert sim.world.state.disarm_reason == "coil over temperature"
            assert stim.status().armed is False
        finally:
            stim.close()
