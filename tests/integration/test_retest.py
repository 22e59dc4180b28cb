"""Retests: every attempt of a test is kept, numbered, with its reason; yields follow.

A test that fails once and passes when run again (``--attempts 2``, through
pytest-rerunfailures) leaves both attempts in the journal (``kind = test``) and
the report; its measurements carry their attempt; the run's finish row counts
tests run, passed at the first attempt and passed at the last (first-pass and
final yield). A run started with ``--retest`` marks its attempts ``retest``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

try:
    from .test_plugin_runs import pytest_run
except ImportError:
    from test_plugin_runs import pytest_run  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

TESTS = """
import os
from pathlib import Path

from harness.limits import Limits


def test_flaky(measure):
    marker = Path(os.environ["FLAKY_MARKER"])
    first = not marker.exists()
    marker.write_text("x")
    measure("a reading", 5.0 if first else 1.0, "V", Limits(high=2.0))


def test_solid(measure):
    measure("another reading", 1.0, "V", Limits(high=2.0))
"""


def _rows(journal: Path, kind: str) -> list[tuple[str, dict, dict]]:
    db = sqlite3.connect(journal)
    rows = db.execute(
        "SELECT p.test_id, t.tags, p.data FROM points p JOIN tagsets t ON t.id = p.tagset"
        " WHERE p.kind = ? ORDER BY p.id",
        (kind,),
    ).fetchall()
    db.close()
    return [(tid, json.loads(tags), json.loads(data or "{}")) for tid, tags, data in rows]


def test_a_test_run_again_keeps_every_attempt(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "test_flaky.py").write_text(TESTS)
    monkeypatch.setenv("FLAKY_MARKER", str(tmp_path / "ran-once"))
    proc = pytest_run(tmp_path, "test_flaky.py", "--attempts", "2")
    assert proc.returncode == 0, proc.stdout[-2500:]  # the last attempt decides
    journal = tmp_path / "journal.sqlite"
    tests = [
        (tid.split("::")[-1], t["outcome"], d["attempt"], d["reason"])
        for tid, t, d in _rows(journal, "test")
    ]
    assert tests == [
        ("test_flaky", "failed", 1, "first"),
        ("test_flaky", "passed", 2, "rerun"),
        ("test_solid", "passed", 1, "first"),
    ]
    readings = [
        (t["name"], d["attempt"], t["verdict"]) for _, t, d in _rows(journal, "measurement")
    ]
    assert readings == [
        ("a reading", 1, "fail"),
        ("a reading", 2, "pass"),
        ("another reading", 1, "pass"),
    ]
    finish = [d for _, t, d in _rows(journal, "run") if t.get("event") == "finish"]
    assert finish and (finish[-1]["tests"], finish[-1]["first_pass"], finish[-1]["final_pass"]) == (
        2,
        1,
        2,
    )
    html = next((tmp_path / "results").glob("*/report.html")).read_text()
    assert "test_flaky.py::test_flaky attempt 2 (rerun)" in html
    assert html.count('class="badge rerun"') >= 1  # the first attempt, shown, not a failure

    # a second run started to test again: its attempts say so
    proc = pytest_run(tmp_path, "test_flaky.py", "--retest", "-k", "test_solid")
    assert proc.returncode == 0, proc.stdout[-2500:]
    last = _rows(journal, "test")[-1]
    assert (last[1]["outcome"], last[2]["attempt"], last[2]["reason"]) == ("passed", 1, "retest")


def test_without_attempts_a_failure_stays_a_failure(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "test_flaky.py").write_text(TESTS)
    monkeypatch.setenv("FLAKY_MARKER", str(tmp_path / "ran-once"))
    proc = pytest_run(tmp_path, "test_flaky.py")
    assert proc.returncode == 1
    finish = [
        d for _, t, d in _rows(tmp_path / "journal.sqlite", "run") if t.get("event") == "finish"
    ]
    assert (finish[-1]["tests"], finish[-1]["first_pass"], finish[-1]["final_pass"]) == (2, 1, 1)
