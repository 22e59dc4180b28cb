"""The journal's hash chain: `tmsbench verify` names the row of every kind of tampering."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from pathlib import Path

import pytest

from harness.cli import main
from harness.limits import Limits, Measurement
from harness.record import chain, schema
from harness.record.journal import Journal
from harness.record.records import RunInfo

TAGS = {"station": "lab-3", "stimulator_serial": "SN1", "coil_serial": "C9"}


def _journal(path: Path, n: int = 50) -> None:
    lim = Limits.around(93.2, relative=0.05, marginal=0.8)
    with Journal(path) as j:
        j.start_run(RunInfo("run-1", station="lab-3", started_ns=1_000))
        j.append_measurements(
            Measurement.check(
                f"m{i % 3}", 90.0 + i * 0.01, "A/us", lim, tags=TAGS, run_id="run-1",
                test_id="t.py::test_a", time_ns=2_000 + i, extra={"i": i},
            )
            for i in range(n)
        )
        j.finish_run("run-1", "pass", time_ns=9_000)


def _verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["verify", "--journal", str(path)])
    out = capsys.readouterr()
    return rc, out.out + out.err


def _sql(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    p = tmp_path / "j.sqlite"
    _journal(p)
    return p


def test_an_untouched_journal_verifies(jpath: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _verify(jpath, capsys)
    assert rc == 0, out
    assert "chain intact: 52 rows, last row 52, head " in out  # start + 50 + finish


def test_the_first_row_hash_is_sha256_of_its_documented_content(jpath: Path) -> None:
    """Worked from the module's description, not from its code: row 1 is the run start."""
    db = sqlite3.connect(jpath)
    rid, kind, ts, tn, tags, run, test, value, data, stored = db.execute(
        "SELECT p.id, kind, ts, time_ns, t.tags, run_id, test_id, value, data, hash"
        " FROM points p JOIN tagsets t ON t.id = p.tagset WHERE p.id = 1"
    ).fetchone()
    db.close()
    assert value is None and kind == "run"
    content = struct.pack("<qqqd", rid, ts, tn, float("nan"))
    text = "\x00".join([kind, tags, run, test, "None", "None", "None", "None", "None"])
    content += hashlib.sha256(text.encode()).digest() + data.encode()
    assert stored == hashlib.sha256(bytes(32) + content).digest()


TAMPERING = {
    "edit a value": (["UPDATE points SET value = value + 1 WHERE id = 20"], "row 20 "),
    "edit a verdict in data": (
        ["UPDATE points SET data = replace(data, '\"i\":30', '\"i\":31') WHERE id = 32"],
        "row 32 ",
    ),
    "delete a row": (["DELETE FROM points WHERE id = 20"], "row 20 is missing"),
    "delete several rows": (["DELETE FROM points WHERE id BETWEEN 20 AND 24"], "row 20…24"),
    "insert a row with a made-up hash": (
        [
            "UPDATE chain_head SET last_id = 53",
            "INSERT INTO points (id, kind, ts, time_ns, tagset, run_id, test_id, value, data,"
            " hash) SELECT 53, kind, ts + 99, time_ns, tagset, run_id, test_id, 91.0, data,"
            " randomblob(32) FROM points WHERE id = 20",
        ],
        "row 53 ",
    ),
    "replace a deleted row with another": (
        [
            "DELETE FROM points WHERE id = 20",
            "INSERT INTO points (id, kind, ts, time_ns, tagset, run_id, test_id, value, data,"
            " hash) SELECT 20, kind, ts + 1000, time_ns, tagset, run_id, test_id, 99.0, data,"
            " hash FROM points WHERE id = 21",
        ],
        "row 20 ",
    ),
    "reorder two rows": (
        [
            "UPDATE points SET id = -1 WHERE id = 20",
            "UPDATE points SET id = 20 WHERE id = 21",
            "UPDATE points SET id = 21 WHERE id = -1",
        ],
        "row 20 ",
    ),
    "truncate the end": (["DELETE FROM points WHERE id > 40"], "row 41…52 is missing"),
    "edit a tag set": (
        ["UPDATE tagsets SET tags = replace(tags, 'SN1', 'SN2')"],
        "row 2 ",  # the first measurement: its tags changed under it
    ),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_found_at_its_row(
    how: str, jpath: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statements, names = TAMPERING[how]
    _sql(jpath, *statements)
    rc, out = _verify(jpath, capsys)
    assert rc == 1, out
    assert "chain BROKEN" in out and names in out, out


def test_two_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    a, b = Journal(path), Journal(path)
    lim = Limits(0.0, 1.0)
    for i in range(20):
        (a if i % 2 else b).append_measurement(
            Measurement.check("x", 0.5, "", lim, tags=TAGS, time_ns=10 + i)
        )
    a.close()
    b.close()
    db = sqlite3.connect(path)
    rep = chain.verify(db)
    db.close()
    assert rep.ok and rep.rows == 20, rep


def test_a_v1_journal_is_chained_on_migration_with_an_audit_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    schema._v1(db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO tagsets (id, tags) VALUES (1, ?)", (json.dumps({"station": "s"}),))
    for i in range(5):
        db.execute(
            "INSERT INTO points (kind, ts, time_ns, tagset, run_id, test_id, value)"
            " VALUES ('temperature', ?, ?, 1, 'r', '', ?)",
            (100 + i, 100 + i, 20.0 + i),
        )
    db.close()
    rc, out = _verify(path, capsys)
    assert rc == 1 and "has no hash chain" in out
    Journal(path).close()  # any open migrates
    rc, out = _verify(path, capsys)
    assert rc == 0 and "chain intact: 6 rows" in out, out  # 5 old rows + the migration audit
    db = sqlite3.connect(path)
    kind, data = db.execute("SELECT kind, data FROM points WHERE id = 6").fetchone()
    db.close()
    assert kind == "audit"
    assert "journal schema 1 → 2: 5 existing rows chained" in json.loads(data)["what"]


def test_the_run_finish_point_carries_the_chain_head(jpath: Path) -> None:
    db = sqlite3.connect(jpath)
    data = json.loads(db.execute("SELECT data FROM points WHERE id = 52").fetchone()[0])
    head_before = db.execute("SELECT hash FROM points WHERE id = 51").fetchone()[0]
    db.close()
    assert data["chain_head"] == head_before.hex()
