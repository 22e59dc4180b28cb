"""The wheel on its own: built from the checkout, installed in a fresh virtual environment
outside it, run from a folder outside it with no PYTHONPATH.

The wheel is built from a copy of the checkout (an in-tree build would leave ``build/``
and ``tmsbench.egg-info`` there, and the latter shadows the installed metadata). It is
installed without dependencies and without an index; the third-party packages come from
the test's own environment through a ``.pth`` line, which puts that site-packages on
``sys.path`` after the new one but does not run its ``.pth`` files, so an editable
tmsbench installed there is not what gets imported (asserted below).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from contextlib import closing
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# what a checkout holds that a build must not see (the .gitignore entries and .git)
NOT_SOURCE = (".git", ".venv", "results", "build", "dist", "*.egg-info", "__pycache__",
              ".*_cache", ".hypothesis")  # fmt: skip
DATA_FILES = (
    "harness/data/pytest.ini",
    "harness/data/benches/sim.toml",
    "harness/data/specs/magstim-rapid2-d70.toml",
    "harness/data/tests/bench/conftest.py",
    "harness/data/tests/bench/test_calibration.py",
    "dashboards/json/tmsbench-calibration-drift.json",
    "dashboards/provisioning/datasources/tmsbench.yaml",
    "harness/data/plans/calibration.toml",
    "harness/data/protocols/itbs.toml",
    "harness/station/templates/run.html",
    "harness/station/static/station.js",
)


@dataclass(frozen=True)
class Installed:
    """A fresh environment with the wheel installed, and a working folder outside the checkout."""

    wheel: Path
    python: Path
    tmsbench: Path
    cwd: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``tmsbench ARGS`` in :attr:`cwd`, without PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return subprocess.run(
            [str(self.tmsbench), *args], cwd=self.cwd, env=env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip


def _build_isolation_flag() -> list[str]:
    """``--no-build-isolation`` when this environment can build the wheel itself.

    Else pip installs the ``[build-system] requires`` into an isolated environment from the
    package index, as ``make venv`` does for the editable install.
    """

    def _major_minor(dist: str) -> tuple[int, int]:
        try:
            major, minor = version(dist).split(".")[:2]
            return int(major), int(minor)
        except (PackageNotFoundError, ValueError):
            return (0, 0)

    setuptools = _major_minor("setuptools")
    has_bdist_wheel = setuptools >= (70, 1) or _major_minor("wheel") > (0, 0)
    return ["--no-build-isolation"] if setuptools >= (68, 0) and has_bdist_wheel else []


def _build_wheel(work: Path) -> Path:
    src = work / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    dist = work / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *_build_isolation_flag(),
         "-w", str(dist), str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = dist.glob("tmsbench-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shared = sysconfig.get_paths()["purelib"]  # this environment's third-party packages
    (Path(purelib) / "tmsbench_test_shared.pth").write_text(shared + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    assert not work.resolve().is_relative_to(ROOT), "the test needs a folder outside the checkout"
    wheel = _build_wheel(work)
    python = _install(wheel, work / "venv")
    cwd = work / "run"
    cwd.mkdir()
    return Installed(wheel, python, python.parent / "tmsbench", cwd)


def test_wheel_ships_the_data_files(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
    missing = [f for f in DATA_FILES if f not in names]
    assert not missing, f"not in {installed.wheel.name}: {missing}"
    tops = {n.split("/", 1)[0] for n in names if not n.startswith("tmsbench-")}
    assert tops == {"harness", "instruments", "dashboards"}  # the README says these three


def test_imports_come_from_the_new_environment(installed: Installed) -> None:
    code = "import harness, instruments, dashboards; print(harness.__file__, dashboards.__file__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(installed.python), "-c", code], cwd=installed.cwd, env=env, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    venv = installed.python.parent.parent
    for path in out:
        assert Path(path).is_relative_to(venv), (path, venv)
    proc = installed.run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "tmsbench 0.1.0", proc


def test_sim_describe(installed: Installed) -> None:
    proc = installed.run("sim", "--describe")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith("simulated world for ") and "harness/data/benches/sim.toml" in first
    assert "magstim rapid2 #SIM-R2-0001" in proc.stdout


def test_dashboards_build(installed: Installed) -> None:
    out = installed.cwd / "grafana"
    proc = installed.run("dashboards", "build", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(list((out / "json").glob("*.json"))) == 4
    assert (out / "provisioning" / "dashboards" / "tmsbench.yaml").is_file()
    (package,) = installed.python.parents[1].glob("lib/python*/site-packages/dashboards")
    proc = installed.run("dashboards", "build", "--check", "--out", str(package))
    assert proc.returncode == 0, proc.stdout[-2000:]  # the shipped JSON is the code's


def test_calibrate(installed: Installed) -> None:
    proc = installed.run("calibrate", "--serial", "WHL-1", "--results", "res", "--journal",
                         "j.sqlite", "--sim-speed", "4", timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    (pdf,) = (installed.cwd / "res").glob("*/certificate-WHL-1-*.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert f"certificate (WHL-1, pass): {pdf.resolve()}" in proc.stdout


def test_bench_suite_on_the_embedded_simulated_bench(installed: Installed) -> None:
    journal = installed.cwd / "bench.sqlite"
    proc = installed.run("bench", "--results", "bench-results", "--journal", str(journal),
                         timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "no --bench given: using the simulated bench (sim.toml)" in proc.stdout
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert list((installed.cwd / "bench-results").glob("*/report.html"))
    with closing(sqlite3.connect(journal)) as db:
        ids = {row[0] for row in db.execute("SELECT DISTINCT test_id FROM points")} - {""}
    # the ids (and the `test` tag on every point) read as in a checkout run
    assert ids and all(i.startswith("tests/bench/test_") for i in ids), sorted(ids)[:5]


def test_station_serves_its_pages(installed: Installed) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.Popen(
        [str(installed.tmsbench), "station", "--port", str(port)], cwd=installed.cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        page = b""
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"SIMULATED BENCH" in page and b"Calibration" in page, page[:2000]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/station.js") as r:
            assert b"EventSource" in r.read()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "tmsbench station: http://127.0.0.1" in out, out
