"""One captured record, already scaled to volts, with its time axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from instruments.scope.errors import ClippedCapture

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Preamble:
    """Scaling of one transfer, dialect-neutral.

    ``t_i = t0_s + i·dt_s`` (s from the trigger); ``V = (code − y_reference)·y_increment
    + y_origin`` (V at the scope input, probe factor applied). ``dtype`` is the numpy
    dtype of the codes on the wire; ``rail_low``/``rail_high`` are the codes the ADC
    reports when clipped; ``hole`` a code meaning "no data" (Keysight unsigned), or None.
    """

    points: int
    t0_s: float
    dt_s: float
    y_increment: float
    y_origin: float
    y_reference: float
    dtype: str
    rail_low: int
    rail_high: int
    hole: int | None = None
    ascii: bool = False  # data come as text: Keysight volts in a block, Tektronix NR1 codes


@dataclass(frozen=True, eq=False)
class Waveform:
    """A record of one channel (one segment): volts vs time from the trigger.

    ``volts`` is for plots and inspection; measurements must go through
    :meth:`values` (physical units), which refuses a clipped record.
    """

    channel: str  # bench name, e.g. "current"
    source: int  # scope input number
    t0_s: float  # time of sample 0 relative to the trigger (s)
    dt_s: float  # sample interval (s)
    volts: FloatArray  # V at the scope input (probe factor applied)
    raw: npt.NDArray[np.integer]  # codes as sent by the scope
    rail_low: int  # ADC code when clipped low
    rail_high: int  # ADC code when clipped high
    n_clipped: int  # samples at a rail
    segment: int = 1  # 1-based segment / frame number
    time_tag_s: float = 0.0  # trigger time since the first segment's trigger (s, device clock)
    y_increment: float = 0.0  # V per code
    y_origin: float = 0.0  # V at y_reference
    quantity: str = ""  # "current" | "efield" | "didt"
    volts_per_unit: float = 1.0  # probe V per A, per V/m or per A/µs
    scope: str = ""  # IDN of the scope that took it

    @property
    def clipped(self) -> bool:
        """True when any sample sits at an ADC rail: the record must not be measured."""
        return self.n_clipped > 0

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.volts.size)

    @property
    def t(self) -> FloatArray:
        """Time axis (s from the trigger)."""
        return self.t0_s + self.dt_s * np.arange(self.volts.size, dtype=np.float64)

    def values(self) -> FloatArray:
        """Samples in physical units (A, V/m or A/µs); raises :class:`ClippedCapture` if clipped."""
        if self.clipped:
            raise ClippedCapture(
                [f"{self.channel} (CH{self.source}, {self.n_clipped} samples)"], scope=self.scope
            )
        return self.volts / self.volts_per_unit
