"""The pytest plugin end to end: verdict messages, journal, JUnit, HTML report, calibrate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.record.export import Query, query

ROOT = Path(__file__).resolve().parents[2]

FAILING_TEST = """
from harness.config import Tolerance

def test_output(measure):
    measure("peak dI/dt at 60 %MSO", 88.1, "A/µs", nominal=93.2,
            tolerance=Tolerance(absolute=4.7))
    measure("E-field at 2 cm at 60 %MSO", 73.0, "V/m", nominal=73.2,
            tolerance=Tolerance(relative=0.07))
"""


def pytest_run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--sim-speed",
            "4",
            "--results",
            str(tmp / "results"),
            "--journal",
            str(tmp / "journal.sqlite"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=600,
    )


def test_failed_limit_reads_like_a_bench_report(tmp_path: Path) -> None:
    (tmp_path / "test_failing.py").write_text(FAILING_TEST)
    junit = tmp_path / "junit.xml"
    proc = pytest_run(tmp_path, "test_failing.py", f"--junitxml={junit}")
    assert proc.returncode == 1, proc.stdout[-2000:]
    out = proc.stdout
    assert "peak dI/dt at 60 %MSO: 88.1 A/µs, expected 93.2 ± 4.7 A/µs (−5.5 %) [FAIL]" in out, out[
        -3000:
    ]
    assert "E-field at 2 cm" not in out.split("out of limits:")[1].split("\n\n")[0]
    assert "no --bench given: using the simulated bench" in out
    # both measurements, passed and failed, are in the journal with the run context
    rows = query(tmp_path / "journal.sqlite", Query(kind="measurement"))
    by_name = {r["name"]: r for r in rows}
    assert by_name["peak dI/dt at 60 %MSO"]["verdict"] == "fail"
    assert by_name["E-field at 2 cm at 60 %MSO"]["verdict"] == "pass"
    assert by_name["peak dI/dt at 60 %MSO"]["stimulator_serial"] == "SIM-R2-0001"
    assert by_name["peak dI/dt at 60 %MSO"]["station"] == "sim-1"
    # and in the JUnit XML as properties
    root = ET.parse(junit).getroot()
    case = next(root.iter("testcase"))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    name = "peak dI/dt at 60 %MSO"
    assert props[f"{name}.value"] == "88.1" and props[f"{name}.unit"] == "A/µs"
    assert float(props[f"{name}.low"]) == pytest.approx(93.2 - 4.7)
    assert float(props[f"{name}.high"]) == pytest.approx(93.2 + 4.7)
    assert props[f"{name}.verdict"] == "fail"
    suite = next(root.iter("testsuite")).find("properties")
    assert suite is not None
    suite_props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert suite_props["tmsbench.stimulator_serial"] == "SIM-R2-0001"
    assert suite_props["tmsbench.station"] == "sim-1"
    assert suite_props["tmsbench.run_id"]


MIXED_TESTS = """
import pytest

def test_passes_without_a_measurement(bench):
    pass

def test_fails_on_its_own_assert(bench):
    total = 1 + 1
    assert total == 3, "arithmetic"

def test_is_skipped(bench):
    pytest.skip("not on this bench")
"""


def test_report_lists_every_test_failures_first_with_the_tests_own_assertion(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_mixed.py").write_text(MIXED_TESTS)
    proc = pytest_run(tmp_path, "test_mixed.py")
    assert proc.returncode == 1, proc.stdout[-2000:]
    html = next((tmp_path / "results").glob("*/report.html")).read_text()
    order = [
        html.index(f"test_mixed.py::{n}")
        for n in (
            "test_fails_on_its_own_assert",
            "test_passes_without_a_measurement",
            "test_is_skipped",
        )
    ]
    assert order == sorted(order), "failures first, then passed, then skipped"
    assert html.count('class="test o-') == 3  # every test, measurements or not
    assert "AssertionError: arithmetic" in html
    assert "at test_mixed.py:9: assert total == 3" in html  # the test's line, 1-based
    assert "pytest_runtest_call" not in html and "hookimpl" not in html
    for outcome in ("all", "failed", "passed", "skipped"):  # the outcome filter
        assert f'<label for="f-{outcome}">' in html


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed")
    proc = pytest_run(
        tmp_path,
        str(ROOT / "tests/bench/test_intensity.py::test_intensity_accuracy"),
        str(ROOT / "tests/bench/test_pulse_shape.py"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    reports = list((tmp_path / "results").glob("*/report.html"))
    assert len(reports) == 1
    html = reports[0].read_text()
    assert "peak dI/dt at 60 %MSO" in html and "data:image/png;base64," in html
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            reports[0].as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 20_000, "report did not render"
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[1] == 1200
    assert (img[..., :3] < 0.5).mean() > 0.005, "the screenshot is blank"


def test_calibrate_writes_certificate_and_record(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "calibrate",
            "--serial",
            "SN-CAL-7",
            "--results",
            str(tmp_path / "results"),
            "--journal",
            str(tmp_path / "j.sqlite"),
            "--sim-speed",
            "4",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    pdfs = list((tmp_path / "results").glob("*/certificate-SN-CAL-7-*.pdf"))
    htmls = list((tmp_path / "results").glob("*/certificate-SN-CAL-7-*.html"))
    assert len(pdfs) == 1 and len(htmls) == 1
    # the run says where the certificate is
    assert f"certificate (SN-CAL-7, pass): {pdfs[0].resolve()}" in proc.stdout, proc.stdout[-2000:]
    assert pdfs[0].read_bytes().startswith(b"%PDF")
    assert "SN-CAL-7" in htmls[0].read_text()
    cal = query(tmp_path / "j.sqlite", Query(kind="calibration", serial="SN-CAL-7"))
    assert len(cal) == 1
    assert cal[0]["verdict"] == "pass"
    assert cal[0]["slope"] == pytest.approx(1.147, rel=0.03)
    assert cal[0]["r_squared"] > 0.999


SIGTERM_TESTS = """
import time
from pathlib import Path

