"""Result types of pulse analysis: one record (:class:`PulseResult`) or a batch.

All times are on the record's time axis (the trigger is t = 0; sample k is at
``t0_s + k·dt_s``), in µs. Subtract ``onset_us`` for times from the pulse start.
An invalid record has ``valid=False``, a non-empty ``invalid_reason`` and every
numeric field NaN: an invalid record never carries numbers.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields

import numpy as np


class Channel(enum.StrEnum):
    """What the recorded channel measures."""

    CURRENT = "current"  # coil current; physical unit A
    DIDT = "didt"  # ∝ dI/dt (pickup coil, E-field probe); physical unit A/s after scaling


class Shape(enum.StrEnum):
    """Pulse topology of the stimulator."""

    BIPHASIC = "biphasic"  # one full damped period T
    HALF_SINE = "half_sine"  # stops at T/2
    MONOPHASIC = "monophasic"  # quarter-sine rise, freewheel-diode decay


@dataclass(frozen=True)
class PulseResult:
    """Metrics of one pulse record.

    Fields (NaN where not defined for the shape or when the record is invalid):

    - ``baseline``, ``noise_rms``: mean and std of the baseline window, in the
      channel's physical unit (A for a current channel, A/s for dI/dt).
    - ``polarity``: +1 if the pulse's largest excursion is positive, else −1;
      all other values are reported for the polarity-corrected pulse.
    - ``onset_us``: pulse start (current onset; the step of dI/dt).
    - ``peak_current_A``, ``t_peak_us``: first current lobe maximum and its time.
    - ``peak_didt_A_per_us``: initial dI/dt at onset, V0/L in the RLC model
      (the first-phase peak of the dI/dt waveform). Current channel: from the
      least-squares fit of the RLC response to the whole pulse
      (:mod:`harness.analysis.rlc_fit`); dI/dt channel: the model-free value.
    - ``peak_didt_se_A_per_us``: its standard error from the fit residuals
      (Jacobian-based covariance: a Type A figure; NaN when not fitted).
    - ``peak_didt_model_free_A_per_us``: the model-free initial dI/dt (current
      channel: a quartic on the rise extrapolated to the onset), a cross-check.
    - ``zero_crossing1_us``, ``zero_crossing2_us``: first two zero crossings of
      the dI/dt (E-field) waveform after onset, i.e. ωd·t = atan(ωd/α) + nπ
      from onset; equal to the current's extrema.
    - ``period_us``: damped period 2π/ωd; biphasic: 2·(zc2 − zc1);
      half-sine: 2·(end − onset); monophasic: NaN.
    - ``end_us``: end of conduction (biphasic T, half-sine T/2 after onset).
    - ``pulse_width_us`` (FDA 2011 rTMS special-controls guidance): damped
      sinusoid (biphasic, half-sine): initial dB/dt peak (at onset) to the
      next peak of the same polarity = conduction time = end − onset (T for
      biphasic, T/2 for half-sine); monophasic: rise-to-fall time of the
      current (B-field) waveform at 10 % of its peak.
    - ``phase_ratio``: |2nd-phase peak| / 1st-phase peak of the dI/dt (E)
      waveform = e^(−α(π−2φ)/ωd), φ = atan(α/ωd) (≈ e^(−απ/ωd)); biphasic and
      half-sine only. Current channel: from the fit (with ``phase_ratio_se``);
      ``phase_ratio_model_free`` is the model-free ratio (second-phase slope
      over the initial one), a cross-check.
    - ``alpha_per_s``: damping α = R/2L in 1/s, solved from ``phase_ratio``
      and ``period_us``; ``log_decrement`` = α·T (ln of the ratio of
      successive same-sign peaks).
    - ``energy_J``: R·∫i² dt from onset to the end of the record (needs R).
    - ``decay_tau_us``: monophasic only: the fitted time constant of the
      freewheel decay L/(R + Rd) of the current, in µs (current channel; NaN
      for other shapes and channels).
    - ``model_residual``: rms of the fit residual (block means over the pulse
      and either side of it) relative to the peak current; NaN when not fitted.
    - ``model_reason``: "" when the RLC model describes the record (or none
      was fitted), else why not (residual far above the noise, or a fitted
      dI/dt far from the model-free one). The numbers are still reported; a
      caller judging the pulse marks it INVALID with this reason.
    """

    valid: bool
    invalid_reason: str
    polarity: float
    baseline: float
    noise_rms: float
    onset_us: float
    peak_current_A: float
    t_peak_us: float
    peak_didt_A_per_us: float
    zero_crossing1_us: float
    zero_crossing2_us: float
    period_us: float
    end_us: float
    pulse_width_us: float
    phase_ratio: float
    alpha_per_s: float
    log_decrement: float
    energy_J: float
    peak_didt_se_A_per_us: float
    peak_didt_model_free_A_per_us: float
    phase_ratio_se: float
    phase_ratio_model_free: float
    model_residual: float
    decay_tau_us: float = math.nan
    model_reason: str = ""

    @property
    def described(self) -> bool:
        """Valid, and the RLC model describes the record: its numbers can be judged."""
        return self.valid and not self.model_reason

    @property
    def judged_reason(self) -> str:
        """Why this record's numbers must not be judged ("" when they can)."""
        return self.invalid_reason or self.model_reason

    def invalidated(self, reason: str) -> PulseResult:
        """This record marked invalid for ``reason``: no numbers (see the module notes)."""
        nan = dict.fromkeys(NUMERIC_FIELDS, math.nan)
        return PulseResult(valid=False, invalid_reason=reason, model_reason="", **nan)

    @property
    def zero_crossings_us(self) -> tuple[float, ...]:
        """The dI/dt zero crossings that exist (µs, record time axis)."""
        zs = (self.zero_crossing1_us, self.zero_crossing2_us)
        return tuple(z for z in zs if not math.isnan(z))


