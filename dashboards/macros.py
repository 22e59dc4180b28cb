"""Grafana's expansion of a raw InfluxQL target into the query InfluxDB receives.

Used by the tests to run every panel's query against a real InfluxDB exactly
as Grafana (backend query path, the default in Grafana 11/12) would send it.
Rules (source: the project design notes, section "Results", which record
Grafana's InfluxQL behaviour):

1. **Template variables first.** ``$name``, ``${name}`` and ``[[name]]`` are
   replaced by the variable's current value. For a variable that is
   multi-value or has an *All* option, each value is regex-escaped with the
   character class ``[\\^$*+?.()|[\\]{}/]`` and several values become
   ``(a|b)``; *All* means every option (or the variable's custom all value,
   used raw). Numbers are inserted raw. A plain single-value variable is
   inserted as is. Unknown names are left untouched, as Grafana does.
2. **Then the built-in macros:** ``$timeFilter`` →
   ``time >= <fromMs>ms and time <= <toMs>ms``; ``$__interval_ms`` → the
   interval in integer milliseconds; ``$interval`` and ``$__interval`` → the
   interval in its one largest whole unit, truncated (``90s`` → ``1m``,
   ``36h`` → ``1d``; units y, d, h, m, s, ms). A macro name only matches as a
   whole word, so ``$__interval`` never eats the start of ``$__interval_ms``.
   ``$__timeFilter`` is **not** an InfluxQL-mode macro and stays unexpanded
   (InfluxDB then rejects the query), so dashboards must not use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Characters Grafana's ``regexEscape`` escapes with a backslash.
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|[\]{}/]")

#: ``$name`` | ``[[name]]`` | ``${name}`` (Grafana's variable syntaxes).
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)\]\]|\$\{(\w+)\}")

Value = str | int | float

_UNITS_MS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)


def regex_escape(value: str) -> str:
    """Backslash-escape every regex special character (Grafana's ``regexEscape``)."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


@dataclass(frozen=True)
class Variable:
    """State of one template variable at query time.

    ``current`` is the selection (``None`` = *All*); ``options`` are all
    values the variable offers (what *All* stands for).
    """

    name: str
    current: Sequence[Value] | None
    options: Sequence[Value] = ()
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None

    def render(self) -> str:
        """The text that replaces the variable in an InfluxQL query."""
        if self.current is None:
            if not self.include_all:
                raise ValueError(f"variable {self.name!r} has no All option")
            if self.all_value is not None:
                return self.all_value
            values: Sequence[Value] = self.options
        else:
            values = self.current
        if not (self.multi or self.include_all):
            if len(values) != 1:
                raise ValueError(f"single-value variable {self.name!r} needs one value")
            return _raw(values[0])
        rendered = [_raw(v) if _is_number(v) else regex_escape(str(v)) for v in values]
        if len(rendered) == 1:
            return rendered[0]
        return "(" + "|".join(rendered) + ")"


def _is_number(v: Value) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _raw(v: Value) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def interpolate_variables(query: str, variables: Mapping[str, Variable]) -> str:
    """Step 1: replace template variables; unknown names stay as written."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        var = variables.get(name)
        return m.group(0) if var is None else var.render()

    return _VARIABLE.sub(sub, query)


def format_interval(interval_ms: int) -> str:
    """Interval in its largest whole unit, truncated: ``90_000`` → ``1m``."""
    for unit, size in _UNITS_MS:
        if interval_ms >= size:
            return f"{interval_ms // size}{unit}"
    return "1ms"


def _replace_macro(text: str, name: str, value: str) -> str:
    return re.sub(re.escape(name) + r"(?!\w)", lambda _m: value, text)


def expand_macros(query: str, *, from_ms: int, to_ms: int, interval_ms: int) -> str:
    """Step 2: ``$timeFilter``, ``$__interval_ms``, ``$__interval``, ``$interval``."""
    time_filter = f"time >= {int(from_ms)}ms and time <= {int(to_ms)}ms"
    text = _replace_macro(query, "$timeFilter", time_filter)
    text = _replace_macro(text, "$__interval_ms", str(int(interval_ms)))
    text = _replace_macro(text, "$__interval", format_interval(int(interval_ms)))
    return _replace_macro(text, "$interval", format_interval(int(interval_ms)))


def expand(
    query: str,
    variables: Mapping[str, Variable],
    *,
    from_ms: int,
    to_ms: int,
    interval_ms: int,
) -> str:
    """The query Grafana sends: variables first, then the built-in macros."""
    return expand_macros(
        interpolate_variables(query, variables),
        from_ms=from_ms,
        to_ms=to_ms,
        interval_ms=interval_ms,
    )


def variables_used(query: str) -> set[str]:
    """Names of template variables a query refers to (built-ins ``__*`` and
    ``timeFilter``/``interval`` excluded)."""
    names = {m.group(1) or m.group(2) or m.group(3) for m in _VARIABLE.finditer(query)}
    return {n for n in names if not n.startswith("__") and n not in ("timeFilter", "interval")}
