"""Measurement uncertainty budgets after the GUM (JCGM 100:2008).

Pure arithmetic, no I/O. Each characteristic is a product or quotient of a few
inputs (a current monitor's scale, a scope's vertical gain, its timebase, ...), so
the law of propagation of uncertainty for uncorrelated inputs (GUM 5.1.2, eq. 10)
reduces to relative contributions: ``u_i = |y| · u_rel(x_i)`` for a scale factor and
``u_i = u(x_i)`` for an additive offset. The combined standard uncertainty is the
root sum of squares of the contributions; the expanded uncertainty is ``U = k·u_c``
with k = 2 (GUM 6.2, about 95 % coverage for a normal distribution with many
effective degrees of freedom: the Type B inputs dominate and are taken as exactly known
distributions, GUM G.4.2).

Assumptions a reader should know:

- Accuracy figures from a datasheet are ± limits of a rectangular distribution,
  ``u = a/√3`` (GUM 4.3.7); figures from a calibration certificate are expanded
  uncertainties at k = 2, ``u = U/2`` (GUM 4.3.3).
- The current monitor and the scope channel are independent instruments: their gain
  errors are uncorrelated.
- A constant offset does not change a derivative: it contributes nothing to peak dI/dt.
- A ratio of two amplitudes read on the same channel at the same scale (phase ratio)
  does not depend on that channel's gain: the gains cancel (correlation +1); only
  Type A remains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Distribution = Literal["rectangular", "normal_k2"]

#: Divisor that turns a stated half-width into a standard uncertainty.
DIVISOR: dict[str, float] = {"rectangular": math.sqrt(3.0), "normal_k2": 2.0}

#: Coverage factor of the expanded uncertainty (GUM 6.2.1).
K = 2.0

Quantity = Literal["current", "didt", "efield", "time", "ratio", "temperature", "voltage"]


@dataclass(frozen=True)
class TypeB:
    """One reference instrument's stated accuracy (half-widths; see :data:`DIVISOR`)."""

    source: str
    gain_percent: float = 0.0  # % of reading
    offset: float = 0.0  # in the measured quantity's unit
    timebase_ppm: float = 0.0  # ppm of a time interval
    distribution: Distribution = "rectangular"

    @property
    def u_gain_rel(self) -> float:
        """Standard uncertainty of the gain, relative (1)."""
        return self.gain_percent / 100.0 / DIVISOR[self.distribution]

    @property
    def u_offset(self) -> float:
        """Standard uncertainty of the offset, in the quantity's unit."""
        return self.offset / DIVISOR[self.distribution]

    @property
    def u_timebase_rel(self) -> float:
        """Standard uncertainty of a time interval, relative (1)."""
        return self.timebase_ppm * 1e-6 / DIVISOR[self.distribution]


@dataclass(frozen=True)
class Contribution:
    """One line of a budget: ``u`` is the standard uncertainty it adds to the result,
    in the result's unit (sensitivity coefficient already applied)."""

    source: str
    kind: Literal["A", "B"]
    u: float


@dataclass(frozen=True)
class Budget:
    """The uncertainty budget of one value."""

    quantity: str
    value: float
    contributions: tuple[Contribution, ...] = field(default_factory=tuple)
    k: float = K

    @property
    def u_c(self) -> float:
        """Combined standard uncertainty (GUM eq. 10, uncorrelated inputs)."""
        return math.sqrt(math.fsum(c.u * c.u for c in self.contributions))

    @property
    def U(self) -> float:
        """Expanded uncertainty ``k·u_c``."""
        return self.k * self.u_c

    def as_dict(self) -> dict[str, float]:
        """``{source: u}`` for records (source names carry ``(A)``/``(B)``)."""
        return {f"{c.source} ({c.kind})": c.u for c in self.contributions}


def _gain(value: float, ref: TypeB | None, what: str = "gain") -> list[Contribution]:
    if ref is None or ref.gain_percent == 0:
        return []
    return [Contribution(f"{ref.source} {what}", "B", abs(value) * ref.u_gain_rel)]


def _offset(ref: TypeB | None) -> list[Contribution]:
    if ref is None or ref.offset == 0:
        return []
    return [Contribution(f"{ref.source} offset", "B", ref.u_offset)]


def _timebase(value: float, ref: TypeB | None) -> list[Contribution]:
    if ref is None or ref.timebase_ppm == 0:
        return []
    return [Contribution(f"{ref.source} timebase", "B", abs(value) * ref.u_timebase_rel)]


def _type_a(u: float | None, source: str) -> list[Contribution]:
    if u is None or not math.isfinite(u) or u == 0:
        return []
    return [Contribution(source, "A", abs(u))]


def type_a_of_mean(values: Sequence[float]) -> float:
    """Experimental standard deviation of the mean, ``s/√n`` (GUM 4.2.3); NaN for n < 2."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = math.fsum(values) / n
    s2 = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(s2 / n)


def budget(
    quantity: Quantity,
    value: float,
    *,
    sensor: TypeB | None = None,
    scope: TypeB | None = None,
    daq: TypeB | None = None,
    type_a: float | None = None,
    type_a_source: str = "repeatability / fit standard error",
) -> Budget:
    """The budget of ``value`` (a ``quantity``) from its chain's accuracy figures.

    ``sensor`` is the transducer (current monitor, E-field probe, thermocouple,
    HV divider), ``scope`` the scope input and timebase, ``daq`` the DAQ module;
    ``type_a`` a standard uncertainty from repeats or from a fit (same unit as value).
    """
    parts: list[Contribution] = []
    if quantity == "current":  # I = V_scope / sensitivity: gains scale, offset adds
        parts += _gain(value, sensor) + _offset(sensor) + _gain(value, scope)
    elif quantity == "didt":  # dI/dt = ΔV / (sensitivity·Δt): gains and timebase scale
        parts += _gain(value, sensor) + _gain(value, scope) + _timebase(value, scope)
    elif quantity == "efield":  # E = V_scope / probe factor
        parts += _gain(value, sensor) + _offset(sensor) + _gain(value, scope)
    elif quantity == "time":  # an interval on the scope's timebase
        parts += _timebase(value, scope)
    elif quantity == "ratio":  # gains of one channel cancel (see module notes)
        pass
    elif quantity in ("temperature", "voltage"):  # sensor, then the DAQ module
        parts += _gain(value, sensor) + _offset(sensor) + _gain(value, daq) + _offset(daq)
    else:
        raise ValueError(f"no uncertainty model for quantity {quantity!r}")
    parts += _type_a(type_a, type_a_source)
    return Budget(quantity, value, tuple(parts))


def format_budget(b: Budget, unit: str, contributions: Iterable[Contribution] | None = None) -> str:
    """A budget as a plain-text table (source, type, u, share of u_c²)."""
    rows = list(contributions if contributions is not None else b.contributions)
    total = b.u_c**2 or 1.0
    lines = [f"{'source':<52} {'type':<4} {'u / ' + unit:>14} {'share':>7}"]
    for c in rows:
        lines.append(f"{c.source:<52} {c.kind:<4} {c.u:>14.4g} {c.u * c.u / total:>7.1%}")
    lines.append(f"{'combined standard uncertainty u_c':<57} {b.u_c:>14.4g}")
    lines.append(f"{f'expanded uncertainty U (k = {b.k:g})':<57} {b.U:>14.4g}")
    return "\n".join(lines)
