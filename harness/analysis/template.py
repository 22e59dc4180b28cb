"""Shape comparison of a pulse record against a reference waveform (template).

Both waveforms are baseline-free, aligned on their onsets and normalised to a
peak |value| of 1; the comparison runs over the template's span after its
onset, with the template linearly interpolated onto the record's samples.

- ``correlation``: Pearson correlation coefficient (1 = same shape)
- ``nrmse``: rms of the difference of the normalised waveforms, i.e. the rms
  error as a fraction of the peak (0 = identical)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.analysis.pulse import analyze_pulse
from harness.analysis.results import Channel, Shape


@dataclass(frozen=True)
class TemplateMatch:
    """Result of :func:`compare_to_template` (NaN numbers when invalid)."""

    valid: bool
    invalid_reason: str
    correlation: float
    nrmse: float
    onset_us: float  # record onset on the record's time axis (µs)
    n_compared: int  # samples compared


def compare_to_template(
    samples: np.ndarray,
    dt_s: float,
    template: np.ndarray,
    template_dt_s: float,
    *,
    template_onset_s: float = 0.0,
    channel: Channel | str = Channel.CURRENT,
    shape: Shape | str = Shape.BIPHASIC,
    t0_s: float = 0.0,
    scale: float = 1.0,
    offset: float = 0.0,
    adc_rails: tuple[float, float] | None = None,
    baseline_window_s: tuple[float, float] | None = None,
) -> TemplateMatch:
    """Compare one record with a reference shape.

    Args:
        samples, dt_s, t0_s, scale, offset, adc_rails, channel, shape: the record,
            as for :func:`harness.analysis.pulse.analyze_pulse` (whose onset,
            baseline, polarity and validity checks are used).
        template: reference waveform (any amplitude and unit, zero baseline).
        template_dt_s: its sample interval (s).
        template_onset_s: time of the template's onset after its first sample (s).
        baseline_window_s: baseline window of the record, as for ``analyze_pulse``.
    """
    res = analyze_pulse(
        samples,
        dt_s,
        channel=channel,
        shape=shape,
        t0_s=t0_s,
        scale=scale,
        offset=offset,
        adc_rails=adc_rails,
        baseline_window_s=baseline_window_s,
    )
    if not res.valid:
        return TemplateMatch(False, res.invalid_reason, math.nan, math.nan, math.nan, 0)
    x = (np.asarray(samples, dtype=np.float64) * scale + offset - res.baseline) * res.polarity
    t_rec = t0_s + dt_s * np.arange(x.size) - res.onset_us * 1e-6  # time from onset
    tpl = np.asarray(template, dtype=np.float64)
    t_tpl = template_dt_s * np.arange(tpl.size) - template_onset_s
    span = (t_rec >= 0.0) & (t_rec <= t_tpl[-1])
    if span.sum() < 8:
        return TemplateMatch(
            False, "template span holds < 8 record samples", math.nan, math.nan, math.nan, 0
        )
    a = x[span]
    b = np.interp(t_rec[span], t_tpl, tpl)
    a = a / np.max(np.abs(a))
    b = b / np.max(np.abs(b))
    corr = float(np.corrcoef(a, b)[0, 1])
    nrmse = float(np.sqrt(np.mean((a - b) ** 2)))
    return TemplateMatch(True, "", corr, nrmse, res.onset_us, int(span.sum()))
