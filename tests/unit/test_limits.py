"""Limits, verdicts and the bench-report text of a Measurement."""

from __future__ import annotations

import math

import pytest

from harness.limits import Limits, Measurement, Verdict


def test_band_is_the_wider_of_absolute_and_relative() -> None:
    lim = Limits.around(100.0, relative=0.05, absolute=2.0)
    assert (lim.low, lim.high) == (95.0, 105.0)
    lim = Limits.around(10.0, relative=0.05, absolute=2.0)
    assert (lim.low, lim.high) == (8.0, 12.0)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (100.0, Verdict.PASS),
        (102.9, Verdict.PASS),
        (103.5, Verdict.MARGINAL),
        (96.4, Verdict.MARGINAL),
        (105.01, Verdict.FAIL),
        (94.0, Verdict.FAIL),
        (math.nan, Verdict.INVALID),
        (None, Verdict.INVALID),
    ],
)
def test_verdicts_with_marginal_band(value: float | None, verdict: Verdict) -> None:
    lim = Limits.around(100.0, relative=0.05, marginal=0.6)  # clean pass within ±3
    assert lim.verdict(value) is verdict


def test_one_sided_and_no_limits() -> None:
    assert Limits(low=0.99).verdict(0.995) is Verdict.PASS
    assert Limits(low=0.99).verdict(0.98) is Verdict.FAIL
    assert Limits().verdict(1.0) is Verdict.UNSET
    assert Limits(low=0.99).describe() == "≥ 0.99"
    assert Limits(high=2.0).describe("%") == "≤ 2 %"
    assert Limits(low=40, high=40).describe("pulses") == "= 40 pulses"


def test_bench_report_line() -> None:
    lim = Limits.around(93.2, absolute=4.7)
    m = Measurement.check("peak dI/dt at 60 %MSO", 88.1, "A/µs", lim)
    assert m.verdict is Verdict.FAIL
    assert m.describe() == (
        "peak dI/dt at 60 %MSO: 88.1 A/µs, expected 93.2 ± 4.7 A/µs (−5.5 %) [FAIL]"
    )


def test_invalid_measurement_says_why() -> None:
    m = Measurement.check(
        "peak dI/dt",
        None,
        "A/µs",
        Limits.around(50, relative=0.05),
        extra={"invalid_reason": "clipped at the ADC rail"},
    )
    assert m.describe().endswith("[INVALID] (clipped at the ADC rail)")


def test_a_reading_of_the_wrong_pulse_is_invalid_whatever_its_value() -> None:
    """A misfired pulse's dI/dt sits inside the band; the reason makes it INVALID."""
    why = "delivered a halfsine pulse, not the biphasic pulse set (misfire?)"
    m = Measurement.check(
        "peak dI/dt", 50.2, "A/µs", Limits.around(50, relative=0.05), extra={"invalid_reason": why}
    )
    assert m.verdict is Verdict.INVALID
    assert m.value == 50.2  # the reading is kept, not thrown away
    assert m.describe().endswith(f"[INVALID] ({why})")
    ok = Measurement.check(
        "peak dI/dt", 50.2, "A/µs", Limits.around(50, relative=0.05), extra={"invalid_reason": ""}
    )
    assert ok.verdict is Verdict.PASS
