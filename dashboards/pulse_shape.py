"""Pulse shape: period, phase ratio and template correlation per device.

Source: ``tms_pulse`` (one point per analysed pulse, fields from
``harness/capture.py``: ``period_us``, ``phase_ratio``, ``template_correlation``),
averaged per ``$__interval`` and split by stimulator serial and waveform.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import dashboard, target, timeseries_panel, where
from dashboards.influxql import Select, ident

UID = "tmsbench-pulse-shape"
PER_DEVICE = ("time($__interval)", ident("stimulator_serial"), ident("waveform"))
ALIAS = "$tag_stimulator_serial $tag_waveform: $col"


def per_interval(*columns: str) -> Select:
    """Aggregates of ``tms_pulse`` per interval, stimulator serial and waveform."""
    return Select(
        columns=columns, source="tms_pulse", where=where(), group_by=PER_DEVICE, fill="none"
    )


PERIOD = per_interval(f'mean({ident("period_us")}) AS {ident("period")}')
PHASE_RATIO = per_interval(f'mean({ident("phase_ratio")}) AS {ident("phase ratio")}')
CORRELATION = per_interval(
    f'mean({ident("template_correlation")}) AS {ident("mean")}',
    f'min({ident("template_correlation")}) AS {ident("min")}',
)


def build() -> dash_m.Dashboard:
    """The pulse shape dashboard."""
    return dashboard(
        UID,
        "tmsbench: pulse shape",
        description="Pulse period, phase ratio and template correlation per device.",
        panels=[
            timeseries_panel(
                "Pulse period",
                [target(PERIOD, alias=ALIAS)],
                description="Mean period of the discharge per interval.",
                unit="µs",
            ),
            timeseries_panel(
                "Phase ratio (2nd/1st)",
                [target(PHASE_RATIO, alias=ALIAS)],
                description="Mean ratio of the second to the first phase amplitude.",
            ),
            timeseries_panel(
                "Template correlation",
                [target(CORRELATION, alias=ALIAS)],
                description="Correlation of the E-field with the model template (mean, min).",
                width=24,
            ),
        ],
    )
