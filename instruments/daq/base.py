"""The DAQ interface the harness uses, independent of the driver library.

Channels are named by their bench-file names (keys of ``[daq.channels]``),
never by physical terminals; values come back in the channel's physical units
(the bench file's ``units``: V of the capacitor after the HV divider scale,
°C for thermocouples, counts, booleans).
"""

from __future__ import annotations

import itertools
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from instruments.closeable import Closeable

FloatArray = npt.NDArray[np.float64]
EdgeKind = Literal["rising", "falling"]


@dataclass(frozen=True)
class AnalogRecord:
    """Samples of one or more channels on one sample clock.

    ``data`` has shape (channels, samples) in physical units; sample ``k`` was
    taken ``k / rate_hz`` seconds (device clock) after sample 0, which the
    device time-stamped at ``t0_epoch_ns`` (Unix ns; ``None`` when the device
    cannot time-stamp).
    """

    channels: tuple[str, ...]
    units: tuple[str, ...]
    rate_hz: float
    data: FloatArray
    t0_epoch_ns: int | None = None

    def __getitem__(self, channel: str) -> FloatArray:
        """Samples of ``channel`` (physical units)."""
        try:
            return np.asarray(self.data[self.channels.index(channel)], dtype=np.float64)
        except ValueError:
            raise KeyError(f"{channel!r} not in this record ({', '.join(self.channels)})") from None

    @property
    def n(self) -> int:
        """Samples per channel."""
        return int(self.data.shape[1])

    def times(self) -> FloatArray:
        """Sample times (s) relative to sample 0."""
        return np.arange(self.n, dtype=np.float64) / self.rate_hz


class Acquisition(Closeable):
    """A running hardware-timed analog acquisition (finite or continuous)."""

    @abstractmethod
    def read(self, n: int | None = None, timeout_s: float = 10.0) -> AnalogRecord:
        """Next ``n`` samples per channel (finite: default all remaining)."""

    @abstractmethod
    def close(self) -> None:
        """Stop the acquisition and release the device."""


class EdgeCounter(Closeable):
    """A counter counting edges from the moment it started."""

    @abstractmethod
    def count(self) -> int:
        """Edges counted so far."""

    @abstractmethod
    def close(self) -> None:
        """Stop counting and release the counter."""


# Trigger pulse width: a Magstim trigger input wants >= 10 µs, 1 ms works well (CED Signal
# manual, MagStim notes; see instruments/stimulator/magstim_facts.md, "Trigger input").
TRIGGER_HIGH_S = 1e-3


def pulse_pattern(
    times_s: Sequence[float], high_time_s: float = TRIGGER_HIGH_S
) -> tuple[float, list[tuple[float, float]]]:
    """(initial delay s, [(high s, low s) per pulse]) whose rising edges fall at ``times_s``.

    Times are seconds from the start of the generation, rising; each pulse is high for
    ``high_time_s`` (at most half the shortest interval), and the last one low as long
    after it, so the generation ends just after its last pulse.
    """
    t = [float(x) for x in times_s]
    if not t:
        raise ValueError("a pulse pattern needs at least one pulse time")
    if t[0] < 0:
        raise ValueError(f"pulse times start at the generation's start: first is {t[0]:g} s")
    gaps = [b - a for a, b in itertools.pairwise(t)]
    if gaps and min(gaps) <= 0:
        k = next(i for i, g in enumerate(gaps) if g <= 0)
        raise ValueError(
            f"pulse times must rise: pulse {k + 2} at {t[k + 1]:g} s, after {t[k]:g} s"
        )
    high = min([high_time_s, *(g / 2 for g in gaps)])
    lows = [g - high for g in gaps] + [high]
    return t[0], [(high, low) for low in lows]


class PulseOutput(Closeable):
    """A card-timed pattern of pulses being generated on a counter output."""

    @abstractmethod
    def done(self) -> bool:
        """Whether the last pulse is out."""

    @abstractmethod
    def wait(self, timeout_s: float) -> None:
        """Block until the last pulse is out (wall ``timeout_s``; a DAQ error after it)."""

    @abstractmethod
    def close(self) -> None:
        """Stop generating (pulses not yet out never come) and release the counter."""


class Daq(Closeable):
    """A data acquisition card as the harness sees it."""

    device: str

    @abstractmethod
    def start_acquisition(
        self,
        channels: Sequence[str],
        n: int | None = None,
        *,
        rate_hz: float | None = None,
        trigger: str | None = None,
        trigger_edge: EdgeKind = "rising",
    ) -> Acquisition:
        """Start sampling ``channels`` at ``rate_hz`` (default: the bench's rate).

        ``n`` samples per channel make a finite acquisition, ``None`` a
        continuous one. ``trigger`` (a terminal, e.g. ``/Dev1/PFI0``) makes
        sampling start on that digital edge instead of at once.
        """

    def acquire(
        self,
        channels: Sequence[str],
        n: int,
        *,
        rate_hz: float | None = None,
        trigger: str | None = None,
        trigger_edge: EdgeKind = "rising",
        timeout_s: float = 10.0,
    ) -> AnalogRecord:
        """Finite acquisition of ``n`` samples per channel, read to the end."""
        with self.start_acquisition(
            channels, n, rate_hz=rate_hz, trigger=trigger, trigger_edge=trigger_edge
        ) as acq:
            return acq.read(n, timeout_s)

    @abstractmethod
    def read_temperature(self, channel: str) -> float:
        """One on-demand reading (°C) of a thermocouple channel."""

    @abstractmethod
    def read_voltage(self, channel: str) -> float:
        """One on-demand reading of an analog channel (physical units)."""

    @abstractmethod
    def count_edges(self, channel: str, edge: EdgeKind = "rising") -> EdgeCounter:
        """Start counting edges on a counter channel."""

    @abstractmethod
    def start_pulses(
        self, times_s: Sequence[float], *, high_time_s: float = TRIGGER_HIGH_S
    ) -> PulseOutput:
        """Start one finite, card-timed pulse train on the bench's ``trigger_out`` counter.

        Rising edges at ``times_s`` (s on the card's clock from the start; see
        :func:`pulse_pattern`), driven on ``trigger_out_term``, the stimulator's trigger
        input. The whole pattern is one buffered task: the host times nothing.
        """

    def emit_pulses(
        self,
        times_s: Sequence[float],
        *,
        high_time_s: float = TRIGGER_HIGH_S,
        timeout_s: float = 10.0,
        poll: Callable[[], None] | None = None,
        poll_s: float = 0.25,
    ) -> None:
        """Generate the pattern (:meth:`start_pulses`) and return once its last pulse is out.

        ``poll()`` is called every ``poll_s`` wall seconds meanwhile (an exception from
        it stops the generation); ``timeout_s`` wall seconds in all.
        """
        deadline = time.monotonic() + timeout_s
        with self.start_pulses(times_s, high_time_s=high_time_s) as out:
            while not out.done():
                if poll is not None:
                    poll()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(poll_s, left))
            out.wait(max(deadline - time.monotonic(), 0.0))

    @abstractmethod
    def read_line(self, channel: str) -> bool:
        """State of a digital input line."""

    @abstractmethod
    def write_line(self, channel: str, value: bool) -> None:
        """Drive a digital output line."""

    def identify(self) -> tuple[str, str]:
        """(product type, serial number) the device reports; ``("", "")`` if it cannot."""
        return "", ""

    @abstractmethod
    def close(self) -> None:
        """Release the device (and the connection to it)."""
