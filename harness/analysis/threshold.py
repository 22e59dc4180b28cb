"""Motor-threshold hunting procedures as pure steppers (%MSO in, MEP µV out).

Each procedure is a stepper: ask ``next_intensity()`` (integer %MSO, the resolution of a
stimulator's intensity setting), deliver one pulse there, report the MEP peak-to-peak
amplitude with ``observe(amplitude_uV)``, repeat until ``done``; then read ``estimate``
(%MSO), ``ci`` (a 95 % interval where the method gives one) and ``steps``. A pulse counts
as a hit when its MEP is ≥ ``criterion_uV`` (50 µV, the IFCN criterion, Rossini et al.
1994 and 2015). No I/O here: the fixture drives the stimulator and the EMG channel.

Methods:

- ``RelativeFrequency`` (Rossini–Rothwell; Rossini et al. 1994, Electroenceph Clin
  Neurophysiol 91:79-92; Rossini et al. 2015, Clin Neurophysiol 126:1071-1107): the lowest
  intensity at which ≥ 5 of 10 consecutive pulses give an MEP ≥ 50 µV. Start above
  threshold and lower the intensity (2015: in steps of 2 or 5 %MSO) until fewer than 5 of
  10 respond.
- ``MillsNithi`` (Mills & Nithi 1997, Muscle Nerve 20:570-576): the lower threshold is the
  highest intensity with 0 of 10 responses, the upper threshold the lowest with 10 of 10;
  the motor threshold is their mean.
- ``MaximumLikelihood`` (ML-PEST as in Awiszus' MTAT; Awiszus 2003, Suppl Clin
  Neurophysiol 56:13-23): response probability a cumulative Gaussian with a spread fixed at
  7 % of the threshold (the figure MTAT uses; sureness: medium, from secondary accounts);
  after each pulse the next intensity is the current maximum-likelihood threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.special import log_ndtr

CRITERION_UV = 50.0  # MEP peak-to-peak criterion (µV); Rossini et al. 1994, 2015
MSO_MIN, MSO_MAX = 0, 100  # intensity range (%MSO)


@dataclass(frozen=True)
class Step:
    """One pulse of a threshold hunt."""

    pulse: int  # 1-based pulse number
    intensity_pct: int  # %MSO delivered
    amplitude_uV: float  # MEP peak-to-peak (µV)
    hit: bool  # amplitude ≥ criterion
    estimate_pct: float  # the procedure's estimate after this pulse (%MSO; NaN if none yet)


@dataclass(frozen=True)
class ThresholdResult:
    """Outcome of a threshold hunt."""

    method: str
    estimate_pct: float  # motor threshold (%MSO); NaN when not found
    ci_pct: tuple[float, float] | None  # 95 % interval (%MSO) where the method gives one
    pulses: int
    converged: bool  # the method's own stopping rule was met (not just the pulse budget)
    steps: tuple[Step, ...]
    reason: str = ""  # why it did not converge


class ThresholdProcedure(Protocol):
    """What every threshold stepper offers."""

    method: str

    @property
    def done(self) -> bool: ...

    def next_intensity(self) -> int: ...

    def observe(self, amplitude_uV: float) -> None: ...

    def result(self) -> ThresholdResult: ...


def _clip(pct: float) -> int:
    return int(min(MSO_MAX, max(MSO_MIN, round(pct))))


@dataclass
class _Base:
    """Bookkeeping shared by the steppers: the pulse budget and the step history."""

    max_pulses: int = 200
    criterion_uV: float = CRITERION_UV
    steps: list[Step] = field(default_factory=list)
    _converged: bool = False
    _reason: str = ""

    method = "base"

    @property
    def done(self) -> bool:
        """True when the method has converged, given up, or used its pulse budget."""
        return self._converged or bool(self._reason) or len(self.steps) >= self.max_pulses

    @property
    def estimate(self) -> float:
        """Current threshold estimate (%MSO); NaN before there is one."""
        return math.nan

    @property
    def ci(self) -> tuple[float, float] | None:
        """95 % interval (%MSO), or None for methods without one."""
        return None

    def next_intensity(self) -> int:
        """Intensity for the next pulse (%MSO)."""
        if self.done:
            raise RuntimeError(f"{self.method}: the hunt is done; no next intensity")
        return self._next()

    def observe(self, amplitude_uV: float) -> None:
        """Record the MEP peak-to-peak amplitude (µV) of the pulse at ``next_intensity()``."""
        if self.done:
            raise RuntimeError(f"{self.method}: the hunt is done; no pulse expected")
        if not math.isfinite(amplitude_uV):
            raise ValueError(f"{self.method}: MEP amplitude {amplitude_uV!r} µV is not finite")
        intensity = self._next()
        hit = amplitude_uV >= self.criterion_uV
        self._update(intensity, hit)
        self.steps.append(
            Step(len(self.steps) + 1, intensity, float(amplitude_uV), hit, self.estimate)
        )

    def result(self) -> ThresholdResult:
        """The outcome so far (final once ``done``)."""
        reason = self._reason
        if not self._converged and not reason:
            reason = f"pulse budget of {self.max_pulses} used before the method converged"
        return ThresholdResult(
            method=self.method,
            estimate_pct=self.estimate,
            ci_pct=self.ci,
            pulses=len(self.steps),
            converged=self._converged,
            steps=tuple(self.steps),
            reason="" if self._converged else reason,
        )

    def _next(self) -> int:
        raise NotImplementedError

    def _update(self, intensity: int, hit: bool) -> None:
        raise NotImplementedError


@dataclass
class _Block:
    """Up to ``n`` pulses at one intensity, ended as soon as the count decides the outcome."""

    intensity: int
    need_hits: int  # hits that make the block pass
    n: int = 10
    hits: int = 0
    pulses: int = 0

    def add(self, hit: bool) -> None:
        self.pulses += 1
        self.hits += int(hit)

    @property
    def passed(self) -> bool | None:
        """True/False once decided, None while the remaining pulses could go either way."""
        if self.hits >= self.need_hits:
            return True
        if self.hits + (self.n - self.pulses) < self.need_hits:
            return False
        return None


@dataclass
class RelativeFrequency(_Base):
    """Rossini–Rothwell: lowest intensity with ≥ 5 of 10 MEPs ≥ 50 µV.

    Starts at ``start_pct`` (meant to be above threshold; if it is not, the intensity rises
    by ``coarse_step_pct`` until a block passes), descends by ``coarse_step_pct`` until a
    block fails (Rossini et al. 2015: steps of 2 or 5 %MSO), then climbs from that failing
    intensity by ``fine_step_pct`` until a block passes: that intensity is the threshold.
    A block of 10 pulses stops as soon as its count decides it (5 hits pass; 6 misses
    fail): the remaining pulses cannot change the 5-of-10 outcome.
    """

    start_pct: int = 60
    coarse_step_pct: int = 5
    fine_step_pct: int = 1
    hits_needed: int = 5  # of 10; Rossini et al. 1994
    block_size: int = 10
    method = "relative_frequency"
    _phase: str = "start"  # start -> up | down -> fine
    _block: _Block | None = None
    _lowest_pass: int | None = None
    _highest_fail: int | None = None

    def __post_init__(self) -> None:
        self._block = _Block(_clip(self.start_pct), self.hits_needed, self.block_size)

    @property
    def estimate(self) -> float:
        return float(self._lowest_pass) if self._lowest_pass is not None else math.nan

    def _next(self) -> int:
        assert self._block is not None
        return self._block.intensity

    def _update(self, intensity: int, hit: bool) -> None:
        assert self._block is not None
        self._block.add(hit)
        passed = self._block.passed
        if passed is None:
            return
        if passed:
            self._lowest_pass = (
                intensity if self._lowest_pass is None else min(self._lowest_pass, intensity)
            )
        else:
            self._highest_fail = (
                intensity if self._highest_fail is None else max(self._highest_fail, intensity)
            )
        if self._phase == "start":
            self._phase = "down" if passed else "up"
        if self._phase == "up":
            if passed:  # first pass while climbing: refine between it and the last failure
                self._phase = "fine"
            else:
                nxt = intensity + self.coarse_step_pct
                if intensity >= MSO_MAX:
                    self._reason = (
                        f"fewer than {self.hits_needed} of 10 MEPs even at {MSO_MAX} %MSO"
                    )
                    return
                self._block = _Block(_clip(nxt), self.hits_needed, self.block_size)
                return
        if self._phase == "down":
            if passed:
                nxt = intensity - self.coarse_step_pct
                if nxt <= MSO_MIN:
                    self._converged = True  # passes down to the bottom of the range
                    return
                self._block = _Block(_clip(nxt), self.hits_needed, self.block_size)
                return
            self._phase = "fine"
        # fine: climb from the highest failing intensity to the lowest passing one
        assert self._lowest_pass is not None and self._highest_fail is not None
        nxt = self._highest_fail + self.fine_step_pct
        if nxt >= self._lowest_pass:
            self._converged = True
            return
        self._block = _Block(_clip(nxt), self.hits_needed, self.block_size)


@dataclass
class MillsNithi(_Base):
    """Mills & Nithi 1997 two-threshold method.

    From ``start_pct`` (below threshold) the intensity rises by ``coarse_step_pct`` until a
    pulse gives an MEP ≥ 50 µV (Mills & Nithi: 10 %MSO steps from 20 %MSO). Then lower
    threshold (LT): the intensity falls by 1 %MSO until 10 pulses in a row give no MEP; the
    highest such intensity is LT. Upper threshold (UT): from LT + 1 the intensity rises by
    1 %MSO until 10 of 10 pulses give an MEP; the lowest such intensity is UT. The motor
    threshold is (LT + UT) / 2. A block stops at its first contrary pulse.
    """

    start_pct: int = 20
    coarse_step_pct: int = 10
    block_size: int = 10
    method = "mills_nithi"
    _phase: str = "search"  # search -> lower -> upper
    _intensity: int = 0
    _block: _Block | None = None
    lower_pct: int | None = None
    upper_pct: int | None = None

    def __post_init__(self) -> None:
        self._intensity = _clip(self.start_pct)

    @property
    def estimate(self) -> float:
        if self.lower_pct is None or self.upper_pct is None:
            return math.nan
        return (self.lower_pct + self.upper_pct) / 2.0

    def _next(self) -> int:
        return self._block.intensity if self._block is not None else self._intensity

    def _update(self, intensity: int, hit: bool) -> None:
        if self._phase == "search":
            if not hit:
                if intensity >= MSO_MAX:
                    self._reason = f"no MEP ≥ {self.criterion_uV:g} µV even at {MSO_MAX} %MSO"
                    return
                self._intensity = _clip(intensity + self.coarse_step_pct)
                return
            self._phase = "lower"
            self._block = _Block(_clip(intensity - 1), 0, self.block_size)
            return
        assert self._block is not None
        if self._phase == "lower":
            # need 0 responses: "passed" here means the block stayed silent
            self._block.add(hit)
            if hit:
                if self._block.intensity <= MSO_MIN:
                    self._reason = "MEPs at 0 %MSO: the EMG channel sees noise above criterion"
                    return
                self._block = _Block(self._block.intensity - 1, 0, self.block_size)
            elif self._block.pulses == self.block_size:
                self.lower_pct = self._block.intensity
                self._phase = "upper"
                self._block = _Block(_clip(self.lower_pct + 1), self.block_size, self.block_size)
            return
        self._block.add(hit)
        if not hit:
            if self._block.intensity >= MSO_MAX:
                self._reason = f"not 10 of 10 MEPs even at {MSO_MAX} %MSO"
                return
            self._block = _Block(self._block.intensity + 1, self.block_size, self.block_size)
        elif self._block.hits == self.block_size:
            self.upper_pct = self._block.intensity
            self._converged = True


def awiszus_spread_pct(threshold_pct: np.ndarray | float, rel_spread: float) -> np.ndarray:
    """Spread σ of the cumulative-Gaussian response model (%MSO): ``rel_spread`` × threshold.

    Awiszus 2003 fixes σ at 7 % of the threshold (relative spread 0.07).
    """
    return np.maximum(rel_spread * np.asarray(threshold_pct, dtype=float), 1e-6)


@dataclass
class MaximumLikelihood(_Base):
    """ML-PEST after Awiszus 2003 (the MTAT procedure).

    Model: P(MEP ≥ 50 µV | x, t) = Φ((x − t) / (0.07 t)) for intensity x and threshold t
    (%MSO). Two virtual observations seed the likelihood, a miss at ``MSO_MIN`` and a hit
    at ``MSO_MAX`` (MTAT's start assumption), so the first estimate is defined. After every
    pulse the estimate is the maximum of the log-likelihood over a grid of thresholds (the
    centre of the maximal plateau), and the next pulse is given at that estimate, rounded to
    a whole %MSO. The hunt stops after ``max_pulses`` (Awiszus 2003: about 20 pulses suffice)
    or, when ``stop_ci_width_pct`` is set, once the 95 % likelihood-ratio interval (log-
    likelihood within χ²₁(0.95)/2 = 1.92 of its maximum) is no wider than that.
    """

    max_pulses: int = 20
    rel_spread: float = 0.07  # Awiszus 2003
    grid_step_pct: float = 0.05
    stop_ci_width_pct: float | None = None
    method = "ml_pest"
    _grid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _loglik: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = round((MSO_MAX - MSO_MIN) / self.grid_step_pct)
        self._grid = np.linspace(MSO_MIN + self.grid_step_pct, MSO_MAX, n)
        self._loglik = np.zeros_like(self._grid)
        self._add(float(MSO_MIN), False)
        self._add(float(MSO_MAX), True)

    def _add(self, intensity: float, hit: bool) -> None:
        z = (intensity - self._grid) / awiszus_spread_pct(self._grid, self.rel_spread)
        self._loglik += log_ndtr(z) if hit else log_ndtr(-z)

    @property
    def estimate(self) -> float:
        peak = self._loglik.max()
        on_peak = np.flatnonzero(self._loglik >= peak - 1e-9)
        return float((self._grid[on_peak[0]] + self._grid[on_peak[-1]]) / 2.0)

    @property
    def ci(self) -> tuple[float, float] | None:
        inside = np.flatnonzero(self._loglik >= self._loglik.max() - 1.92)
        return (float(self._grid[inside[0]]), float(self._grid[inside[-1]]))

    def _next(self) -> int:
        return _clip(self.estimate)

    def _update(self, intensity: int, hit: bool) -> None:
        self._add(float(intensity), hit)
        if self.stop_ci_width_pct is not None:
            lo, hi = self.ci or (math.nan, math.nan)
            if hi - lo <= self.stop_ci_width_pct:
                self._converged = True
        elif len(self.steps) + 1 >= self.max_pulses:
            self._converged = True  # a fixed number of pulses is MTAT's stopping rule


METHODS: dict[str, type[_Base]] = {
    "relative_frequency": RelativeFrequency,
    "mills_nithi": MillsNithi,
    "ml_pest": MaximumLikelihood,
}


def make_procedure(method: str, **kwargs: Any) -> ThresholdProcedure:
    """A fresh stepper for ``method`` (one of ``METHODS``); kwargs go to its constructor."""
    try:
        cls = METHODS[method]
    except KeyError:
        known = ", ".join(sorted(METHODS))
        raise ValueError(f"unknown threshold method {method!r}; known: {known}") from None
    return cls(**kwargs)


def run_hunt(procedure: ThresholdProcedure, respond: Callable[[int], float]) -> ThresholdResult:
    """Drive ``procedure`` to the end with ``respond(intensity_pct) -> amplitude_uV``."""
    while not procedure.done:
        procedure.observe(float(respond(procedure.next_intensity())))
    return procedure.result()
