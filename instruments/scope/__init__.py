"""SCPI oscilloscope driver (Keysight InfiniiVision and Tektronix MSO dialects)."""

from instruments.scope.autorange import RangedCapture, capture_autoranged, volts_per_div
from instruments.scope.dialects import DIALECTS, KEYSIGHT, TEKTRONIX, Dialect
from instruments.scope.driver import Scope, open_scope
from instruments.scope.errors import (
    ClippedCapture,
    ScopeConnectionLost,
    ScopeError,
    ScopeTimeout,
    ScpiError,
    TriggerTimeout,
    TruncatedBlock,
)
from instruments.scope.settings import ScopeChannel, ScopeSettings
from instruments.scope.waveform import Preamble, Waveform

__all__ = [
    "DIALECTS",
    "KEYSIGHT",
    "TEKTRONIX",
    "ClippedCapture",
    "Dialect",
    "Preamble",
    "RangedCapture",
    "Scope",
    "ScopeChannel",
    "ScopeConnectionLost",
    "ScopeError",
    "ScopeSettings",
    "ScopeTimeout",
    "ScpiError",
    "TriggerTimeout",
    "TruncatedBlock",
    "Waveform",
    "capture_autoranged",
    "open_scope",
    "volts_per_div",
]
