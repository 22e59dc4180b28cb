"""`tmsbench station` refuses what it should before serving anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


def test_a_non_loopback_host_needs_an_explicit_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 is not a loopback address" in err and "--allow-remote" in err


def test_a_bad_plan_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.toml").write_text('title = "Bad"\ntests = ["test_none.py"]\n')
    assert main(["station", "--plans", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tmsbench: configuration error",
        f"{tmp_path / 'bad.toml'}: tests: not in the bench suite: test_none.py",
    ]
