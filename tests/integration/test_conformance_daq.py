"""NI's own nidaqmx-python example flows, over a real nidaqmx gRPC session, on the simulated card.

Each test plays the calls of one example of ni/nidaqmx-python (``examples/``, read at
commit cbba5023), written out here from what the example does (device renamed
``Dev1`` -> ``SimDev1``, ``PFI8`` kept, infinite loops and ``input()`` replaced by a
bounded run), and checks what the simulated world did:

* ``analog_in/voltage_acq_int_clk.py``: finite AI, ``read(READ_ALL_AVAILABLE)``.
* ``analog_in/voltage_acq_int_clk_wfm.py``: ``read_waveform()`` (ReadAnalogWaveforms).
* ``analog_in/voltage_acq_int_clk_dig_ref.py``: digital edge reference trigger, 50 pretrigger.
* ``analog_in/cont_voltage_acq_int_clk_every_n_samples_event.py``: Every N Samples event.
* ``counter_in/cnt_dig_event.py``: edge counting with ``ci_count_edges_term`` set.
* ``counter_out/write_single_dig_pulse.py``: one pulse on ``/Dev1/PFI12``;
  ``counter_out/cont_gen_dig_pulse_train_buff_implicit.py`` with a finite generation
  (the simulated card generates finite trains only).
* ``digital_out/write_dig_port.py``, ``digital_out/write_dig_lines.py``,
  ``digital_in/read_dig_port.py``, ``digital_in/read_dig_lines.py``: port-wide channels
  and line ranges.
* ``channel_properties.py``: ``ai_max``/``ai_min`` setters, a range of channels as one
  collection, a channel looked up by its physical name.
* ``system_properties.py``: driver version, devices, product category and type
  (``System.remote`` instead of ``System.local``).

Facts: ``instruments/daq/nidaqmx_facts.md``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import nidaqmx
import numpy as np
import pytest
from daq_sim import armed_world  # shared set-up (conftest puts this folder on sys.path)
from nidaqmx.constants import (
    READ_ALL_AVAILABLE,
    AcquisitionType,
    CountDirection,
    Edge,
    LineGrouping,
    ProductCategory,
)
from nidaqmx.system import System

from instruments.sim.daq_server import SimDaqServer
from instruments.sim.world import World

pytestmark = pytest.mark.integration

DIVIDER = 200.0  # benches/sim.toml: SimDev1/ai0 is the capacitor through a 200:1 divider


@pytest.fixture
def world() -> World:
    """A world armed at 60 %MSO on the fast bench."""
    return armed_world()


@pytest.fixture
def server(world: World) -> Iterator[SimDaqServer]:
    assert world.bench.daq is not None
    with SimDaqServer(world, world.bench.daq) as srv:
        yield srv


@pytest.fixture
def opts(server: SimDaqServer) -> Iterator[nidaqmx.GrpcSessionOptions]:
    channel = grpc.insecure_channel(
        server.address, options=[("grpc.max_receive_message_length", -1)]
    )
    yield nidaqmx.GrpcSessionOptions(grpc_channel=channel, session_name="")
    channel.close()


@pytest.fixture(autouse=True)
def _every_call_is_supported(server: SimDaqServer) -> Iterator[None]:
    yield
    assert server.unsupported == [], "the examples used calls the simulated card lacks"


def test_voltage_acq_int_clk(opts, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(
            1000.0, sample_mode=AcquisitionType.FINITE, samps_per_chan=50
        )
        data = task.read(READ_ALL_AVAILABLE)
    assert len(data) == 50
    assert np.mean(data) * DIVIDER == pytest.approx(world.v0_for(60), rel=0.03)


def test_voltage_acq_int_clk_wfm(opts, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(
            1000.0, sample_mode=AcquisitionType.FINITE, samps_per_chan=50
        )
        task.timing.first_samp_timestamp_enable = True
        waveform = task.read_waveform()
        t0 = task.timing.first_samp_timestamp_val
    assert len(waveform.scaled_data) == 50
    assert waveform.channel_name == "SimDev1/ai0"
    assert waveform.units == "Volts"
    assert waveform.timing.sample_interval.total_seconds() == pytest.approx(1e-3)
    # t0 of the waveform is the device's time of its first sample.
    start = waveform.timing.start_time  # an NI-BTF time (nitypes), t0 a hightime datetime
    assert (start.year, start.month, start.day) == (t0.year, t0.month, t0.day)

    def us_of_day(t):
        return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond

    assert abs(us_of_day(start) - us_of_day(t0)) <= 1  # NI-BTF 2**-64 s fractions round down


def test_voltage_acq_int_clk_dig_ref(opts, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(
            1000.0, sample_mode=AcquisitionType.FINITE, samps_per_chan=100
        )
        task.triggers.reference_trigger.cfg_dig_edge_ref_trig(
            "/SimDev1/PFI8", pretrigger_samples=50
        )
        assert task.triggers.reference_trigger.pretrig_samples == 50
        task.start()
        world.clock.sleep(0.08)  # the 50 pretrigger samples are in: the trigger is armed
        assert world.fire() is not None
        data = np.array(task.read(READ_ALL_AVAILABLE)) * DIVIDER
        task.stop()
    assert data.size == 100
    v0 = world.v0_for(60)
    # 50 samples before the trigger-out edge, the sag right after it (sample 50).
    assert data[:50].min() > 0.95 * v0
    assert data[50] < 0.9 * v0


def test_cont_voltage_acq_int_clk_every_n_samples_event(opts, world):
    total_read = 0
    calls: list[int] = []
    done = threading.Event()
    with nidaqmx.Task(grpc_options=opts) as task:

        def callback(task_handle, every_n_samples_event_type, number_of_samples, callback_data):
            nonlocal total_read
            read = task.read(number_of_samples_per_channel=number_of_samples)
            total_read += len(read)
            calls.append(number_of_samples)
            if len(calls) == 3:
                done.set()
            return 0

        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(1000.0, sample_mode=AcquisitionType.CONTINUOUS)
        task.register_every_n_samples_acquired_into_buffer_event(1000, callback)
        task.start()
        assert done.wait(30.0), "three events: 3 s of device time"
        task.stop()
    assert calls[:3] == [1000, 1000, 1000]
    assert total_read >= 3000


def test_cnt_dig_event(opts, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        channel = task.ci_channels.add_ci_count_edges_chan(
            "SimDev1/ctr0",
            edge=Edge.RISING,
            initial_count=0,
            count_direction=CountDirection.COUNT_UP,
        )
        channel.ci_count_edges_term = "/SimDev1/PFI8"
        assert channel.ci_count_edges_term == "/SimDev1/PFI8"
        task.start()
        for _ in range(3):
            world.clock.sleep(0.05)
            world.fire()
        edge_counts = task.read()
        task.stop()
    assert edge_counts == 3


def test_write_dig_port_and_read_dig_port(opts, server, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        task.do_channels.add_do_chan("SimDev1/port0", line_grouping=LineGrouping.CHAN_FOR_ALL_LINES)
        task.start()
        task.write(0xFFFFFFFF)  # as the example: all lines high (8 on this port)
        task.stop()
    assert server.device.do_lines == {f"SimDev1/port0/line{i}": True for i in range(8)}
    with nidaqmx.Task(grpc_options=opts) as task:
        task.do_channels.add_do_chan("SimDev1/port0", line_grouping=LineGrouping.CHAN_FOR_ALL_LINES)
        task.write(0x5A, auto_start=True)
    with nidaqmx.Task(grpc_options=opts) as task:
        task.di_channels.add_di_chan("SimDev1/port0", line_grouping=LineGrouping.CHAN_FOR_ALL_LINES)
        data = task.read()
    # line0 is the stimulator's armed status (1), lines 1..7 read back the latched 0x5A.
    assert data == 0x5B


def test_write_dig_lines_and_read_dig_lines(opts, server, world):
    with nidaqmx.Task(grpc_options=opts) as task:
        task.do_channels.add_do_chan(
            "SimDev1/port1/line0:3", line_grouping=LineGrouping.CHAN_PER_LINE
        )
        assert task.channel_names == [f"SimDev1/port1/line{i}" for i in range(4)]
        task.start()
        task.write([True, False, True, False])
        task.stop()
    assert [server.device.do_lines[f"SimDev1/port1/line{i}"] for i in range(4)] == [
        True,
        False,
        True,
        False,
    ]
    world.disarm()
    with nidaqmx.Task(grpc_options=opts) as task:
        task.di_channels.add_di_chan(
            "SimDev1/port0/line0:1", line_grouping=LineGrouping.CHAN_PER_LINE
        )
        task.di_channels.add_di_chan(
            "SimDev1/port1/line0:3", line_grouping=LineGrouping.CHAN_PER_LINE
        )
        data = task.read()
    assert data == [False, False, True, False, True, False]  # disarmed, latch, then port1


def test_channel_properties(opts):
    with nidaqmx.Task(grpc_options=opts) as task:
        ai_channel = task.ai_channels.add_ai_voltage_chan("SimDev1/ai0", max_val=0.1, min_val=-0.1)
        assert (ai_channel.ai_max, ai_channel.ai_min) == (0.1, -0.1)
        ai_channel.ai_max = 5
        assert (ai_channel.ai_max, ai_channel.ai_min) == (5.0, -0.1)
        ai_channels_1_to_3 = task.ai_channels.add_ai_voltage_chan(
            "SimDev1/ai1:3", max_val=10, min_val=-10
        )
        assert (ai_channels_1_to_3.ai_max, ai_channels_1_to_3.ai_min) == (10.0, -10.0)
        assert (ai_channel.ai_max, ai_channel.ai_min) == (5.0, -0.1)
        assert task.ai_channels["SimDev1/ai2"].physical_channel.name == "SimDev1/ai2"
        assert task.channel_names == [f"SimDev1/ai{i}" for i in range(4)]


def test_system_properties(opts):
    system = System.remote(opts)
    assert system.driver_version.major_version >= 20
    devices = list(system.devices)
    assert [d.name for d in devices] == ["SimDev1"]
    dev = devices[0]
    assert dev.product_category == ProductCategory.X_SERIES_DAQ
    assert dev.product_type == "PCIe-6351"
    assert dev.ai_physical_chans.channel_names == [f"SimDev1/ai{i}" for i in range(16)]
    assert dev.ci_physical_chans.channel_names == [f"SimDev1/ctr{i}" for i in range(4)]
    assert len(dev.do_lines.channel_names) == 24
    assert dev.do_ports.channel_names == ["SimDev1/port0", "SimDev1/port1", "SimDev1/port2"]


def test_counter_out_write_single_dig_pulse(opts, server, world) -> None:
    from nidaqmx.constants import Level

    start = world.clock.now()
    with nidaqmx.Task(grpc_options=opts) as task:
        channel = task.co_channels.add_co_pulse_chan_time(
            "SimDev1/ctr0", idle_state=Level.LOW, initial_delay=0.0, low_time=0.5, high_time=1.0
        )
        channel.co_pulse_term = "/SimDev1/PFI12"
        task.start()
        task.wait_until_done(timeout=10)
        task.stop()
    edges = [t for term, t in server.device.generated if term == "/SimDev1/PFI12"]
    assert len(edges) == 1 and start <= edges[0] <= world.clock.now() - 1.0  # 1 s high after it


def test_counter_out_buffered_implicit_pulse_train(opts, server) -> None:
    from nidaqmx.constants import Level
    from nidaqmx.types import CtrFreq

    duty_min, duty_max = 0.5, 0.8
    duty_step = (duty_max - duty_min) / 1000
    data = [CtrFreq(1000, (duty_min + duty_step * i)) for i in range(1000)]
    with nidaqmx.Task(grpc_options=opts) as task:
        channel = task.co_channels.add_co_pulse_chan_freq(
            "SimDev1/ctr0", idle_state=Level.LOW, initial_delay=0.0, freq=1.0, duty_cycle=0.5
        )
        channel.co_pulse_term = "/SimDev1/PFI12"
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=1000)
        task.write(data)
        task.start()
        task.wait_until_done(timeout=10)
        task.stop()
    edges = np.array([t for term, t in server.device.generated if term == "/SimDev1/PFI12"])
    # 1000 pulses at 1 kHz (the duty cycle moves the falling edge only); the channel's own
    # 1 Hz pulse is not generated on a buffered implicit train (nidaqmx_facts.md C5)
    assert edges.size == 1000
    np.testing.assert_allclose(np.diff(edges), 1e-3, atol=1e-9)
