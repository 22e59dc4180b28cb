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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.record.archive import connect_reader
from harness.record.records import LIMIT_FIELDS, VALUE_FIELD
from harness.record.schema import PartialRead, migrate

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


def iso_time(ns: int) -> str:
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
            "time": iso_time(time_ns),
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


def count_by_tags(
    path: str | Path, kind: str, keep: Callable[[dict[str, str]], bool]
) -> list[tuple[dict[str, str], int]]:
    """(tags, rows) of every tag set ``keep`` accepts that has rows of ``kind``; the
    counting runs in SQLite on the tag set index (nothing per row reaches Python)."""
    db = connect_reader(path, check=False)
    try:
        tags = {int(tid): json.loads(text) for tid, text in db.execute(
            "SELECT id, tags FROM tagsets")}
        wanted = [tid for tid, t in tags.items() if keep(t)]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        return [(tags[tid], int(n)) for tid, n in db.execute(
            f"SELECT tagset, count(*) FROM points WHERE kind = ? AND tagset IN ({marks})"
            " GROUP BY tagset", [kind, *wanted])]
    finally:
        db.close()


def stream(path: str | Path, q: Query) -> Iterator[dict[str, Any]]:
    """Rows matching ``q`` one at a time (memory does not grow with the journal)."""
    db = connect_reader(path, check=False)
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
    db = connect_reader(path, check=False)
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


def query_columns(db: sqlite3.Connection, q: Query) -> list[str]:
    """The columns :func:`columns` gives for the rows of ``q``, found by SQLite alone.

    One row's keys are the base columns, its tag keys, its value field (when it has a
    value), the limit fields it has and its data keys: their union over the selected
    rows is read in two scans, ``DISTINCT`` tag set / kind / which columns are set, and
    the data keys with ``json_each`` (no row reaches Python), so a
    streamed export knows its header before the first row. ``q.limit`` is not supported
    (which rows a limit keeps is the export's own business): give ``limit=None``.
    """
    if q.limit:
        raise ValueError("query_columns: a limited query has no streamed column set")
    where, args = _where(q)
    present = ", ".join(f"p.{f} IS NOT NULL" for f in ("value", *LIMIT_FIELDS))
    combos = db.execute(f"SELECT DISTINCT p.tagset, p.kind, {present} FROM points p{where}",
                        args).fetchall()
    tagsets = {tid for tid, *_ in combos}
    keys: set[str] = set()
    for tid, tags in db.execute("SELECT id, tags FROM tagsets"):
        if tid in tagsets:
            keys.update(json.loads(tags))
    for _, kind, has_value, *has_limit in combos:
        if has_value:
            keys.add(VALUE_FIELD.get(kind, "value"))
        keys.update(f for f, there in zip(LIMIT_FIELDS, has_limit, strict=True) if there)
    keys.update(k for (k,) in db.execute(
        f"SELECT DISTINCT j.key FROM points p, json_each(p.data) j{where}", args))
    return list(BASE_COLUMNS) + sorted(keys.difference(BASE_COLUMNS))


def stream_csv(path: str | Path, q: Query, out: IO[str]) -> tuple[int, PartialRead | None]:
    """Write the rows of ``q`` as CSV as they are read; (rows written, damage or None).

    The same file :func:`write_csv` writes from :func:`query`'s rows, but memory does not
    grow with the rows: the header comes from :func:`query_columns`, then each row is
    written and dropped. A journal found damaged part-way gives a :class:`PartialRead`
    (its ``rows`` empty: the rows before the damage are already written); damage met
    while finding the columns falls back to :func:`query`'s salvage (rows in memory).
    """
    db = connect_reader(path, check=False)
    n = 0
    try:
        migrate(db)
        try:
            cols = query_columns(db, q)
        except sqlite3.DatabaseError:
            db.close()
            return _salvage_csv(path, q, out)
        w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for row in iter_rows(db, q):
            w.writerow(row)
            n += 1
    except sqlite3.DatabaseError as exc:
        return n, PartialRead(f"{path}: journal is damaged after {n} rows ({exc})", [])
    finally:
        db.close()
    return n, None


def _salvage_csv(path: str | Path, q: Query, out: IO[str]) -> tuple[int, PartialRead | None]:
    try:
        return write_csv(query(path, q), out), None
    except PartialRead as exc:
        return write_csv(exc.rows, out), exc


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
