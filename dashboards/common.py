"""Pieces every tmsbench dashboard shares: template variables, filters, panel helpers.

Template variables (all multi-value with *All*, options from ``SHOW TAG
VALUES``): ``station``, ``serial`` (stimulator serial) and ``coil`` (coil
serial), each narrowed by the ones before it. Every panel query filters on all
three with an anchored regex match (``"station" =~ /^$station$/``), which is
how Grafana's InfluxQL interpolation of multi-value variables is meant to be
used, plus ``$timeFilter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards import datasource
from dashboards.influxql import InfluxQLTarget, Select, show_tag_values, variable_match

#: Measurement the variables read their options from (every result kind carries
#: the context tags, and every device with any result has measurements).
VARIABLE_SOURCE = "tms_measurement"


@dataclass(frozen=True)
class TemplateVar:
    """A dashboard template variable bound to one InfluxDB tag."""

    name: str
    label: str
    tag: str


STATION = TemplateVar("station", "Station", "station")
SERIAL = TemplateVar("serial", "Stimulator serial", "stimulator_serial")
COIL = TemplateVar("coil", "Coil serial", "coil_serial")
VARIABLES: tuple[TemplateVar, ...] = (STATION, SERIAL, COIL)

TIME_FILTER = "$timeFilter"

#: ``test`` tag of the drift assessments ``tmsbench drift --record`` writes
#: (``harness.drift.record.DRIFT_TEST``): analytics, not bench tests, so the
#: manufacturing panels leave them out.
DRIFT_TEST = "tmsbench drift"


def device_filters() -> tuple[str, ...]:
    """WHERE clauses every panel query carries: one regex match per variable."""
    return tuple(variable_match(v.tag, v.name) for v in VARIABLES)


def where(*clauses: str) -> tuple[str, ...]:
    """``clauses`` + the variable filters + ``$timeFilter`` (in that order)."""
    return (*clauses, *device_filters(), TIME_FILTER)


def variable_builders() -> list[dash_b.QueryVariable]:
    """The ``station`` → ``serial`` → ``coil`` chain of query variables."""
    out = []
    for i, var in enumerate(VARIABLES):
        narrowing = [variable_match(v.tag, v.name) for v in VARIABLES[:i]]
        out.append(
            dash_b.QueryVariable(var.name)
            .label(var.label)
            .datasource(datasource.ref())
            .query(show_tag_values(VARIABLE_SOURCE, var.tag, narrowing))
            .multi(True)
            .include_all(True)
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
            .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
        )
    return out


def target(query: Select | str, *, ref_id: str = "A", alias: str | None = None,
           table_format: bool = False) -> InfluxQLTarget:
    """A raw InfluxQL target on the tmsbench datasource."""
    t = InfluxQLTarget(query, ref_id=ref_id).datasource(datasource.ref())
    if alias is not None:
        t.alias(alias)
    if table_format:
        t.result_format("table")
    return t


def timeseries_panel(
    title: str,
    targets: Sequence[InfluxQLTarget],
    *,
    description: str,
    unit: str = "",
    width: int = 12,
    height: int = 8,
    bars: bool = False,
    points: bool = True,
    limit_series: str | None = None,
    min_interval: str | None = None,
) -> timeseries.Panel:
    """A time series panel; ``limit_series`` (regex on series names) draws those
    series as red dashed lines without points (tolerance limits); ``min_interval``:
    the smallest ``$__interval`` Grafana may use (a rollup's own resolution)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(datasource.ref())
        .targets(list(targets))
        .span(width)
        .height(height)
        .legend(
            common_b.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_m.LegendDisplayMode.TABLE)
            .placement(common_m.LegendPlacement.BOTTOM)
            .calcs(["lastNotNull", "min", "max"])
        )
    )
    if unit:
        panel.unit(unit)
    if min_interval:
        panel.interval(min_interval)
    if bars:
        panel.draw_style(common_m.GraphDrawStyle.BARS).fill_opacity(60)
    else:
        panel.draw_style(common_m.GraphDrawStyle.LINE).span_nulls(True)
        visibility = common_m.VisibilityMode.ALWAYS if points else common_m.VisibilityMode.AUTO
        panel.show_points(visibility)
    if limit_series is not None:
        panel.override_by_regexp(
            limit_series,
            [
                dash_m.DynamicConfigValue(id_val="custom.lineStyle",
                                          value={"fill": "dash", "dash": [10, 10]}),
                dash_m.DynamicConfigValue(id_val="custom.showPoints", value="never"),
                dash_m.DynamicConfigValue(id_val="color",
                                          value={"mode": "fixed", "fixedColor": "red"}),
            ],
        )
    return panel


def table_panel(
    title: str,
    targets: Sequence[InfluxQLTarget],
    *,
    description: str,
    unit: str = "",
    width: int = 12,
    height: int = 8,
) -> table.Panel:
    """A table panel (targets should use ``table_format=True``)."""
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(datasource.ref())
        .targets(list(targets))
        .span(width)
        .height(height)
    )
    if unit:
        panel.unit(unit)
    return panel


def dashboard(
    uid: str,
    title: str,
    *,
    description: str,
    panels: Sequence[timeseries.Panel | table.Panel],
    time_from: str = "now-30d",
) -> dash_m.Dashboard:
    """A tmsbench dashboard with the shared variables; panel ids are 1, 2, ... in order."""
    builder = (
        dash_b.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["tmsbench"])
        .editable()
        .timezone("utc")
        .time(time_from, "now")
        .refresh("")
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .variables(list(variable_builders()))
    )
    for i, panel in enumerate(panels, start=1):
        builder.with_panel(panel.id(i))
    return builder.build()
