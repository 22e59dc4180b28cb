"""`tmsbench archive`: old rows every sink acknowledged move to an archive file, and every
reader (export, verify) still sees the whole history, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.limits import Limits, Measurement
from harness.record import archive as archive_mod
from harness.record import export
from harness.record.journal import Journal
from harness.record.records import RunInfo

DAY_NS = 86_400 * 1_000_000_000
T0 = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
TAGS = {"station": "lab-3", "stimulator_serial": "SN1", "coil_serial": "C9"}


def _day(j: Journal, day: int, n: int = 40) -> None:
    """One run on ``day`` (days after T0): start, ``n`` measurements, finish."""
    lim = Limits.around(93.2, relative=0.05)
    run = f"run-{day}"
    t = T0 + day * DAY_NS
    j.start_run(RunInfo(run, station="lab-3", started_ns=t))
    j.append_measurements(
        Measurement.check(f"m{i % 3}", 90.0 + i * 0.01, "A/us", lim, tags=TAGS, run_id=run,
                          test_id="t.py::test_a", time_ns=t + 1_000 + i, extra={"i": i})
        for i in range(n))
    j.finish_run(run, "pass", time_ns=t + 9_000_000)


def _ack(path: Path, upto: int, sink: str = "influx") -> None:
    """What the forwarder records when a sink accepted every row up to ``upto``."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO cursors (sink, sent_upto) VALUES (?, ?) ON CONFLICT(sink)"
                   " DO UPDATE SET sent_upto = excluded.sent_upto", (sink, upto))


def _ids(path: Path) -> list[int]:
    return [r["id"] for r in export.query(path, export.Query())]


def _journal_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [i for (i,) in db.execute("SELECT id FROM points ORDER BY id")]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    p = tmp_path / "journal.sqlite"
    with Journal(p) as j:
        for day in range(10):  # 10 runs of 42 rows: ids 1..420
            _day(j, day)
    return p


def test_acknowledged_old_rows_move_and_every_reader_still_sees_them(
    jpath: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before_rows = export.query(jpath, export.Query())
    assert len(before_rows) == 420
    _ack(jpath, 420)
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "2026-01-06")
    assert rc == 0, out
    # days 0..4 = rows 1..210 are before 2026-01-06; row 211 is day 5's run start
    assert "archived rows 1…210 (210 rows" in out, out
    assert "row 211 is from the date given or later" in out, out
    arch = jpath.with_name("journal-archive.sqlite")
    with sqlite3.connect(arch) as db:
        assert db.execute("SELECT min(id), max(id), count(*) FROM points").fetchone() == (
            1, 210, 210)
    journal = _journal_ids(jpath)
    assert journal[0] == 211 and len(journal) == 210 + 1  # + the archive's audit row
    after_rows = export.query(jpath, export.Query())
    assert [r for r in after_rows if r["kind"] != "audit"] == before_rows
    assert [r["kind"] for r in after_rows].count("audit") == 1
    rc, out = _run(capsys, "verify", "--journal", str(jpath))
    assert rc == 0 and "chain intact: 421 rows, last row 421" in out, out
    # the journal goes on: new rows continue the ids and the chain
    with Journal(jpath) as j:
        _day(j, 20, n=5)
    rc, out = _run(capsys, "verify", "--journal", str(jpath))
    assert rc == 0 and "chain intact: 428 rows, last row 428" in out, out


def test_rows_a_sink_has_not_acknowledged_stay(jpath: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _ack(jpath, 420, "influx")
    _ack(jpath, 100, "victoria")  # the slower sink holds rows 101.. back
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "2027-01-01")
    assert rc == 0 and "archived rows 1…100 (100 rows" in out, out
    assert "sink victoria has acknowledged rows up to 100" in out, out
    assert _journal_ids(jpath)[0] == 101
    assert _ids(jpath) == list(range(1, 422))


def test_a_quarantined_row_stays_for_requeue(jpath: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _ack(jpath, 420)
    with sqlite3.connect(jpath) as db:
        db.execute("INSERT INTO quarantine VALUES ('influx', 77, 'field type conflict', 1)")
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "2027-01-01")
    assert rc == 0 and "archived rows 1…76 (76 rows" in out, out
    assert "row 77 is in quarantine" in out, out