from harness.safety import armed


def test_armed_when_terminated(stimulator, spec, sim_world):
    with armed(stimulator, spec.limits, intensity_percent=20):
        Path("armed").write_text("armed")
        time.sleep(120)


def test_after(stimulator):
    Path("after").write_text("ran")
"""


def test_sigterm_disarms_and_stops_the_run(tmp_path: Path) -> None:
    """SIGTERM while armed: disarmed, the rest of the run is not started, the report is
    written, exit status 128 + 15 (pytest alone would fail the test and go on)."""
    import signal
    import time

    (tmp_path / "test_term.py").write_text(SIGTERM_TESTS)
    junit = tmp_path / "junit.xml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--results",
            str(tmp_path / "results"),
            "--journal",
            str(tmp_path / "journal.sqlite"),
            f"--junitxml={junit}",
            "test_term.py",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "armed").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "never armed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert not (tmp_path / "after").exists(), "the run went on after SIGTERM"
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    failure = cases["test_armed_when_terminated"].find("failure")
    assert failure is not None and "terminated by signal SIGTERM" in (failure.get("message") or "")
    # the stimulator fixture checks the simulated unit after the test: it would error
    # the test with "still ARMED" had the disarm not reached the device
    assert "still ARMED" not in out and cases["test_armed_when_terminated"].find("error") is None
    assert "HTML report:" in out and list((tmp_path / "results").glob("*/report.html"))


PROTOCOL_TEST = """
import pytest

from harness.limits import Limits

@pytest.mark.slow
def test_short_protocol(train, measure):
    total = 0
    for _ in range(3):
        total += train(rate_hz=10.0, pulses=5, percent=30, rest_after_s=2.0, of=3).n_valid
    print("output the test printed")  # captured: shown only if the test fails
    measure("pulses delivered", total, "pulses", Limits(low=15, high=15))
"""

#: Worked out by hand: 5 pulses at 10 Hz span 0.4 s; after train 1, 2 s of rest plus two
#: trains with their rests are left, 2 + 2 × 2.4 = 6.8 device s = 1.7 s at --sim-speed 4;
#: after train 2, 2 + 2.4 = 4.4 device s = 1.1 s.
PROGRESS_LINES = [
    "tmsbench: train 1/3 at 10 Hz: 5 pulses in 0.4 s, 5 valid; next in 2 s, about 2 s left",
    "tmsbench: train 2/3 at 10 Hz: 5 pulses in 0.4 s, 5 valid; next in 2 s, about 1 s left",
    "tmsbench: train 3/3 at 10 Hz: 5 pulses in 0.4 s, 5 valid; last, 2 s rest",
]


def test_long_protocol_prints_a_line_per_train_while_output_is_captured(tmp_path: Path) -> None:
    (tmp_path / "test_protocol.py").write_text(PROTOCOL_TEST)
    proc = pytest_run(tmp_path, "test_protocol.py", "--run-slow")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if ln.startswith("tmsbench: train")]
    assert lines == PROGRESS_LINES, out[-3000:]
    # written while the test ran (before its result), past pytest's capture
    assert out.index(PROGRESS_LINES[-1]) < out.index("1 passed")
    assert "output the test printed" not in out
    quiet = pytest_run(tmp_path, "test_protocol.py", "--run-slow", "-q")
    assert quiet.returncode == 0, quiet.stdout[-3000:]
    assert "tmsbench: train" not in quiet.stdout  # -q: no progress lines
