"""The spec says which reading decides intensity accuracy; both are always recorded.

A spec whose E-field band is impossibly tight still passes when dI/dt decides (the
E-field is kept as a cross-check without a verdict), and fails on the E-field when
the E-field decides; the other way round for dI/dt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.record.export import Query, query

try:
    from .test_plugin_runs import ROOT, pytest_run
except ImportError:
    from test_plugin_runs import ROOT, pytest_run  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

TIGHT = "{ relative = 0.0001 }"  # 0.01 %: no real reading lands inside


def _spec(tmp: Path, decides: str, tight: str) -> Path:
    text = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text()
    line = 'intensity_channel = "both"'
    assert line in text
    text = text.replace(line, f'intensity_channel = "{decides}"')
    band = 0.05 if tight == "didt" else 0.07
    old = f"{tight}_tolerance = {{ relative = {band}, marginal = 0.6 }}"
    assert old in text, old
    path = tmp / "spec.toml"
    path.write_text(text.replace(old, f"{tight}_tolerance = {TIGHT}"))
    return path


@pytest.mark.parametrize(
    ("decides", "tight", "rc"),
    [("didt", "efield", 0), ("efield", "efield", 1), ("efield", "didt", 0), ("didt", "didt", 1)],
)
def test_the_deciding_reading(decides: str, tight: str, rc: int, tmp_path: Path) -> None:
    spec = _spec(tmp_path, decides, tight)
    proc = pytest_run(
        tmp_path,
        str(ROOT / "tests" / "bench" / "test_intensity.py"),
        "-k",
        "test_intensity_accuracy and 60pct",
        "--spec",
        str(spec),
    )
    assert proc.returncode == rc, proc.stdout[-2500:]
    names = [p["name"] for p in query(tmp_path / "journal.sqlite", Query(kind="measurement"))]
    # both readings reach the journal, whichever decides
    assert any(n.startswith("peak dI/dt at 60") for n in names), names
    assert any(n.startswith("E-field at 2 cm at 60") for n in names), names
    if rc:
        quantity = "peak dI/dt" if tight == "didt" else "E-field"
        assert f"{quantity} at" in proc.stdout and "[FAIL]" in proc.stdout, proc.stdout[-2000:]
