"""nidaqmx errors become the project's typed DAQ errors naming device, channel and NI code."""

from __future__ import annotations

import grpc
import nidaqmx.errors as nierr
import numpy as np
import pytest
from nidaqmx._stubs import nidaqmx_pb2 as pb
from pydantic import ValidationError

from harness.config import DaqChannel, DaqSettings
from instruments.daq import (
    DaqBufferOverflow,
    DaqChannelInvalid,
    DaqDeviceMissing,
    DaqError,
    DaqNoReply,
    DaqOutOfRange,
    DaqRateTooHigh,
    DaqReadTimeout,
    DaqUnavailable,
    DaqUnsupported,
    ThermocoupleOpen,
    open_daq,
)
from instruments.daq.base import AnalogRecord
from instruments.daq.nidaq import NidaqmxDaq, _Deadlines, _epoch_ns, call_deadline_s

CONFIG = DaqSettings(
    device="Dev7",
    channels={
        "hv": DaqChannel(physical="Dev7/ai0", kind="ai_voltage", scale=200.0),
        "coil": DaqChannel(physical="Dev7/ai1", kind="thermocouple", units="degC"),
        "coil_wide": DaqChannel(
            physical="Dev7/ai2", kind="thermocouple", min_val=-50.0, max_val=2000.0
        ),
    },
)


def raised(exc: BaseException) -> DaqError:
    daq = NidaqmxDaq(CONFIG)
    with pytest.raises(DaqError) as info, daq._ni("reading hv", "Dev7/ai0"):
        raise exc
    return info.value


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (-200220, DaqDeviceMissing),
        (-200170, DaqChannelInvalid),
        (-200077, DaqRateTooHigh),
        (-209876, DaqUnsupported),
        (-200197, DaqUnsupported),
        (-200486, DaqChannelInvalid),  # channel (list entry) not in the task
        (-200498, DaqChannelInvalid),  # bad range syntax
        (-200279, DaqBufferOverflow),  # continuous buffer overwritten
        (-200010, DaqError),
    ],
)
def test_daq_errors_by_code(code, cls):
    err = raised(nierr.DaqError("Something happened.\nDevice: Dev7", code))
    assert type(err) is cls
    assert err.code == code
    assert (err.device, err.channel, err.action) == ("Dev7", "Dev7/ai0", "reading hv")
    text = str(err)
    assert text.startswith("DAQ Dev7 channel Dev7/ai0: reading hv: Something happened.")
    assert text.endswith(f"[NI error {code}]")
    assert "Status Code" not in text  # nidaqmx's suffix is replaced by ours


def test_read_timeout_keeps_samples_read():
    err = raised(nierr.DaqReadError("Samples not yet available.", -200284, 123))
    assert isinstance(err, DaqReadTimeout)
    assert (err.code, err.samples_read) == (-200284, 123)


def test_errors_that_are_not_daq_errors_are_typed_too():
    # DaqNotFoundError and RpcError are nidaqmx.errors.Error, not DaqError.
    assert not issubclass(nierr.DaqNotFoundError, nierr.DaqError)
    assert isinstance(raised(nierr.DaqNotFoundError("no driver")), DaqUnavailable)
    err = raised(nierr.RpcError(grpc.StatusCode.UNAVAILABLE, "Failed to connect to server"))
    assert isinstance(err, DaqUnavailable) and "UNAVAILABLE" in str(err)
    assert isinstance(raised(nierr.DaqFunctionNotSupportedError("x")), DaqUnsupported)


def test_without_a_driver_the_local_path_is_daq_unavailable():
    with open_daq(CONFIG) as daq, pytest.raises(DaqUnavailable) as err:
        daq.read_voltage("hv")
    assert err.value.device == "Dev7" and err.value.channel == "Dev7/ai0"


def test_unresolved_sim_resource_is_refused():
    with pytest.raises(DaqUnavailable, match="still"):
        open_daq(CONFIG.model_copy(update={"grpc": "sim"}))


class _Stream:
    def __init__(self, open_chans: list[str] | None) -> None:
        self._open = open_chans

    @property
    def open_thrmcpl_chans_exist(self) -> bool:
        if self._open is None:
            raise nierr.DaqError("Specified property is not supported.", -200197)
        return bool(self._open)

    @property
    def open_thrmcpl_chans(self) -> list[str]:
        return list(self._open or [])


class _Task:
    def __init__(self, open_chans: list[str] | None) -> None:
        self.in_stream = _Stream(open_chans)


def test_thermocouple_range_check():
    daq = NidaqmxDaq(CONFIG)
    daq._check_temperatures(_Task([]), ["coil"], np.array([[23.0, 24.0]]))  # in range: fine
    with pytest.raises(ThermocoupleOpen) as err:
        daq._check_temperatures(_Task(["coil"]), ["coil"], np.array([[23.0, 1372.0]]))
    assert err.value.channel == "Dev7/ai1"
    with pytest.raises(DaqOutOfRange):  # device says: not open, just too hot for the range
        daq._check_temperatures(_Task([]), ["coil"], np.array([[180.0]]))
    with pytest.raises(ThermocoupleOpen):  # device cannot tell; at the type K rail
        daq._check_temperatures(_Task(None), ["coil"], np.array([[1372.0]]))
    with pytest.raises(DaqOutOfRange):  # device cannot tell; not at the rail
        daq._check_temperatures(_Task(None), ["coil"], np.array([[160.0]]))
    daq._check_temperatures(_Task(None), ["coil_wide"], np.array([[1000.0]]))  # bench range


