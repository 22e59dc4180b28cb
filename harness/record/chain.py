"""The journal's hash chain: every point row is bound to the one before it.

Each row of ``points`` carries ``hash = SHA-256(previous row's hash ‖ content)``
(the first row's previous hash is 32 zero bytes), and ``chain_head`` holds the
last row's id and hash, updated in the same transaction as every append. So a
row that was edited, deleted, inserted or moved breaks the chain at that row,
and rows cut from the end no longer reach the recorded head.

Content, in this order (all little-endian):

1. ``id``, ``ts``, ``time_ns`` as int64 and ``value`` as float64 (NULL and NaN
   as the quiet NaN ``0x7ff8000000000000``; ``-0.0`` as ``0.0``);
2. the SHA-256 (32 bytes) of UTF-8 text joined by a NUL byte: ``kind``, the
   tag set's JSON text (the tags themselves, not their id), ``run_id``,
   ``test_id``, then ``low``, ``high``, ``marginal_low``, ``marginal_high``,
   ``nominal`` as Python's ``repr`` of the float (``None`` when NULL or NaN).
   (Hashed apart because it repeats from row to row: the writer computes it
   once per distinct value, which keeps the chain's cost per row small.)
3. the ``data`` JSON text as stored, if any.

What is chained is what a record *means*; forwarding bookkeeping (``cursors``,
``quarantine``) and the ``runs`` index stay outside and may change.
A chain proves that rows were not changed *after* they were written by
someone who did not rewrite every later row and the head too: keep the head
hash `tmsbench verify` prints somewhere else (it is also in every run's
finish point in InfluxDB) to close that gap.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = bytes(32)
_NUMBERS = struct.Struct("<qqqd")
_NAN = float("nan")  # NULL and NaN (SQLite stores NaN as NULL)
_sha256 = hashlib.sha256


def _text_real(x: float | None) -> str:
    return "None" if x is None or x != x else repr(float(x) + 0.0)


class Chainer:
    """Computes row hashes; caches part 2 per (kind, tag set, run, test, limits)."""

    def __init__(self) -> None:
        self._text: dict[tuple[Any, ...], bytes] = {}

    def text(
        self,
        kind: str,
        tags_key: object,
        tags_json: str,
        run_id: str,
        test_id: str,
        limits: Sequence[float | None],
    ) -> bytes:
        """SHA-256 of part 2 of the content (see the module docstring).

        ``tags_key`` stands for ``tags_json`` in the cache (the journal passes its
        tag set id, which is cheaper to hash than the text).
        """
        key = (kind, tags_key, run_id, test_id, *limits)
        b = self._text.get(key)
        if b is None:
            if len(self._text) > 50_000:
                self._text.clear()
            parts = [kind, tags_json, run_id, test_id, *(_text_real(x) for x in limits)]
            b = self._text[key] = hashlib.sha256("\x00".join(parts).encode()).digest()
        return b

    def digest(
        self,
        prev: bytes,
        row_id: int,
        kind: str,
        ts: int,
        time_ns: int,
        tags_json: str,
        run_id: str,
        test_id: str,
        value: float | None,
        limits: Sequence[float | None],
        data: str | None,
        tags_key: object = None,
    ) -> bytes:
        """This row's hash given the previous row's ``prev`` (32 bytes)."""
        v = value + 0.0 if value is not None and value == value else _NAN
        head = prev + _NUMBERS.pack(row_id, ts, time_ns, v)
        text = self.text(
            kind, tags_json if tags_key is None else tags_key, tags_json, run_id, test_id, limits
        )
        if data:
            return _sha256(head + text + data.encode()).digest()
        return _sha256(head + text).digest()


def head(db: sqlite3.Connection) -> tuple[int, bytes]:
    """(last chained id, its hash); (0, GENESIS) for an empty journal."""
    row = db.execute("SELECT last_id, last_hash FROM chain_head WHERE only = 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), bytes(row[1]))


def set_head(db: sqlite3.Connection, last_id: int, last_hash: bytes) -> None:
    """Record the chain's head (inside the caller's transaction)."""
    db.execute(
        "INSERT INTO chain_head (only, last_id, last_hash) VALUES (1, ?, ?)"
        " ON CONFLICT(only) DO UPDATE SET last_id = excluded.last_id,"
        " last_hash = excluded.last_hash",
        (last_id, last_hash),
    )


_WALK = (
    "SELECT p.id, p.kind, p.ts, p.time_ns, t.tags, p.run_id, p.test_id, p.value, p.low,"
    " p.high, p.marginal_low, p.marginal_high, p.nominal, p.data, p.hash"
    " FROM points p LEFT JOIN tagsets t ON t.id = p.tagset WHERE p.id > ? ORDER BY p.id"
)


def _rows(db: sqlite3.Connection, after: int = 0) -> Iterator[tuple[Any, ...]]:
    cur = db.execute(_WALK, (after,))
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            return
        yield from batch


def chain_rows(db: sqlite3.Connection) -> tuple[int, bytes]:
    """Hash every row that has none yet, in id order (migration); returns the head."""
    ch = Chainer()
    prev, last = GENESIS, 0
    updates: list[tuple[bytes, int]] = []
    for r in list(_rows(db)):
        rid, kind, ts, tn, tags, run, test, value, *lim, data, _stored = r
        prev = ch.digest(prev, rid, kind, ts, tn, tags or "", run, test, value, lim, data)
        updates.append((prev, rid))
        last = rid
    db.executemany("UPDATE points SET hash = ? WHERE id = ?", updates)
    set_head(db, last, prev)
    return last, prev


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: ``ok``, rows checked, the head, and the first problem."""

    ok: bool
    rows: int
    last_id: int
    last_hash: bytes
    problem: str = ""
    row_id: int | None = None  # the row the problem is at (None: the end of the chain)


