"""The journal: appends, unique wire timestamps, migrations, threads."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from harness.limits import Limits, Measurement, Verdict
from harness.record import schema
from harness.record.journal import Journal
from harness.record.outbox import Outbox
from harness.record.records import CalibrationRecord, RunInfo

TAGS = {"station": "lab-3", "stimulator_serial": "SN1", "coil_serial": "C9", "rack": "r7"}


def m(value: float, t: int, name: str = "peak_didt", **kw) -> Measurement:
    lim = Limits.around(93.2, relative=0.05, marginal=0.8)
    return Measurement.check(
        name,
        value,
        "A/us",
        lim,
        tags=TAGS,
        run_id="run-1",
        test_id="t.py::test_a[60]",
        time_ns=t,
        **kw,
    )


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    yield j
    j.close()


def rows(path, sql="SELECT * FROM points ORDER BY id"):
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


def test_measurement_is_stored_exactly_and_committed(journal):
    pid = journal.append_measurement(m(91.5, 1_000))
    (r,) = rows(journal.path)  # read through another connection: committed
    assert pid == r["id"] == 1
    assert (r["kind"], r["value"], r["time_ns"], r["ts"]) == ("measurement", 91.5, 1_000, 1_000)
    assert (r["low"], r["high"]) == pytest.approx((93.2 * 0.95, 93.2 * 1.05))
    assert r["run_id"] == "run-1" and r["test_id"] == "t.py::test_a[60]"
    (ts,) = rows(journal.path, "SELECT tags FROM tagsets")
    tags = json.loads(ts["tags"])
    assert tags == {
        "station": "lab-3",
        "stimulator_serial": "SN1",
        "coil_serial": "C9",
        "name": "peak_didt",
        "unit": "A/us",
        "verdict": "pass",
        "test": "t.py::test_a",
    }
    # an unknown tag key is never an InfluxDB tag: it becomes a field
    assert json.loads(r["data"]) == {"tag_rack": "r7"}


def test_batch_interns_tagsets(journal):
    n = journal.append_measurements(m(90 + i % 3, 10 + i) for i in range(1000))
    assert n == 1000
    assert len(rows(journal.path, "SELECT id FROM tagsets")) == 1


def test_same_nanosecond_gets_unique_wire_timestamps(journal):
    journal.append_measurements([m(90.0, 5_000), m(91.0, 5_000), m(92.0, 5_000)])
    journal.append_measurement(m(93.0, 5_000))  # later call, same time again
    journal.append_measurement(m(94.0, 4_999))  # out of order, collides after bump
    got = rows(journal.path, "SELECT time_ns, ts FROM points ORDER BY id")
    assert [r["time_ns"] for r in got] == [5_000, 5_000, 5_000, 5_000, 4_999]
    tss = [r["ts"] for r in got]
    assert len(set(tss)) == len(tss)
    assert tss[:4] == [5_000, 5_001, 5_002, 5_003] and tss[4] == 4_999


def test_out_of_order_skips_taken_timestamps(journal):
    journal.append_measurements([m(1.0, 10), m(1.0, 11), m(1.0, 13)])
    journal.append_measurements([m(1.0, 10), m(1.0, 10)])
    tss = [r["ts"] for r in rows(journal.path, "SELECT ts FROM points ORDER BY id")]
    assert tss == [10, 11, 13, 12, 14]


def test_other_kinds(journal):
    journal.append_pulse({"peak_didt": 93, "ok": True, "note": "x"}, tags=TAGS, run_id="r")
    journal.append_train({"rate_hz": 10.0, "n_pulses": 50}, tags=TAGS, verdict=Verdict.PASS)
    journal.append_temperature(31.5, sensor="coil", tags=TAGS)
    journal.append_calibration(
        CalibrationRecord("SN1", 1.5, -0.2, 0.9995, 0.012, Verdict.PASS, "peak_didt", "A/us")
    )
    got = rows(journal.path)
    assert [r["kind"] for r in got] == ["pulse", "train", "temperature", "calibration"]
    assert json.loads(got[0]["data"])["peak_didt"] == 93.0  # numbers → float, no type drift
    assert isinstance(json.loads(got[0]["data"])["peak_didt"], float)
    assert json.loads(got[0]["data"])["ok"] is True
    assert got[2]["value"] == 31.5
    assert json.loads(got[3]["data"]) == {
        "slope": 1.5,
        "offset": -0.2,
        "r_squared": 0.9995,
        "worst_deviation": 0.012,
    }


def test_runs(journal):
    info = RunInfo(
        "run-9",
        station="lab-3",
        operator="ada",
        git_revision="abc123",
        bench="lab-3.toml",
        started_ns=1_000_000_000,
    )
    journal.start_run(info)
    journal.finish_run("run-9", Verdict.PASS, time_ns=3_500_000_000)
    (run,) = rows(journal.path, "SELECT * FROM runs")
    assert run["verdict"] == "pass" and run["finished_ns"] == 3_500_000_000
    pts = rows(journal.path)
    assert [json.loads(p["data"]).get("duration_s") for p in pts] == [None, 2.5]


def test_run_points_carry_the_unit_context_start_and_finish(journal):
    info = RunInfo("run-7", station="lab-3", bench="lab-3.toml", started_ns=1_000, tags=TAGS)
    journal.start_run(info)
    journal.finish_run("run-7", Verdict.FAIL, time_ns=2_000)  # context read back from the start
    got = rows(
        journal.path,
        "SELECT p.data, t.tags FROM points p JOIN tagsets t ON t.id = p.tagset ORDER BY p.id",
    )
    unit = {"station": "lab-3", "stimulator_serial": "SN1", "coil_serial": "C9"}
    assert [json.loads(r["tags"]) for r in got] == [
        {**unit, "bench": "lab-3.toml", "event": "start"},
        {**unit, "bench": "lab-3.toml", "event": "finish", "verdict": "fail"},
    ]
    # a key outside the bounded context is a field of the start, never a tag (as for every kind)
    assert json.loads(got[0]["data"])["tag_rack"] == "r7"


def test_schema_version_and_reopen(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Journal(path) as j:  # idempotent
        j.append_measurement(m(1.0, 1))


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(schema.JournalError, match="newer"):
        Journal(path)


def test_migrations_run_in_order_and_atomically(tmp_path, monkeypatch):
    calls = []

    def broken(db):
        calls.append("broken")
        db.execute("CREATE TABLE extra (x)")
        raise RuntimeError("boom")

    kept = len(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    db = schema.connect(tmp_path / "j.sqlite")
    with pytest.raises(RuntimeError):
        schema.migrate(db)
    # the real migrations kept, the broken one rolled back
    assert db.execute("PRAGMA user_version").fetchone()[0] == kept
    assert db.execute("SELECT name FROM sqlite_master WHERE name='extra'").fetchone() is None
    db.close()


def test_failed_append_rolls_back_and_keeps_tagset_cache_consistent(journal):
    bad = m(1.0, 1)
    broken = journal_row(bad)._replace(value=object())  # not bindable by sqlite3
    with pytest.raises((sqlite3.ProgrammingError, TypeError)):  # hashing or binding refuses it
        journal.append_rows([journal_row(bad), broken])
    assert rows(journal.path) == []
    journal.append_measurement(bad)  # the interned tag set is re-created
    assert len(rows(journal.path)) == 1


def journal_row(meas):
    from harness.record.records import measurement_row

    return measurement_row(meas)


def test_writer_thread_and_reader_connection(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path, synchronous="NORMAL")
    done = threading.Event()

    def write():
        for i in range(50):
            j.append_measurements(m(1.0, 1 + i * 100 + k) for k in range(100))
        done.set()

    t = threading.Thread(target=write)
    t.start()
    seen = 0
    with Outbox(path, "sink") as ob:
        while True:
            finished = done.is_set()  # before the read: an empty read after this is final
            batch = ob.read_after(seen, 700)
            ids = [r[0] for r in batch]
            assert ids == list(range(seen + 1, seen + 1 + len(ids)))  # contiguous prefix
            seen += len(ids)
            if finished and not ids:
                break
    t.join()
    j.close()
    assert seen == 5000
