"""Specs carry a version and an approval; their content hash ignores comments only."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ConfigError, load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text()


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_comment_does_not_change_the_content_hash_a_value_does(tmp_path: Path) -> None:
    base = load_spec(_write(tmp_path, SPEC, "a.toml")).content_sha256
    commented = load_spec(_write(tmp_path, "# reviewed\n" + SPEC, "b.toml")).content_sha256
    changed = load_spec(
        _write(tmp_path, SPEC.replace("didt_max_A_per_us = 114.7", "didt_max_A_per_us = 114.8"))
    ).content_sha256
    assert len(base) == 64 and base == commented and base != changed


def test_an_unversioned_or_unapproved_spec_makes_an_engineering_run(tmp_path: Path) -> None:
    head = 'version = "2.1"\napproved_by = "j.doe"\napproved_on = 2026-11-30\n'
    approved = load_spec(_write(tmp_path, head + SPEC, "ok.toml"))
    assert approved.engineering_reasons() == []
    assert str(approved.approved_on) == "2026-11-30"
    bare = load_spec(_write(tmp_path, SPEC, "bare.toml"))
    assert bare.engineering_reasons() == [
        "spec 'magstim-rapid2-d70' has no version",
        "spec 'magstim-rapid2-d70' is not approved (no approved_by / approved_on)",
    ]


def test_an_approval_without_a_date_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="approved_by and approved_on"):
        load_spec(_write(tmp_path, 'approved_by = "j.doe"\n' + SPEC))