NUMERIC_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(PulseResult) if f.name not in ("valid", "invalid_reason", "model_reason")
)


@dataclass(frozen=True)
class PulseBatch:
    """Struct-of-arrays result of :func:`harness.analysis.batch.analyze_pulses`.

    Each numeric attribute of :class:`PulseResult` is a float64 array with one
    entry per record; ``valid`` is a bool array, ``invalid_reason`` and
    ``model_reason`` tuples of strings ("" for valid / described records).
    ``batch.record(i)`` is row i as a :class:`PulseResult`.
    """

    valid: np.ndarray
    invalid_reason: tuple[str, ...]
    polarity: np.ndarray
    baseline: np.ndarray
    noise_rms: np.ndarray
    onset_us: np.ndarray
    peak_current_A: np.ndarray
    t_peak_us: np.ndarray
    peak_didt_A_per_us: np.ndarray
    zero_crossing1_us: np.ndarray
    zero_crossing2_us: np.ndarray
    period_us: np.ndarray
    end_us: np.ndarray
    pulse_width_us: np.ndarray
    phase_ratio: np.ndarray
    alpha_per_s: np.ndarray
    log_decrement: np.ndarray
    energy_J: np.ndarray
    peak_didt_se_A_per_us: np.ndarray
    peak_didt_model_free_A_per_us: np.ndarray
    phase_ratio_se: np.ndarray
    phase_ratio_model_free: np.ndarray
    model_residual: np.ndarray
    decay_tau_us: np.ndarray
    model_reason: tuple[str, ...] = ()

    @property
    def described(self) -> np.ndarray:
        """Bool per record: valid, and the RLC model describes it (see :class:`PulseResult`)."""
        return np.asarray(self.valid & np.array([not r for r in self.model_reason], dtype=bool))

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def record(self, i: int) -> PulseResult:
        """Row ``i`` as a single-record :class:`PulseResult`."""
        vals = {name: float(getattr(self, name)[i]) for name in NUMERIC_FIELDS}
        return PulseResult(
            valid=bool(self.valid[i]),
            invalid_reason=self.invalid_reason[i],
            model_reason=self.model_reason[i],
            **vals,
        )
