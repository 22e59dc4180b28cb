"""Pulse shape: period, phase ratio and template correlation per device.

Source: ``tms_pulse_1h``, the hourly pulse rollup the forwarder writes beside the raw
``tms_pulse`` points (:mod:`harness.record.rollup`: per device, test and hour, each
metric's ``_sum``, ``_count``, ``_min`` and ``_max``), so a year of a fleet is a few
thousand points, and the panels still work after the raw pulses' retention policy has
dropped them. Means per ``$__interval`` are ``sum(_sum) / sum(_count)``: the mean of
every pulse in the interval, not a mean of hourly means; the panels' minimum interval is
the rollup's hour, so an interval holds whole hours and the figure is exact. Split by
stimulator serial and waveform.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import dashboard, target, timeseries_panel, where
from dashboards.influxql import Select, ident

UID = "tmsbench-pulse-shape"
SOURCE = "tms_pulse_1h"
RESOLUTION = "1h"
PER_DEVICE = ("time($__interval)", ident("stimulator_serial"), ident("waveform"))
ALIAS = "$tag_stimulator_serial $tag_waveform: $col"


def per_interval(*columns: str) -> Select:
    """Aggregates of the pulse rollup per interval, stimulator serial and waveform."""
    return Select(columns=columns, source=SOURCE, where=where(), group_by=PER_DEVICE,
                  fill="none")


def mean_of(metric: str, alias: str) -> str:
    """The mean of every pulse's ``metric`` in the interval, from the rollup's sums."""
    return f"sum({ident(metric + '_sum')}) / sum({ident(metric + '_count')}) AS {ident(alias)}"


PERIOD = per_interval(mean_of("period_us", "period"))
PHASE_RATIO = per_interval(mean_of("phase_ratio", "phase ratio"))
CORRELATION = per_interval(
    mean_of("template_correlation", "mean"),
    f'min({ident("template_correlation_min")}) AS {ident("min")}',
)


def build() -> dash_m.Dashboard:
    """The pulse shape dashboard."""
    return dashboard(
        UID,
        "tmsbench: pulse shape",
        description=("Pulse period, phase ratio and template correlation per device, from the "
                     "hourly pulse rollup (tms_pulse_1h)."),
        panels=[
            timeseries_panel(
                "Pulse period",
                [target(PERIOD, alias=ALIAS)],
                description="Mean period of the discharge per interval.",
                unit="µs",
                min_interval=RESOLUTION,
            ),
            timeseries_panel(
                "Phase ratio (2nd/1st)",
                [target(PHASE_RATIO, alias=ALIAS)],
                description="Mean ratio of the second to the first phase amplitude.",
                min_interval=RESOLUTION,
            ),
            timeseries_panel(
                "Template correlation",
                [target(CORRELATION, alias=ALIAS)],
                description="Correlation of the E-field with the model template (mean, min).",
                width=24,
                min_interval=RESOLUTION,
            ),
        ],
    )
