"""Audit rows: who did what to the records, when and why, chained like every point.

An audit row is a point of kind ``audit`` (InfluxDB ``tms_audit``): tags
``action`` (bounded: migrate, run_start, run_finish, requeue, sync,
certificate, approve, ...) and ``station``; fields ``who`` (operator id or the
OS account), ``what`` and ``why``. Rows are only ever appended.

:func:`append_audit` writes one inside the caller's transaction on any
connection (the schema migration uses it before a :class:`Journal` exists).
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import time

from harness.record import chain
from harness.record.records import Kind

KIND = Kind.AUDIT.value
_dumps_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str).encode
_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode


def os_user() -> str:
    """The OS account running this process ("" if it cannot be told)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME: a container
        return ""


def append_audit(
    db: sqlite3.Connection,
    action: str,
    *,
    what: str,
    why: str = "",
    who: str = "",
    station: str = "",
    run_id: str = "",
    time_ns: int | None = None,
) -> int:
    """Append one chained audit row inside the caller's open transaction; its id."""
    tags = _dumps_sorted({"action": action, "station": station} if station else {"action": action})
    db.execute("INSERT OR IGNORE INTO tagsets (tags) VALUES (?)", (tags,))
    tid = db.execute("SELECT id FROM tagsets WHERE tags = ?", (tags,)).fetchone()[0]
    now = time.time_ns() if time_ns is None else int(time_ns)
    hwm = db.execute("SELECT max(ts) FROM points").fetchone()[0]
    ts = now if hwm is None or now > hwm else hwm + 1
    data = _dumps({"who": who or os_user(), "what": what, "why": why})
    _, prev = chain.head(db)
    rid = db.execute("SELECT coalesce(max(id), 0) FROM points").fetchone()[0] + 1
    digest = chain.Chainer().digest(
        prev, rid, KIND, ts, now, tags, run_id, "", None, [None] * 5, data
    )
    db.execute(
        "INSERT INTO points (id, kind, ts, time_ns, tagset, run_id, test_id, value, low, high,"
        " marginal_low, marginal_high, nominal, data, hash)"
        " VALUES (?,?,?,?,?,?,'',NULL,NULL,NULL,NULL,NULL,NULL,?,?)",
        (rid, KIND, ts, now, tid, run_id, data, digest),
    )
    chain.set_head(db, rid, digest)
    return int(rid)
