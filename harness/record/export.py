"""Query the journal and export rows as CSV or Parquet.

One output row per journal point: ``id, kind, time`` (ISO 8601 UTC),
``time_ns, run_id, test_id``, then the tag columns, then value/limit columns
and the free-form fields (union over the selected rows, sorted).
Parquet needs ``pyarrow`` (optional).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.record.records import LIMIT_FIELDS, VALUE_FIELD
from harness.record.schema import PartialRead, connect, migrate

BASE_COLUMNS = ("id", "kind", "time", "time_ns", "run_id", "test_id")


@dataclass(frozen=True)
class Query:
    """Filters (all optional, combined with AND); times are ns since the epoch."""

    kind: str | None = None
    serial: str | None = None  # stimulator_serial or coil_serial
    since_ns: int | None = None  # inclusive
    until_ns: int | None = None  # exclusive
    run_id: str | None = None
    limit: int | None = None
    names: tuple[str, ...] = ()  # measurement names (the ``name`` tag) only; () = all


def parse_time(text: str) -> int:
    """ns since the epoch from an integer (ns) or an ISO 8601 date/time (UTC if naive)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give ISO 8601 (2026-12-01, 2026-12-01T08:00:00Z) or ns"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def _iso(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def _where(q: Query) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if q.kind:
        clauses.append("p.kind = ?")
        args.append(q.kind)
    if q.run_id:
        clauses.append("p.run_id = ?")
        args.append(q.run_id)
    if q.since_ns is not None:
        clauses.append("p.time_ns >= ?")
        args.append(q.since_ns)
    if q.until_ns is not None:
        clauses.append("p.time_ns < ?")
        args.append(q.until_ns)
    if q.serial:
        clauses.append(
            "p.tagset IN (SELECT id FROM tagsets WHERE json_extract(tags, '$.stimulator_serial')"
            " = ? OR json_extract(tags, '$.coil_serial') = ?)"
        )
        args += [q.serial, q.serial]
    if q.names:
        # tag sets are few (bounded tags): the filter runs in SQLite, not in Python
        marks = ",".join("?" * len(q.names))
        clauses.append(
            f"p.tagset IN (SELECT id FROM tagsets WHERE json_extract(tags, '$.name') IN ({marks}))"
        )
        args += list(q.names)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def iter_rows(db: sqlite3.Connection, q: Query) -> Iterator[dict[str, Any]]:
    """Journal points matching ``q`` as flat dicts, in journal order."""
    where, args = _where(q)
    sql = (
        "SELECT p.id, p.kind, p.time_ns, p.run_id, p.test_id, t.tags, p.value, p.low, p.high,"
        " p.marginal_low, p.marginal_high, p.nominal, p.data"
        f" FROM points p JOIN tagsets t ON t.id = p.tagset{where} ORDER BY p.id"
    )
    if q.limit:
        sql += f" LIMIT {int(q.limit)}"
    for pid, kind, time_ns, run_id, test_id, tags, value, *rest in db.execute(sql, args):
        *lim, data = rest
        row: dict[str, Any] = {
            "id": pid,
            "kind": kind,
            "time": _iso(time_ns),
            "time_ns": time_ns,
            "run_id": run_id,
            "test_id": test_id,
        }
        row.update(json.loads(tags))
        if value is not None:
            row[VALUE_FIELD.get(kind, "value")] = value
        for k, v in zip(LIMIT_FIELDS, lim, strict=True):
            if v is not None:
                row[k] = v
        if data:
            for k, v in json.loads(data).items():
                row.setdefault(k, v if not isinstance(v, dict | list) else json.dumps(v))
        yield row


def stream(path: str | Path, q: Query) -> Iterator[dict[str, Any]]:
    """Rows matching ``q`` one at a time (memory does not grow with the journal)."""
    db = connect(path, check=False)
    try:
        migrate(db)
        yield from iter_rows(db, q)
    finally:
        db.close()


def query(path: str | Path, q: Query) -> list[dict[str, Any]]:
    """All rows matching ``q`` from the journal at ``path``.

    A damaged journal is read as far as it can be: :class:`PartialRead` carries the rows
    read before the damage (export is how a damaged journal is salvaged).
    """
    db = connect(path, check=False)
    rows: list[dict[str, Any]] = []
    try:
        migrate(db)
        for row in iter_rows(db, q):
            rows.append(row)
    except sqlite3.DatabaseError as exc:
        raise PartialRead(
            f"{path}: journal is damaged after {len(rows)} rows ({exc})", rows
        ) from exc
    finally:
        db.close()
    return rows


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column order: base columns, then every other key sorted."""
    seen: set[str] = set()
    for r in rows:
        seen.update(r)
    return list(BASE_COLUMNS) + sorted(seen.difference(BASE_COLUMNS))


def write_csv(rows: list[dict[str, Any]], out: IO[str]) -> int:
    """Write rows as CSV (header first); return how many rows."""
    w = csv.DictWriter(out, fieldnames=columns(rows), extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return len(rows)


def parquet_available() -> bool:
    """True when pyarrow can be imported."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_parquet(rows: list[dict[str, Any]], path: str | Path) -> int:
    """Write rows to a Parquet file (needs pyarrow); return how many rows.

    Columns that mix types across rows (e.g. a metric that is a number in one
    kind and text in another) are written as text.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = columns(rows)
    arrays = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
    pq.write_table(pa.table(arrays), str(path))
    return len(rows)
