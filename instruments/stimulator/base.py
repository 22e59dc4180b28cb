"""The stimulator interface every driver implements, its records and its typed errors.

A driver talks to one stimulator over a byte :class:`~instruments.stimulator.transport.Transport`
(a pyvisa serial resource on a real bench or on the simulated one). Every
failure of the link or of the device is a :class:`StimulatorError` naming the
device (model + serial), the resource, the command bytes sent and the bytes
received, in hex.

Times a driver waits are *device* time: a stimulator on the simulated bench may
run on a world clock ``clock_speed`` times faster than wall time, so a driver
converts every documented device wait to wall time by dividing by it
(1.0 on real hardware).
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from instruments import activity
from instruments.closeable import Closeable
from instruments.settings import Topology
from instruments.stimulator.settings import StimulatorSettings

log = logging.getLogger(__name__)


def hexdump(data: bytes) -> str:
    """``45 42 78``, or ``(nothing)`` for no bytes."""
    return data.hex(" ").upper() if data else "(nothing)"


# ----------------------------------------------------------------- errors


class StimulatorError(Exception):
    """The stimulator or its link misbehaved.

    ``device`` is "driver model #serial", ``resource`` the VISA resource,
    ``sent``/``received`` the raw bytes of the failed exchange. Codec functions
    raise these without context; the driver fills it in (:meth:`with_context`).
    """

    def __init__(
        self,
        detail: str,
        *,
        device: str = "",
        resource: str = "",
        sent: bytes = b"",
        received: bytes = b"",
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.device = device
        self.resource = resource
        self.sent = bytes(sent)
        self.received = bytes(received)

    def with_context(
        self,
        *,
        device: str,
        resource: str,
        sent: bytes | None = None,
        received: bytes | None = None,
    ) -> StimulatorError:
        """Fill in who/where/what (keeps values already set); returns ``self``."""
        self.device = self.device or device
        self.resource = self.resource or resource
        if sent is not None and not self.sent:
            self.sent = bytes(sent)
        if received is not None and not self.received:
            self.received = bytes(received)
        return self

    def __str__(self) -> str:
        who = self.device or "stimulator"
        where = f" at {self.resource}" if self.resource else ""
        return (
            f"{who}{where}: {self.detail}; sent: {hexdump(self.sent)}; "
            f"received: {hexdump(self.received)}"
        )


class ReplyTimeout(StimulatorError):
    """No reply byte arrived within the timeout."""


class ShortReply(StimulatorError):
    """The reply stopped before it was complete."""


class BadCrc(StimulatorError):
    """The reply's checksum does not match its bytes."""


class MalformedReply(StimulatorError):
    """The reply is not a frame of this protocol (wrong echo, markers, non-digits)."""


class DeviceRejected(StimulatorError):
    """The device answered with an error code.

    ``kind``: ``invalid_command``, ``invalid_data`` or ``state_conflict``.
    """

    def __init__(
        self,
        detail: str,
        *,
        kind: Literal["invalid_command", "invalid_data", "state_conflict"],
        **context: object,
    ) -> None:
        super().__init__(detail, **context)  # type: ignore[arg-type]
        self.kind = kind


class ConnectionLost(StimulatorError):
    """The serial port failed or vanished (not merely a slow device)."""


class NotReady(StimulatorError):
    """The device did not report the awaited state (armed, ready, train done) in time."""


# ----------------------------------------------------------------- records


@dataclass(frozen=True)
class Identity:
    """Who answered: make, model, serial and what the device itself reported."""

    driver: str
    model: str
    serial: str
    software_version: int | None = None
    reported: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    """What the device reports about itself; ``None`` where the protocol does not say."""

    armed: bool
    ready: bool | None = None
    coil_present: bool | None = None
    remote: bool | None = None
    errors: tuple[str, ...] = ()
    train_running: bool | None = None
    raw: bytes = b""


@dataclass(frozen=True)
class Train:
    """A repetitive train: ``trains`` trains of ``pulses`` pulses at ``rate_hz``.

    ``iti_s`` is the pause from the last pulse of one train to the first of the next (s).
    """

    rate_hz: float
    pulses: int
    trains: int = 1
    iti_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ValueError(f"train rate must be > 0 Hz, got {self.rate_hz}")
        if self.pulses < 1 or self.trains < 1:
            raise ValueError(f"train needs >= 1 pulse and >= 1 train, got {self}")
        if self.iti_s < 0:
            raise ValueError(f"inter-train interval must be >= 0 s, got {self.iti_s}")

    @property
    def train_duration_s(self) -> float:
        """First to last pulse of one train (s)."""
        return (self.pulses - 1) / self.rate_hz

    @property
    def duration_s(self) -> float:
        """First pulse of the first train to last pulse of the last train (s)."""
        return self.trains * self.train_duration_s + (self.trains - 1) * self.iti_s


