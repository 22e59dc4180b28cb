"""Several processes append to one journal at once: no 'database is locked', no row lost.

Each writer process appends its own measurements one transaction at a time (as a bench
worker does under ``pytest -n``), all started together on a fresh file; afterwards every
row each writer says it committed is in the journal exactly once and the hash chain
(:mod:`harness.record.chain`) is whole.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

from harness.limits import Limits, Measurement
from harness.record import chain
from harness.record.journal import Journal

WRITERS = 4
ROWS = 500


def _write(path: str, writer: int, start: mp.synchronize.Barrier, out: mp.Queue) -> None:
    start.wait()  # every writer opens the fresh file at the same moment
    try:
        with Journal(path, synchronous="NORMAL") as journal:
            ids = []
            for k in range(ROWS):
                m = Measurement.check(
                    f"w{writer}.m{k}",
                    float(k),
                    "A/us",
                    Limits(low=0.0),
                    tags={"station": f"st-{writer}"},
                    run_id=f"run-{writer}",
                    test_id="t",
                    time_ns=1_000 + k,  # the writers' time stamps collide on purpose
                )
                ids.append(journal.append_measurement(m))
        out.put((writer, ids, ""))
    except Exception as exc:  # reported to the test, which fails naming it
        out.put((writer, [], repr(exc)))


def test_four_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_write, args=(str(path), w, start, out)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [f"writer {w}: {e}" for w, _, e in results if e]
    assert not errors, errors
    db = sqlite3.connect(path)
    try:
        per_run = dict(
            db.execute(
                "SELECT run_id, count(*) FROM points WHERE kind='measurement' GROUP BY run_id"
            ).fetchall()
        )
        ids = [r[0] for r in db.execute("SELECT id FROM points ORDER BY id")]
        ts = db.execute("SELECT count(DISTINCT ts), count(*) FROM points").fetchone()
        report = chain.verify(db)
    finally:
        db.close()
    assert per_run == {f"run-{w}": ROWS for w in range(WRITERS)}
    committed = sorted(i for _, ids_w, _ in results for i in ids_w)
    assert committed == ids == list(range(1, WRITERS * ROWS + 1))  # every id once, no gap
    assert ts[0] == ts[1]  # wire time stamps stay unique across the writers
    assert report.ok, report.problem
