"""Single-record pulse analysis (a batch of one: same numbers as the batch path)."""

from __future__ import annotations

import numpy as np

from harness.analysis.batch import analyze_pulses
from harness.analysis.results import Channel, PulseResult, Shape


def analyze_pulse(
    samples: np.ndarray,
    dt_s: float,
    *,
    channel: Channel | str = Channel.CURRENT,
    shape: Shape | str = Shape.BIPHASIC,
    t0_s: float = 0.0,
    scale: float = 1.0,
    offset: float = 0.0,
    adc_rails: tuple[float, float] | None = None,
    resistance_ohm: float | None = None,
    baseline_window_s: tuple[float, float] | None = None,
    min_snr: float = 10.0,
    quantum: float | None = None,
) -> PulseResult:
    """Analyse one pulse record (1-D ``samples``); arguments as in
    :func:`harness.analysis.batch.analyze_pulses` (times in s, R in Ω).
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"samples must be 1-D, got shape {x.shape}")
    batch = analyze_pulses(
        x[None, :],
        dt_s,
        channel=channel,
        shape=shape,
        t0_s=t0_s,
        scale=scale,
        offset=offset,
        adc_rails=adc_rails,
        resistance_ohm=resistance_ohm,
        baseline_window_s=baseline_window_s,
        min_snr=min_snr,
        quantum=quantum,
    )
    return batch.record(0)
