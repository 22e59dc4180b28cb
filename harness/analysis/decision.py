"""Decision rules for statements of conformity (ILAC-G8:09/2019, JCGM 106:2012).

*Simple acceptance* (ILAC-G8 4.2.1) judges the measured value against the limits
with no guard band (w = 0): inside is PASS, outside FAIL. The specific risk of a
wrong acceptance reaches 50 % for a true value at a limit.

*Guarded acceptance* (ILAC-G8 4.2.3, non-binary statement) sets a guard band
``w = multiple · U`` inside and outside each limit:

==========================  =================
measured value              verdict
==========================  =================
inside the limits by ≥ w    PASS
inside, closer than w       CONDITIONAL PASS
outside, closer than w      CONDITIONAL FAIL
outside by ≥ w              FAIL
==========================  =================

With ``w = U`` (k = 2) a true value exactly at a limit is passed with a probability
of at most about 2.5 % (ILAC-G8 4.2.2). Which verdicts fail a test is the spec's
choice (:class:`harness.config.DecisionSpec`).

MARGINAL (the spec's inner band of the tolerance, a warning) is kept: a value that
would be a clean PASS but lies outside the inner band is MARGINAL under either rule.
"""

from __future__ import annotations

import math
from typing import Literal

from harness.limits import Limits, Verdict

Rule = Literal["simple", "guarded"]


def guard_band(rule: Rule, expanded_u: float | None, multiple: float = 1.0) -> float:
    """The guard band ``w`` (in the value's unit) of ``rule``; 0 when U is unknown."""
    if rule == "simple" or expanded_u is None or not math.isfinite(expanded_u):
        return 0.0
    return multiple * abs(expanded_u)


def decide(
    value: float | None,
    limits: Limits,
    expanded_u: float | None = None,
    *,
    rule: Rule = "simple",
    multiple: float = 1.0,
) -> Verdict:
    """The verdict on ``value`` against ``limits`` under ``rule`` (see the module table)."""
    if value is None or not math.isfinite(value):
        return Verdict.INVALID
    lo, hi = limits.low, limits.high
    if lo is None and hi is None:
        return Verdict.UNSET
    w = guard_band(rule, expanded_u, multiple)
    inside = (lo is None or value >= lo) and (hi is None or value <= hi)
    if inside:
        clear = (lo is None or value >= lo + w) and (hi is None or value <= hi - w)
        if not clear:
            return Verdict.CONDITIONAL_PASS
        if (limits.marginal_low is not None and value < limits.marginal_low) or (
            limits.marginal_high is not None and value > limits.marginal_high
        ):
            return Verdict.MARGINAL
        return Verdict.PASS
    near = (lo is None or value >= lo - w) and (hi is None or value <= hi + w)
    return Verdict.CONDITIONAL_FAIL if near and w > 0 else Verdict.FAIL


def describe_rule(rule: Rule, multiple: float = 1.0) -> str:
    """The rule as a report states it."""
    if rule == "simple":
        return "simple acceptance (ILAC-G8:2019 4.2.1, guard band w = 0)"
    return f"guarded acceptance (ILAC-G8:2019 4.2.3, guard band w = {multiple:g}·U, k = 2)"
