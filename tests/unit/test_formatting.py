"""Values print as a person reads them: float noise is zero, yes/no checks are words."""

from __future__ import annotations

import pytest

from harness.formatting import format_limits, format_value, number
from harness.limits import Limits, Measurement


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [
        (-1.5543e-13, 1.0, "0"),  # a rate error of two equal floats: noise, not -1.55e-13 %
        (88.1234, 93.2, "88.123"),
        (0.99987, 0.999, "0.99987"),
        (2.0e-3, 1.0, "0.002"),
        (3000.0, 3000.0, "3000"),
        (1.0e-5, None, "1e-05"),
        (2.5e7, None, "2.5e+07"),
        (float("nan"), None, "n/a"),
    ],
)
def test_number(value: float, scale: float | None, text: str) -> None:
    assert number(value, scale) == text


def test_a_small_value_is_kept_when_the_limits_are_small() -> None:
    # 2e-13 against limits of 1e-12 is a real value, not noise
    assert format_value(2e-13, "s", Limits(high=1e-12)) == "2e-13"


def test_yes_no_checks_print_words() -> None:
    flag = Limits(low=1.0, high=1.0)
    assert format_value(1.0, "", flag) == "yes"
    assert format_value(0.0, "", flag) == "no"
    assert format_limits("", flag) == "yes"
    # a pulse count of exactly 1 with a unit is a number, not a flag
    assert format_value(1.0, "pulses", Limits(low=1, high=1, nominal=1)) == "1"


def test_describe_uses_the_same_formatting() -> None:
    m = Measurement.check("rate error", -1.5543e-13, "%", Limits(low=-1.0, high=1.0, nominal=0.0))
    assert m.describe() == "rate error: 0 %, expected 0 ± 1 % [PASS]"
    ok = Measurement.check("delivered waveform is biphasic", 0.0, "", Limits(low=1.0, high=1.0))
    assert ok.describe() == "delivered waveform is biphasic: no, expected yes [FAIL]"
