"""A simulated hand muscle: MEP amplitude and EMG trace for each pulse (pure model, no I/O).

Model structure after Goetz, Luber, Lisanby & Peterchev 2014 ("A novel model incorporating
two variability sources for describing motor evoked potentials", Brain Stimul 7:541-552):
variability enters on both sides of a sigmoidal recruitment curve,

    MEP(x) = A_max · L(x + εx) · 10^εy,   L(u) = 1 / (1 + exp(-(u - x50) / w))

with x the stimulus in %MSO of the bench's coil, εx ~ N(0, σx) the excitability
fluctuation before the nonlinearity (%MSO) and εy ~ N(0, σy) the amplitude variability
after it (log10 units). The recruitment curve has no lower plateau; the floor of small MEPs
is the recording's noise, a separate additive source (Goetz, Alavi, Deng & Peterchev 2019,
IEEE TNSRE 27:1539-1545, the three-source model). The parameter values below are
representative of the ranges those papers and the IFCN guidelines describe (FDI maxima of a
few mV; thresholds around 40-60 %MSO with figure-of-eight coils), not fitted numbers;
sureness: low for the population spreads, medium for the structure.

The noise floor is given as the peak-to-peak reading of the baseline in the MEP window
(10-20 µV, as small MEPs sit on in recorded IO curves). The matching white-noise rms is
that divided by ``PP_PER_RMS``; an rms of 10-20 µV would itself read 50-100 µV
peak-to-peak over the window and hide the 50 µV criterion.

The true resting motor threshold ``rmt_pct`` is the intensity at which a pulse gives a
signal MEP ≥ 50 µV with probability 0.5 (the quantity the relative-frequency criterion of
Rossini et al. 1994 estimates); ``x50`` is solved from it by quadrature, so a bench file
names the threshold itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]

CRITERION_UV = 50.0  # MEP criterion (µV) defining the threshold; Rossini et al. 1994
LATENCY_S = 0.022  # FDI MEP onset after the pulse, ~20-25 ms (hand muscle; DESIGN facts)
MEP_DURATION_S = 0.012  # biphasic MEP lasts ~10-15 ms (typical FDI recordings)
WINDOW_S = (0.015, 0.050)  # window after the pulse read for peak-to-peak (s)
PP_PER_RMS = 5.0  # peak-to-peak / rms of ~175 white Gaussian samples (E[range] ≈ 5.2 σ)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(64)  # ∫ φ(e) f(e) de quadrature


def mep_shape(t_s: npt.ArrayLike, latency_s: float = LATENCY_S) -> FloatArray:
    """Unit peak-to-peak biphasic MEP (a Gaussian's derivative) starting at ``latency_s``."""
    t = np.asarray(t_s, dtype=float)
    tau = MEP_DURATION_S / 6.0  # ±3 τ covers the waveform
    u = (t - latency_s - 3.0 * tau) / tau
    y = -u * np.exp(-0.5 * u * u)
    return y / (2.0 * math.exp(-0.5))  # extremes of -u·exp(-u²/2) are ±exp(-1/2)


@dataclass(frozen=True)
class Subject:
    """One virtual subject (all intensities in %MSO of the bench's coil)."""

    rmt_pct: float = 50.0  # true resting motor threshold (%MSO): P(MEP ≥ 50 µV) = 0.5
    slope_pct: float = 4.0  # logistic scale w (%MSO); 50 µV -> 1 mV over ≈ 3 w
    sigma_x_pct: float = 2.5  # excitability variability σx before the sigmoid (%MSO)
    sigma_y_log10: float = 0.15  # amplitude variability σy after it (log10 units)
    max_uV: float = 3000.0  # saturation peak-to-peak A_max (µV)
    noise_pp_uV: float = 15.0  # baseline peak-to-peak in the MEP window (µV)
    latency_s: float = LATENCY_S
    seed: int = 0
    x50_pct: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        for name in ("slope_pct", "max_uV"):
            if not getattr(self, name) > 0:
                raise ValueError(f"subject: {name} = {getattr(self, name)!r} must be > 0")
        for name in ("sigma_x_pct", "sigma_y_log10", "noise_pp_uV"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"subject: {name} = {getattr(self, name)!r} must be ≥ 0")
        if not 0 < self.rmt_pct <= 100:
            raise ValueError(f"subject: rmt_pct = {self.rmt_pct!r} must be in (0, 100] %MSO")
        if self.max_uV <= CRITERION_UV:
            raise ValueError(f"subject: max_uV = {self.max_uV!r} must exceed {CRITERION_UV} µV")
        object.__setattr__(self, "x50_pct", self._solve_x50())

    def p_response(self, intensity_pct: float, x50_pct: float | None = None) -> float:
        """Probability that a pulse at ``intensity_pct`` gives a signal MEP ≥ 50 µV."""
        x50 = self.x50_pct if x50_pct is None else x50_pct
        u = intensity_pct + self.sigma_x_pct * _GH_X
        log_l = -np.logaddexp(0.0, -(u - x50) / self.slope_pct) / math.log(10.0)
        margin = math.log10(self.max_uV / CRITERION_UV) + log_l  # log10(MEP/50) without εy
        if self.sigma_y_log10 == 0:
            p = (margin >= 0).astype(float)
        else:
            p = ndtr(margin / self.sigma_y_log10)
        return float(np.sum(_GH_W * p) / math.sqrt(2.0 * math.pi))

    def _solve_x50(self) -> float:
        lo, hi = self.rmt_pct - 200.0, self.rmt_pct + 200.0

        def gap(x50: float) -> float:
            return self.p_response(self.rmt_pct, x50) - 0.5

        if not gap(lo) > 0 > gap(hi):
            raise ValueError(
                f"subject: no recruitment curve gives MEPs ≥ {CRITERION_UV:g} µV half the time "
                f"at rmt_pct = {self.rmt_pct:g} with these variabilities"
            )
        return float(brentq(gap, lo, hi))

    def rng(self) -> np.random.Generator:
        """A fresh random stream for this subject's seed."""
        return np.random.default_rng(self.seed)

    def mep_uV(self, intensity_pct: float, rng: np.random.Generator) -> float:
        """Signal MEP peak-to-peak (µV) for one pulse, noise not included."""
        if intensity_pct <= 0:
            return 0.0
        ex = rng.normal(0.0, self.sigma_x_pct) if self.sigma_x_pct else 0.0
        ey = rng.normal(0.0, self.sigma_y_log10) if self.sigma_y_log10 else 0.0
        z = (intensity_pct + ex - self.x50_pct) / self.slope_pct
        return float(self.max_uV * math.exp(-np.logaddexp(0.0, -z)) * 10.0**ey)

    def emg_trace_uV(
        self, t_s: npt.ArrayLike, pulses: list[tuple[float, float]], rng: np.random.Generator
    ) -> FloatArray:
        """EMG (µV) at times ``t_s`` for pulses given as (time s, intensity %MSO).

        Each pulse draws its own MEP amplitude; the noise is white with rms
        ``noise_pp_uV / PP_PER_RMS``.
        """
        t = np.asarray(t_s, dtype=float)
        y = rng.normal(0.0, self.noise_pp_uV / PP_PER_RMS, t.shape)
        for t0, pct in pulses:
            y += self.mep_uV(pct, rng) * mep_shape(t - t0, self.latency_s)
        return y

    def with_seed(self, seed: int) -> Subject:
        """The same subject with another random stream."""
        return replace(self, seed=seed)


def population(n: int, seed: int = 0) -> list[Subject]:
    """``n`` virtual subjects with parameters spread as a healthy cohort's might be.

    Thresholds ~N(50, 8) %MSO clipped to 30-85; slope, both variabilities and the maximum
    log-normal around the defaults; noise floor uniform 10-20 µV peak-to-peak. These
    spreads are representative, not fitted (Goetz et al. 2019 derive theirs from the
    literature; sureness: low).
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(
            Subject(
                rmt_pct=float(np.clip(rng.normal(50.0, 8.0), 30.0, 85.0)),
                slope_pct=float(4.0 * rng.lognormal(0.0, 0.25)),
                sigma_x_pct=float(2.5 * rng.lognormal(0.0, 0.3)),
                sigma_y_log10=float(0.15 * rng.lognormal(0.0, 0.3)),
                max_uV=float(3000.0 * rng.lognormal(0.0, 0.5)),
                noise_pp_uV=float(rng.uniform(10.0, 20.0)),
                seed=int(rng.integers(0, 2**31 - 1)) + i,
            )
        )
    return out
