"""Counter output on the simulated card, driven by unmodified nidaqmx client code.

The calls are those of nidaqmx-python's ``examples/counter_out`` (pulse-time and
pulse-frequency channels, ``co_pulse_term``, ``cfg_implicit_timing``, buffered
``task.write`` of ``CtrTime`` / ``CtrFreq``, start / wait_until_done / stop). Expected
edge times come from the written pulse specifications (delay, then high + low per
pulse), never from the simulator; what the card drove is read from the device's own
record of its terminal (``device.generated``) and from the world's trigger line.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import nidaqmx
import nidaqmx.errors
import numpy as np
import pytest
from daq_sim import armed_world  # shared set-up (conftest puts this folder on sys.path)
from nidaqmx.constants import AcquisitionType, Level
from nidaqmx.types import CtrFreq, CtrTime

from instruments.daq.errors import DaqError
from instruments.daq.nidaq import NidaqmxDaq
from instruments.sim.daq_server import SimDaqServer
from instruments.sim.world import World

pytestmark = pytest.mark.integration

WIRED = "/SimDev1/PFI13"  # benches/sim.toml: trigger_out_term (ctr1's default output)


@pytest.fixture
def world() -> World:
    return armed_world(30.0, speed=20.0)


@pytest.fixture
def server(world: World) -> Iterator[SimDaqServer]:
    assert world.bench.daq is not None
    with SimDaqServer(world, world.bench.daq) as srv:
        yield srv


@pytest.fixture
def opts(server: SimDaqServer) -> Iterator[nidaqmx.GrpcSessionOptions]:
    channel = grpc.insecure_channel(server.address)
    yield nidaqmx.GrpcSessionOptions(grpc_channel=channel, session_name="")
    channel.close()


def _edges(server: SimDaqServer, term: str) -> np.ndarray:
    return np.array([t for g, t in server.device.generated if g == term])


def test_buffered_ctr_time_pattern_is_emitted_as_written(server, opts, world) -> None:
    # theta burst: 3 pulses 20 ms apart, bursts every 200 ms; 1 ms high time
    want = np.array([b * 0.2 + k * 0.02 for b in range(3) for k in range(3)])
    lows = np.diff(want) - 1e-3
    data = [CtrTime(high_time=1e-3, low_time=float(lo)) for lo in lows] + [
        CtrTime(high_time=1e-3, low_time=1e-3)
    ]
    with nidaqmx.Task(grpc_options=opts) as task:
        chan = task.co_channels.add_co_pulse_chan_time(
            "SimDev1/ctr1", idle_state=Level.LOW, initial_delay=0.05, low_time=0.01, high_time=1e-3
        )
        assert chan.co_pulse_term == WIRED  # X Series default: ctr1 -> PFI13
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=9)
        assert task.write(data) == 9
        before = world.clock.now()
        task.start()
        task.wait_until_done(timeout=5.0)
        assert task.is_task_done()
        after = world.clock.now()
        task.stop()
    got = _edges(server, WIRED)
    assert got.size == 9
    np.testing.assert_allclose(got - got[0], want, atol=1e-9)
    assert before + 0.05 <= got[0] <= after  # after the initial delay from the start
    # the generation ended after the last pulse's high and low time
    assert after >= got[-1] + 2e-3
    # the wired terminal's edges reached the stimulator's trigger input, all of them (no
    # stimulator takes them off the line in this test)
    assert sorted(t for t, _ in world.trigger_in.pending) == pytest.approx(list(got), abs=1e-12)


def test_ctr_freq_pattern_and_routing_to_another_terminal(server, opts, world) -> None:
    with nidaqmx.Task(grpc_options=opts) as task:
        chan = task.co_channels.add_co_pulse_chan_freq(
            "SimDev1/ctr2", idle_state=Level.LOW, initial_delay=0.0, freq=10.0, duty_cycle=0.5
        )
        chan.co_pulse_term = "/SimDev1/PFI5"
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=4)
        task.write([CtrFreq(freq=100.0, duty_cycle=0.25), CtrFreq(freq=50.0, duty_cycle=0.5)])
        task.start()
        task.wait_until_done(timeout=5.0)
    got = _edges(server, "/SimDev1/PFI5")
    # 4 pulses from a 2-sample buffer (regenerated): periods 10, 20, 10 ms
    np.testing.assert_allclose(np.diff(got), [0.01, 0.02, 0.01], atol=1e-9)
    assert world.trigger_in.pending == []  # PFI5 is not wired to the stimulator


def test_single_pulse_without_timing(server, opts, world) -> None:
    """``write_single_dig_pulse``: no timing, one pulse after the initial delay."""
    before = world.clock.now()
    with nidaqmx.Task(grpc_options=opts) as task:
        task.co_channels.add_co_pulse_chan_time(
            "SimDev1/ctr1", idle_state=Level.LOW, initial_delay=0.1, low_time=0.5, high_time=0.2
        )
        task.start()
        task.wait_until_done(timeout=5.0)
        done = world.clock.now()
        task.stop()
    (edge,) = _edges(server, WIRED)
    assert before + 0.1 <= edge and edge + 0.2 <= done  # the delay, then its 0.2 s high time


def test_stopping_early_withdraws_the_edges_not_yet_driven(server, opts, world) -> None:
    with nidaqmx.Task(grpc_options=opts) as task:
        task.co_channels.add_co_pulse_chan_time("SimDev1/ctr1", initial_delay=10.0)
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=3)
        task.write([CtrTime(high_time=0.01, low_time=0.09)] * 3)
        task.start()
        assert len(world.trigger_in.pending) == 3 and not task.is_task_done()
        task.stop()
    assert world.trigger_in.pending == []
    assert _edges(server, WIRED).size == 0


def _code(exc: pytest.ExceptionInfo[nidaqmx.errors.DaqError]) -> int:
    return int(exc.value.error_code)


def test_errors_as_the_real_driver_gives_them(server, opts) -> None:
    with nidaqmx.Task(grpc_options=opts) as task:  # buffered generation with nothing written
        task.co_channels.add_co_pulse_chan_time("SimDev1/ctr1")
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=3)
        with pytest.raises(nidaqmx.errors.DaqError) as exc:
            task.start()
        assert _code(exc) == -200462  # OUTPUT_BUFFER_EMPTY
    with nidaqmx.Task(grpc_options=opts) as task:  # a phase shorter than 2 timebase ticks
        with pytest.raises(nidaqmx.errors.DaqError) as exc:
            task.co_channels.add_co_pulse_chan_time("SimDev1/ctr1", high_time=1e-9)
        assert _code(exc) == -200686  # CO_WRITE_PULSE_HIGH_TIME_OUT_OF_RANGE
    with nidaqmx.Task(grpc_options=opts) as task:  # CtrTime data for a frequency channel
        task.co_channels.add_co_pulse_chan_freq("SimDev1/ctr1", freq=10.0)
        task.timing.cfg_implicit_timing(sample_mode=AcquisitionType.FINITE, samps_per_chan=2)
        with pytest.raises(TypeError, match="CtrFreq"):
            task.write([CtrTime(high_time=0.01, low_time=0.01)] * 2)
    with nidaqmx.Task(grpc_options=opts) as task:  # several samples, no timing, not started
        task.co_channels.add_co_pulse_chan_time("SimDev1/ctr1")
        with pytest.raises(nidaqmx.errors.DaqError) as exc:
            task.write([CtrTime(high_time=0.01, low_time=0.01)] * 2)
        assert _code(exc) == -200874  # WRITE_WHEN_TASK_NOT_RUNNING_CO_TIME
    with nidaqmx.Task(grpc_options=opts) as task:  # no such terminal on the card
        chan = task.co_channels.add_co_pulse_chan_time("SimDev1/ctr1")
        with pytest.raises(nidaqmx.errors.DaqError):
            chan.co_pulse_term = "/SimDev1/PFI40"
    # one counter, two tasks: counting on ctr0 reserves it
    with nidaqmx.Task(grpc_options=opts) as counting, nidaqmx.Task(grpc_options=opts) as out:
        counting.ci_channels.add_ci_count_edges_chan("SimDev1/ctr0")
        counting.start()
        out.co_channels.add_co_pulse_chan_time("SimDev1/ctr0")
        with pytest.raises(nidaqmx.errors.DaqError) as exc:
            out.start()
        assert _code(exc) == -50103  # PAL_RESOURCE_RESERVED


def test_driver_emits_the_pattern_and_needs_a_wired_counter(server, world) -> None:
    bench_daq = world.bench.daq
    assert bench_daq is not None
    want = [0.0, 0.02, 0.04, 0.2, 0.22, 0.24]
    with NidaqmxDaq(bench_daq.model_copy(update={"grpc": server.address})) as daq:
        polls: list[int] = []
        daq.emit_pulses(want, timeout_s=5.0, poll=lambda: polls.append(1), poll_s=0.002)
        assert polls  # the host was given its turns while the card generated
    got = _edges(server, WIRED)
    np.testing.assert_allclose(got - got[0], want, atol=1e-9)
    unwired = bench_daq.model_copy(update={"grpc": server.address, "trigger_out": None})
    with NidaqmxDaq(unwired) as daq, pytest.raises(DaqError, match="no trigger_out"):
        daq.start_pulses(want)
