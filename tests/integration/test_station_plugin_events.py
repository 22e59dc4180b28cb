"""The plugin's event file (--events): what the station page is told, in order, as it happens."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TESTS = """
from harness.config import Tolerance


def test_output(measure):
    measure("peak dI/dt at 60 %MSO", 88.1, "A/µs", nominal=93.2,
            tolerance=Tolerance(absolute=4.7))
    measure("E-field at 2 cm at 60 %MSO", 73.0, "V/m", nominal=73.2,
            tolerance=Tolerance(relative=0.07))


def test_pulse(fire_and_capture):
    fire_and_capture(30)


def test_skipped(measure):
    import pytest
    pytest.skip("not on this bench")
"""


def test_events_follow_the_run_and_end_with_its_verdict(tmp_path: Path) -> None:
    (tmp_path / "test_events.py").write_text(TESTS)
    events = tmp_path / "events.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_events.py",
         "--events", str(events), "--results", str(tmp_path / "results"),
         "--journal", str(tmp_path / "journal.sqlite"), "--dut-serial", "SN-EV-1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    evs = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "collected" and kinds[-1] == "run_finish"
    assert evs[0]["tests"] == ["test_events.py::test_output", "test_events.py::test_pulse",
                               "test_events.py::test_skipped"]
    assert [e["t"] for e in evs] == sorted(e["t"] for e in evs)  # written as it happened
    start = next(e for e in evs if e["event"] == "run_start")
    assert start["serial"] == "SN-EV-1" and start["simulated"] is True
    # each measurement between its test's start and finish, as committed to the journal
    i0 = kinds.index("test_start")
    i1 = next(i for i, e in enumerate(evs) if e["event"] == "test_finish")
    ms = [e for e in evs[i0:i1] if e["event"] == "measurement"]
    assert [(m["name"], m["value"], m["low"], m["high"], m["verdict"]) for m in ms] == [
        ("peak dI/dt at 60 %MSO", 88.1, 88.5, 97.9, "fail"),
        ("E-field at 2 cm at 60 %MSO", 73.0, pytest.approx(68.076), pytest.approx(78.324),
         "pass"),
    ]
    assert ms[0]["limits"] == "93.2 ± 4.7 A/µs"
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        stored = db.execute("SELECT value FROM points WHERE kind = 'measurement' ORDER BY id")
        assert [v for (v,) in stored] == [m["value"] for m in ms]
    outcomes = {e["test"]: e["outcome"] for e in evs if e["event"] == "test_finish"}
    assert outcomes == {"test_events.py::test_output": "failed",
                        "test_events.py::test_pulse": "passed",
                        "test_events.py::test_skipped": "skipped"}
    (pulse,) = [e for e in evs if e["event"] == "pulse"]
    assert pulse["test"] == "test_events.py::test_pulse" and pulse["percent"] == 30
    assert len(pulse["t_us"]) == len(pulse["y"]) == len(pulse["template"]) <= 1200
    assert max(v for v in pulse["y"] if v is not None) > 0
    finish = evs[-1]
    assert finish["verdict"] == "fail"
    assert finish["failed_tests"] == ["test_events.py::test_output"]
    assert [f["name"] for f in finish["failures"]] == ["peak dI/dt at 60 %MSO"]
    assert Path(finish["report"]).is_file()
