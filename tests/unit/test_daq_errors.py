"""nidaqmx errors become the project's typed DAQ errors naming device, channel and NI code."""

from __future__ import annotations

import grpc
import nidaqmx.errors as nierr
import numpy as np
import pytest

from harness.config import DaqChannel, DaqSettings
from instruments.daq import (
    DaqChannelInvalid,
    DaqDeviceMissing,
    DaqError,
    DaqOutOfRange,
    DaqRateTooHigh,
    DaqReadTimeout,
    DaqUnavailable,
    DaqUnsupported,
    ThermocoupleOpen,
    open_daq,
)
from instruments.daq.base import AnalogRecord
from instruments.daq.nidaq import NidaqmxDaq, _epoch_ns

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
