"""The InfluxQL builder and the custom ``influxdb`` dataquery variant."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's dashboards/

from grafana_foundation_sdk.cog import runtime as cogruntime

from dashboards.influxql import (
    InfluxQLQuery,
    InfluxQLTarget,
    Select,
    ident,
    literal,
    show_tag_values,
    tag_eq,
    tag_in,
    tag_regex,
    variable_match,
)


def test_quoting():
    assert ident('a "b"') == '"a \\"b\\""'
    assert literal("calibration R²") == "'calibration R²'"
    assert literal("it's") == "'it\\'s'"
    assert tag_eq("name", "x") == "\"name\" = 'x'"
    assert variable_match("stimulator_serial", "serial") == '"stimulator_serial" =~ /^$serial$/'
    assert tag_in("verdict", ["pass", "a.b"]) == '"verdict" =~ /^(pass|a\\.b)$/'
    with pytest.raises(ValueError):
        tag_regex("x", "a/b")


def test_select_rendering_with_subqueries():
    inner = Select(columns=('"run_id" AS "p"',), source="m", where=("$timeFilter",))
    q = Select(
        columns=('count("p")',),
        source=(inner, inner),
        where=('"x" > 0',),
        group_by=("time($__interval)", '"station"'),
        fill="none",
        order_desc=True,
        limit=5,
    )
    assert q.render() == (
        'SELECT count("p") FROM (SELECT "run_id" AS "p" FROM "m" WHERE $timeFilter), '
        '(SELECT "run_id" AS "p" FROM "m" WHERE $timeFilter) WHERE "x" > 0 '
        'GROUP BY time($__interval), "station" fill(none) ORDER BY time DESC LIMIT 5'
    )
    with pytest.raises(ValueError):
        Select(columns=(), source="m").render()


def test_show_tag_values():
    assert show_tag_values("m", "k", ['"a" =~ /^$a$/']) == (
        'SHOW TAG VALUES FROM "m" WITH KEY = "k" WHERE "a" =~ /^$a$/'
    )


def test_target_json_and_registered_variant_round_trip():
    t = InfluxQLTarget("SELECT 1", ref_id="B").alias("$tag_x").result_format("table").build()
    data = t.to_json()
    assert data == {
        "refId": "B",
        "rawQuery": True,
        "query": "SELECT 1",
        "resultFormat": "table",
        "alias": "$tag_x",
    }
    back = cogruntime.dataquery_from_json({**data, "datasource": {"type": "influxdb"}}, "")
    assert isinstance(back, InfluxQLQuery)
    assert back.query == "SELECT 1" and back.result_format == "table"
