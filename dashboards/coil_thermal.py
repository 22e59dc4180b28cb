"""Coil thermal: coil temperature during trains and the temperature checks.

Sources: ``tms_temperature`` (``sensor`` tag, ``celsius`` field; read before
and after every train, the field ``tag_phase`` says which), ``tms_train``
(rate and pulse counts per train) and the ``coil temperature after ...``
measurements of the thermal test with their upper limit.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import dashboard, table_panel, target, timeseries_panel, where
from dashboards.influxql import Select, ident, tag_eq, tag_regex

UID = "tmsbench-coil-thermal"
PER_COIL = ("time($__interval)", ident("coil_serial"))
COIL_SENSOR = tag_eq("sensor", "coil")

TEMPERATURE = Select(
    columns=(f'max({ident("celsius")}) AS {ident("temperature")}',),
    source="tms_temperature",
    where=where(COIL_SENSOR),
    group_by=PER_COIL,
    fill="none",
)
TRAINS = Select(
    columns=(
        f'mean({ident("mean_rate_hz")}) AS {ident("rate")}',
        f'sum({ident("valid_pulses")}) AS {ident("pulses")}',
    ),
    source="tms_train",
    where=where(),
    group_by=PER_COIL,
    fill="none",
)
LIMIT_CHECKS = Select(
    columns=(f'{ident("value")} AS {ident("temperature")}', f'{ident("high")} AS {ident("limit")}'),
    source="tms_measurement",
    where=where(tag_regex("name", "^coil temperature after")),
    group_by=(ident("coil_serial"),),
)
HOTTEST = Select(
    columns=(
        f'max({ident("celsius")}) AS {ident("hottest")}',
        f'count({ident("celsius")}) AS {ident("readings")}',
    ),
    source="tms_temperature",
    where=where(COIL_SENSOR),
    group_by=(ident("coil_serial"),),
)


def build() -> dash_m.Dashboard:
    """The coil thermal dashboard."""
    return dashboard(
        UID,
        "tmsbench: coil thermal",
        description="Coil temperature around trains, and the coil temperature checks.",
        time_from="now-7d",
        panels=[
            timeseries_panel(
                "Coil temperature",
                [target(TEMPERATURE, alias="$tag_coil_serial")],
                description="Highest coil temperature read per interval (before/after trains).",
                unit="celsius",
                width=24,
            ),
            timeseries_panel(
                "Trains",
                [target(TRAINS, alias="$tag_coil_serial: $col")],
                description="Mean measured train rate (Hz) and pulses delivered per interval.",
            ),
            timeseries_panel(
                "Coil temperature checks",
                [target(LIMIT_CHECKS, alias="$tag_coil_serial: $col")],
                description="Coil temperature after the thermal test's train; dashed: limit.",
                unit="celsius",
                limit_series="/limit/",
            ),
            table_panel(
                "Hottest reading per coil",
                [target(HOTTEST, table_format=True)],
                description="Highest coil temperature in the time range, per coil serial.",
                unit="celsius",
            ),
        ],
    )
