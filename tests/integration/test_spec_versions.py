"""A spec changed under the same version makes an engineering run, in report and journal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

try:
    from .test_plugin_runs import ROOT, pytest_run
except ImportError:
    from test_plugin_runs import ROOT, pytest_run  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

TEST = "def test_nothing(bench):\n    pass\n"
APPROVED = 'version = "3"\napproved_by = "j.doe"\napproved_on = 2026-11-30\n'


def _run_types(journal: Path) -> list[dict[str, str]]:
    db = sqlite3.connect(journal)
    rows = db.execute(
        "SELECT data FROM points WHERE kind = 'run' AND data LIKE '%run_type%' ORDER BY id"
    ).fetchall()
    db.close()
    return [json.loads(d) for (d,) in rows]


def test_a_spec_changed_without_a_new_version_makes_an_engineering_run(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(TEST)
    original = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text()
    spec = tmp_path / "spec.toml"
    spec.write_text(APPROVED + original)
    for _ in range(2):
        proc = pytest_run(tmp_path, "test_one.py", "--spec", str(spec))
        assert proc.returncode == 0, proc.stdout[-2000:]
    # the same version, one limit widened
    spec.write_text(
        APPROVED + original.replace("coil_temperature_max_C = 40", "coil_temperature_max_C = 39")
    )
    proc = pytest_run(tmp_path, "test_one.py", "--spec", str(spec))
    assert proc.returncode == 0, proc.stdout[-2000:]
    # an unapproved spec
    spec.write_text(original)
    proc = pytest_run(tmp_path, "test_one.py", "--spec", str(spec))
    assert proc.returncode == 0, proc.stdout[-2000:]

    starts = _run_types(tmp_path / "journal.sqlite")
    assert [s["run_type"] for s in starts] == ["release", "release", "engineering", "engineering"]
    assert {s["spec_version"] for s in starts[:3]} == {"3"}
    assert starts[0]["spec_sha256"] == starts[1]["spec_sha256"] != starts[2]["spec_sha256"]
    assert "version 3 has other content than earlier runs" in starts[2]["engineering_reasons"]
    assert "is not approved" in starts[3]["engineering_reasons"]
    reports = sorted((tmp_path / "results").glob("*/report.html"))
    texts = [r.read_text() for r in reports]
    assert sum("ENGINEERING RUN (not a release test)" in t for t in texts) == 2
    assert sum("release test" in t and "ENGINEERING" not in t for t in texts) == 2
