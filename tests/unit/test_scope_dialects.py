"""Dialect tables: preamble parsing, scaling formulas, error replies, timebase commands."""

from __future__ import annotations

import pytest

from instruments.scope.dialects import (
    KEYSIGHT,
    TEKTRONIX,
    keysight_busy,
    parse_error_pairs,
    parse_keysight_preamble,
    parse_tektronix_preamble,
    split_unquoted,
    tektronix_busy,
)


def test_keysight_word_preamble_gives_volts_and_time() -> None:
    # format WORD, type, 10000 points, count, xinc 1e-7, xorigin -1e-4, xref 0,
    # yinc 1e-4, yorigin 0.5 V, yref 32768
    p = parse_keysight_preamble("+1,+0,+10000,+1,+1.0E-07,-1.0E-04,+0,+1.0E-04,+5.0E-01,+32768")
    assert (p.points, p.dtype, p.rail_low, p.rail_high, p.hole) == (10000, "<u2", 1, 0xFFFF, 0)
    assert p.t0_s == pytest.approx(-1e-4) and p.dt_s == pytest.approx(1e-7)
    # V = (code − yref)·yinc + yorigin: code 42768 -> 10000·1e-4 + 0.5 = 1.5 V
    assert (42768 - p.y_reference) * p.y_increment + p.y_origin == pytest.approx(1.5)


def test_keysight_xreference_shifts_the_time_axis() -> None:
    p = parse_keysight_preamble("0,0,100,1,2.0E-06,1.0E-03,10,0.01,0,128")
    # t = (i − xref)·xinc + xorigin: sample 0 is 10 samples before xorigin
    assert p.t0_s == pytest.approx(1e-3 - 10 * 2e-6)
    assert (p.dtype, p.rail_low, p.rail_high) == ("u1", 1, 255)


@pytest.mark.parametrize("bad", ["1,0,100", "7,0,10,1,1,0,0,1,0,0"])
def test_keysight_bad_preamble_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_keysight_preamble(bad)


def test_keysight_ascii_preamble_is_format_4() -> None:
    # PyMeasure's test_keysightDSOX1102G_with_device: ASCii preamble after *RST
    p = parse_keysight_preamble("4,0,62500,1,1.6E-08,-5.0E-04,0,7.851759E-04,0,32768")
    assert p.ascii and p.points == 62500 and p.y_reference == 32768 and p.hole is None


TEK = (
    '2;16;BIN;RI;LSB;"Ch1, DC coupling; odd, 1.000E+0 V/div";10000;Y;LINEAR;"s";'
    '1.0E-7;-1.0E-4;0;"V";1.22E-4;0;-0.25'
)


def test_tektronix_preamble_with_quoted_separator() -> None:
    p = parse_tektronix_preamble(TEK)
    assert (p.points, p.dtype, p.rail_low, p.rail_high) == (10000, "<i2", -32768, 32767)
    assert p.t0_s == pytest.approx(-1e-4) and p.dt_s == pytest.approx(1e-7)
    # V = (code − YOFF)·YMULT + YZERO
    assert (1000 - p.y_reference) * p.y_increment + p.y_origin == pytest.approx(0.122 - 0.25)


def test_tektronix_point_offset_and_formats() -> None:
    p = parse_tektronix_preamble('1;8;BIN;RP;MSB;"x";500;Y;LINEAR;"s";1E-6;0;100;"V";0.01;128;0')
    assert p.t0_s == pytest.approx(-100e-6)  # t_i = XZERO + (i − PT_OFF)·XINCR
    assert (p.dtype, p.rail_low, p.rail_high) == ("u1", 0, 255)
    p2 = parse_tektronix_preamble(TEK.replace(";LSB;", ";MSB;"))
    assert p2.dtype == ">i2"
    assert parse_tektronix_preamble(TEK.replace(";BIN;", ";ASC;")).ascii  # ENCdg ASCii
    with pytest.raises(ValueError):
        parse_tektronix_preamble(TEK.replace(";BIN;", ";FP;"))


def test_error_replies() -> None:
    assert parse_error_pairs('+0,"No error"') == []
    assert parse_error_pairs('-113,"Undefined header"') == [(-113, "Undefined header")]
    assert parse_error_pairs('-113,"Undefined header; FOO",-222,"Data out of range"') == [
        (-113, "Undefined header; FOO"),
        (-222, "Data out of range"),
    ]
    assert parse_error_pairs('0,"No events to report - queue empty"') == []


def test_busy_predicates() -> None:
    assert keysight_busy("+40") and keysight_busy("8") and not keysight_busy("+32")
    assert tektronix_busy("1") and not tektronix_busy("0")


def test_timebase_commands_put_the_trigger_where_asked() -> None:
    ks = KEYSIGHT.timebase(1e-3, 0.1, 10_000)
    assert ":TIMebase:RANGe 1.000000000E-03" in ks
    assert ":TIMebase:POSition 4.000000000E-04" in ks  # centre 0.4 ms after the trigger
    tek = TEKTRONIX.timebase(1e-3, 0.1, 10_000)
    assert "HORizontal:SCAle 1.000000000E-04" in tek and "HORizontal:POSition 10" in tek


def test_dialects_name_sources_and_slopes() -> None:
    assert KEYSIGHT.source.format(ch=2) == "CHAN2" and TEKTRONIX.source.format(ch=2) == "CH2"
    assert KEYSIGHT.slopes["falling"] == "NEGative" and TEKTRONIX.slopes["rising"] == "RISe"
    assert split_unquoted('a;"b;c";d', ";") == ["a", '"b;c"', "d"]
