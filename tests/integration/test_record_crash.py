"""The journal survives SIGKILL of the writing process at any moment."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.record import chain
from harness.record.forwarder import Forwarder
from harness.record.journal import Journal
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BATCH = 100

WRITER = f"""
import itertools, sys
from harness.limits import Limits, Measurement
from harness.record.journal import Journal
j = Journal(sys.argv[1])
lim = Limits(80.0, 100.0)
for n in itertools.count():
    j.append_measurements(
        Measurement.check("peak", 90.0 + k * 1e-3, "A/us", lim, tags={{"station": "s"}},
                          run_id="r", test_id="t::x")
        for k in range({BATCH})
    )
    j.append_temperature(30.0 + n * 1e-3)  # single appends in between
    if n == 3:
        print("writing", flush=True)
"""


def _kill_writer_mid_write(path: Path, after_s: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(after_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_mid_write_leaves_a_clean_journal_that_forwards_all(influxdb, tmp_path):
    influxdb.create_database("tms")
    path = tmp_path / "j.sqlite"
    for kills, after_s in enumerate((0.05, 0.13, 0.31), 1):  # a few moments, same journal
        _kill_writer_mid_write(path, after_s)
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_meas, n_temp = (
            db.execute(f"SELECT count(*) FROM points WHERE kind='{k}'").fetchone()[0]
            for k in ("measurement", "temperature")
        )
        db.close()
        assert n_meas % BATCH == 0  # a batch is all or nothing
        # each writer appends a batch, then a temperature: each kill may fall between
        # the two, so the batches lead by at most one per kill so far
        assert 0 <= n_meas // BATCH - n_temp <= kills
        with Journal(path) as j:  # opens cleanly (migrations, WAL recovery)
            assert j.count() == n_meas + n_temp
        db = sqlite3.connect(path)
        rep = chain.verify(db)  # the hash chain survives the kill too
        db.close()
        assert rep.ok and rep.rows == n_meas + n_temp, rep

    res = Forwarder(path, InfluxTarget(url=influxdb.url, database="tms")).sync(timeout_s=120)
    assert res.ok
    assert influxdb.count("tms_measurement", "value", db="tms") == n_meas
    assert influxdb.count("tms_temperature", "celsius", db="tms") == n_temp
