"""Values as a person reads them: no float noise, booleans as yes/no.

A measured value is printed with five significant digits, in fixed notation
between 1e-4 and 1e6, and a value smaller than a billionth of the scale its
limits set (``-1.5543e-13 %`` from a difference of two equal floats) is zero.
A characteristic whose limits are exactly 1 with no unit is a yes/no check
(``delivered waveform is biphasic``) and prints ``yes`` or ``no``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # harness.limits prints through this module: no import at run time
    from harness.limits import Limits

NOISE_FRACTION = 1e-9  # below this fraction of the limits' scale a value is float noise
SIGNIFICANT = 5


def is_flag(unit: str, limits: Limits) -> bool:
    """True for a yes/no check: no unit, limits exactly 1 (``= 1``)."""
    return unit == "" and limits.low == 1.0 and limits.high == 1.0


def _scale(limits: Limits, value: float) -> float:
    """The magnitude the limits talk about (their largest bound or nominal), else the value."""
    cands = [abs(x) for x in (limits.low, limits.high, limits.nominal) if x is not None]
    big = max(cands, default=0.0)
    return big if big > 0 else abs(value)


def number(value: float, scale: float | None = None) -> str:
    """``value`` with five significant digits, fixed notation where that reads well.

    ``scale`` (same unit as ``value``): a value below ``NOISE_FRACTION · scale``
    in magnitude prints as ``0``.
    """
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    if scale is not None and scale > 0 and abs(value) < NOISE_FRACTION * scale:
        return "0"
    if value == 0:
        return "0"
    mag = abs(value)
    if 1e-4 <= mag < 1e6:
        decimals = max(0, SIGNIFICANT - 1 - math.floor(math.log10(mag)))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return f"{value:.{SIGNIFICANT}g}"


def format_value(value: float | None, unit: str, limits: Limits) -> str:
    """A measurement's value as the report, terminal and certificate print it (no unit)."""
    if value is None:
        return "n/a"
    if is_flag(unit, limits) and value in (0.0, 1.0):
        return "yes" if value == 1.0 else "no"
    return number(value, _scale(limits, value))


def format_limits(unit: str, limits: Limits) -> str:
    """The limits as a person reads them; a yes/no check reads ``yes``."""
    if is_flag(unit, limits):
        return "yes"
    return limits.describe(unit)