# ----------------------------------------------------------------- interface


class Stimulator(Closeable):
    """One stimulator behind its serial protocol.

    Intensities are %MSO, intervals ms, rates Hz, temperatures °C, dI/dt A/µs.
    Methods that change the device wait until the device reports the new state
    (or, where it reports nothing, for the documented device time).
    """

    #: device seconds between keep-alive pokes, ``None`` when the protocol has none
    keepalive_interval_s: float | None = None
    #: intensity channels the model has
    channels: tuple[str, ...] = ("A",)

    def __init__(self, config: StimulatorSettings, *, clock_speed: float = 1.0) -> None:
        if clock_speed <= 0:
            raise ValueError(f"clock_speed must be > 0, got {clock_speed}")
        self.config = config
        self.clock_speed = clock_speed

    # -- naming
    @property
    def name(self) -> str:
        """``magstim rapid2 #SN123``: how errors and logs name this device."""
        c = self.config
        return f"{c.driver} {c.model} #{c.serial}"

    @property
    def resource(self) -> str:
        """The VISA resource string."""
        return self.config.resource

    # -- device time
    def wall(self, device_s: float) -> float:
        """Wall seconds that ``device_s`` device seconds take."""
        return device_s / self.clock_speed

    def sleep(self, device_s: float) -> None:
        """Wait ``device_s`` seconds of device time (only where the device reports nothing)."""
        end = time.monotonic() + self.wall(device_s)
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))  # slices: a watchdog sees a wait, not a hang
            activity.beat()

    def wait_for(
        self,
        what: str,
        done: Callable[[], bool],
        *,
        device_s: float,
        poll_device_s: float = 0.02,
        min_poll_wall_s: float = 0.002,
    ) -> None:
        """Poll ``done()`` until true; :class:`NotReady` after ``device_s`` device seconds.

        One extra wall second of slack covers link round trips on a fast world clock.
        """
        deadline = time.monotonic() + self.wall(device_s) + 1.0
        while True:
            if done():
                return
            if time.monotonic() > deadline:
                raise NotReady(
                    f"device did not report {what} within {device_s:g} s of device time",
                    device=self.name,
                    resource=self.resource,
                )
            time.sleep(max(self.wall(poll_device_s), min_poll_wall_s))
            activity.beat()

    # -- the interface
    @abc.abstractmethod
    def identify(self) -> Identity:
        """Ask the device who it is."""

    @abc.abstractmethod
    def status(self) -> Status:
        """Read the device status."""

    @abc.abstractmethod
    def set_intensity(self, percent: float, channel: str = "A") -> None:
        """Set output (%MSO) of ``channel``; while armed, wait until it has settled."""

    @abc.abstractmethod
    def set_waveform(self, topology: Topology) -> None:
        """Select the pulse waveform (``biphasic``, ``monophasic``, ``halfsine``)."""

    @abc.abstractmethod
    def arm(self) -> None:
        """Arm and wait until the device reports armed and ready."""

    @abc.abstractmethod
    def disarm(self) -> None:
        """Disarm (safe state); returns once the device confirmed."""

    @abc.abstractmethod
    def fire(self) -> float | None:
        """Fire one pulse (or the configured pair); the device's dI/dt reading (A/µs) or None."""

    @abc.abstractmethod
    def paired_pulse(self, interval_ms: float, intensity_b_percent: float | None = None) -> None:
        """Fire two pulses ``interval_ms`` apart (second at ``intensity_b_percent`` if offered)."""

    @abc.abstractmethod
    def run_train(
        self,
        train: Train,
        *,
        poll: Callable[[], None] | None = None,
        poll_device_s: float = 0.25,
    ) -> None:
        """Deliver ``train`` and return when it is over.

        ``poll()`` is called about every ``poll_device_s`` device seconds while
        the train runs; an exception from it stops waiting (the caller disarms).
        """

    def prepare_external_trigger(self) -> None:
        """Make the armed unit fire one pulse per edge on its trigger input, and wait until
        it is ready (charged, settled) for the first one."""
        self.wait_for("ready to fire", lambda: self.status().ready is not False, device_s=5.0)

    @abc.abstractmethod
    def coil_temperature(self) -> float:
        """Coil temperature (°C) as the device reports it."""

    def didt(self) -> float | None:
        """The device's own dI/dt reading of the last pulse (A/µs), if it reports one."""
        return None

    def keep_alive(self) -> None:
        """Hold remote control (protocols that need it); a no-op otherwise."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port (does not disarm: that is the safety layer's job)."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaving a ``with`` block disarms the unit, then releases the port, whatever happened."""
        try:
            self.disarm()
        except Exception:  # the port still gets released; the unit's own watchdog disarms
            log.warning("%s: disarm on leaving the with-block failed", self.name, exc_info=True)
        finally:
            self.close()
