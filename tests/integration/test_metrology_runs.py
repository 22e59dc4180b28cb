"""Reference instruments gate a run; the override marks every record and the report."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from harness.record.export import Query, query

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

ONE_TEST = """
def test_output(measure):
    measure("E-field at 2 cm at 60 %MSO", 73.0, "V/m")
"""


def _bench(tmp: Path, due: dt.date) -> Path:
    data = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    data["spec"] = str(ROOT / "specs" / "magstim-rapid2-d70.toml")
    data["references"]["current_monitor"]["due"] = due
    path = tmp / "bench.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "test_one.py").write_text(ONE_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_one.py",
         "--results", str(tmp / "results"), "--journal", str(tmp / "journal.sqlite"), *args],
        capture_output=True, text=True, cwd=tmp, timeout=300,
    )  # fmt: skip


def test_expired_reference_refuses_the_run_in_one_line(tmp_path: Path) -> None:
    yesterday = dt.date.today() - dt.timedelta(days=1)
    proc = _run(tmp_path, "--bench", str(_bench(tmp_path, yesterday)))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if "was due for calibration" in ln]
    assert len(lines) == 1, out[-3000:]
    assert "current_monitor" in lines[0] and "SIM-CM-0001" in lines[0]
    assert yesterday.isoformat() in lines[0]
    assert not (tmp_path / "journal.sqlite").exists()  # refused before anything was recorded


def test_override_marks_records_and_report_not_traceable(tmp_path: Path) -> None:
    yesterday = dt.date.today() - dt.timedelta(days=1)
    bench = _bench(tmp_path, yesterday)
    proc = _run(tmp_path, "--bench", str(bench), "--allow-expired-references")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rows = query(tmp_path / "journal.sqlite", Query(kind="measurement"))
    assert rows and all(r.get("tag_traceable") == "no" for r in rows)
    runs = query(tmp_path / "journal.sqlite", Query(kind="run"))
    (run,) = [r for r in runs if r["event"] == "start"]
    assert str(run["traceable"]).startswith("no: references.current_monitor")
    (report,) = (tmp_path / "results").glob("*/report.html")
    assert "NOT TRACEABLE" in report.read_text()


def test_valid_references_are_traceable(tmp_path: Path) -> None:
    next_year = dt.date.today() + dt.timedelta(days=365)
    proc = _run(tmp_path, "--bench", str(_bench(tmp_path, next_year)))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rows = query(tmp_path / "journal.sqlite", Query(kind="measurement"))
    assert rows and not any("tag_traceable" in r for r in rows)
    (report,) = (tmp_path / "results").glob("*/report.html")
    assert "NOT TRACEABLE" not in report.read_text()


@pytest.mark.parametrize(
    ("role", "key", "wrong", "fixture", "said", "right"),
    [
        ("scope", "serial", "MY-OTHER", "scope", "to *IDN?", "'TMSBENCH-SIM'"),
        ("daq", "model", "USB-6001", "daq", "the device reports", "'PCIe-6351'"),
    ],
)
def test_other_instrument_than_the_bench_file_names_stops_the_run(
    tmp_path: Path, role: str, key: str, wrong: str, fixture: str, said: str, right: str
) -> None:
    data = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    data["spec"] = str(ROOT / "specs" / "magstim-rapid2-d70.toml")
    data["references"][role][key] = wrong
    bench = tmp_path / "bench.toml"
    bench.write_text(tomli_w.dumps(data))
    (tmp_path / "test_inst.py").write_text(f"def test_inst({fixture}):\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_inst.py",
         "--bench", str(bench), "--results", str(tmp_path / "results"),
         "--journal", str(tmp_path / "journal.sqlite")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    lines = [ln for ln in out.splitlines() if said in ln]
    assert len(lines) == 1 and f"references.{role}" in lines[0], out[-3000:]
    assert right in lines[0] and f"'{wrong}'" in lines[0]


def test_certificate_of_an_untraceable_run_says_so(tmp_path: Path) -> None:
    bench = _bench(tmp_path, dt.date.today() - dt.timedelta(days=1))
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "calibrate", "--serial", "SN-NT-1",
         "--bench", str(bench), "--results", str(tmp_path / "results"),
         "--journal", str(tmp_path / "journal.sqlite"), "--allow-expired-references"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (html,) = (tmp_path / "results").glob("*/certificate-SN-NT-1-*.html")
    text = html.read_text()
    assert "NOT TRACEABLE: references.current_monitor" in text
    assert "Pearson 1423 #SIM-CM-0001, certificate CAL-SIM-CM-0001-2026" in text
    assert "U (k = 2)" in text and "simple acceptance (ILAC-G8:2019 4.2.1" in text
    assert "/dev/" not in text and str(tmp_path) not in text  # no machine paths


NEAR_LIMIT = """
from harness.config import Tolerance

def test_near_the_limit(measure):
    # 72.26 A/µs is the spec's upper limit at 60 %MSO; U is about 1.9 A/µs here
    measure("peak dI/dt at 60 %MSO", 71.9, "A/µs", nominal=68.82,
            tolerance=Tolerance(relative=0.05),
            quantity="didt", standard_error=0.01)
"""


@pytest.mark.parametrize(
    ("decision", "rc", "verdict"),
    [
        ({}, 0, "pass"),  # simple acceptance: inside is a pass
        ({"rule": "guarded"}, 0, "conditional_pass"),  # default failing: not a failure
        (
            {"rule": "guarded", "failing": ["fail", "invalid", "conditional_fail",
                                            "conditional_pass"]},
            1, "conditional_pass",
        ),  # manufacturing release: a conditional pass fails the test
    ],
    ids=["simple", "guarded", "guarded-release"],
)  # fmt: skip
def test_the_spec_says_which_verdicts_fail(
    tmp_path: Path, decision: dict[str, object], rc: int, verdict: str
) -> None:
    spec = tomllib.loads((ROOT / "specs" / "magstim-rapid2-d70.toml").read_text())
    if decision:
        spec["decision"] = decision
    (tmp_path / "spec.toml").write_text(tomli_w.dumps(spec))
    (tmp_path / "test_near.py").write_text(NEAR_LIMIT)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_near.py",
         "--spec", str(tmp_path / "spec.toml"), "--results", str(tmp_path / "results"),
         "--journal", str(tmp_path / "journal.sqlite")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == rc, out[-3000:]
    (row,) = query(tmp_path / "journal.sqlite", Query(kind="measurement"))
    assert row["verdict"] == verdict
    assert row["U"] == pytest.approx(2 * 71.9 * (0.0001 / 3 + 0.0004 / 3) ** 0.5, rel=1e-3)
    if rc:
        assert "[CONDITIONAL PASS]" in out and "U = 1.9 A/µs, k = 2" in out
