"""Journal storage: connection settings and versioned schema migrations.

The journal is one SQLite file in WAL mode. Durability choice:
``journal_mode=WAL`` with ``synchronous=FULL`` — every commit fsyncs the WAL
before ``COMMIT`` returns, so a committed row survives a process kill *and* a
power loss or OS crash. (``NORMAL`` with WAL survives a process kill but may
lose the last commits on power loss; a manufacturing station is exactly where
power gets pulled, so FULL is the default. Batch appends amortise the fsync.)
SQLite's WAL guarantees that a crash at any moment leaves either the old or the
new committed state, never a corrupt file.

Schema version is ``PRAGMA user_version``; :data:`MIGRATIONS` are applied in
order, each in its own transaction together with the version bump.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

Synchronous = Literal["FULL", "NORMAL", "EXTRA"]

#: How long a connection waits for another connection's write lock (ms).
BUSY_TIMEOUT_MS = 30_000


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the caller's transaction.

    (``executescript`` would COMMIT first and break the migration's atomicity.)
    """
    for statement in script.split(";"):
        lines = [ln.split("--", 1)[0] for ln in statement.splitlines()]
        sql = "\n".join(lines).strip()
        if sql:
            db.execute(sql)


def _v1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        -- Interned bounded tag sets (station, models, serials, name, unit, ...).
        CREATE TABLE tagsets (
            id   INTEGER PRIMARY KEY,
            tags TEXT NOT NULL UNIQUE          -- canonical JSON object, keys sorted
        );
        -- Every journalled point, in append order (id = journal order).
        CREATE TABLE points (
            id            INTEGER PRIMARY KEY,
            kind          TEXT    NOT NULL,    -- measurement, pulse, train, ...
            ts            INTEGER NOT NULL,    -- wire timestamp, ns, unique
            time_ns       INTEGER NOT NULL,    -- time as recorded, ns since epoch
            tagset        INTEGER NOT NULL REFERENCES tagsets(id),
            run_id        TEXT    NOT NULL DEFAULT '',
            test_id       TEXT    NOT NULL DEFAULT '',
            value         REAL,                -- main value (measurement, temperature)
            low           REAL,
            high          REAL,
            marginal_low  REAL,
            marginal_high REAL,
            nominal       REAL,
            data          TEXT                 -- JSON object of further fields
        );
        CREATE UNIQUE INDEX points_ts ON points(ts);
        CREATE INDEX points_run ON points(run_id);
        -- Run records (one row per run, finished on finish_run).
        CREATE TABLE runs (
            run_id       TEXT PRIMARY KEY,
            station      TEXT NOT NULL DEFAULT '',
            operator     TEXT NOT NULL DEFAULT '',
            git_revision TEXT NOT NULL DEFAULT '',
            bench        TEXT NOT NULL DEFAULT '',
            started_ns   INTEGER NOT NULL,
            finished_ns  INTEGER,
            verdict      TEXT
        );
        -- Forwarding state per sink: every point with id <= sent_upto has been
        -- accepted by the sink or quarantined.
        CREATE TABLE cursors (
            sink          TEXT PRIMARY KEY,
            sent_upto     INTEGER NOT NULL DEFAULT 0,
            last_ok_ns    INTEGER,
            last_error    TEXT,
            last_error_ns INTEGER
        );
        -- Points a sink refused (HTTP 4xx for that point), with its message.
        CREATE TABLE quarantine (
            sink     TEXT    NOT NULL,
            point_id INTEGER NOT NULL REFERENCES points(id),
            message  TEXT    NOT NULL,
            at_ns    INTEGER NOT NULL,
            PRIMARY KEY (sink, point_id)
        );
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    """The hash chain (:mod:`harness.record.chain`): a hash per point and the head."""
    from harness.record import audit, chain  # both import nothing of this module

    _run_script(
        db,
        """
        ALTER TABLE points ADD COLUMN hash BLOB;   -- SHA-256(previous hash ‖ content)
        -- The last chained row: rows cut from the end no longer reach it.
        CREATE TABLE chain_head (
            only      INTEGER PRIMARY KEY CHECK (only = 1),
            last_id   INTEGER NOT NULL,
            last_hash BLOB    NOT NULL
        );
        """,
    )
    n = db.execute("SELECT count(*) FROM points").fetchone()[0]
    last_id, last = chain.chain_rows(db)
    if n:
        audit.append_audit(
            db,
            "migrate",
            what=f"journal schema 1 → 2: {n} existing rows chained (head row {last_id},"
            f" {chain.short(last)})",
            why="hash chain added (tamper-evident journal)",
        )


def _v3(db: sqlite3.Connection) -> None:
    """An index of run points (a run start looks up earlier runs of its spec version)."""
    db.execute("CREATE INDEX points_runs ON points(kind) WHERE kind = 'run'")


