"""Journal maintenance: move old rows every sink has acknowledged into an archive file.

A station's journal grows by every pulse it ever measured; ``tmsbench archive --before
DATE`` keeps it small without losing a row:

- **Which rows.** A contiguous run of the oldest rows, ``first … last`` by journal id, where
  ``last`` is the smallest of: the last row every sink has acknowledged (the lowest
  ``cursors.sent_upto``; with no sink ever forwarded, nothing is acknowledged and nothing
  moves), the row before the first one still in a sink's quarantine (``tmsbench requeue``
  must find it), the row before the first recorded at or after ``DATE``, and the row before
  the journal's newest (the journal keeps at least one row, so ids and the hash chain go on).
  Contiguous ids keep the hash chain checkable across the two files.
- **Two steps, so a crash loses nothing.** The rows are first copied into the archive (its
  own SQLite file, same ``points``/``tagsets`` layout, ``synchronous=FULL``) and committed;
  the copy is checked (row count and the hash of the last row). Only then, in one journal
  transaction, the range is registered in the journal's ``archives`` table, deleted from the
  journal and an ``archive`` audit row is appended. A crash between the two leaves the rows
  in both files; readers only take from an archive the ranges the journal registered, so
  nothing is counted twice, and the next run copies the same rows again (``INSERT OR
  IGNORE``).
- **Still readable.** :func:`connect_reader` opens the journal with every registered
  archive attached and a temporary view named ``points`` over archive ranges plus the
  journal's own rows, so ``export``, ``drift``, ``verify`` and ``trace`` read the whole
  history with their usual SQL. A registered archive that is missing is a
  :class:`~harness.record.schema.JournalError` naming the file and the rows it holds.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from harness.record import audit
from harness.record.schema import JournalError, connect, migrate

#: Most archives attached at once (SQLite's default SQLITE_MAX_ATTACHED is 10).
MAX_ATTACHED = 9


@dataclass(frozen=True)
class ArchiveResult:
    """What one ``archive`` call did (``rows == 0``: nothing moved, ``reason`` says why)."""

    file: Path
    rows: int
    first_id: int = 0
    last_id: int = 0
    first_ns: int = 0
    last_ns: int = 0
    reason: str = ""
    journal_bytes_before: int = 0
    journal_bytes_after: int = 0


def default_archive_path(journal: Path) -> Path:
    """``<journal stem>-archive.sqlite`` beside the journal."""
    return journal.with_name(f"{journal.stem}-archive.sqlite")


def _registered(db: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(file, first id, last id) of every archived range, oldest first."""
    has = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archives'"
    ).fetchone()
    if not has:
        return []
    return [(str(f), int(a), int(b)) for f, a, b in
            db.execute("SELECT file, first_id, last_id FROM archives ORDER BY first_id")]


