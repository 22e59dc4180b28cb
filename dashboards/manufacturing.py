"""Manufacturing: pass rate per station, test and day; unit pass rate; failures.

Pass rate = share of *judged* measurements (verdict pass, marginal, fail or
invalid; ``unset`` = recorded without limits is left out) whose verdict is
pass or marginal (marginal warns but does not fail), in percent. Drift
assessments (``tmsbench drift --record``, ``test`` = ``tmsbench drift``) carry
a verdict too, but are analytics rather than tests: every panel here leaves
them out.

InfluxQL has no conditional count, so the query is nested three deep (each
level checked against InfluxDB 1.6.7 by the integration test):

1. two raw subqueries select ``run_id`` (present on every point, unlike
   ``value``) renamed ``passed`` for passing rows and ``judged`` for judged
   rows; InfluxQL unions the two sources;
2. the middle query counts both per group with ``fill(0)``, so a group with
   judged rows but no passing one gives 0 % instead of null; ``100.0`` (a
   float) keeps the rate from being truncated to an integer when read back
   from the subquery;
3. the outer query keeps only groups with ``judged > 0`` (``fill(0)`` also
   invents empty days, whose 0/0 InfluxQL would report as 0).

(Aggregating inside the subqueries instead does not work on InfluxDB 1.6:
with several aggregated sources only the first one's fields are read.)

Unit pass rate = the same ratio over *runs* instead of measurements: one run
(one pytest session or CLI procedure) tests one unit, and its finish point
(``tms_run``, ``event`` = ``finish``) carries the run's verdict and the unit's
context tags. A run is judged when it finished with pass, marginal, fail or
invalid; an ``aborted`` run (stopped by Ctrl-C or SIGTERM) says nothing about
the unit and is left out, like ``unset`` measurements. Each run counts once:
a unit tested twice in a day counts twice (a per-run yield, not first-pass
yield). Runs are bucketed by the day they finished.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards.common import (
    DRIFT_TEST,
    TIME_FILTER,
    dashboard,
    table_panel,
    target,
    timeseries_panel,
    where,
)
from dashboards.influxql import Select, ident, tag_eq, tag_in, tag_ne

UID = "tmsbench-manufacturing"
PASSED = ("pass", "marginal")
JUDGED = ("pass", "marginal", "fail", "invalid")
FAILED = ("fail", "invalid")
DAY = "time(1d)"
NOT_DRIFT = tag_ne("test", DRIFT_TEST)
#: Run records (``harness.record.records.run_row``): one finish point per run.
RUNS = "tms_run"
RUN_FINISHED = tag_eq("event", "finish")


def _rows(
    alias: str, verdicts: tuple[str, ...], source: str = "tms_measurement",
    only: tuple[str, ...] = (NOT_DRIFT,),
) -> Select:
    """``run_id`` (a field every point has) as ``alias`` for rows with one of ``verdicts``."""
    return Select(
        columns=(f'{ident("run_id")} AS {ident(alias)}',),
        source=source,
        where=where(tag_in("verdict", verdicts), *only),
    )


def pass_rate(
    *tags: str, bucket: str | None = DAY, source: str = "tms_measurement",
    only: tuple[str, ...] = (NOT_DRIFT,),
) -> Select:
    """Pass rate (%) of judged rows of ``source`` (narrowed by ``only``) per ``bucket``
    (time) and tags: 100 · passed / judged, groups without a judged row left out."""
    counts = Select(
        columns=(
            f'100.0 * count({ident("passed")}) / count({ident("judged")}) AS {ident("pass rate")}',
            f'count({ident("judged")}) AS {ident("judged")}',
        ),
        source=(_rows("passed", PASSED, source, only), _rows("judged", JUDGED, source, only)),
        where=(TIME_FILTER,),
        group_by=((bucket,) if bucket else ()) + tags,
        fill="0",
    )
    return Select(
        columns=(ident("pass rate"),),
        source=(counts,),
        where=(f'{ident("judged")} > 0', TIME_FILTER),
        group_by=tags,
    )


PASS_RATE_STATION_DAY = pass_rate(ident("station"))
PASS_RATE_STATION_TEST_DAY = pass_rate(ident("station"), ident("test"))
UNIT_PASS_RATE_STATION_DAY = pass_rate(ident("station"), source=RUNS, only=(RUN_FINISHED,))
RUNS_PER_DAY = Select(
    columns=(f'count({ident("run_id")}) AS {ident("runs")}',),
    source=RUNS,
    where=where(RUN_FINISHED),
    group_by=(DAY, ident("verdict")),
    fill="none",
)
#: First-pass and final yield (``tms_run`` finish fields written by the plugin, see
#: ``harness.record.records.run_row``): tests passed at their first / last attempt, of
#: the tests run, summed over the runs that finished in the day. Runs that recorded no
#: counts (older runs) add nothing; a day without them has no row.
TESTS = "tests"
YIELD_STATION_DAY = Select(
    columns=(
        f'100.0 * sum({ident("first_pass")}) / sum({ident(TESTS)}) AS {ident("first-pass yield")}',
        f'100.0 * sum({ident("final_pass")}) / sum({ident(TESTS)}) AS {ident("final yield")}',
    ),
    source=RUNS,
    where=where(RUN_FINISHED, f'{ident("tests")} > 0'),
    group_by=(DAY, ident("station")),
    fill="none",
)
FAILURES_BY_NAME = Select(
    columns=(f'count({ident("run_id")}) AS {ident("failures")}',),
    source="tms_measurement",
    where=where(tag_in("verdict", FAILED), NOT_DRIFT),
    group_by=(ident("name"),),
)
VERDICTS_PER_DAY = Select(
    columns=(f'count({ident("run_id")}) AS {ident("measurements")}',),
    source="tms_measurement",
    where=where(NOT_DRIFT),
    group_by=(DAY, ident("verdict")),
    fill="none",
)


def build() -> dash_m.Dashboard:
    """The manufacturing dashboard."""
    return dashboard(
        UID,
        "tmsbench: manufacturing",
        description="Yield of units and of measurements per station, test and day; which"
        " characteristics fail.",
        panels=[
            timeseries_panel(
                "Pass rate per station and day",
                [target(PASS_RATE_STATION_DAY, alias="$tag_station")],
                description="Judged measurements that passed (pass or marginal), per UTC day.",
                unit="percent",
                bars=True,
            ),
            timeseries_panel(
                "Measurements per day by verdict",
                [target(VERDICTS_PER_DAY, alias="$tag_verdict")],
                description="Number of recorded measurements per UTC day and verdict.",
                bars=True,
            ),
            table_panel(
                "Pass rate per station, test and day",
                [target(PASS_RATE_STATION_TEST_DAY, table_format=True)],
                description="Judged measurements that passed, per station, test and UTC day.",
                unit="percent",
            ),
            table_panel(
                "Failures by characteristic",
                [target(FAILURES_BY_NAME, table_format=True)],
                description="Measurements that failed or could not be measured, by name.",
            ),
            # appended, so the panel ids (1, 2, ...) of earlier panels stay as they were
            timeseries_panel(
                "Unit pass rate per station and day",
                [target(UNIT_PASS_RATE_STATION_DAY, alias="$tag_station")],
                description=(
                    "Runs (one unit each) that finished pass or marginal, of the runs that"
                    " finished judged (pass, marginal, fail, invalid; aborted runs left out),"
                    " per UTC day of the finish."
                ),
                unit="percent",
                bars=True,
            ),
            timeseries_panel(
                "Runs per day by verdict",
                [target(RUNS_PER_DAY, alias="$tag_verdict")],
                description="Finished runs (one unit each) per UTC day and run verdict.",
                bars=True,
            ),
            timeseries_panel(
                "First-pass and final yield per station and day",
                [target(YIELD_STATION_DAY, alias="$tag_station: $col")],
                description=(
                    "Tests that passed at their first attempt (first-pass yield) and at their"
                    " last (final yield, after reruns: pytest --attempts N), of the tests run,"
                    " per station and UTC day of the run's finish."
                ),
                unit="percent",
            ),
        ],
    )
