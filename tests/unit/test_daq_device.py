"""The simulated DAQ card model (no gRPC): sample clock, trigger, signals, NI errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from nidaqmx.constants import AcquisitionType, Edge

from harness.config import BenchConfig
from instruments.sim.daq_device import (
    INVALID_ATTRIBUTE_VALUE,
    INVALID_DEVICE_ID,
    PHYSICAL_CHAN_DOES_NOT_EXIST,
    SAMPLES_NOT_YET_AVAILABLE,
    NiError,
    SimDaqDevice,
    _flatten,
    channel_names,
)
from instruments.sim.world import World

FINITE = AcquisitionType.FINITE.value
K_TYPE = 10073


@pytest.fixture
def world(sim_bench: BenchConfig) -> World:
    assert sim_bench.sim is not None
    sim = sim_bench.sim.model_copy(update={"speed": 50.0})
    w = World(sim_bench.model_copy(update={"sim": sim}))
    w.set_intensity(50)
    w.arm()
    return w


@pytest.fixture
def dev(world: World) -> SimDaqDevice:
    assert world.bench.daq is not None
    return SimDaqDevice(world, world.bench.daq)


def test_channel_lists_and_ranges_flatten():
    assert _flatten("Dev1/ai0:2, /Dev1/ai5") == ["Dev1/ai0", "Dev1/ai1", "Dev1/ai2", "Dev1/ai5"]


# Physical channel syntax (NI-DAQmx Key Concepts, "Physical Channel Syntax"; NI KB
# "NI-DAQmx Syntax for Specifying Physical Channel Strings").
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Dev0/ai0:4", ["Dev0/ai0", "Dev0/ai1", "Dev0/ai2", "Dev0/ai3", "Dev0/ai4"]),
        ("Dev0/ai0:Dev0/ai2", ["Dev0/ai0", "Dev0/ai1", "Dev0/ai2"]),
        ("Dev0/ai2:0", ["Dev0/ai2", "Dev0/ai1", "Dev0/ai0"]),
        ("Dev0/port1/line3:0", ["Dev0/port1/line3", "Dev0/port1/line2", "Dev0/port1/line1",
                                "Dev0/port1/line0"]),
        ("Dev0/port0:1", ["Dev0/port0", "Dev0/port1"]),
        ("Dev0/port0, Dev0/port1/line0:1", ["Dev0/port0", "Dev0/port1/line0", "Dev0/port1/line1"]),
    ],
)  # fmt: skip
def test_physical_channel_syntax(spec, expected):
    assert _flatten(spec) == expected


def test_a_range_with_two_prefixes_is_a_syntax_error():
    with pytest.raises(NiError) as err:
        _flatten("Dev0/ai0:Dev0/ctr3")
    assert err.value.code == -200498


# Channel Name Generation (NI-DAQmx help): names given to several new channels.
@pytest.mark.parametrize(
    ("given", "count", "expected"),
    [
        ("", 2, None),  # unnamed: each channel is its physical channel
        ("foo", 1, ["foo"]),
        ("foo", 3, ["foo0", "foo1", "foo2"]),
        ("foo31", 3, ["foo31", "foo32", "foo33"]),
        ("a0:1, b", 4, ["a0", "a1", "b0", "b1"]),
    ],
)
def test_channel_name_generation(given, count, expected):
    assert channel_names(given, count) == expected


def test_port_wide_channels_and_device_wide_line_numbers(dev):
    assert len(dev.digital_lines("SimDev1/port0")) == 8
    assert dev.digital_lines("simdev1/PORT2/line7") == ["SimDev1/port2/line7"]  # not case sensitive
    assert dev.digital_lines("SimDev1/line9") == ["SimDev1/port1/line1"]  # 8 lines a port
    task, _ = dev.create_task("do", False, False)
    dev.add_lines(task, "SimDev1/port0", "", output=True, one_per_line=False)
    dev.add_lines(task, "SimDev1/port1/line0:3", "", output=True, one_per_line=True)
    names = [c.name for c in task.channels]
    assert names == ["SimDev1/port0"] + [f"SimDev1/port1/line{i}" for i in range(4)]
    assert len(task.channels[0].lines) == 8
    # Channel lists resolve names, physical channels and ranges; anything else is -200486.
    assert [c.name for c in dev.channels_of(task, "SimDev1/port1/line1:2")] == names[2:4]
    assert dev.channels_of(task, "SimDev1/port0") == task.channels[:1]
    with pytest.raises(NiError) as err:
        dev.channels_of(task, "SimDev1/port1/line0:5")
    assert err.value.code == -200486
    with pytest.raises(NiError) as err:
        dev.add_lines(task, "SimDev1/port3", "", output=True)
    assert err.value.code == PHYSICAL_CHAN_DOES_NOT_EXIST


def test_duplicate_virtual_channel_names_are_refused(dev):
    task, _ = dev.create_task("dup", False, False)
    dev.add_ai(task, "SimDev1/ai0", "hv", -10, 10)
    with pytest.raises(NiError) as err:
        dev.add_ai(task, "SimDev1/ai1", "hv", -10, 10)
    assert err.value.code == -200171


def test_reference_trigger_keeps_the_pretrigger_samples(dev, world):
    task, _ = dev.create_task("ref", False, False)
    dev.add_ai(task, "SimDev1/ai0", "cap", -10, 10)
    dev.cfg_samp_clk(task, 10_000.0, FINITE, 200)
    dev.cfg_ref_trigger(task, "/SimDev1/PFI8", Edge.RISING.value, 50)
    dev.start(task)
    world.clock.sleep(0.02)  # > 50 samples: the trigger is armed
    event = world.fire()
    assert event is not None
    data, n = dev.acquire(task, 200, timeout_s=5.0)
    assert n == 200 and task.t0 is not None
    # Sample 50 is the first at or after the edge; the 50 before it are pretrigger samples.
    assert task.t0 + 49 / 10_000.0 < event.t_s <= task.t0 + 50 / 10_000.0 + 1e-9
    cap = data[0] * 200.0
    assert cap[:50].min() > 0.95 * world.v0_for(50) and cap[50] < 0.9 * world.v0_for(50)


def test_reference_trigger_needs_a_finite_acquisition_with_room(dev):
    task, _ = dev.create_task("ref2", False, False)
    dev.add_ai(task, "SimDev1/ai0", "cap", -10, 10)
    dev.cfg_samp_clk(task, 1000.0, FINITE, 100)
    dev.cfg_ref_trigger(task, "/SimDev1/PFI0", Edge.RISING.value, 99)  # < 2 posttrigger samples
    with pytest.raises(NiError) as err:
        dev.start(task)
    assert err.value.code == INVALID_ATTRIBUTE_VALUE
    with pytest.raises(NiError) as err:
        dev.cfg_ref_trigger(task, "/SimDev1/PFI99", Edge.RISING.value, 10)
    assert err.value.code == -200265


def test_continuous_buffer_overwritten_is_200279(dev, world):
    task, _ = dev.create_task("cont", False, False)
    dev.add_ai(task, "SimDev1/ai0", "cap", -10, 10)
    dev.cfg_samp_clk(task, 1000.0, AcquisitionType.CONTINUOUS.value, 1000)
    assert task.buffer_size == 10_000  # 100..10000 S/s: 10 kS default unless asked for more
    dev.cfg_samp_clk(task, 100.0, AcquisitionType.CONTINUOUS.value, 10)
    assert task.buffer_size == 1000  # <= 100 S/s: 1 kS
    dev.start(task)
    world.clock.sleep(10.5)  # > 1000 samples at 100 S/s, none read
    with pytest.raises(NiError) as err:
        dev.acquire(task, 10, timeout_s=1.0)
    assert err.value.code == -200279


def test_finite_read_covers_its_window_and_returns_after_it(dev, world):
    task, new = dev.create_task("", must_be_new=False, must_exist=False)
    assert new and task.name.startswith("_unnamedTask")
    dev.add_ai(task, "SimDev1/ai0", "cap", -10, 10)
    dev.cfg_samp_clk(task, 1000.0, FINITE, 200)
    dev.start(task)
    data, n = dev.acquire(task, 200, timeout_s=5.0)
    assert n == 200 and data.shape == (1, 200)
    assert task.t0 is not None
    assert world.clock.now() >= task.t0 + 200 / 1000.0  # returned after the last sample time
    with pytest.raises(NiError):
        dev.acquire(task, 1, timeout_s=1.0)  # beyond the finite acquisition


def test_capacitor_channel_is_the_divided_capacitor_voltage(dev, world):
    task, _ = dev.create_task("cap", False, False)
    dev.add_ai(task, "SimDev1/ai0", "", -10, 10)
    t = np.array([world.clock.now() + 1.0])
    world.clock.sleep(1.0)
    ratio = dev.samples(task, t)[0, 0] / (world.capacitor_trace(t)[0] / 200.0)
    assert ratio == pytest.approx(1.0, abs=0.02)


def test_start_trigger_waits_for_the_trigger_out_edge(dev, world):
    task, _ = dev.create_task("trig", False, False)
    dev.add_ai(task, "SimDev1/ai0", "", -10, 10)
    dev.cfg_samp_clk(task, 1000.0, FINITE, 10)
    dev.cfg_start_trigger(task, "/SimDev1/PFI3", Edge.RISING.value)
    dev.start(task)
    with pytest.raises(NiError) as err:
        dev.acquire(task, 10, timeout_s=0.05)  # no pulse yet
    assert (err.value.code, err.value.samps_read) == (SAMPLES_NOT_YET_AVAILABLE, 0)
    dev.start(task)
    event = world.fire()
    assert event is not None
    dev.acquire(task, 10, timeout_s=5.0)
    assert task.t0 == event.t_s


def test_counter_counts_fires_since_start_including_missing_pulses(dev, world):
    world.fire()
    task, _ = dev.create_task("ctr", False, False)
    dev.add_counter(task, "SimDev1/ctr0", "", 0, 10128)
    dev.start(task)
    assert dev.read_counter(task) == 0
    world.configure_faults(missing_pulse_every=2)
    for _ in range(3):
        world.clock.sleep(0.05)
        world.fire()
    assert dev.read_counter(task) == 3


def test_temperature_history_replays_heating_and_cooling(dev, world):
    t_before = world.clock.now()
    world.clock.sleep(0.01)
    pulses = []
    for _ in range(5):
        world.clock.sleep(0.05)
        ev = world.fire()
        assert ev is not None
        pulses.append(ev)
    world.clock.sleep(0.05)
    t = np.array([t_before, *[p.t_s for p in pulses], world.clock.now()])
    temps = dev._temperature(t)
    assert temps[0] == pytest.approx(world.sim.thermal.ambient_C)
    np.testing.assert_allclose(temps[1:-1], [p.coil_temperature_C for p in pulses])
    assert temps[-1] == pytest.approx(world.coil_temperature_C(t[-1]))


def test_wiring_errors_carry_real_ni_codes(dev, world):
    task, _ = dev.create_task("bad", False, False)
    for phys, code in [
        ("Other/ai0", INVALID_DEVICE_ID),
        ("SimDev1/ai16", PHYSICAL_CHAN_DOES_NOT_EXIST),
        ("SimDev1/ao0", PHYSICAL_CHAN_DOES_NOT_EXIST),
    ]:
        with pytest.raises(NiError) as err:
            dev.add_ai(task, phys, "", -10, 10)
        assert err.value.code == code
    with pytest.raises(NiError) as err:
        dev.add_lines(task, "SimDev1/port0/line8", "", output=False)
    assert err.value.code == PHYSICAL_CHAN_DOES_NOT_EXIST
    world.configure_faults(daq_device_missing=True)
    with pytest.raises(NiError) as err:
        dev.add_ai(task, "SimDev1/ai0", "", -10, 10)
    assert err.value.code == INVALID_DEVICE_ID


def test_rate_limit_is_checked_at_start(dev):
    task, _ = dev.create_task("fast", False, False)
    dev.add_ai(task, "SimDev1/ai1", "", 0, 150, thermocouple_type=K_TYPE)
    dev.cfg_samp_clk(task, 2000.0, FINITE, 100)  # too fast for a thermocouple channel
    with pytest.raises(NiError) as err:
        dev.start(task)
    assert err.value.code == INVALID_ATTRIBUTE_VALUE


def test_read_timeout_fault_stalls_for_the_timeout(dev, world):
    task, _ = dev.create_task("stall", False, False)
    dev.add_ai(task, "SimDev1/ai0", "", -10, 10)
    dev.cfg_samp_clk(task, 1000.0, FINITE, 1000)
    dev.start(task)
    world.clock.sleep(0.1)
    world.configure_faults(daq_read_timeout=True)
    t = time.monotonic()
    with pytest.raises(NiError) as err:
        dev.acquire(task, 1000, timeout_s=0.2)
    assert time.monotonic() - t >= 0.2
    assert err.value.code == SAMPLES_NOT_YET_AVAILABLE
    assert 90 <= (err.value.samps_read or 0) <= 1000


def test_open_thermocouple_rails_and_is_flagged(dev, world):
    task, _ = dev.create_task("tc", False, False)
    dev.add_ai(task, "SimDev1/ai1", "coil", 0, 150, thermocouple_type=K_TYPE)
    world.configure_faults(thermocouple_open=True)
    data, _ = dev.acquire(task, 1, timeout_s=1.0)
    assert data[0, 0] == 1372.0
    assert task.open_tc_latched == ["coil"]


def test_duplicate_task_names(dev):
    dev.create_task("a", must_be_new=True, must_exist=False)
    with pytest.raises(NiError):
        dev.create_task("a", must_be_new=True, must_exist=False)
    again, new = dev.create_task("a", must_be_new=False, must_exist=False)
    assert again.name == "a" and not new