def _resolve(journal: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else journal.parent / p


def connect_reader(path: str | Path, *, check: bool = True) -> sqlite3.Connection:
    """A reading connection to the journal and its archives (see the module docstring).

    With no archive registered this is :func:`~harness.record.schema.connect` unchanged.
    The connection must not be used to append (``points`` is a view on it).
    """
    journal = Path(path)
    db = connect(journal, check=check)
    ranges = _registered(db)
    if not ranges:
        return db
    files = sorted({f for f, _, _ in ranges})
    if len(files) > MAX_ATTACHED:
        db.close()
        raise JournalError(f"{journal}: {len(files)} archive files; at most {MAX_ATTACHED} "
                           "can be read together (archive into fewer files with --to)")
    parts: list[str] = []
    for i, name in enumerate(files):
        file = _resolve(journal, name)
        mine = [(a, b) for f, a, b in ranges if f == name]
        if not file.is_file():
            db.close()
            held = ", ".join(f"{a}…{b}" for a, b in mine)
            raise JournalError(f"{journal}: archive file {file} is missing (it holds journal "
                               f"rows {held}); put it back beside the journal")
        db.execute(f"ATTACH DATABASE ? AS arch{i}", (str(file),))
        parts.extend(f"SELECT * FROM arch{i}.points WHERE id BETWEEN {a} AND {b}"
                     for a, b in mine)
    parts.append("SELECT * FROM main.points")
    db.execute("CREATE TEMP VIEW points AS " + " UNION ALL ".join(parts))
    return db


def _schema_sql(db: sqlite3.Connection, schema: str) -> list[str]:
    """DDL of the journal's ``tagsets`` and ``points`` tables and their indexes, for
    ``schema`` (an attached archive)."""
    out: list[str] = []
    for kind, name, sql in db.execute(
        "SELECT type, name, sql FROM main.sqlite_master WHERE tbl_name IN ('tagsets', 'points')"
        " AND sql IS NOT NULL ORDER BY type DESC"  # tables before indexes
    ):
        head = {"table": "CREATE TABLE ", "index": "CREATE INDEX "}[kind]
        if sql.startswith("CREATE UNIQUE INDEX "):
            head = "CREATE UNIQUE INDEX "
        out.append(sql.replace(f"{head}{name}", f"{head}IF NOT EXISTS {schema}.{name}", 1))
    return out


def _plan(db: sqlite3.Connection, before_ns: int) -> tuple[int, int, str]:
    """(first id, last id, why it stops there) of the rows that may move; last < first:
    none may (the reason says which rule held them)."""
    first, newest = db.execute(  # two subqueries: min and max together scan every row
        "SELECT (SELECT min(id) FROM main.points), (SELECT max(id) FROM main.points)").fetchone()
    if first is None:
        return 1, 0, "the journal has no rows"
    limits: list[tuple[int, str]] = [(newest - 1, "the journal keeps its newest row")]
    cursors = db.execute("SELECT sink, sent_upto FROM cursors ORDER BY sent_upto").fetchall()
    if not cursors:
        limits.append((0, "no sink has acknowledged any row (forward first: tmsbench sync)"))
    else:
        sink, upto = cursors[0]
        limits.append((int(upto), f"sink {sink} has acknowledged rows up to {upto}"))
    (q,) = db.execute("SELECT min(point_id) FROM quarantine").fetchone()
    if q is not None:
        limits.append((int(q) - 1, f"row {q} is in quarantine (tmsbench requeue needs it)"))
    (later,) = db.execute(
        "SELECT min(id) FROM main.points WHERE time_ns >= ?", (before_ns,)).fetchone()
    if later is not None:
        limits.append((int(later) - 1, f"row {later} is from the date given or later"))
    last, why = min(limits)
    return int(first), last, why


def archive(journal: str | Path, before_ns: int, *, to: str | Path | None = None,
            vacuum: bool = True, who: str = "") -> ArchiveResult:
    """Move the journal's acknowledged rows older than ``before_ns`` (ns since the epoch)
    into the archive ``to`` (default :func:`default_archive_path`); see the module docstring.
    """
    jpath = Path(journal)
    file = Path(to) if to is not None else default_archive_path(jpath)
    if file.resolve() == jpath.resolve():
        raise ValueError(f"{file}: the archive cannot be the journal itself")
    size_before = jpath.stat().st_size
    db = connect(jpath)
    try:
        migrate(db)
        first, last, why = _plan(db, before_ns)
        if last < first:
            return ArchiveResult(file, 0, reason=why, journal_bytes_before=size_before,
                                 journal_bytes_after=size_before)
        # beside the journal: its bare name (the two move together); elsewhere: absolute
        here = file.resolve().parent == jpath.resolve().parent
        name = file.name if here else str(file.resolve())
        n, last_hash, t0, t1 = _copy(db, file, first, last)
        _register(db, name, first, last, n, last_hash, before_ns, who)
    finally:
        db.close()
    if vacuum:
        v = sqlite3.connect(jpath, isolation_level=None)
        try:
            v.execute("PRAGMA busy_timeout=30000")
            v.execute("VACUUM")
            v.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            v.close()
    return ArchiveResult(file, n, first, last, t0, t1, why, size_before, jpath.stat().st_size)


def _copy(db: sqlite3.Connection, file: Path, first: int, last: int
          ) -> tuple[int, bytes, int, int]:
    """Step 1: copy rows ``first … last`` and every tag set into ``file`` and commit;
    return (rows, hash of row ``last``, first and last time_ns) as read back from it."""
    file.parent.mkdir(parents=True, exist_ok=True)
    db.execute("ATTACH DATABASE ? AS arch", (str(file),))
    try:
        db.execute("PRAGMA arch.journal_mode=WAL")
        db.execute("PRAGMA arch.synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql in _schema_sql(db, "arch"):
                db.execute(sql)
            db.execute("INSERT OR IGNORE INTO arch.tagsets SELECT * FROM main.tagsets")
            db.execute("INSERT OR IGNORE INTO arch.points SELECT * FROM main.points"
                       " WHERE id BETWEEN ? AND ?", (first, last))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        n, t0, t1 = db.execute(
            "SELECT count(*), min(time_ns), max(time_ns) FROM arch.points"
            " WHERE id BETWEEN ? AND ?", (first, last)).fetchone()
        (theirs,) = db.execute("SELECT hash FROM arch.points WHERE id = ?", (last,)).fetchone()
        (ours,) = db.execute("SELECT hash FROM main.points WHERE id = ?", (last,)).fetchone()
        (expected,) = db.execute("SELECT count(*) FROM main.points WHERE id BETWEEN ? AND ?",
                                 (first, last)).fetchone()
    finally:
        db.execute("DETACH DATABASE arch")
    if n != expected or bytes(theirs) != bytes(ours):
        raise JournalError(f"{file}: the archive copy does not match the journal "
                           f"({n} of {expected} rows, last row's hash "
                           f"{'matches' if theirs == ours else 'differs'}); nothing was deleted")
    return int(n), bytes(ours), int(t0), int(t1)


def _register(db: sqlite3.Connection, name: str, first: int, last: int, n: int,
              last_hash: bytes, before_ns: int, who: str) -> None:
    """Step 2: register the range, delete it from the journal, audit it (one transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "INSERT INTO archives (file, first_id, last_id, rows, last_hash, before_ns,"
            " created_ns) VALUES (?,?,?,?,?,?,?)",
            (name, first, last, n, last_hash, before_ns, time.time_ns()))
        db.execute("DELETE FROM main.points WHERE id BETWEEN ? AND ?", (first, last))
        audit.append_audit(db, "archive", who=who,
                           what=f"rows {first}…{last} ({n}) moved to {name}",
                           why="journal maintenance: rows every sink acknowledged")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
