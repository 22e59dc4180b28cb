"""Closed-form series-RLC pulse waveforms and their expected metrics, for tests.

Everything here is written from the circuit equations, independently of
``harness.analysis``: expected values in the analysis tests come from these
formulas, never from the code under test.

Circuit: capacitor C charged to V0 discharges through the coil L with loop
resistance R.  α = R/2L, ω0 = 1/√(LC), ωd = √(ω0² − α²), T = 2π/ωd, and
φ = atan(α/ωd).

* i(t)     = V0/(ωd L) · e^(−αt) · sin(ωd t)
* di/dt(t) = V0/L · e^(−αt) · [cos ωd t − (α/ωd) sin ωd t]
           = V0/L · (ω0/ωd) · e^(−αt) · cos(ωd t + φ)
* v_C(t)   = V0 · e^(−αt) · [cos ωd t + (α/ωd) sin ωd t]

Topologies:

* biphasic: conducts 0 ≤ t < T; v_C(T) = V0·e^(−αT)
* half-sine: conducts 0 ≤ t < T/2; v_C(T/2) = −V0·e^(−αT/2)
* monophasic: v_C reaches 0 at ωd·t0 = π − atan(ωd/α) = π/2 + φ; afterwards a
  freewheel diode and damping resistor Rd carry the current,
  i(t) = i(t0)·e^(−(R+Rd)(t−t0)/L).

Derived metrics (all times from the pulse onset):

* dI/dt zero crossings (= current extrema): ωd·t = atan(ωd/α) + nπ
* peak current at ωd·tp = atan(ωd/α): I_pk = V0/(ω0 L)·e^(−α tp)
  (because sin(atan(ωd/α)) = ωd/ω0)
* initial dI/dt = V0/L (the largest |dI/dt| of all three topologies
  while Rd < √(L/C))
* second dI/dt phase extremum at ωd·t = π − 2φ, value −V0/L·e^(−α(π−2φ)/ωd):
  phase ratio = e^(−α(π−2φ)/ωd) (biphasic and half-sine); ≈ e^(−απ/ωd)
* energy dissipated in R (R·∫i² dt = energy the capacitor lost minus energy
  left in the coil or lost elsewhere):
    biphasic   ½CV0²(1 − e^(−2αT))
    half-sine  ½CV0²(1 − e^(−αT))
    monophasic ½CV0² − ½L·i(t0)²·Rd/(R+Rd)   (at t0 the capacitor is empty and
               ½L·i(t0)² sits in the coil; the tail shares it between R and Rd)

Reference devices (Drakaki et al. 2022, Brain Stimulation: measured E-field
waveforms; component values that reproduce them are from the tmsbench design
notes, L being an assumption).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

SHAPES = ("biphasic", "half_sine", "monophasic")


@dataclass(frozen=True)
class RLC:
    """Series RLC discharge circuit (SI units); ``Rd_ohm`` only for monophasic."""

    L_H: float
    C_F: float
    R_ohm: float
    V0_V: float
    Rd_ohm: float = 0.2

    @property
    def alpha(self) -> float:
        return self.R_ohm / (2 * self.L_H)

    @property
    def omega0(self) -> float:
        return 1 / math.sqrt(self.L_H * self.C_F)

    @property
    def omega_d(self) -> float:
        return math.sqrt(self.omega0**2 - self.alpha**2)

    @property
    def period_s(self) -> float:
        return 2 * math.pi / self.omega_d

    @property
    def phi(self) -> float:
        return math.atan(self.alpha / self.omega_d)

    @property
    def t_mono_s(self) -> float:
        """Monophasic hand-over time t0 (capacitor voltage zero)."""
        return (math.pi - math.atan(self.omega_d / self.alpha)) / self.omega_d

    @property
    def i_mono_A(self) -> float:
        """Current at the monophasic hand-over time t0."""
        return self._i_sine(self.t_mono_s)

    def _i_sine(self, t: float | np.ndarray) -> float | np.ndarray:
        a, wd = self.alpha, self.omega_d
        return self.V0_V / (wd * self.L_H) * np.exp(-a * t) * np.sin(wd * t)

    def _didt_sine(self, t: float | np.ndarray) -> float | np.ndarray:
        a, wd = self.alpha, self.omega_d
        return self.V0_V / self.L_H * np.exp(-a * t) * (np.cos(wd * t) - a / wd * np.sin(wd * t))

    def end_s(self, shape: str) -> float:
        """End of conduction (inf for monophasic)."""
        return {"biphasic": self.period_s, "half_sine": self.period_s / 2}.get(shape, math.inf)

    def current(self, t: np.ndarray, shape: str) -> np.ndarray:
        """Coil current (A) at times t (s) after onset; zero before onset."""
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        if shape == "monophasic":
            t0 = self.t_mono_s
            on = (t >= 0) & (t < t0)
            out[on] = self._i_sine(t[on])
            tail = t >= t0
            k = (self.R_ohm + self.Rd_ohm) / self.L_H
            out[tail] = self.i_mono_A * np.exp(-k * (t[tail] - t0))
            return out
        on = (t >= 0) & (t < self.end_s(shape))
        out[on] = self._i_sine(t[on])
        return out

    def didt(self, t: np.ndarray, shape: str) -> np.ndarray:
        """dI/dt (A/s) at times t (s) after onset; zero before onset."""
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        if shape == "monophasic":
            t0 = self.t_mono_s
            on = (t >= 0) & (t < t0)
            out[on] = self._didt_sine(t[on])
            tail = t >= t0
            k = (self.R_ohm + self.Rd_ohm) / self.L_H
            out[tail] = -k * self.i_mono_A * np.exp(-k * (t[tail] - t0))
            return out
        on = (t >= 0) & (t < self.end_s(shape))
        out[on] = self._didt_sine(t[on])
        return out

    # ---- expected metrics (closed form) -------------------------------------------------

    @property
    def t_peak_s(self) -> float:
        return math.atan(self.omega_d / self.alpha) / self.omega_d

    @property
    def peak_current_A(self) -> float:
        return self.V0_V / (self.omega0 * self.L_H) * math.exp(-self.alpha * self.t_peak_s)

    @property
    def didt0_A_per_s(self) -> float:
        return self.V0_V / self.L_H

    def zero_crossings_s(self, shape: str) -> list[float]:
        """dI/dt zero crossings inside the conduction interval."""
        z = [self.t_peak_s + n * math.pi / self.omega_d for n in range(2)]
        return [
            x
            for x in z
            if x < min(self.end_s(shape), self.t_mono_s if shape == "monophasic" else math.inf)
        ]

    def phase_ratio(self, shape: str) -> float:
        """|2nd dI/dt phase extremum| / initial dI/dt (biphasic, half-sine)."""
        assert shape in ("biphasic", "half_sine")
        return math.exp(-self.alpha * (math.pi - 2 * self.phi) / self.omega_d)

    def energy_J(self, shape: str) -> float:
        """Energy dissipated in R over the whole pulse."""
        e0 = 0.5 * self.C_F * self.V0_V**2
        a, T = self.alpha, self.period_s
        if shape == "biphasic":
            return e0 * (1 - math.exp(-2 * a * T))
        if shape == "half_sine":
            return e0 * (1 - math.exp(-a * T))
        frac = self.Rd_ohm / (self.R_ohm + self.Rd_ohm)
        return e0 - 0.5 * self.L_H * self.i_mono_A**2 * frac

    def pulse_width_s(self, shape: str) -> float:
        """Biphasic/half-sine: conduction time; monophasic: 10 %-of-peak width of i(t)."""
        if shape != "monophasic":
            return self.end_s(shape)
        level = 0.1 * self.peak_current_A
        t_rise = brentq(lambda t: float(self._i_sine(t)) - level, 0.0, self.t_peak_s)
        t0, i0 = self.t_mono_s, self.i_mono_A
        if i0 > level:
            t_fall = t0 + self.L_H / (self.R_ohm + self.Rd_ohm) * math.log(i0 / level)
        else:
            t_fall = brentq(lambda t: float(self._i_sine(t)) - level, self.t_peak_s, t0)
        return t_fall - t_rise


# Drakaki et al. 2022 (Brain Stimulation), 100 %MSO; component values from the design notes.
RAPID2_D70 = RLC(L_H=16e-6, C_F=187.8e-6, R_ohm=34.6e-3, V0_V=1835.0)
MAGPRO_X100_MCB70 = RLC(L_H=12e-6, C_F=193.5e-6, R_ohm=18.5e-3, V0_V=1864.0)
# Measured (zero crossing 1, zero crossing 2, end of cycle) in µs, phase ratio, dI/dt max A/µs.
DRAKAKI_2022 = {
    "rapid2_d70": (RAPID2_D70, (83.0, 255.0, 345.0), 0.83, 114.7),
    "magpro_x100_mcb70": (MAGPRO_X100_MCB70, (74.0, 225.0, 303.0), 0.89, 155.3),
}


@dataclass(frozen=True)
class Record:
    """A synthetic record and how to read it."""

    samples: np.ndarray
    dt_s: float
    t0_s: float
    scale: float
    offset: float
    onset_s: float


def synth(
    rlc: RLC,
    shape: str,
    channel: str = "current",
    *,
    fs_hz: float = 20e6,
    n: int = 10_000,
    pre_s: float = 25e-6,
    onset_s: float = 0.0,
    noise_frac: float = 0.0,
    int16: bool = False,
    full_scale_frac: float = 0.8,
    offset_phys: float = 0.0,
    rng: np.random.Generator | None = None,
) -> Record:
    """Sample a pulse: sample 0 at −pre_s, onset at ``onset_s`` (trigger = 0).

    ``noise_frac`` is white noise std as a fraction of the channel's peak |value|.
    With ``int16`` the signal (plus ``offset_phys``) is quantised so that the
    peak |value| uses ``full_scale_frac`` of 32767 codes.
    """
    dt = 1.0 / fs_hz
    t = -pre_s + dt * np.arange(n)
    f = rlc.current if channel == "current" else rlc.didt
    y = f(t - onset_s, shape)
    peak = rlc.peak_current_A if channel == "current" else rlc.didt0_A_per_s
    if noise_frac:
        rng = rng or np.random.default_rng(1)
        y = y + rng.normal(0.0, noise_frac * peak, size=n)
    y = y + offset_phys
    if not int16:
        return Record(y, dt, -pre_s, 1.0, 0.0, onset_s)
    scale = peak / (full_scale_frac * 32767)
    codes = np.clip(np.round(y / scale), -32768, 32767).astype(np.int16)
    return Record(codes, dt, -pre_s, scale, 0.0, onset_s)
