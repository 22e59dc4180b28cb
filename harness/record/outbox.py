"""Forwarding state kept in the journal: what is pending, sent or quarantined.

Per sink (an InfluxDB URL + database/bucket) the journal keeps a cursor
``sent_upto``: every point with ``id <= sent_upto`` has been accepted by that
sink (HTTP 2xx) or quarantined. This works because SQLite hands out row ids
in commit order from a single writer lock, so committed ids are always a
contiguous prefix; marking a batch sent is one small UPDATE. Points a sink
refused individually are listed in ``quarantine`` with the server's message.

:class:`Outbox` owns its own connection; open one per thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.record.encode import ROW_COLUMNS
from harness.record.schema import connect, migrate

_SELECT = f"SELECT {ROW_COLUMNS} FROM points WHERE id > ? ORDER BY id LIMIT ?"


@dataclass(frozen=True)
class QuarantinedPoint:
    """A point a sink refused, with the server's reason."""

    point_id: int
    kind: str
    time_ns: int
    message: str
    at_ns: int


@dataclass(frozen=True)
class SinkStatus:
    """Forwarding counts and last outcome for one sink."""

    sink: str
    total: int
    pending: int
    sent: int
    quarantined: int
    sent_upto: int
    last_ok_ns: int | None
    last_error: str | None
    last_error_ns: int | None
    quarantine: tuple[QuarantinedPoint, ...] = ()


class Outbox:
    """Reader/bookkeeper over one journal file for one sink key."""

    def __init__(self, path: str | Path, sink: str) -> None:
        self.path = Path(path)
        self.sink = sink
        # NORMAL: losing the last cursor update on power loss only re-sends a
        # batch, which overwrites itself (unique timestamps); points are FULL.
        self._db: sqlite3.Connection = connect(self.path, synchronous="NORMAL")
        migrate(self._db)

    def close(self) -> None:
        """Close this connection."""
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading
    def sent_upto(self) -> int:
        """Highest point id already handled for this sink (0 if none)."""
        row = self._db.execute(
            "SELECT sent_upto FROM cursors WHERE sink=?", (self.sink,)
        ).fetchone()
        return row[0] if row else 0

    def read_after(self, after_id: int, limit: int) -> list[tuple]:
        """Up to ``limit`` rows with ``id > after_id`` in id order (columns ROW_COLUMNS)."""
        return self._db.execute(_SELECT, (after_id, limit)).fetchall()

    def tagset_json(self, tagset_id: int) -> str:
        """Tag JSON of a tag set id."""
        return self._db.execute("SELECT tags FROM tagsets WHERE id=?", (tagset_id,)).fetchone()[0]

    def last_id(self) -> int:
        """Highest committed point id (0 for an empty journal)."""
        return self._db.execute("SELECT coalesce(max(id), 0) FROM points").fetchone()[0]

    # ------------------------------------------------------------ bookkeeping
    def _ensure(self) -> None:
        self._db.execute("INSERT OR IGNORE INTO cursors (sink) VALUES (?)", (self.sink,))

    def advance(self, upto_id: int, quarantined: Sequence[tuple[int, str]] = ()) -> None:
        """Mark every point up to ``upto_id`` handled; record ``quarantined``
        ``(point_id, message)`` pairs; clear the last error. One transaction."""
        now = time.time_ns()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._ensure()
            if quarantined:
                db.executemany(
                    "INSERT OR REPLACE INTO quarantine (sink, point_id, message, at_ns)"
                    " VALUES (?,?,?,?)",
                    [(self.sink, pid, msg, now) for pid, msg in quarantined],
                )
            db.execute(
                "UPDATE cursors SET sent_upto=max(sent_upto, ?), last_ok_ns=?, last_error=NULL,"
                " last_error_ns=NULL WHERE sink=?",
                (upto_id, now, self.sink),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def record_error(self, message: str) -> None:
        """Remember the last forwarding error (already redacted) for ``status``."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._ensure()
            db.execute(
                "UPDATE cursors SET last_error=?, last_error_ns=? WHERE sink=?",
                (message, time.time_ns(), self.sink),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def requeue_quarantined(self) -> int:
        """Move quarantined points back to pending (after the cause was fixed).

        Rewinds the cursor to just before the oldest quarantined point; points
        after it that were already accepted are re-sent and overwrite themselves
        (unique timestamps). Returns how many were released.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            lowest, n = db.execute(
                "SELECT min(point_id), count(*) FROM quarantine WHERE sink=?", (self.sink,)
            ).fetchone()
            if n:
                db.execute("DELETE FROM quarantine WHERE sink=?", (self.sink,))
                db.execute("UPDATE cursors SET sent_upto=? WHERE sink=?", (lowest - 1, self.sink))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return n

    # ------------------------------------------------------------ status
    def status(self, *, max_quarantine: int = 50) -> SinkStatus:
        """Counts for this sink (one consistent read snapshot)."""
        db = self._db
        db.execute("BEGIN")
        try:
            cur = db.execute(
                "SELECT sent_upto, last_ok_ns, last_error, last_error_ns FROM cursors WHERE sink=?",
                (self.sink,),
            ).fetchone() or (0, None, None, None)
            upto = cur[0]
            # Ids are contiguous (each append takes the next id; archiving removes only the
            # oldest run of ids), so the counts come from the ends of the primary key, not
            # from count(*), which reads every row (7 s on a 10M-row journal).
            lo, hi = db.execute(  # two subqueries: min and max together scan every row
                "SELECT (SELECT min(id) FROM points), (SELECT max(id) FROM points)").fetchone()
            total = 0 if lo is None else hi - lo + 1
            handled = 0 if lo is None else max(0, min(upto, hi) - lo + 1)
            nq = db.execute(
                "SELECT count(*) FROM quarantine WHERE sink=?", (self.sink,)
            ).fetchone()[0]
            rows = db.execute(
                "SELECT q.point_id, p.kind, p.time_ns, q.message, q.at_ns FROM quarantine q"
                " JOIN points p ON p.id = q.point_id WHERE q.sink=? ORDER BY q.point_id LIMIT ?",
                (self.sink, max_quarantine),
            ).fetchall()
        finally:
            db.execute("COMMIT")
        return SinkStatus(
            sink=self.sink,
            total=total,
            pending=total - handled,
            sent=handled - nq,
            quarantined=nq,
            sent_upto=upto,
            last_ok_ns=cur[1],
            last_error=cur[2],
            last_error_ns=cur[3],
            quarantine=tuple(QuarantinedPoint(*r) for r in rows),
        )


def known_sinks(path: str | Path) -> list[str]:
    """Sink keys that have forwarding state in the journal at ``path``."""
    db = connect(path)
    try:
        migrate(db)
        return [r[0] for r in db.execute("SELECT sink FROM cursors ORDER BY sink")]
    finally:
        db.close()
