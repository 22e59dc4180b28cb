"""Calibration drift: output at the reference intensity, slope, R² and worst
deviation per stimulator/coil serial over months, each with its limits.

Source: the measurements the calibration check records (``harness/calibration.py``):
``calibration reference output`` (A/µs, low/high = tolerance band),
``calibration slope``, ``calibration R²`` (low limit) and ``calibration worst
deviation`` (%, high limit), all in ``tms_measurement``.

TODO: the predicted date of leaving tolerance (``harness.drift.assess``) is
computed by the drift analytics but not written to InfluxDB yet; add a panel
here once the drift command records it (e.g. a field of its own measurement)
rather than approximating it in InfluxQL.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import dashboard, table_panel, target, timeseries_panel, where
from dashboards.influxql import Select, ident, tag_eq

UID = "tmsbench-calibration-drift"
DEVICE = (ident("stimulator_serial"), ident("coil_serial"))
ALIAS = "$tag_stimulator_serial / $tag_coil_serial: $col"


def limited(name: str, value_as: str, limits: tuple[tuple[str, str], ...]) -> Select:
    """Raw values of measurement ``name`` and its limit fields, one series per device."""
    cols = [f'{ident("value")} AS {ident(value_as)}']
    cols += [f"{ident(field)} AS {ident(label)}" for field, label in limits]
    return Select(
        columns=tuple(cols),
        source="tms_measurement",
        where=where(tag_eq("name", name)),
        group_by=DEVICE,
    )


BAND = (("low", "tolerance low"), ("high", "tolerance high"))

OUTPUT = limited("calibration reference output", "output", BAND)
SLOPE = limited("calibration slope", "slope", BAND)
R_SQUARED = limited("calibration R²", "R²", (("low", "minimum"),))
WORST = limited("calibration worst deviation", "worst deviation", (("high", "maximum"),))
LATEST = Select(
    columns=(
        f'last({ident("value")}) AS {ident("output")}',
        f'last({ident("low")}) AS {ident("tolerance low")}',
        f'last({ident("high")}) AS {ident("tolerance high")}',
        f'count({ident("value")}) AS {ident("checks")}',
    ),
    source="tms_measurement",
    where=where(tag_eq("name", "calibration reference output")),
    group_by=DEVICE,
)


def build() -> dash_m.Dashboard:
    """The calibration drift dashboard."""
    limits = "/tolerance|minimum|maximum/"
    return dashboard(
        UID,
        "tmsbench: calibration drift",
        description="Calibration checks per stimulator and coil serial over months.",
        time_from="now-180d",
        panels=[
            timeseries_panel(
                "Output at the reference intensity",
                [target(OUTPUT, alias=ALIAS)],
                description="Fitted peak dI/dt at the spec's reference %MSO with the "
                "tolerance band (dashed).",
                unit="A/µs",
                width=24,
                limit_series=limits,
            ),
            timeseries_panel(
                "Calibration slope",
                [target(SLOPE, alias=ALIAS)],
                description="Fitted output per %MSO with its tolerance band (dashed).",
                limit_series=limits,
            ),
            timeseries_panel(
                "Calibration R²",
                [target(R_SQUARED, alias=ALIAS)],
                description="Linearity of output vs intensity; dashed: the spec minimum.",
                limit_series=limits,
            ),
            timeseries_panel(
                "Worst deviation from the expected output",
                [target(WORST, alias=ALIAS)],
                description="Largest deviation of a calibration level; dashed: the maximum.",
                unit="percent",
                limit_series=limits,
            ),
            table_panel(
                "Latest calibration per device",
                [target(LATEST, table_format=True)],
                description="Last output at the reference intensity, its band and the number "
                "of checks in the time range.",
            ),
        ],
    )
