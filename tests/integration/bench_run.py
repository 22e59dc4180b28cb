"""Run the bench suite (tests/bench) in a subprocess on a bench file; read its JUnit XML."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def faulted_bench(tmp: Path, bench: str, faults: str) -> Path:
    """``benches/<bench>`` copied into ``tmp`` with ``faults`` (TOML lines) in its
    ``[sim.faults]`` table and its spec path made absolute."""
    text = (ROOT / "benches" / bench).read_text()
    text = text.replace('spec = "../specs/', f'spec = "{ROOT / "specs"}/')
    text = text.replace('# all off; see README "Fault knobs"', faults)
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


def run_bench_suite(
    tmp: Path, bench: Path, *args: str, speed: float = 2.0, target: str = ""
) -> tuple[dict[str, tuple[str, str]], ET.Element, str]:
    """Run ``target`` (default: all of tests/bench) on ``bench`` with ``args``.

    Returns ({test name: (outcome, message)} in the order the tests ran, the JUnit
    root element, and the tail of what pytest printed).
    """
    junit = tmp / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            target or str(ROOT / "tests" / "bench"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--bench",
            str(bench),
            "--sim-speed",
            str(speed),
            "--results",
            str(tmp / "results"),
            "--journal",
            str(tmp / "journal.sqlite"),
            f"--junitxml={junit}",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=600,
    )
    printed = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert junit.exists(), printed
    root = ET.parse(junit).getroot()
    out: dict[str, tuple[str, str]] = {}
    for tc in root.iter("testcase"):
        outcome, msg = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome, msg = tag, (el.get("message") or "") + (el.text or "")
        out[tc.get("name", "")] = (outcome, msg)
    return out, root, printed
