"""``pytest -n 2`` on two simulated benches that share one simulated scope.

Judged on what the devices and files say, not on what the harness believes: capture
overlap on the shared scope's own log of arms and reads (instruments/sim/scope_switch.py),
measurements as JUnit properties against the rows in the journal, each worker's run and
report in the journal and results folder.
"""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest
from parallel_benches import run_suite, write_benches  # this folder is on sys.path

from instruments.sim.scope_switch import capture_spans, read_log


@pytest.mark.integration
def test_two_workers_share_one_scope_without_overlap(tmp_path: Path) -> None:
    benches = write_benches(tmp_path, shared=True)
    junit = tmp_path / "junit.xml"
    # world clock at 2x: the Magstim's 1 s armed watchdog keeps a 0.5 s wall-time margin
    proc, _ = run_suite(tmp_path, benches, f"--junitxml={junit}", speed=2.0)
    printed = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, printed

    # every test ran on both benches and passed
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    names = sorted(c.get("name", "") for c in cases)
    assert len(cases) >= 4 and names[::2] == names[1::2], names  # each name twice
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)

    # the scope's own log: both benches captured, and never at the same time
    spans = capture_spans(read_log(tmp_path / "shared" / "lab-scope.log"))
    clients = {c for c, _, _ in spans}
    assert {c.split(":")[0] for c in clients} == {"sim-a", "sim-b"}, clients
    for c in clients:
        assert sum(s[0] == c for s in spans) >= 5
    overlaps = [
        (a, b)
        for a, b in combinations(spans, 2)
        if a[0] != b[0] and a[1] <= b[2] and b[1] <= a[2]
    ]
    assert not overlaps, overlaps[:3]

    # the journal: one run per worker, every measurement reported is a row, once
    reported = sum(
        p.get("name", "").endswith(".verdict") for c in cases for p in c.iter("property")
    )
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    try:
        runs = db.execute("SELECT run_id, bench, verdict FROM runs ORDER BY bench").fetchall()
        (rows,) = db.execute("SELECT count(*) FROM points WHERE kind='measurement'").fetchone()
        (dupes,) = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM points WHERE kind='measurement'"
            " GROUP BY run_id, test_id, tagset, time_ns HAVING count(*) > 1)"
        ).fetchone()
        per_run = dict(
            db.execute(
                "SELECT run_id, count(*) FROM points WHERE kind='measurement' GROUP BY run_id"
            ).fetchall()
        )
        waits = [
            json.loads(d).get("scope_lock_wait_ms")
            for (d,) in db.execute("SELECT data FROM points WHERE kind='pulse'")
        ]
    finally:
        db.close()
    assert [(b, v) for _, b, v in runs] == [("bench-a.toml", "pass"), ("bench-b.toml", "pass")]
    assert reported > 0 and rows == reported and dupes == 0
    assert set(per_run) == {r for r, _, _ in runs} and len(set(per_run.values())) == 1
    assert waits and all(isinstance(w, float) and w >= 0 for w in waits)

    # each worker's own report shows its waits for the scope, per test and in all
    for run_id, _, _ in runs:
        page = (tmp_path / "results" / run_id / "report.html").read_text()
        assert "shared scope" in page and "sim:lab-scope" in page
        assert "ms for the shared scope" in page
        assert run_id in proc.stdout  # the controller names every worker's run


@pytest.mark.parametrize(
    ("n", "args", "says"),
    [
        (2, [], "2 --bench files need pytest -n 2"),
        (1, ["-n", "2"], "-n 2 with 1 --bench file(s)"),
        (2, ["-n", "2", "--dist", "load"], "--dist load: "),
    ],
    ids=["two-benches-no-n", "n2-one-bench", "dist-load"],
)
def test_benches_and_workers_must_match(
    tmp_path: Path, n: int, args: list[str], says: str
) -> None:
    benches = write_benches(tmp_path, n, shared=False)
    proc, _ = run_suite(tmp_path, benches, *args, workers=False)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "results").exists()  # refused before any bench was started
