"""The streamed CSV export writes exactly the file the in-memory export writes, for every
filter, on a journal with every kind of row (a fleet's calibration runs, drift-like
measurements with fields, temperatures), without holding the rows."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from harness.config import load_spec
from harness.fleet import fleet_devices, write_fleet
from harness.limits import Limits, Measurement
from harness.record.export import Query, query, query_columns, stream_csv, write_csv
from harness.record.journal import Journal
from harness.record.schema import connect

ROOT = Path(__file__).resolve().parents[2]
END = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
T_MID = int(dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "journal.sqlite"
    spec = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml")
    write_fleet(path, spec, fleet_devices(3, stations=2, days=60), days=60, end=END)
    with Journal(path) as j:
        j.append_measurement(Measurement.check(
            "drift rate", -0.2, "%/month", Limits(low=-0.3, high=-0.1), tags={
                "stimulator_serial": "FLEET-0002", "station": "line-2"},
            test_id="tmsbench drift", time_ns=T_MID, extra={"drift_status": "ok", "n": 3}))
        j.append_temperature(31.5, tags={"coil_serial": "D70-00002", "odd key": "x"},
                             run_id="r-temp", time_ns=T_MID + 1)
    return path


QUERIES = [
    Query(),
    Query(serial="FLEET-0002"),
    Query(serial="D70-00002"),
    Query(kind="pulse"),
    Query(kind="temperature"),
    Query(kind="run", since_ns=T_MID),
    Query(names=("calibration reference output",)),
    Query(serial="NO-SUCH-SERIAL"),
]


@pytest.mark.parametrize("q", QUERIES, ids=[repr(q) for q in QUERIES])
def test_streamed_csv_is_the_in_memory_csv(journal: Path, q: Query) -> None:
    expected = io.StringIO()
    n_expected = write_csv(query(journal, q), expected)
    got = io.StringIO()
    n, damage = stream_csv(journal, q, got)
    assert damage is None
    assert n == n_expected
    assert got.getvalue() == expected.getvalue()
    if q == Query():
        assert n > 300  # the fleet is there: every kind, many columns
        header = got.getvalue().splitlines()[0].split(",")
        assert {"celsius", "nominal", "peak_didt_A_per_us", "drift_status", "tag_odd key",
                "outcome", "event", "spec_name"} <= set(header)


def test_columns_of_a_limited_query_are_refused(journal: Path) -> None:
    db = connect(journal)
    try:
        with pytest.raises(ValueError, match="limited"):
            query_columns(db, Query(limit=5))
    finally:
        db.close()