def _v4(db: sqlite3.Connection) -> None:
    """Archived row ranges (:mod:`harness.record.archive`): which rows live in which file."""
    _run_script(
        db,
        """
        CREATE TABLE archives (
            file       TEXT    NOT NULL,   -- beside the journal: its name, else absolute
            first_id   INTEGER NOT NULL,
            last_id    INTEGER NOT NULL,
            rows       INTEGER NOT NULL,
            last_hash  BLOB    NOT NULL,   -- hash of row last_id (the chain goes on from it)
            before_ns  INTEGER NOT NULL,   -- the --before the rows were archived with
            created_ns INTEGER NOT NULL,
            PRIMARY KEY (first_id)
        )
        """,
    )


def _v5(db: sqlite3.Connection) -> None:
    """An index of points by tag set: a device's rows (``export --serial``), a
    characteristic's (``drift``), the failing verdicts (station pages) are found without
    reading the whole journal. (Tag sets are few, so a filter on tags is a short list of
    tag set ids.)"""
    db.execute("CREATE INDEX points_tagset ON points(tagset)")


#: Ordered migrations; migration ``i`` brings the schema to version ``i + 1``.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5]

SCHEMA_VERSION = len(MIGRATIONS)


class JournalError(RuntimeError):
    """The journal cannot be opened or used (newer schema, not a journal, damaged, ...)."""


#: What to do with a journal that cannot be used (said in every refusal).
_DAMAGED_ADVICE = (
    "keep the file, save what can be read with `tmsbench export --journal FILE -o rows.csv`,"
    " and start a new journal (move this one aside or give another [sinks.journal] path)"
)
_UNREADABLE_ADVICE = (
    "keep the file for recovery (sqlite3 FILE .recover) and start a new journal"
    " (move this one aside or give another [sinks.journal] path)"
)


class PartialRead(JournalError):
    """A damaged journal was read up to a point: ``rows`` holds what could be read."""

    def __init__(self, message: str, rows: list[Any]) -> None:
        super().__init__(message)
        self.rows = rows


# Paths whose integrity this process has checked (a check reads the whole file once).
_checked: set[Path] = set()


def _quick_check(db: sqlite3.Connection, p: Path) -> None:
    """``PRAGMA quick_check`` once per file and process; :class:`JournalError` if damaged."""
    key = p.resolve()
    if key in _checked:
        return
    rows = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
    if rows != ["ok"]:
        detail = "; ".join(str(r) for r in rows)[:300]
        raise JournalError(
            f"{p}: journal is damaged (integrity check: {detail}); {_DAMAGED_ADVICE}"
        )
    _checked.add(key)


def connect(
    path: str | Path, *, synchronous: Synchronous = "FULL", check: bool = True
) -> sqlite3.Connection:
    """Open a connection with the journal's settings (WAL, fsync, busy timeout).

    ``check``: refuse a damaged file (``PRAGMA quick_check``, once per file and process)
    or one written by a newer tmsbench, with :class:`JournalError`. Only salvage
    (``tmsbench export``) opens without the check.

    The connection is in autocommit mode (``isolation_level=None``): callers
    open transactions explicitly with ``BEGIN IMMEDIATE``.
    """
    p = Path(path)
    if p.is_dir():
        raise JournalError(
            f"{p}: the journal path is a folder; give a file path such as {p}/journal.sqlite"
        )
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=30.0)
    except (OSError, sqlite3.Error) as exc:
        raise JournalError(f"{p}: cannot open the journal: {exc}") from exc
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        mode = _wal(db)
        if str(mode).lower() != "wal":
            raise JournalError(f"{p}: cannot switch to WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA foreign_keys=OFF")  # integrity is kept by the writer
        if check:
            _quick_check(db, p)
            _check_version(db, p)
    except JournalError:
        db.close()
        raise
    except sqlite3.DatabaseError as exc:
        db.close()
        raise JournalError(f"{p}: not a usable journal ({exc}); {_UNREADABLE_ADVICE}") from exc
    return db


def _wal(db: sqlite3.Connection) -> str:
    """Switch to WAL mode; the journal mode it reports.

    Changing the journal mode of a fresh file takes an exclusive lock, and SQLite
    answers "database is locked" at once, without its busy handler, when another
    process is opening the same file at that moment (seen with four writers
    started together: ``tests/integration/test_journal_concurrent.py``). Retried
    for up to :data:`BUSY_TIMEOUT_MS`, as any other lock wait.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000.0
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _check_version(db: sqlite3.Connection, p: Path) -> None:
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise JournalError(
            f"{p}: journal schema version {found} is newer than this tmsbench"
            f" ({SCHEMA_VERSION}); use a newer tmsbench for this file, or start a new journal"
        )


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; return the version found.

    Raises :class:`JournalError` if the file was written by a newer tmsbench.
    """
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise JournalError(
            f"journal schema version {found} is newer than this tmsbench ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > version:
                db.execute("COMMIT")
                continue
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version={version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return found
