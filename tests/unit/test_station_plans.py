"""Station test plans are data files; a bad one is one line naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ConfigError
from harness.resources import suite_dir
from harness.station.plans import load_plans


def test_the_shipped_plans_name_tests_of_the_bench_suite() -> None:
    plans = load_plans()
    assert list(plans)[:2] == ["bench", "calibration"]
    assert plans["calibration"].targets() == [suite_dir() / "test_calibration.py"]
    assert plans["bench"].targets() == [suite_dir()]  # no tests: the whole suite


def test_a_plan_naming_a_missing_test_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text('title = "X"\ntests = ["test_nothing.py"]\n')
    with pytest.raises(ConfigError) as err:
        load_plans(tmp_path)
    expected = f"{tmp_path / 'x.toml'}: tests: not in the bench suite: test_nothing.py"
    assert str(err.value) == expected


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text('title = "X"\ntest = []\n')
    with pytest.raises(ConfigError, match=r"x\.toml: test: Extra inputs are not permitted"):
        load_plans(tmp_path)
