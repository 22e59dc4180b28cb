"""DAQ card drivers: the :class:`Daq` interface and its nidaqmx implementation.

``open_daq(bench.daq)`` gives a :class:`Daq` for the bench's card, over the
local NI-DAQmx driver or an NI gRPC device server (``daq.grpc = "host:port"``).
"""

from __future__ import annotations

from instruments.daq.base import Acquisition, AnalogRecord, Daq, EdgeCounter
from instruments.daq.errors import (
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
)
from instruments.daq.settings import DaqChannel, DaqSettings

__all__ = [
    "Acquisition",
    "AnalogRecord",
    "Daq",
    "DaqBufferOverflow",
    "DaqChannel",
    "DaqChannelInvalid",
    "DaqDeviceMissing",
    "DaqError",
    "DaqNoReply",
    "DaqOutOfRange",
    "DaqRateTooHigh",
    "DaqReadTimeout",
    "DaqSettings",
    "DaqUnavailable",
    "DaqUnsupported",
    "EdgeCounter",
    "ThermocoupleOpen",
    "open_daq",
]


def open_daq(config: DaqSettings, *, timestamps: bool = True) -> Daq:
    """The DAQ that ``config`` describes (a bench file's ``[daq]`` table, or built by hand).

    ``grpc`` must be resolved (``host:port``); a bench still saying ``"sim"``
    has not been started by the simulator.
    """
    if config.grpc == "sim":
        raise DaqUnavailable(
            'daq.grpc is still "sim": start the simulated bench (SimBench) and use its live bench',
            device=config.device,
        )
    from instruments.daq.nidaq import NidaqmxDaq  # nidaqmx is imported only when a DAQ is used

    return NidaqmxDaq(config, timestamps=timestamps)
