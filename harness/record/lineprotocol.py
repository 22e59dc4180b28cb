"""InfluxDB line protocol: escaping and encoding of single points.

Line protocol is ``measurement[,tag=value...] field=value[,field=value...] timestamp``
with the timestamp in integer nanoseconds since the Unix epoch.

Escaping rules (checked against InfluxDB 1.6 and the 2.x reference):

* measurement names: ``,`` and space are escaped with a backslash;
* tag keys, tag values and field keys: ``,``, ``=`` and space are escaped;
  field keys also escape ``"`` (InfluxDB tracks quotes in the field section;
  in tags a ``"`` is an ordinary character and ``\"`` would stay literal);
* string field values: wrapped in ``"``; ``"`` and ``\\`` are escaped.

Identifiers (measurement, tag keys/values, field keys) have no escape for a
backslash: InfluxDB keeps ``\\`` literally, and a backslash right before an
escaped character or at the very end would swallow the escape or the
separator. Such a backslash is written as ``/`` instead, and line breaks and
tabs in identifiers become spaces; the journal keeps the exact original text.
Empty tag values and empty keys are dropped (line protocol cannot carry them).

Field types: ``float`` (shortest round-trip repr; NaN and ±inf cannot be sent
and are dropped), ``int`` (``123i``, signed 64-bit), ``bool`` (``true``/``false``)
and ``str``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from functools import lru_cache

FieldValue = float | int | bool | str

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_WHITESPACE = str.maketrans({"\n": " ", "\r": " ", "\t": " "})
_MEAS_SPECIAL = frozenset(", ")
_KEY_SPECIAL = frozenset(",= ")
_FIELD_KEY_SPECIAL = frozenset(',= "')


def _escape_identifier(text: str, special: frozenset[str]) -> str:
    text = text.translate(_WHITESPACE)
    if "\\" not in text and not any(c in special for c in text):
        return text
    out: list[str] = []
    last = len(text) - 1
    for i, c in enumerate(text):
        if c == "\\":
            nxt = text[i + 1] if i < last else ""
            out.append("/" if nxt == "" or nxt in special else "\\")
        elif c in special:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


@lru_cache(maxsize=4096)
def escape_measurement(name: str) -> str:
    """Escape a measurement name (``,`` and space)."""
    if not name:
        raise ValueError("empty measurement name")
    escaped = _escape_identifier(name, _MEAS_SPECIAL)
    if escaped.startswith("#"):
        # A line starting with '#' is a comment.
        escaped = "\\" + escaped
    return escaped


@lru_cache(maxsize=16384)
def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (``,``, ``=``, space)."""
    return _escape_identifier(text, _KEY_SPECIAL)


@lru_cache(maxsize=16384)
def escape_field_key(text: str) -> str:
    """Escape a field key: like tag keys, plus ``"`` (the field section tracks quotes)."""
    return _escape_identifier(text, _FIELD_KEY_SPECIAL)


def escape_string_field(value: str) -> str:
    """Quote a string field value, escaping ``\\`` and ``"``."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def format_field_value(value: object) -> str | None:
    """Line-protocol text of one field value, or ``None`` if it cannot be sent.

    ``bool`` → ``true``/``false``; integers (including numpy integers) → ``Ni``
    (outside int64 they are sent as floats); reals → shortest round-trip float
    text; non-finite floats → ``None``; ``str`` → quoted string.
    """
    t = type(value)
    if t is float:
        return repr(value) if math.isfinite(value) else None  # type: ignore[arg-type]
    if t is str:
        return escape_string_field(value)  # type: ignore[arg-type]
    if t is bool:
        return "true" if value else "false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        iv = int(value)
        if INT64_MIN <= iv <= INT64_MAX:
            return f"{iv}i"
        return repr(float(iv))
    if isinstance(value, numbers.Real):
        fv = float(value)
        return repr(fv) if math.isfinite(fv) else None
    if isinstance(value, str):
        return escape_string_field(str(value))
    if value is None:
        return None
    raise TypeError(f"unsupported field type {type(value).__name__}")


def format_tags(tags: Iterable[tuple[str, str]]) -> str:
    """``,k=v,k2=v2`` for tag pairs sorted by key; empty keys/values dropped."""
    parts = []
    for k, v in sorted(tags):
        if k == "" or v == "" or v is None:
            continue
        parts.append(f",{escape_key(k)}={escape_key(str(v))}")
    return "".join(parts)


def format_fields(fields: Mapping[str, object]) -> str:
    """``k=v,k2=v2``; fields whose value cannot be sent (None, NaN) are left out."""
    parts = []
    for k, v in fields.items():
        if not k:
            continue
        text = format_field_value(v)
        if text is not None:
            parts.append(f"{escape_field_key(k)}={text}")
    return ",".join(parts)


def encode_point(
    measurement: str,
    tags: Mapping[str, str] | Iterable[tuple[str, str]],
    fields: Mapping[str, object],
    time_ns: int,
) -> str:
    """One line of line protocol (no trailing newline).

    Raises ``ValueError`` when no field can be sent (a point needs one).
    """
    pairs = tags.items() if isinstance(tags, Mapping) else tags
    fieldset = format_fields(fields)
    if not fieldset:
        raise ValueError(f"point of {measurement!r} has no field that can be sent")
    return f"{escape_measurement(measurement)}{format_tags(pairs)} {fieldset} {int(time_ns)}"


# ---------------------------------------------------------------- parsing
# A small parser for the subset we write; used by tests and by tools that
# read line protocol back (it understands every escape this module emits).


def _split_unescaped(text: str, sep: str, *, quotes: bool = False) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    in_q = False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quotes and c == '"':
            in_q = not in_q
        if c == sep and not in_q:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape_identifier(text: str, special: str = ",= ") -> str:
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in special:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _parse_value(text: str) -> FieldValue:
    if text.startswith('"'):
        body = text[1:-1]
        out = []
        i = 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in '\\"':
                out.append(body[i + 1])
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


def _split_key_value(part: str) -> tuple[str, str]:
    i = 0
    while i < len(part):
        if part[i] == "\\":
            i += 2
            continue
        if part[i] == "=":
            return part[:i], part[i + 1 :]
        i += 1
    raise ValueError(f"no '=' in {part!r}")


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, FieldValue], int]:
    """Parse one line we emitted into ``(measurement, tags, fields, time_ns)``."""
    head_and_rest = _split_unescaped(line, " ")  # quotes are literal in the head
    head = head_and_rest[0]
    sections = _split_unescaped(line[len(head) + 1 :], " ", quotes=True)
    if len(sections) != 2:
        raise ValueError(f"cannot parse line: {line!r}")
    fieldset, ts = sections
    head_parts = _split_unescaped(head, ",")
    name = head_parts[0]
    if name.startswith("\\#"):
        name = name[1:]
    tags: dict[str, str] = {}
    for part in head_parts[1:]:
        k, v = _split_key_value(part)
        tags[_unescape_identifier(k)] = _unescape_identifier(v)
    fields: dict[str, FieldValue] = {}
    for part in _split_unescaped(fieldset, ",", quotes=True):
        k, v = _split_key_value(part)
        fields[_unescape_identifier(k, ',= "')] = _parse_value(v)
    return _unescape_identifier(name), tags, fields, int(ts)
