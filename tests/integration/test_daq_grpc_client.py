"""Unmodified nidaqmx client code against the simulated NI gRPC device server.

The bench procedure: arm the simulated stimulator at 60 %MSO, start the DAQ
tasks, fire a 10 Hz train and check what the DAQ saw against what the world
really did (world.pulses): one capacitor sag per pulse at the pulse's time,
the exact pulse count, a coil that warms during the train and cools after.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import nidaqmx
import nidaqmx.errors
import numpy as np
import pytest
from daq_sim import armed_world, fire_train  # shared set-up (conftest puts this folder on sys.path)
from nidaqmx.constants import (
    READ_ALL_AVAILABLE,
    AcquisitionType,
    Edge,
    LineGrouping,
    SampleTimingType,
    ThermocoupleType,
    UsageTypeAI,
)
from nidaqmx.stream_readers import AnalogSingleChannelReader, CounterReader

from instruments.sim.daq_server import SimDaqServer
from instruments.sim.world import World

pytestmark = pytest.mark.integration

DIVIDER = 200.0  # benches/sim.toml: cap_voltage scale
RATE = 10_000.0


@pytest.fixture
def world() -> World:
    """A world armed at 60 %MSO on the fast bench."""
    return armed_world()


@pytest.fixture
def server(world: World) -> Iterator[SimDaqServer]:
    bench = world.bench
    assert bench.daq is not None
    with SimDaqServer(world, bench.daq) as srv:
        yield srv


@pytest.fixture
def grpc_options(server: SimDaqServer) -> Iterator[nidaqmx.GrpcSessionOptions]:
    channel = grpc.insecure_channel(
        server.address, options=[("grpc.max_receive_message_length", -1)]
    )
    yield nidaqmx.GrpcSessionOptions(grpc_channel=channel, session_name="")
    channel.close()


def test_capacitor_sags_once_per_pulse_at_the_pulse_times(world, grpc_options, server):
    n = int(2.5 * RATE)  # 2.5 s of device time: the 1 s train with room to spare
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0", min_val=-10.0, max_val=10.0)
        task.timing.cfg_samp_clk_timing(RATE, sample_mode=AcquisitionType.FINITE, samps_per_chan=n)
        task.timing.first_samp_timestamp_enable = True
        task.start()
        train = fire_train(world, world.clock.now() + 0.2, pulses=10, rate_hz=10.0)
        volts = np.zeros(n)
        got = AnalogSingleChannelReader(task.in_stream).read_many_sample(volts, n, timeout=10.0)
        t0 = task.timing.first_samp_timestamp_val
        train.join()
    assert got == n
    cap = volts * DIVIDER
    assert cap.max() == pytest.approx(world.v0_for(60), rel=0.02)
    # A sag: the capacitor loses hundreds of volts between two samples.
    sags = np.flatnonzero(np.diff(cap) < -150.0) + 1
    t0_world = (_epoch_ns(t0) - world.clock.epoch_ns(0.0)) / 1e9  # device time stamp -> world time
    fired = [p.t_s for p in world.pulses]
    assert len(fired) == 10
    assert len(sags) == len(fired)
    np.testing.assert_allclose(t0_world + sags / RATE, fired, atol=1.5 / RATE)
    # ... and recharges to the set level before the next pulse.
    for s in sags:
        assert cap[s] < 0.8 * cap[s - 1]
        assert cap[s + 500] == pytest.approx(cap[s - 1], rel=0.02)
    assert server.unsupported == []  # every RPC of this flow is implemented


def _epoch_ns(stamp) -> int:
    from instruments.daq.nidaq import _epoch_ns as conv

    return conv(stamp)


def test_counter_counts_exactly_the_pulses_the_world_fired(world, grpc_options, server):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ci_channels.add_ci_count_edges_chan("SimDev1/ctr0", edge=Edge.RISING)
        task.start()
        reader = CounterReader(task.in_stream)
        assert reader.read_one_sample_uint32() == 0
        started = world.clock.now()
        world.configure_faults(missing_pulse_every=4)  # trigger-out still counts a missing pulse
        fire_train(world, started + 0.05, pulses=13, rate_hz=10.0).join()
        world.clock.sleep(0.01)
        count = reader.read_one_sample_uint32()
        plain = task.read()  # the generic read path too
    fired = [p for p in world.pulses if p.t_s >= started]
    assert any(not p.discharged for p in fired)
    assert count == len(fired) == 13
    assert plain == 13
    assert server.unsupported == []


def test_coil_temperature_rises_during_the_train_and_falls_after(world, grpc_options, server):
    rate, seconds = 20.0, 6.0
    n = int(rate * seconds)
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_thrmcpl_chan(
            "SimDev1/ai1", min_val=0.0, max_val=150.0, thermocouple_type=ThermocoupleType.K
        )
        task.timing.cfg_samp_clk_timing(rate, sample_mode=AcquisitionType.FINITE, samps_per_chan=n)
        task.timing.first_samp_timestamp_enable = True
        task.start()
        fire_train(world, world.clock.now() + 1.0, pulses=20, rate_hz=10.0)
        temps = np.array(task.read(number_of_samples_per_channel=n, timeout=10.0))
        t0 = (_epoch_ns(task.timing.first_samp_timestamp_val) - world.clock.epoch_ns(0.0)) / 1e9
    before, peak_at = temps[: int(rate * 0.9)], int(np.argmax(temps))
    ambient = world.sim.thermal.ambient_C
    assert before == pytest.approx(ambient, abs=0.1)
    assert temps.max() > ambient + 2.0  # heated by the train ...
    last_pulse = world.pulses[-1].t_s
    assert abs(t0 + peak_at / rate - last_pulse) <= 1.0 / rate  # ... until its last pulse
    during = temps[int(rate * 1.05) : peak_at + 1 : 2]
    assert np.all(np.diff(during) > 0)
    after = temps[peak_at:]
    assert after[-1] < temps.max() - 0.5  # cools once the train stops
    assert np.all(np.diff(after[::10]) < 0)
    assert server.unsupported == []


def test_digital_lines_follow_the_armed_state_and_latch_outputs(world, grpc_options, server):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.di_channels.add_di_chan(
            "SimDev1/port0/line0", line_grouping=LineGrouping.CHAN_PER_LINE
        )
        assert task.read() is True
        world.disarm()
        assert task.read() is False
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.do_channels.add_do_chan("SimDev1/port0/line3")
        task.write(True)
    assert server.device.do_lines == {"SimDev1/port0/line3": True}


def test_read_starts_on_the_trigger_out_edge(world, grpc_options):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(
            RATE, sample_mode=AcquisitionType.FINITE, samps_per_chan=200
        )
        task.triggers.start_trigger.cfg_dig_edge_start_trig("/SimDev1/PFI0", Edge.RISING)
        task.start()
        world.clock.sleep(0.05)
        event = world.fire()
        data = np.array(task.read(number_of_samples_per_channel=200, timeout=10.0)) * DIVIDER
    assert event is not None
    # Sample 0 is at the trigger-out edge: the first sample already shows the sag.
    assert data[0] < 0.8 * world.v0_for(60)
    assert data[-1] == pytest.approx(world.v0_for(60), rel=0.03)


@pytest.mark.parametrize(
    ("configure", "code"),
    [
        (lambda t: t.ai_channels.add_ai_voltage_chan("NoSuchDev/ai0"), -200220),
        (lambda t: t.ai_channels.add_ai_voltage_chan("SimDev1/ai99"), -200170),
        (lambda t: t.ci_channels.add_ci_count_edges_chan("SimDev1/ctr9"), -200170),
    ],
)
def test_bad_channels_raise_daq_errors_with_the_ni_code(grpc_options, configure, code):
    with nidaqmx.Task(grpc_options=grpc_options) as task, pytest.raises(nidaqmx.DaqError) as err:
        configure(task)
    assert err.value.error_code == code


def test_sample_rate_too_high_is_reported_at_start(grpc_options):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(5e6, samps_per_chan=1000)
        with pytest.raises(nidaqmx.DaqError) as err:
            task.start()
    assert err.value.error_code == -200077


def test_unimplemented_rpcs_are_daq_errors_not_rpc_errors(grpc_options, server):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        with pytest.raises(nidaqmx.DaqError) as err:
            task.ai_channels[0].ai_lowpass_enable = True  # a property the device lacks
        assert err.value.error_code < 0
        with pytest.raises(nidaqmx.DaqError) as err:
            task.ao_channels.add_ao_voltage_chan("SimDev1/ao0")
        assert err.value.error_code == -209876
    assert "CreateAOVoltageChan" in server.unsupported


def test_read_timeout_reports_samples_read(world, grpc_options):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        # 10 s of device time = 0.5 s wall at speed 20: more than the 0.2 s timeout.
        task.timing.cfg_samp_clk_timing(1000.0, samps_per_chan=10_000)
        task.start()
        with pytest.raises(nidaqmx.errors.DaqReadError) as err:
            task.read(number_of_samples_per_channel=10_000, timeout=0.2)
    assert err.value.error_code == -200284
    assert 0 < err.value.samps_per_chan_read < 10_000


def test_session_name_must_be_the_task_name(grpc_options, server):
    named = nidaqmx.GrpcSessionOptions(grpc_options.grpc_channel, session_name="capture")
    with nidaqmx.Task("capture", grpc_options=named) as task:
        assert task.name == "capture"
        assert "capture" in server.device.tasks
    assert "capture" not in server.device.tasks  # closed on exit: new_session_initialized
    with pytest.raises(nidaqmx.DaqError):
        nidaqmx.Task("other", grpc_options=named)


def test_task_and_channel_properties_a_client_asks_for(world, grpc_options, server):
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        chan = task.ai_channels.add_ai_voltage_chan("SimDev1/ai0", "hv", min_val=-5.0, max_val=8.0)
        assert task.channel_names == ["hv"] and task.number_of_channels == 1
        assert (chan.ai_min, chan.ai_max, chan.ai_meas_type) == (-5.0, 8.0, UsageTypeAI.VOLTAGE)
        # 1.5 s of device time: long enough that "not done yet" right after start holds
        # on a loaded machine (0.1 s did not, once)
        task.timing.cfg_samp_clk_timing(1000.0, samps_per_chan=1500)
        assert task.timing.samp_clk_rate == 1000.0
        assert task.timing.samp_quant_samp_mode == AcquisitionType.FINITE
        assert task.timing.samp_quant_samp_per_chan == 1500
        assert task.timing.samp_timing_type == SampleTimingType.SAMPLE_CLOCK
        task.start()
        assert not task.is_task_done()
        task.wait_until_done(timeout=10.0)
        assert task.is_task_done()
        assert task.in_stream.avail_samp_per_chan == 1500
        assert len(task.read(READ_ALL_AVAILABLE)) == 1500
        assert task.in_stream.total_samp_per_chan_acquired == 1500
    with nidaqmx.Task(grpc_options=grpc_options) as task:
        task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
        task.timing.cfg_samp_clk_timing(
            1000.0, sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=1000
        )
        task.start()
        world.clock.sleep(0.2)
        assert len(task.read(READ_ALL_AVAILABLE)) >= 200  # what the clock has acquired
    assert server.unsupported == []