def test_record_access_and_time_axis():
    rec = AnalogRecord(("a", "b"), ("V", "degC"), 1000.0, np.arange(6.0).reshape(2, 3), 5)
    assert rec["b"].tolist() == [3.0, 4.0, 5.0]
    assert rec.n == 3 and rec.times().tolist() == [0.0, 0.001, 0.002]
    with pytest.raises(KeyError, match="not in this record"):
        rec["c"]


def test_epoch_ns_keeps_nanoseconds():
    import datetime as dt

    import hightime

    stamp = hightime.datetime(2026, 1, 1, 0, 0, 0, 5, femtosecond=7_000_000, tzinfo=dt.UTC)
    assert _epoch_ns(stamp) == 1_767_225_600_000_005_007


# ---------------------------------------------------------------- per-call gRPC deadlines
def test_a_read_gets_its_samples_time_plus_its_timeout_plus_the_margin():
    # 5000 samples at 1 kHz with a 2 s DAQmx timeout: 5 + 2 s expected, + 0.5 s margin.
    req = pb.ReadAnalogF64Request(num_samps_per_chan=5000, timeout=2.0)
    assert call_deadline_s(req, expected_s=5000 / 1000.0 + 2.0, margin_s=0.5) == 7.5


def test_calls_carrying_a_daqmx_wait_get_at_least_that_wait():
    assert call_deadline_s(pb.ReadCounterScalarU32Request(timeout=10.0), 0.0, 1.0) == 11.0
    assert call_deadline_s(pb.WaitUntilTaskDoneRequest(time_to_wait=3.0), 0.0, 1.0) == 4.0
    # WAIT_INFINITELY (-1) is not a duration: only what the driver expects counts.
    assert call_deadline_s(pb.ReadAnalogF64Request(timeout=-1.0), 2.0, 1.0) == 3.0


def test_configuration_calls_get_the_margin():
    assert call_deadline_s(pb.CreateTaskRequest(session_name=""), 0.0, 5.0) == 5.0
    assert call_deadline_s(pb.GetSystemInfoAttributeUInt32Request(), 0.0, 0.25) == 0.25


class _Details:
    method = "/nidaqmx_grpc.NiDAQmx/ReadAnalogF64"
    timeout = None
    metadata = None
    credentials = None
    wait_for_ready = None
    compression = None


def test_the_interceptor_sets_the_deadline_on_every_call_and_remembers_it():
    seen: list[float] = []
    deadlines = _Deadlines(margin_s=0.5)
    req = pb.ReadAnalogF64Request(num_samps_per_chan=100, timeout=1.0)
    with deadlines.expecting(100 / 50.0 + 1.0):  # 100 samples at 50 Hz, 1 s timeout
        deadlines.intercept_unary_unary(lambda d, r: seen.append(d.timeout), _Details(), req)
    deadlines.intercept_unary_unary(lambda d, r: seen.append(d.timeout), _Details(), req)
    assert seen == [3.5, 1.5]  # outside ``expecting`` only the request's own timeout counts
    assert deadlines.last == ("ReadAnalogF64", 1.5)


def test_a_missed_deadline_names_device_server_action_and_call():
    daq = NidaqmxDaq(CONFIG.model_copy(update={"grpc": "127.0.0.1:9", "call_margin_s": 0.5}))
    assert daq._deadlines is not None
    daq._deadlines._local.last = ("ReadAnalogF64", 7.5)
    with pytest.raises(DaqNoReply) as info, daq._ni("reading 5000 samples", "Dev7/ai0"):
        raise nierr.RpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    daq.close()
    err = info.value
    assert isinstance(err, DaqUnavailable)
    assert (err.call, err.deadline_s, err.device) == ("ReadAnalogF64", 7.5, "Dev7")
    assert str(err).startswith("DAQ Dev7 channel Dev7/ai0: reading 5000 samples: ")
    assert "127.0.0.1:9 did not answer ReadAnalogF64 within 7.5 s" in str(err)


# ---------------------------------------------------------------- physical channel names
@pytest.mark.parametrize(
    ("physical", "kind", "why"),
    [
        ("Dev1/ai0:3", "ai_voltage", "range"),
        ("Dev1/ai0, Dev1/ai1", "ai_voltage", "list"),
        ("Dev1/port0", "di", "one digital line"),  # port-wide: all 8 (or 32) lines
        ("Dev1/port0/line0:3", "do", "range"),
    ],
)
def test_a_bench_channel_is_one_physical_channel(physical, kind, why):
    with pytest.raises(ValidationError, match=why):
        DaqChannel(physical=physical, kind=kind)


def test_single_channels_in_every_form_are_accepted():
    for physical, kind in [
        ("Dev1/ai0", "ai_voltage"),
        ("cDAQ1Mod1/ai3", "thermocouple"),
        ("Dev1/ctr0", "counter"),
        ("Dev1/port0/line7", "do"),
        ("Dev1/line31", "di"),  # device-wide line number
    ]:
        DaqChannel(physical=physical, kind=kind)
