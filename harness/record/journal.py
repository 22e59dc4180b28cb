"""The journal: durable, embedded store of every result (SQLite, WAL).

Every ``append*`` call is one transaction committed (and, with the default
``synchronous=FULL``, fsynced) before it returns. Batch appends use one
``executemany`` in one transaction.

Wire timestamps. Each row gets a ``ts`` that is unique in the journal (a
UNIQUE index enforces it): the recorded ``time_ns`` when it is free, else the
next free nanosecond after it. Since ``ts`` is unique across *all* rows, it is
unique within every InfluxDB series, so re-sending a batch whose
acknowledgement was lost overwrites the same points instead of adding copies,
even for two measurements of the same name recorded in the same nanosecond.
The shift is a few ns at most in practice; the exact ``time_ns`` stays in the
journal. (Uniqueness holds per journal: two journals writing the *same*
series — same station and tags — could still collide.)

Threads: one :class:`Journal` (one connection, guarded by a lock) for the
writers; the forwarder and the CLI open their own connections
(:mod:`harness.record.outbox`). WAL lets them read while a write is going on.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.limits import Measurement, Verdict
from harness.record import archive, audit, chain, records
from harness.record.records import CalibrationRecord, Row, RunInfo
from harness.record.schema import JournalError, Synchronous, connect, migrate

_INSERT = (
    "INSERT INTO points (kind, ts, time_ns, tagset, run_id, test_id, value,"
    " low, high, marginal_low, marginal_high, nominal, data, hash)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

log = logging.getLogger("harness.record.journal")

_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
_dumps_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str).encode


class Journal:
    """Writer side of the journal file at ``path`` (created if missing).

    ``synchronous``: ``"FULL"`` (default, survives power loss) or ``"NORMAL"``
    (survives process crashes only; faster single appends).
    """

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "FULL") -> None:
        self.path = Path(path)
        self._db = connect(self.path, synchronous=synchronous)
        migrate(self._db)
        self._lock = threading.Lock()
        self._tagsets: dict[tuple[tuple[str, str], ...], int] = {}
        self._tag_text: dict[int, str] = {}  # tag set id → its JSON text (what is chained)
        for tid, tags_json in self._db.execute("SELECT id, tags FROM tagsets"):
            self._tagsets[tuple(sorted(json.loads(tags_json).items()))] = tid
            self._tag_text[tid] = tags_json
        self._chainer = chain.Chainer()
        self._closed = False

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # ------------------------------------------------------------ appends
    def append_rows(
        self, rows: Iterable[Row], *, also: Callable[[sqlite3.Connection], None] | None = None
    ) -> list[int]:
        """Append rows in one transaction; return their journal ids (in order).

        ``also`` runs inside the same transaction (used for the runs table).
        """
        rows = list(rows)
        if not rows:
            return []
        with self._lock:
            if self._closed:
                raise RuntimeError("journal is closed")
            db = self._db
            new_tagsets: list[tuple[tuple[str, str], ...]] = []
            db.execute("BEGIN IMMEDIATE")
            try:
                if also is not None:
                    also(db)
                first = db.execute("SELECT coalesce(max(id), 0) FROM points").fetchone()[0] + 1
                _, prev = chain.head(db)  # read in the transaction: another writer may append
                params, last_hash = self._params(db, rows, new_tagsets, first, prev)
                db.executemany(_INSERT, params)
                chain.set_head(db, first + len(params) - 1, last_hash)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                for key in new_tagsets:
                    self._tagsets.pop(key, None)
                raise
        return list(range(first, first + len(rows)))

    def _params(
        self,
        db: sqlite3.Connection,
        rows: list[Row],
        new_tagsets: list[tuple[tuple[str, str], ...]],
        first_id: int,
        prev: bytes,
    ) -> tuple[list[tuple[Any, ...]], bytes]:
        """Insert parameters of ``rows`` (ids from ``first_id``, chained after ``prev``)
        and the last row's hash."""
        hwm = db.execute("SELECT max(ts) FROM points").fetchone()[0]
        hwm = -(2**63) if hwm is None else hwm
        assigned: set[int] = set()
        tagsets = self._tagsets
        params: list[tuple[Any, ...]] = []
        append = params.append
        digest, tag_text, row_id = self._chainer.digest, self._tag_text, first_id
        for kind, time_ns, tags, run_id, test_id, value, lim, data in rows:
            tid = tagsets.get(tags)
            if tid is None:
                tid = self._intern(db, tags)
                new_tagsets.append(tags)
            if time_ns > hwm:
                ts = hwm = time_ns
            else:
                ts = time_ns
                while (
                    ts in assigned
                    or db.execute("SELECT 1 FROM points WHERE ts=?", (ts,)).fetchone()
                ):
                    ts += 1
                hwm = max(hwm, ts)
            assigned.add(ts)
            text = None if data is None else _dumps(data)
            prev = digest(
                prev,
                row_id,
                kind,
                ts,
                time_ns,
                tag_text[tid],
                run_id,
                test_id,
                value,
                lim,
                text,
                tid,
            )
            row_id += 1
            append((kind, ts, time_ns, tid, run_id, test_id, value, *lim, text, prev))
        return params, prev

    def _intern(self, db: sqlite3.Connection, tags: tuple[tuple[str, str], ...]) -> int:
        text = _dumps_sorted(dict(tags))
        db.execute("INSERT OR IGNORE INTO tagsets (tags) VALUES (?)", (text,))
        tid = db.execute("SELECT id FROM tagsets WHERE tags=?", (text,)).fetchone()[0]
        self._tagsets[tags] = tid
        self._tag_text[tid] = text
        return tid

    def append_measurement(self, m: Measurement) -> int:
        """Append one Measurement; return its journal id."""
        return self.append_rows([records.measurement_row(m)])[0]

    def append_measurements(self, ms: Iterable[Measurement]) -> int:
        """Append many Measurements in one transaction; return how many."""
        row = records.measurement_row
        return len(self.append_rows([row(m) for m in ms]))

    def append_pulse(self, metrics: Mapping[str, Any], **context: Any) -> int:
        """Append one pulse summary (see :func:`records.pulse_row` for ``context``)."""
        return self.append_rows([records.pulse_row(metrics, **context)])[0]

    def append_train(self, metrics: Mapping[str, Any], **context: Any) -> int:
        """Append one train summary (see :func:`records.train_row`)."""
        return self.append_rows([records.train_row(metrics, **context)])[0]

    def append_temperature(self, celsius: float | None, **context: Any) -> int:
        """Append one temperature point in °C (see :func:`records.temperature_row`)."""
        return self.append_rows([records.temperature_row(celsius, **context)])[0]

    def append_calibration(self, rec: CalibrationRecord) -> int:
        """Append one calibration record."""
        return self.append_rows([records.calibration_row(rec)])[0]

    # ------------------------------------------------------------ runs
    def start_run(self, info: RunInfo) -> int:
        """Record the start of a run (runs table + a ``tms_run`` start point)."""

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, station, operator, git_revision, bench,"
                " started_ns) VALUES (?,?,?,?,?,?)",
                (
                    info.run_id,
                    info.station,
                    info.operator,
                    info.git_revision,
                    info.bench,
                    info.started_ns,
                ),
            )

        row = records.run_row(info, "start", time_ns=info.started_ns)
        return self.append_rows([row], also=insert)[0]

    def finish_run(
        self,
        run_id: str,
        verdict: Verdict | str,
        *,
        time_ns: int | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> int:
        """Record the end of a run with its overall verdict (and test counts, see run_row)."""
        end = time.time_ns() if time_ns is None else int(time_ns)
        with self._lock:
            found = self._db.execute(
                "SELECT run_id, station, operator, git_revision, bench, started_ns FROM runs"
                " WHERE run_id=?",
                (run_id,),
            ).fetchone()
        if found:
            _, station, operator, revision, bench, started_ns = found
            info = RunInfo(
                run_id, station, operator, revision, bench, started_ns, self._run_context(run_id)
            )
        else:
            info = RunInfo(run_id, started_ns=end)

        def update(db: sqlite3.Connection) -> None:
            # the chain's head so far travels with the finish point to InfluxDB: an anchor
            # outside this file that a rewritten journal cannot match (harness.record.chain)
            if row.data is not None:
                row.data["chain_head"] = chain.head(db)[1].hex()
            db.execute(
                "INSERT OR IGNORE INTO runs (run_id, started_ns) VALUES (?, ?)", (run_id, end)
            )
            db.execute(
                "UPDATE runs SET finished_ns=?, verdict=? WHERE run_id=?",
                (end, str(verdict), run_id),
            )

        row = records.run_row(
            info,
            "finish",
            time_ns=end,
            verdict=verdict,
            duration_s=(end - info.started_ns) / 1e9,
            counts=counts,
        )
        return self.append_rows([row], also=update)[0]

    def _run_context(self, run_id: str) -> dict[str, str]:
        """Context tags of the run's start point (the finish point carries the same)."""
        with self._lock:
            found = self._db.execute(
                "SELECT t.tags FROM points p JOIN tagsets t ON t.id = p.tagset"
                " WHERE p.run_id=? AND p.kind=? ORDER BY p.id LIMIT 1",
                (run_id, records.Kind.RUN.value),
            ).fetchone()
        if found is None:
            return {}
        return {k: v for k, v in json.loads(found[0]).items() if k in records.CONTEXT_TAG_KEYS}

    def spec_hashes(self, spec_name: str, spec_version: str) -> set[str]:
        """Content hashes earlier runs recorded for this spec name and version (archived
        runs too; a missing archive is logged and only the journal's runs count)."""
        sql = ("SELECT DISTINCT json_extract(data, '$.spec_sha256') FROM points"
               " WHERE kind = 'run' AND json_extract(data, '$.spec_name') = ?"
               " AND json_extract(data, '$.spec_version') = ?")
        try:
            db = archive.connect_reader(self.path, check=False)
        except JournalError as exc:
            log.warning("spec history without the archive: %s", exc)
            with self._lock:
                found = self._db.execute(sql, (spec_name, spec_version)).fetchall()
        else:
            try:
                found = db.execute(sql, (spec_name, spec_version)).fetchall()
            finally:
                db.close()
        return {h for (h,) in found if h}

    # ------------------------------------------------------------ audit
    def append_audit(
        self,
        action: str,
        *,
        what: str,
        why: str = "",
        who: str = "",
        station: str = "",
        run_id: str = "",
    ) -> int:
        """Append one chained audit row (:mod:`harness.record.audit`); its journal id."""
        with self._lock:
            if self._closed:
                raise RuntimeError("journal is closed")
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                rid = audit.append_audit(
                    db, action, what=what, why=why, who=who, station=station, run_id=run_id
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return rid

    # ------------------------------------------------------------ queries
    def count(self) -> int:
        """Number of points in the journal."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM points").fetchone()[0]
