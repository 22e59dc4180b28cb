"""Calibration drift: output at the reference intensity, slope, R² and worst
deviation per stimulator/coil serial over months, each with its limits.

Source: the measurements the calibration check records (``harness/calibration.py``):
``calibration reference output`` (A/µs, low/high = tolerance band),
``calibration slope``, ``calibration R²`` (low limit) and ``calibration worst
deviation`` (%, high limit), all in ``tms_measurement``.

The predicted date of leaving tolerance comes from the drift analytics
(``harness.drift``), recorded by ``tmsbench drift --record``
(``harness.drift.record``): at each device's last check, a ``drift rate``
measurement (value %/month, low/high its confidence interval, field
``drift_status`` and, only when a crossing is predicted, ``crossing_s``,
``crossing_early_s``, ``crossing_late_s`` in Unix seconds and
``days_to_tolerance``). The panel takes the *latest* such row per device
(``ORDER BY time DESC LIMIT 1``), not ``last()`` of each field: ``last()``
skips missing fields, so a date an earlier assessment predicted would be shown
after the latest one stopped predicting it. Nothing is approximated in InfluxQL.

Delivered vs prescribed pulses: the ``tms_dose`` records of delivered treatment
protocols (``pulses_prescribed``, ``pulses_delivered``), summed per interval and device.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import dashboard, table_panel, target, timeseries_panel, where
from dashboards.influxql import Select, ident, tag_eq

#: ``harness.drift.record.RATE_NAME``: the per-assessment summary row.
DRIFT_RATE = "drift rate"
DATE_COLUMNS = ("leaves tolerance", "earliest", "latest")

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
PREDICTED = Select(
    columns=(
        f'{ident("value")} AS {ident("drift %/month")}',
        f'{ident("low")} AS {ident("rate CI low")}',
        f'{ident("high")} AS {ident("rate CI high")}',
        f'{ident("drift_status")} AS {ident("status")}',
        # Unix s -> ms, what Grafana's date units read
        *(f"{ident(field)} * 1000 AS {ident(label)}"
          for field, label in zip(("crossing_s", "crossing_early_s", "crossing_late_s"),
                                  DATE_COLUMNS, strict=True)),
        f'{ident("days_to_tolerance")} AS {ident("days after last check")}',
    ),
    source="tms_measurement",
    where=where(tag_eq("name", DRIFT_RATE)),
    group_by=DEVICE,
    order_desc=True,
    limit=1,
)

#: Dose records of delivered protocols (``harness.protocol.runner.record_dose``):
#: pulses the protocol prescribed and the valid pulses delivered, summed per interval.
DOSES = Select(
    columns=(
        f'sum({ident("pulses_prescribed")}) AS {ident("prescribed")}',
        f'sum({ident("pulses_delivered")}) AS {ident("delivered")}',
    ),
    source="tms_dose",
    where=where(),
    group_by=("time($__interval)", *DEVICE),
    fill="none",
)

STATUS_COLOURS = {"ok": "green", "drifting": "orange", "alarm": "red",
                  "out of tolerance": "red"}


def predicted_panel() -> table.Panel:
    """Latest drift assessment per device: rate, status, predicted date of leaving tolerance."""
    panel = table_panel(
        "Predicted date of leaving tolerance",
        [target(PREDICTED, table_format=True)],
        description="Latest `tmsbench drift --record` assessment per device. Time: the last "
        "calibration check it is based on. Drift: trend of the output at the reference "
        "intensity, % of the expected output per month, with its confidence interval. "
        "Leaves tolerance: where the trend line meets the tolerance band, with the interval "
        "(earliest, latest); empty when no crossing is predicted (no significant trend, "
        "the device may never leave); a past date means the trend had already crossed.",
        width=24,
    )
    panel.decimals(2)
    panel.override_by_regexp(
        "^(" + "|".join(DATE_COLUMNS) + ")$",
        [dash_m.DynamicConfigValue(id_val="unit", value="dateTimeAsIso")],
    )
    panel.override_by_name(
        "days after last check", [dash_m.DynamicConfigValue(id_val="decimals", value=0)]
    )
    panel.override_by_name(
        "status",
        [
            dash_m.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
            dash_m.DynamicConfigValue(id_val="mappings", value=[{
                "type": "value",
                "options": {status: {"color": colour, "index": i}
                            for i, (status, colour) in enumerate(STATUS_COLOURS.items())},
            }]),
        ],
    )
    panel.override_by_name(
        "Time", [dash_m.DynamicConfigValue(id_val="displayName", value="last check")]
    )
    return panel


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
            predicted_panel(),
            timeseries_panel(
                "Delivered vs prescribed pulses per device",
                [target(DOSES, alias=ALIAS)],
                description="Treatment protocols delivered (`tmsbench protocol run`, the "
                "protocol bench tests): pulses prescribed and valid pulses delivered, summed "
                "per interval. A gap between the two lines is a dose not delivered as written.",
                width=24,
            ),
        ],
    )
