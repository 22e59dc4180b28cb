"""Pure-numpy analysis: pulse metrics (single record and batch), templates, train timing."""

from harness.analysis.batch import analyze_pulses
from harness.analysis.pulse import analyze_pulse
from harness.analysis.results import Channel, PulseBatch, PulseResult, Shape
from harness.analysis.template import TemplateMatch, compare_to_template
from harness.analysis.train import (
    BurstResult,
    TrainResult,
    analyze_bursts,
    analyze_paired_pulses,
    analyze_train,
)

__all__ = [
    "BurstResult",
    "Channel",
    "PulseBatch",
    "PulseResult",
    "Shape",
    "TemplateMatch",
    "TrainResult",
    "analyze_bursts",
    "analyze_paired_pulses",
    "analyze_pulse",
    "analyze_pulses",
    "analyze_train",
    "compare_to_template",
]
