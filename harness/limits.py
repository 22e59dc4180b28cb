"""Specs, tolerances, Measurement records and verdicts.

A :class:`Limits` is the tolerance band of one characteristic as a person reads
it in a report (``93.2 ± 4.7 A/µs``); a :class:`Measurement` is one checked
value with its limits, verdict and run context. Both are plain frozen
dataclasses so they pass unchanged from analysis to journal to report.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Any

from harness.formatting import format_limits, format_value, is_flag


class Verdict(enum.StrEnum):
    """Outcome of one measurement (OpenHTF-style explicit outcome, no booleans)."""

    PASS = "pass"
    MARGINAL = "marginal"  # inside the hard limits but outside the marginal band
    FAIL = "fail"
    INVALID = "invalid"  # could not be measured (clipped record, missing pulse, ...)
    UNSET = "unset"  # recorded without limits
    ABORTED = "aborted"  # a run or test stopped by Ctrl-C / SIGTERM (after disarming)


@dataclass(frozen=True)
class Limits:
    """Tolerance band ``low <= value <= high``; either bound may be ``None``.

    ``marginal_low``/``marginal_high`` are the inner band: a value inside the
    hard limits but outside the inner band is MARGINAL (warns, does not fail).
    ``nominal`` is the expected value when the band was built around one.
    """

    low: float | None = None
    high: float | None = None
    marginal_low: float | None = None
    marginal_high: float | None = None
    nominal: float | None = None

    @classmethod
    def around(
        cls,
        nominal: float,
        *,
        relative: float = 0.0,
        absolute: float = 0.0,
        marginal: float | None = None,
    ) -> Limits:
        """Band ``nominal ± max(absolute, relative·|nominal|)``.

        ``marginal`` is the fraction of the half-width (0..1) inside which a
        value is a clean PASS; outside it, still within limits, it is MARGINAL.
        """
        half = max(abs(absolute), abs(relative) * abs(nominal))
        m_lo = m_hi = None
        if marginal is not None:
            m_lo, m_hi = nominal - marginal * half, nominal + marginal * half
        return cls(nominal - half, nominal + half, m_lo, m_hi, nominal)

    def verdict(self, value: float | None) -> Verdict:
        """Judge ``value``; NaN or None is INVALID, never a pass."""
        if value is None or not math.isfinite(value):
            return Verdict.INVALID
        if self.low is None and self.high is None:
            return Verdict.UNSET
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            return Verdict.FAIL
        if (self.marginal_low is not None and value < self.marginal_low) or (
            self.marginal_high is not None and value > self.marginal_high
        ):
            return Verdict.MARGINAL
        return Verdict.PASS

    def describe(self, unit: str = "") -> str:
        """The band as a person reads it: ``93.2 ± 4.7 A/µs`` or ``≥ 0.99``."""
        u = f" {unit}" if unit else ""
        if self.low is not None and self.high is not None:
            if self.low == self.high:
                return f"= {self.low:.4g}{u}"
            if self.nominal is not None and math.isclose(
                self.nominal - self.low, self.high - self.nominal, rel_tol=1e-9, abs_tol=1e-12
            ):
                return f"{self.nominal:.4g} ± {self.high - self.nominal:.2g}{u}"
            return f"{self.low:.4g} … {self.high:.4g}{u}"
        if self.low is not None:
            return f"≥ {self.low:.4g}{u}"
        if self.high is not None:
            return f"≤ {self.high:.4g}{u}"
        return "no limits"


@dataclass(frozen=True)
class Measurement:
    """One checked characteristic with its context.

    ``tags`` are bounded-cardinality context (station, models, serials,
    waveform); ``run_id``/``test_id`` are kept apart because they are
    unbounded and must never become InfluxDB tags.
    """

    name: str
    value: float | None
    unit: str
    limits: Limits = field(default_factory=Limits)
    verdict: Verdict = Verdict.UNSET
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    test_id: str = ""
    time_ns: int = field(default_factory=time.time_ns)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def check(
        cls, name: str, value: float | None, unit: str, limits: Limits, **context: Any
    ) -> Measurement:
        """Build a Measurement and judge it against ``limits``.

        An ``invalid_reason`` in ``extra`` (the reading is not of what was asked,
        e.g. a misfired pulse) makes it INVALID whatever its value; the value is kept.
        """
        why = context.get("extra", {}).get("invalid_reason")
        verdict = Verdict.INVALID if why else limits.verdict(value)
        return cls(name, value, unit, limits, verdict, **context)

    def describe(self) -> str:
        """Bench-report line, e.g. ``peak dI/dt: 88.1 A/µs, expected 93.2 ± 4.7 A/µs (−5.5 %)``."""
        val = format_value(self.value, self.unit, self.limits)
        if self.value is not None and not is_flag(self.unit, self.limits):
            val = f"{val} {self.unit}".rstrip()
        text = f"{self.name}: {val}, expected {format_limits(self.unit, self.limits)}"
        nom = self.limits.nominal
        if (
            self.value is not None
            and nom not in (None, 0)
            and math.isfinite(self.value)
            and not is_flag(self.unit, self.limits)
        ):
            dev = (self.value - nom) / abs(nom) * 100.0
            text += f" ({dev:+.1f} %)".replace("-", "−")
        why = self.extra.get("invalid_reason") if self.verdict is Verdict.INVALID else None
        return f"{text} [{self.verdict.value.upper()}]" + (f" ({why})" if why else "")
