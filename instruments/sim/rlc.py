"""Closed-form series-RLC discharge of a TMS stimulator (pure numpy).

A capacitor C charged to V0 discharges through the coil (inductance L, loop
resistance R). With α = R/2L, ω0 = 1/√(LC) and ωd = √(ω0² − α²):

* coil current  i(t) = V0/(ωd L) · e^(−αt) · sin(ωd t)
* capacitor     v_C(t) = V0 · e^(−αt) · [cos ωd t + (α/ωd) sin ωd t]

Topologies differ in when the switch stops conducting:

* ``biphasic``: one full period T = 2π/ωd; the capacitor keeps V0·e^(−αT)
  (energy recovery).
* ``halfsine``: half a period; the capacitor keeps −V0·e^(−αT/2).
* ``monophasic``: until v_C reaches zero (ωd·t0 = π − atan(ωd/α)); a freewheel
  diode and damping resistor Rd then carry the current, which decays as
  e^(−(R+Rd)(t−t0)/L). No energy is recovered.

Times are in seconds, currents in A, dI/dt in A/s unless a name says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from instruments.settings import Topology

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Circuit:
    """Discharge loop values: L (H), C (F), R (Ω), monophasic damping Rd (Ω)."""

    inductance_H: float
    capacitance_F: float
    resistance_ohm: float
    damping_resistance_ohm: float = 0.08

    def __post_init__(self) -> None:
        if min(self.inductance_H, self.capacitance_F, self.resistance_ohm) <= 0:
            raise ValueError(f"L, C and R must be > 0, got {self}")
        if self.alpha >= self.omega0:
            raise ValueError(
                f"overdamped loop (α={self.alpha:.4g}/s ≥ ω0={self.omega0:.4g}/s): "
                "a TMS stimulator discharge must oscillate"
            )

    @property
    def alpha(self) -> float:
        """Damping α = R/2L (1/s)."""
        return self.resistance_ohm / (2.0 * self.inductance_H)

    @property
    def omega0(self) -> float:
        """Undamped angular frequency ω0 = 1/√(LC) (rad/s)."""
        return 1.0 / math.sqrt(self.inductance_H * self.capacitance_F)

    @property
    def omega_d(self) -> float:
        """Damped angular frequency ωd = √(ω0² − α²) (rad/s)."""
        return math.sqrt(self.omega0**2 - self.alpha**2)

    @property
    def period_s(self) -> float:
        """Oscillation period T = 2π/ωd (s)."""
        return 2.0 * math.pi / self.omega_d

    @property
    def t_mono_switch_s(self) -> float:
        """Monophasic: time the capacitor voltage reaches zero and the diode takes over (s)."""
        return (math.pi - math.atan(self.omega_d / self.alpha)) / self.omega_d

    def conduction_end_s(self, topology: Topology) -> float:
        """Time the switch stops conducting through the capacitor (s)."""
        if topology == "biphasic":
            return self.period_s
        if topology == "halfsine":
            return self.period_s / 2.0
        return self.t_mono_switch_s


def _oscillation(c: Circuit, v0: float, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Undamped-switch current (A) and dI/dt (A/s) of the RLC ring at times ``t`` (s)."""
    a, wd, L = c.alpha, c.omega_d, c.inductance_H
    env = np.exp(-a * t) * (v0 / (wd * L))
    s, co = np.sin(wd * t), np.cos(wd * t)
    return env * s, env * (wd * co - a * s)


