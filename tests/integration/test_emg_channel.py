"""The EMG channel of the simulated DAQ, read through the real nidaqmx client and driver.

Bench procedure: a subject with a known threshold on a fast bench; a finite 5 kS/s
acquisition on the EMG input, started by the DAQ's trigger input (the stimulator's
trigger-out); one pulse; the MEP must be in the record 20-25 ms after the pulse with the
amplitude the simulated muscle really produced (the device's own record of that pulse).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from daq_sim import sim_bench

from harness.analysis.mep import mep_peak_to_peak_uV
from instruments.daq.nidaq import NidaqmxDaq
from instruments.daq.settings import DaqChannel
from instruments.sim.daq_server import SimDaqServer
from instruments.sim.settings import SimSubject
from instruments.sim.world import World

pytestmark = pytest.mark.integration

RATE = 5000.0
N = 300  # 60 ms
GAIN_SCALE = 1000.0  # µV at the electrodes per V at the card: an amplifier gain of 1000
TRIGGER = "/SimDev1/PFI0"


def subject_world(**faults: float) -> World:
    bench = sim_bench(speed=20.0)
    assert bench.sim is not None and bench.daq is not None
    emg = DaqChannel(physical="SimDev1/ai3", kind="ai_voltage", scale=GAIN_SCALE, units="uV",
                     min_val=-5.0, max_val=5.0)  # fmt: skip
    daq = bench.daq.model_copy(
        update={"channels": {**bench.daq.channels, "emg": emg}, "trigger_in": TRIGGER}
    )
    subject = SimSubject(rmt_pct=45.0, seed=5)
    sim = bench.sim.model_copy(update={"subject": subject})
    w = World(bench.model_copy(update={"sim": sim, "daq": daq}))
    if faults:
        w.configure_faults(**faults)
    return w


@pytest.fixture
def world() -> World:
    return subject_world()


@pytest.fixture
def served(world: World) -> Iterator[tuple[SimDaqServer, NidaqmxDaq]]:
    assert world.bench.daq is not None
    with SimDaqServer(world, world.bench.daq) as srv:
        daq = NidaqmxDaq(world.bench.daq.model_copy(update={"grpc": srv.address}))
        try:
            yield srv, daq
        finally:
            daq.close()


def triggered_record(world: World, daq: NidaqmxDaq, percent: float) -> np.ndarray:
    world.set_intensity(percent)
    world.arm()
    world.clock.sleep(1.5)  # arming and charging
    with daq.start_acquisition(["emg"], N, rate_hz=RATE, trigger=TRIGGER) as acq:
        world.clock.sleep(0.2)  # the record must not start before the pulse
        world.fire()
        rec = acq.read(N, timeout_s=10.0)
    world.disarm()
    assert rec.n == N and rec.units == ("uV",)
    return rec["emg"]


def test_mep_appears_at_its_latency_with_the_muscles_amplitude(world, served) -> None:
    srv, daq = served
    y = triggered_record(world, daq, 80.0)  # far above threshold: a large MEP
    pulse = world.pulses[-1]
    drawn = srv.device.emg.amplitudes_uV[pulse.index]
    assert drawn > 500.0
    # the record starts at the trigger edge: the MEP's onset is 20-25 ms into it
    baseline = np.std(y[: int(0.015 * RATE)])
    onset_s = np.argmax(np.abs(y) > 10 * baseline) / RATE
    assert 0.020 <= onset_s <= 0.025
    assert mep_peak_to_peak_uV(y, RATE) == pytest.approx(drawn, abs=20.0)
    assert srv.unsupported == []


def test_below_threshold_only_the_noise_floor_shows(world, served) -> None:
    _, daq = served
    y = triggered_record(world, daq, 20.0)
    pp = mep_peak_to_peak_uV(y, RATE)
    assert 5.0 < pp < 30.0  # [sim.subject] noise_pp_uV = 15 µV


def test_a_faded_capacitor_gives_a_smaller_mep() -> None:
    # the muscle answers the E-field the pulse really induced, not the %MSO asked for
    world = subject_world(capacitor_fade=0.3)
    assert world.bench.daq is not None
    with SimDaqServer(world, world.bench.daq) as srv:
        daq = NidaqmxDaq(world.bench.daq.model_copy(update={"grpc": srv.address}))
        try:
            triggered_record(world, daq, 60.0)
        finally:
            daq.close()
        pulse = world.pulses[-1]
        assert srv.device.emg.equivalent_pct(pulse) == pytest.approx(42.0, abs=0.5)