def test_nothing_moves_without_a_sink_and_the_reason_is_said(
    jpath: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "2027-01-01")
    assert rc == 0, out
    assert "nothing archived: no sink has acknowledged any row" in out, out
    assert len(_journal_ids(jpath)) == 420
    assert not jpath.with_name("journal-archive.sqlite").exists()


def test_a_crash_between_copy_and_delete_loses_nothing_and_counts_nothing_twice(
    jpath: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _ack(jpath, 420)

    def crash(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # power cut / Ctrl-C after the archive was committed

    monkeypatch.setattr(archive_mod, "_register", crash)
    with pytest.raises(KeyboardInterrupt):
        archive_mod.archive(jpath, T0 + 5 * DAY_NS)
    assert len(_journal_ids(jpath)) == 420  # nothing deleted
    assert _ids(jpath) == list(range(1, 421))  # the unregistered copy is not read
    monkeypatch.undo()
    res = archive_mod.archive(jpath, T0 + 5 * DAY_NS)  # done again, the same rows
    assert (res.first_id, res.last_id, res.rows) == (1, 210, 210)
    assert _ids(jpath) == list(range(1, 422))
    rc, out = _run(capsys, "verify", "--journal", str(jpath))
    assert rc == 0, out


def test_a_second_archive_appends_and_the_journal_shrinks(jpath: Path) -> None:
    _ack(jpath, 420)
    size0 = jpath.stat().st_size
    first = archive_mod.archive(jpath, T0 + 3 * DAY_NS)
    second = archive_mod.archive(jpath, T0 + 8 * DAY_NS)
    assert (first.first_id, first.last_id) == (1, 126)
    assert (second.first_id, second.last_id) == (127, 336)
    assert second.journal_bytes_after < size0
    assert [r["id"] for r in export.query(jpath, export.Query(kind="measurement"))] == [
        i for i in range(1, 421) if i % 42 not in (0, 1)]


def test_a_missing_archive_is_named(jpath: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ack(jpath, 420)
    archive_mod.archive(jpath, T0 + 5 * DAY_NS)
    jpath.with_name("journal-archive.sqlite").rename(jpath.with_name("moved.sqlite"))
    for argv in (["verify"], ["export"]):
        rc, out = _run(capsys, *argv, "--journal", str(jpath))
        assert rc == 2, out
        assert "journal-archive.sqlite is missing (it holds journal rows 1…210)" in out, out
        assert "Traceback" not in out


def test_bad_dates_and_targets_are_one_line(jpath: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "last year")
    assert rc == 2 and "--before: 'last year' is not a time" in out, out
    rc, out = _run(capsys, "archive", "--journal", str(jpath), "--before", "2027-01-01",
                   "--to", str(jpath))
    assert rc == 2 and "cannot be the journal itself" in out, out


def test_a_run_start_still_knows_the_spec_hashes_of_archived_runs(tmp_path: Path) -> None:
    """A spec edited without a version bump is caught against every earlier run."""
    p = tmp_path / "journal.sqlite"
    method = {"spec_name": "rapid2-d70", "spec_version": "3", "spec_sha256": "aa11"}
    with Journal(p) as j:
        j.start_run(RunInfo("old", station="lab-3", started_ns=T0, method=method))
        j.finish_run("old", "pass", time_ns=T0 + 10)
        _day(j, 30)
    _ack(p, 10_000)
    res = archive_mod.archive(p, T0 + 20 * DAY_NS)
    assert res.first_id == 1 and res.last_id >= 2  # the old run is in the archive
    with Journal(p) as j:
        assert j.spec_hashes("rapid2-d70", "3") == {"aa11"}
    p.with_name("journal-archive.sqlite").rename(tmp_path / "elsewhere.sqlite")
    with Journal(p) as j:  # a run still starts without it: only the journal's runs count
        assert j.spec_hashes("rapid2-d70", "3") == set()


def test_status_counts_what_is_left_in_the_journal(jpath: Path) -> None:
    from harness.record.outbox import Outbox

    _ack(jpath, 420)
    archive_mod.archive(jpath, T0 + 5 * DAY_NS)  # rows 1…210 move; the audit row is 421
    with Outbox(jpath, "influx") as ob:
        st = ob.status()
    assert (st.total, st.sent, st.pending) == (211, 210, 1)  # rows 211…421; 421 not yet sent
