"""Damaged and foreign journals are refused with one line, by every command, on real processes.

Each journal is a real one (written by :class:`Journal`) damaged the way files get damaged:
random bytes over pages in the middle, garbage over the file header, a schema version from a
newer tmsbench, or a folder where the file should be. pytest (the bench suite) and each
journal command must end with exit 2, name the file and what is wrong, print no traceback,
and append nothing.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.limits import Limits, Measurement
from harness.record.journal import Journal

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


def _write(path: Path, n: int = 3000) -> None:
    j = Journal(path, synchronous="NORMAL")
    try:
        j.append_measurements(
            Measurement.check(
                "peak",
                90.0 + i % 10,
                "A/us",
                Limits(80, 100),
                tags={"station": "s1"},
                run_id="r1",
                test_id=f"t::a{i}",
                time_ns=1_000 + i,
            )
            for i in range(n)
        )
    finally:
        j.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _garbage_pages(path: Path) -> Path:
    _write(path)
    rng = random.Random(7)
    with open(path, "r+b") as fh:
        fh.seek(4 * PAGE)
        fh.write(rng.randbytes(6 * PAGE))
    return path


def _garbage_header(path: Path) -> Path:
    _write(path, 50)
    with open(path, "r+b") as fh:
        fh.write(b"this is not SQLite at all" * 4)
    return path


def _newer_schema(path: Path) -> Path:
    _write(path, 50)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("garbage-pages", _garbage_pages, "damaged"),
    ("garbage-header", _garbage_header, "not a usable journal"),
    ("newer-schema", _newer_schema, "newer than this tmsbench"),
    ("folder", _folder, "is a folder"),
]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, cwd=ROOT)


def _commands(journal: Path, tmp: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "harness.cli"]
    j = ["--journal", str(journal)]
    sink = ["--influx-url", "http://127.0.0.1:9", "--api", "v1", "--database", "tms"]
    return {
        "pytest": [
            sys.executable,
            "-m",
            "pytest",
            "tests/bench",
            "-p",
            "no:cacheprovider",
            "--results",
            str(tmp / "results"),
            *j,
        ],
        "status": [*cli, "status", *j],
        "sync": [*cli, "sync", *j, *sink, "--timeout", "1"],
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else -1


@pytest.mark.parametrize(("name", "damage", "words"), CASES, ids=[c[0] for c in CASES])
def test_every_command_refuses_with_one_line(
    tmp_path: Path, name: str, damage: Callable[[Path], Path], words: str
) -> None:
    journal = damage(tmp_path / "journal.sqlite")
    before = _size(journal)
    for command, argv in _commands(journal, tmp_path).items():
        res = _run(argv)
        out = res.stdout + res.stderr
        assert res.returncode == 2, f"{command}: exit {res.returncode}\n{out[-2000:]}"
        assert "Traceback" not in out, f"{command}: traceback\n{out[-2000:]}"
        hits = [ln for ln in out.splitlines() if words in ln]
        assert len(hits) == 1, f"{command}: {words!r} not said once\n{out[-2000:]}"
        assert str(journal) in hits[0], f"{command}: the line does not name the file: {hits[0]}"
        assert _size(journal) == before, f"{command} wrote to the refused journal"


def test_export_salvages_the_rows_before_the_damage(tmp_path: Path) -> None:
    journal = _garbage_pages(tmp_path / "journal.sqlite")
    out_csv = tmp_path / "rows.csv"
    res = _run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "export",
            "--journal",
            str(journal),
            "-o",
            str(out_csv),
        ]
    )
    assert res.returncode in (0, 1), res.stderr  # 1: stopped at the damage, said where
    assert "Traceback" not in res.stdout + res.stderr
    if res.returncode == 1:
        assert str(journal) in res.stderr
    lines = out_csv.read_text().splitlines()
    assert 1 < len(lines) <= 3001  # a header and rows (the damaged pages may be index pages)
