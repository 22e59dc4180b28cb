"""A small InfluxQL query builder and the Grafana target (dataquery) that carries it.

grafana-foundation-sdk has no query type for the ``influxdb`` datasource, so
this module provides one:

* :class:`Select` renders an InfluxQL ``SELECT`` (optionally over subqueries)
  from typed parts; identifiers are double-quoted, string literals
  single-quoted, regular expressions ``/.../``;
* :class:`InfluxQLQuery` is the dataquery model (``rawQuery: true``,
  ``query``, ``resultFormat``, ``alias``) and :class:`InfluxQLTarget` its
  builder, accepted wherever the SDK takes a ``Builder[Dataquery]``;
* :func:`register` registers the variant with the SDK runtime so that
  ``Dashboard.from_json`` reads our targets back as :class:`InfluxQLQuery`.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dash

DATASOURCE_TYPE = "influxdb"

ResultFormat = typing.Literal["time_series", "table", "logs"]


# ---------------------------------------------------------------- quoting
def ident(name: str) -> str:
    """Double-quoted InfluxQL identifier (``"`` and ``\\`` escaped)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(text: str) -> str:
    """Single-quoted InfluxQL string literal (``'`` and ``\\`` escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tag_eq(tag: str, value: str) -> str:
    """``"tag" = 'value'``."""
    return f"{ident(tag)} = {literal(value)}"


def tag_ne(tag: str, value: str) -> str:
    """``"tag" != 'value'``."""
    return f"{ident(tag)} != {literal(value)}"


def tag_regex(tag: str, pattern: str) -> str:
    """``"tag" =~ /pattern/`` (``pattern`` is used as written, e.g. ``^$serial$``)."""
    if "/" in pattern.replace("\\/", ""):
        raise ValueError(f"unescaped '/' in regex {pattern!r}")
    return f"{ident(tag)} =~ /{pattern}/"


def tag_in(tag: str, values: Sequence[str]) -> str:
    """``"tag" =~ /^(a|b)$/`` for fixed values (regex-escaped)."""
    from dashboards.macros import regex_escape  # local: macros imports nothing from here

    return tag_regex(tag, "^(" + "|".join(regex_escape(v) for v in values) + ")$")


def variable_match(tag: str, variable: str) -> str:
    """``"tag" =~ /^$variable$/``: how every panel filters on a template variable."""
    return tag_regex(tag, f"^${variable}$")


# ---------------------------------------------------------------- SELECT
@dataclass(frozen=True)
class Select:
    """One InfluxQL ``SELECT`` statement.

    ``columns`` are expressions (``'"value" AS "output"'``, ``'mean("period_us")'``);
    ``source`` is a measurement name or a tuple of subqueries (InfluxQL unions
    several ``FROM`` sources); ``where`` clauses are joined with ``AND``;
    ``group_by`` items are rendered as written (use :func:`ident` for tags,
    ``time($__interval)`` for time buckets).
    """

    columns: tuple[str, ...]
    source: str | tuple[Select, ...]
    where: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    fill: str | None = None
    order_desc: bool = False
    limit: int | None = None

    def render(self) -> str:
        """The statement text."""
        if not self.columns:
            raise ValueError("a SELECT needs at least one column")
        if isinstance(self.source, str):
            source = ident(self.source)
        else:
            if not self.source:
                raise ValueError("a subquery source needs at least one SELECT")
            source = ", ".join(f"({sub.render()})" for sub in self.source)
        parts = [f"SELECT {', '.join(self.columns)} FROM {source}"]
        if self.where:
            parts.append("WHERE " + " AND ".join(self.where))
        if self.group_by:
            parts.append("GROUP BY " + ", ".join(self.group_by))
        if self.fill is not None:
            parts.append(f"fill({self.fill})")
        if self.order_desc:
            parts.append("ORDER BY time DESC")
        if self.limit is not None:
            parts.append(f"LIMIT {int(self.limit)}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render()


def show_tag_values(measurement: str, key: str, where: Sequence[str] = ()) -> str:
    """``SHOW TAG VALUES FROM "m" WITH KEY = "k" [WHERE ...]`` (template variable query)."""
    text = f"SHOW TAG VALUES FROM {ident(measurement)} WITH KEY = {ident(key)}"
    if where:
        text += " WHERE " + " AND ".join(where)
    return text


# ---------------------------------------------------------------- dataquery
@dataclass
class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of the ``influxdb`` datasource (Grafana's JSON shape)."""

    ref_id: str = "A"
    query: str = ""
    result_format: ResultFormat = "time_series"
    alias: str | None = None
    hide: bool | None = None
    datasource: dash.DataSourceRef | None = None
    extra: dict[str, typing.Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Target JSON as Grafana stores it."""
        payload: dict[str, object] = {"refId": self.ref_id}
        if self.datasource is not None:
            payload["datasource"] = self.datasource.to_json()
        payload["rawQuery"] = True
        payload["query"] = self.query
        payload["resultFormat"] = self.result_format
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide is not None:
            payload["hide"] = self.hide
        payload.update(self.extra)
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> typing.Self:
        """Inverse of :meth:`to_json` (unknown keys are kept in ``extra``)."""
        known = {"refId", "datasource", "rawQuery", "query", "resultFormat", "alias", "hide"}
        ds = data.get("datasource")
        return cls(
            ref_id=data.get("refId", "A"),
            query=data.get("query", ""),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
            hide=data.get("hide"),
            datasource=dash.DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
            extra={k: v for k, v in data.items() if k not in known},
        )


class InfluxQLTarget(cogbuilder.Builder[InfluxQLQuery]):
    """Builder of :class:`InfluxQLQuery` in the SDK's fluent style."""

    def __init__(self, query: Select | str, *, ref_id: str = "A") -> None:
        self._internal = InfluxQLQuery(ref_id=ref_id, query=str(query))

    def build(self) -> InfluxQLQuery:
        """The built dataquery."""
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        """Target id within its panel (``A``, ``B``, ...)."""
        self._internal.ref_id = ref_id
        return self

    def result_format(self, fmt: ResultFormat) -> typing.Self:
        """``time_series`` (default) or ``table``."""
        self._internal.result_format = fmt
        return self

    def alias(self, alias: str) -> typing.Self:
        """Series name pattern (``$tag_<key>``, ``$col``, ``$m``)."""
        self._internal.alias = alias
        return self

    def datasource(self, ref: dash.DataSourceRef) -> typing.Self:
        """Datasource of this target."""
        self._internal.datasource = ref
        return self


def register() -> None:
    """Register :class:`InfluxQLQuery` with the SDK runtime for type ``influxdb``."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(
            identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json
        )
    )


register()
