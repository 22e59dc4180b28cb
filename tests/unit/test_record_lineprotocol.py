"""Line protocol escaping and field encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.record.lineprotocol import (
    encode_point,
    escape_key,
    escape_measurement,
    escape_string_field,
    format_field_value,
    parse_line,
)


def test_measurement_escapes_comma_and_space_only():
    assert escape_measurement("a,b c=d") == "a\\,b\\ c=d"


def test_comment_marker_is_escaped():
    assert escape_measurement("#x").startswith("\\#")


def test_key_escapes_comma_equals_space():
    assert escape_key("a,b=c d") == "a\\,b\\=c\\ d"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("C:\\", "C:/"),  # trailing backslash would escape the separator
        ("a\\,b", "a/\\,b"),  # backslash before an escaped char
        ("a\\b", "a\\b"),  # harmless backslash stays
        ("l1\nl2\tx", "l1\\ l2\\ x"),  # line breaks / tabs become (escaped) spaces
    ],
)
def test_identifier_backslashes_and_line_breaks(raw, escaped):
    assert escape_key(raw) == escaped


def test_string_field_escapes_quote_and_backslash():
    assert escape_string_field('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.5, "1.5"),
        (1e-5, "1e-05"),
        (3, "3i"),
        (np.int64(-7), "-7i"),
        (np.float32(0.5), "0.5"),
        (True, "true"),
        (np.bool_(False), None),  # numpy bool is not a bool: see below
        (2**63, repr(float(2**63))),
        ("x", '"x"'),
        (math.nan, None),
        (math.inf, None),
        (None, None),
    ],
)
def test_field_values(value, text):
    if isinstance(value, np.bool_):
        # np.bool_ is neither int nor Real: it is rejected loudly, never mis-typed.
        with pytest.raises(TypeError):
            format_field_value(value)
        return
    assert format_field_value(value) == text


def test_point_sorted_tags_empty_tag_dropped_and_nan_field_dropped():
    line = encode_point("m", {"b": "2", "a": "1", "e": ""}, {"v": 1.0, "n": math.nan}, 42)
    assert line == "m,a=1,b=2 v=1.0 42"


def test_point_without_sendable_field_is_refused():
    with pytest.raises(ValueError):
        encode_point("m", {}, {"n": math.nan}, 1)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',= "\\'),
    min_size=1,
    max_size=12,
)


def _expected_identifier(s: str, special: str = ",= ") -> str:
    # What escaping keeps of an identifier: see lineprotocol's module notes.
    out = []
    for i, c in enumerate(s):
        nxt = s[i + 1] if i + 1 < len(s) else ""
        out.append("/" if c == "\\" and (nxt == "" or nxt in special) else c)
    return "".join(out)


@given(
    name=_text,
    tags=st.dictionaries(_text, _text, max_size=4),
    fields=st.dictionaries(
        _text,
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.booleans(),
            st.text(max_size=10),
        ),
        min_size=1,
        max_size=4,
    ),
    ts=st.integers(min_value=0, max_value=2**62),
)
def test_roundtrip_through_parser(name, tags, fields, ts):
    line = encode_point(name, tags, fields, ts)
    assert "\n" not in line.split('"')[0]
    got_name, got_tags, got_fields, got_ts = parse_line(line)
    assert got_name == _expected_identifier(name, ", ")
    assert got_tags == {_expected_identifier(k): _expected_identifier(v) for k, v in tags.items()}
    assert got_fields == {_expected_identifier(k, ',= "'): v for k, v in fields.items()}
    assert got_ts == ts
