"""Vertical auto-ranging from the expected peak, with one retry when clipped.

A clipped capture is never measured: after the retries the caller gets a
:class:`~instruments.scope.errors.ClippedCapture`, never numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from instruments.scope.driver import Scope
from instruments.scope.errors import ClippedCapture
from instruments.scope.waveform import Waveform

DIVISIONS = 8  # vertical divisions across the ADC range; signals centred on 0 V get ±4


def volts_per_div(peak_V: float, headroom: float = 1.3) -> float:
    """Scale (V/div) that puts ``peak_V`` (either polarity) at 1/``headroom`` of half the screen."""
    if peak_V <= 0 or headroom < 1:
        raise ValueError(f"need peak_V > 0 and headroom ≥ 1, got {peak_V}, {headroom}")
    return abs(peak_V) * headroom / (DIVISIONS / 2)


@dataclass(frozen=True)
class RangedCapture:
    """Waveforms of one unclipped capture and the scales (V/div) that gave it."""

    waveforms: dict[str, Waveform]
    scales: dict[str, float]
    attempts: int


def capture_autoranged(
    scope: Scope,
    expected: Mapping[str, float],
    acquire: Callable[[], None],
    *,
    headroom: float = 1.3,
    growth: float = 4.0,
    retries: int = 1,
) -> RangedCapture:
    """Set each channel from its expected peak, capture, and widen clipped channels.

    ``expected`` maps bench channel names to the expected peak in physical units
    (A, V/m, A/µs: e.g. spec value × intensity); the probe's ``volts_per_unit``
    converts it to volts. ``acquire`` arms the scope, makes the pulse happen and
    waits for completion. A clipped channel's scale grows by ``growth`` for each
    of up to ``retries`` further captures.
    """
    scales = {}
    for name, peak in expected.items():
        _, ch = scope.channel(name)
        scales[name] = volts_per_div(abs(peak) * ch.volts_per_unit, headroom)
        scope.configure_channel(name, volts_per_div=scales[name])
    for attempt in range(1, retries + 2):
        acquire()
        wfs = {name: scope.read_waveform(name) for name in expected}
        clipped = [name for name, w in wfs.items() if w.clipped]
        if not clipped:
            return RangedCapture(wfs, dict(scales), attempt)
        if attempt == retries + 1:
            raise ClippedCapture(
                [f"{n} at {scales[n]:.4g} V/div" for n in clipped],
                scope=scope.name,
                resource=scope.config.resource,
                command=f"after {attempt} captures",
            )
        for name in clipped:
            scales[name] *= growth
            scope.configure_channel(name, volts_per_div=scales[name])
    raise AssertionError("unreachable")
