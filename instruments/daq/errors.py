"""Typed DAQ errors: each names the device, the channel, what was done and the NI code.

NI-DAQmx error codes used to pick the type (``nidaqmx.error_codes.DAQmxErrors``;
sources in ``instruments/daq/nidaqmx_facts.md``): -200220 invalid device, -200170
physical channel does not exist, -200486 channel not in the task, -200498 bad
range syntax, -200077 invalid property value (sample rate above the device
maximum, raised at start), -200284 samples not yet available (read timeout),
-200279 samples no longer available (continuous buffer overwritten).
"""

from __future__ import annotations

INVALID_DEVICE_ID = -200220
PHYSICAL_CHAN_DOES_NOT_EXIST = -200170
INVALID_ATTRIBUTE_VALUE = -200077
SAMPLES_NOT_YET_AVAILABLE = -200284
ATTR_NOT_SUPPORTED = -200197
ATTRIBUTE_NOT_SUPPORTED_IN_TASK_CONTEXT = -200452
FUNCTION_NOT_SUPPORTED_FOR_DEVICE = -209876
CHAN_NOT_IN_TASK = -200486
INVALID_RANGE_SYNTAX = -200498
SAMPLES_NO_LONGER_AVAILABLE = -200279


class DaqError(Exception):
    """A DAQ operation failed.

    ``device`` and ``channel`` (bench name and physical channel, when one is
    involved) say where, ``action`` what was being done, ``code`` the NI-DAQmx
    error code (``None`` when the error did not come from DAQmx).
    """

    def __init__(
        self,
        message: str,
        *,
        device: str,
        channel: str | None = None,
        action: str = "",
        code: int | None = None,
    ) -> None:
        self.device = device
        self.channel = channel
        self.action = action
        self.code = code
        self.detail = message
        where = f"DAQ {device}" + (f" channel {channel}" if channel else "")
        what = f": {action}" if action else ""
        ni = f" [NI error {code}]" if code is not None else ""
        super().__init__(f"{where}{what}: {message}{ni}")


class DaqUnavailable(DaqError):
    """No NI-DAQmx driver on this host, or the NI gRPC device server cannot be reached."""


class DaqNoReply(DaqUnavailable):
    """The NI gRPC device server is connected but did not answer a call within its deadline.

    ``call`` is the gRPC method (e.g. ``ReadAnalogF64``), ``deadline_s`` the
    deadline it had: the call's own expected duration plus the driver's margin.
    """

    def __init__(self, message: str, *, call: str = "", deadline_s: float = 0.0, **kw: object):
        self.call = call
        self.deadline_s = deadline_s
        super().__init__(message, **kw)  # type: ignore[arg-type]


class DaqDeviceMissing(DaqError):
    """The device is not there (NI -200220)."""


class DaqChannelInvalid(DaqError):
    """The physical channel does not exist on the device (NI -200170)."""


class DaqRateTooHigh(DaqError):
    """The sample clock rate is above what the device supports (NI -200077 at start)."""


class DaqReadTimeout(DaqError):
    """The samples did not arrive in time (NI -200284); ``samples_read`` per channel."""

    def __init__(self, message: str, *, samples_read: int = 0, **kw: object) -> None:
        self.samples_read = samples_read
        super().__init__(message, **kw)  # type: ignore[arg-type]


class DaqBufferOverflow(DaqError):
    """A continuous acquisition was not read fast enough: samples were overwritten (-200279)."""


class DaqUnsupported(DaqError):
    """The device does not support the function or property."""


class DaqOutOfRange(DaqError):
    """A reading lies outside the channel's configured range."""


class ThermocoupleOpen(DaqError):
    """The thermocouple is open-circuit (broken or unplugged): no temperature available."""


ERROR_TYPES: dict[int, type[DaqError]] = {
    INVALID_DEVICE_ID: DaqDeviceMissing,
    PHYSICAL_CHAN_DOES_NOT_EXIST: DaqChannelInvalid,
    CHAN_NOT_IN_TASK: DaqChannelInvalid,
    INVALID_RANGE_SYNTAX: DaqChannelInvalid,
    SAMPLES_NO_LONGER_AVAILABLE: DaqBufferOverflow,
    INVALID_ATTRIBUTE_VALUE: DaqRateTooHigh,
    SAMPLES_NOT_YET_AVAILABLE: DaqReadTimeout,
    ATTR_NOT_SUPPORTED: DaqUnsupported,
    ATTRIBUTE_NOT_SUPPORTED_IN_TASK_CONTEXT: DaqUnsupported,
    FUNCTION_NOT_SUPPORTED_FOR_DEVICE: DaqUnsupported,
}