def _row_problem(rid: int, expect_id: int, kind: str, tags: str | None, stored: Any) -> str:
    """Why row ``rid`` cannot be checked ("" when it can)."""
    if rid > expect_id:
        gone = f"{expect_id}" if rid == expect_id + 1 else f"{expect_id}…{rid - 1}"
        return f"row {gone} is missing (deleted); the chain resumes at row {rid}"
    if rid < expect_id:
        return f"row {rid} is out of order (inserted before row {expect_id})"
    if tags is None:
        return f"row {rid} ({kind}) names a tag set that does not exist"
    if stored is None:
        return f"row {rid} ({kind}) has no hash: inserted outside the journal"
    return ""


def verify(db: sqlite3.Connection) -> ChainReport:
    """Walk the chain from the first row; stop at the first row that does not fit."""
    ch = Chainer()
    prev, expect_id, n = GENESIS, 1, 0
    head_id, head_hash = head(db)
    for r in _rows(db):
        rid, kind, ts, tn, tags, run, test, value, *lim, data, stored = r
        problem = _row_problem(rid, expect_id, kind, tags, stored)
        if not problem:
            digest = ch.digest(prev, rid, kind, ts, tn, tags, run, test, value, lim, data)
            if digest != bytes(stored):
                problem = (
                    f"row {rid} ({kind}, time_ns {tn}) does not match its hash: changed, "
                    "inserted or moved after it was written"
                )
        if problem:
            return ChainReport(False, n, expect_id - 1, prev, problem, rid)
        prev, expect_id, n = digest, rid + 1, n + 1
    last = expect_id - 1
    if head_id > last:
        gone = f"{last + 1}" if head_id == last + 1 else f"{last + 1}…{head_id}"
        return ChainReport(
            False, n, last, prev, f"row {gone} is missing (the journal was cut after row {last})"
        )
    if head_id < last or (last and head_hash != prev):
        return ChainReport(
            False,
            n,
            last,
            prev,
            f"the recorded chain head (row {head_id}) does not match row {last}",
        )
    return ChainReport(True, n, last, prev)


def short(h: bytes) -> str:
    """A hash as 16 hex digits (for messages; the full hash is 64)."""
    return h.hex()[:16] if h else "-"
