"""Stimulator drivers (Magstim, MagVenture) behind one small interface.

``open_stimulator(StimulatorSettings(driver=..., resource=..., model=...))``
opens the serial resource through pyvisa (``@py`` backend), takes control of
the device and returns a :class:`~instruments.stimulator.base.Stimulator`
(a context manager: leaving the block disarms and releases the unit). On a
simulated unit pass ``clock_speed`` (the world clock's speed) so documented
device waits are scaled to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from instruments.stimulator.base import (
    BadCrc,
    ConnectionLost,
    DeviceRejected,
    Identity,
    MalformedReply,
    NotReady,
    ReplyTimeout,
    ShortReply,
    Status,
    Stimulator,
    StimulatorError,
    Train,
)
from instruments.stimulator.settings import StimulatorSettings
from instruments.stimulator.transport import ExpectedProtocol, Transport, VisaTransport

if TYPE_CHECKING:  # each driver is imported only when it is opened
    from instruments.stimulator.magstim import MagstimStimulator
    from instruments.stimulator.magventure import MagVentureStimulator

__all__ = [
    "BadCrc",
    "ConnectionLost",
    "DeviceRejected",
    "ExpectedProtocol",
    "Identity",
    "MalformedReply",
    "NotReady",
    "ReplyTimeout",
    "ShortReply",
    "Status",
    "Stimulator",
    "StimulatorError",
    "StimulatorSettings",
    "Train",
    "Transport",
    "VisaTransport",
    "open_stimulator",
]


def open_stimulator(
    config: StimulatorSettings,
    rm: Any | None = None,
    *,
    clock_speed: float = 1.0,
    transport: Transport | None = None,
) -> Stimulator:
    """Open, connect and return the driver ``config.driver`` names.

    ``rm``: a pyvisa ResourceManager to share (default: a private ``@py`` one);
    ``transport``: a ready byte transport instead (tests).
    """
    if config.driver == "magstim":
        from instruments.stimulator.magstim import BAUD_RATE, MagstimStimulator

        cls: type[MagstimStimulator] | type[MagVentureStimulator] = MagstimStimulator
        baud = BAUD_RATE
    elif config.driver == "magventure":
        from instruments.stimulator.magventure import (
            BAUD_RATE,
            MagVentureStimulator,
        )

        cls = MagVentureStimulator
        baud = BAUD_RATE
    else:  # pragma: no cover - the config model only allows the two
        raise ValueError(f"no stimulator driver {config.driver!r}")
    link = (
        transport
        if transport is not None
        else VisaTransport(config.resource, baud_rate=baud, rm=rm)
    )
    try:
        stim = cls(config, link, clock_speed=clock_speed)
        stim.connect()
    except BaseException:
        link.close()
        raise
    return stim
