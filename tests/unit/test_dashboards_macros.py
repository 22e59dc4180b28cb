"""Grafana's InfluxQL macro expansion (dashboards.macros) against the documented rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's dashboards/

from dashboards.macros import (
    Variable,
    expand,
    expand_macros,
    format_interval,
    interpolate_variables,
    regex_escape,
    variables_used,
)


def test_regex_escape_escapes_exactly_grafanas_character_class():
    special = "\\^$*+?.()|[]{}/"
    assert regex_escape(special) == "".join("\\" + c for c in special)
    assert regex_escape("SN-12_a b,c=d'\"#%&") == "SN-12_a b,c=d'\"#%&"  # nothing else


@pytest.mark.parametrize(
    ("var", "expected"),
    [
        (Variable("v", ["a.b", "c+d"]), r"(a\.b|c\+d)"),
        (Variable("v", ["a.b"]), r"a\.b"),  # one value of a multi variable: no group
        (Variable("v", None, options=["x/1", "y"]), r"(x\/1|y)"),  # All = every option
        (Variable("v", None, options=["x"], all_value=".*"), ".*"),  # custom all value: raw
        (Variable("v", [1, 2.5]), "(1|2.5)"),  # numbers raw
        (Variable("v", ["a.b"], multi=False, include_all=False), "a.b"),  # plain: as is
        (Variable("v", ["a.b"], multi=False, include_all=True), r"a\.b"),  # has All: escaped
    ],
)
def test_variable_rendering(var, expected):
    assert var.render() == expected


def test_all_without_all_option_is_an_error():
    with pytest.raises(ValueError):
        Variable("v", None, options=["a"], include_all=False, multi=True).render()


def test_all_three_variable_syntaxes_and_unknown_names_left_alone():
    variables = {"serial": Variable("serial", ["SN1", "SN(2)"])}
    q = 'WHERE "s" =~ /^$serial$/ AND "t" =~ /^${serial}$/ AND "u" =~ /^[[serial]]$/ AND $serials'
    assert interpolate_variables(q, variables) == (
        r'WHERE "s" =~ /^(SN1|SN\(2\))$/ AND "t" =~ /^(SN1|SN\(2\))$/'
        r' AND "u" =~ /^(SN1|SN\(2\))$/ AND $serials'
    )


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (90_000, "1m"),  # truncated to one largest unit
        (59_999, "59s"),
        (1_500, "1s"),
        (999, "999ms"),
        (0, "1ms"),
        (3_600_000, "1h"),
        (36 * 3_600_000, "1d"),
        (8 * 86_400_000, "8d"),
        (400 * 86_400_000, "1y"),
    ],
)
def test_format_interval(ms, text):
    assert format_interval(ms) == text


def test_builtin_macros():
    q = ("SELECT mean(v) FROM m WHERE $timeFilter GROUP BY time($__interval), time($interval)"
         " LIMIT $__interval_ms")
    assert expand_macros(q, from_ms=1_000, to_ms=2_000, interval_ms=90_000) == (
        "SELECT mean(v) FROM m WHERE time >= 1000ms and time <= 2000ms"
        " GROUP BY time(1m), time(1m) LIMIT 90000"
    )


def test_dollar_double_underscore_timefilter_is_not_an_influxql_macro():
    q = "WHERE $__timeFilter"
    assert expand(q, {}, from_ms=1, to_ms=2, interval_ms=1000) == q


def test_variables_are_expanded_before_the_builtin_macros():
    # A variable's value is inserted first; a macro inside it is then expanded too.
    variables = {"cond": Variable("cond", ["$timeFilter"], multi=False, include_all=False)}
    assert expand("WHERE $cond", variables, from_ms=5, to_ms=6, interval_ms=1) == (
        "WHERE time >= 5ms and time <= 6ms"
    )


def test_variables_used_ignores_builtins():
    q = "$timeFilter $__interval $interval $__interval_ms ${station} [[coil]] $serial"
    assert variables_used(q) == {"station", "coil", "serial"}