def current_and_didt(
    c: Circuit, v0_V: float, topology: Topology, t_s: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Coil current (A) and dI/dt (A/s) at times ``t_s`` after the switch closes.

    Zero before t = 0 and after the pulse has ended.
    """
    t = np.asarray(t_s, dtype=np.float64)
    tc = np.clip(t, 0.0, None)
    i, didt = _oscillation(c, v0_V, tc)
    t_end = c.conduction_end_s(topology)
    if topology == "monophasic":
        i0, _ = _oscillation(c, v0_V, np.array([t_end]))
        k = (c.resistance_ohm + c.damping_resistance_ohm) / c.inductance_H
        tail = i0[0] * np.exp(-k * (tc - t_end))
        after = t >= t_end
        i = np.where(after, tail, i)
        didt = np.where(after, -k * tail, didt)
    else:
        after = t >= t_end
        i = np.where(after, 0.0, i)
        didt = np.where(after, 0.0, didt)
    before = t < 0
    return np.where(before, 0.0, i), np.where(before, 0.0, didt)


@dataclass(frozen=True)
class DischargeSummary:
    """Closed-form figures of one pulse."""

    v0_V: float
    v_end_V: float  # capacitor voltage when conduction ends (sign = polarity)
    stored_J: float  # ½ C V0²
    dissipated_J: float  # lost in the loop (and Rd for monophasic)
    coil_dissipated_J: float  # lost in the loop resistance R only
    didt0_A_per_s: float  # V0/L
    peak_current_A: float
    t_peak_s: float
    duration_s: float  # conduction time (monophasic: to 1 % of peak in the tail)


def summarise(c: Circuit, v0_V: float, topology: Topology) -> DischargeSummary:
    """Closed-form energy, peak and timing of a pulse of ``topology`` at ``v0_V``."""
    a, wd, C = c.alpha, c.omega_d, c.capacitance_F
    stored = 0.5 * C * v0_V**2
    t_peak = math.atan(wd / a) / wd
    peak = v0_V / (wd * c.inductance_H) * math.exp(-a * t_peak) * math.sin(wd * t_peak)
    T = c.period_s
    if topology == "biphasic":
        v_end = v0_V * math.exp(-a * T)
        lost = stored - 0.5 * C * v_end**2
        in_r, dur = lost, T
    elif topology == "halfsine":
        v_end = -v0_V * math.exp(-a * T / 2)
        lost = stored - 0.5 * C * v_end**2
        in_r, dur = lost, T / 2
    else:
        t0 = c.t_mono_switch_s
        i0 = float(_oscillation(c, v0_V, np.array([t0]))[0][0])
        lost = stored  # capacitor ends empty
        tail = 0.5 * c.inductance_H * i0**2  # energy in L at the switch-over
        r_share = c.resistance_ohm / (c.resistance_ohm + c.damping_resistance_ohm)
        in_r = (stored - tail) + tail * r_share
        v_end = 0.0
        k = (c.resistance_ohm + c.damping_resistance_ohm) / c.inductance_H
        dur = t0 + math.log(max(abs(i0) / (0.01 * peak), 1.0)) / k
    return DischargeSummary(
        v0_V=v0_V,
        v_end_V=v_end,
        stored_J=stored,
        dissipated_J=lost,
        coil_dissipated_J=in_r,
        didt0_A_per_s=v0_V / c.inductance_H,
        peak_current_A=peak,
        t_peak_s=t_peak,
        duration_s=dur,
    )


def didt_zero_crossings_s(c: Circuit, n: int = 2) -> list[float]:
    """First ``n`` zero crossings of dI/dt (and so of E) of the free ring (s)."""
    base = math.atan(c.omega_d / c.alpha) / c.omega_d
    return [base + k * math.pi / c.omega_d for k in range(n)]


def didt_phase_ratio(c: Circuit) -> float:
    """|2nd phase peak| / |1st phase peak| of the biphasic dI/dt (E) waveform."""
    a, wd = c.alpha, c.omega_d
    # extrema of e^(−αt)(ωd cos − α sin): tan(ωd t) = 2αωd/(α² − ωd²)
    t2 = math.atan2(2 * a * wd, a * a - wd * wd) / wd
    if t2 <= didt_zero_crossings_s(c, 1)[0]:
        t2 += math.pi / wd
    t = np.array([0.0, t2])
    _, d = _oscillation(c, 1.0, t)
    return float(abs(d[1]) / abs(d[0]))
