"""The layer rules are import contracts: a forbidden import fails the check, naming both modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for pkg in ("harness", "instruments", "dashboards"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_checkout_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "names"),
    [
        ("instruments/stimulator/_bad.py", "import harness.config", "harness.config"),
        ("instruments/sim/_bad.py", "from harness.record import journal", "harness.record"),
        ("harness/analysis/_bad.py", "import instruments.scope", "instruments.scope"),
        ("harness/record/_bad.py", "import pytest", "pytest"),
    ],
)
def test_a_forbidden_import_fails_naming_both_modules(
    tmp_path: Path, module: str, line: str, names: str
) -> None:
    tree = _copy(tmp_path)
    (tree / module).write_text(f'"""A layer violation planted by the test."""\n\n{line}\n')
    result = _lint(tree)
    assert result.returncode != 0
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout and names in result.stdout, result.stdout
