"""Test plans: what the run page offers, as data files (``harness/data/plans/*.toml``).

A plan has a ``title``, a ``description``, ``tests``: files or node ids of the bench
suite relative to it (none: the whole suite), and an ``order`` in the list. The file
name without ``.toml`` is the plan's id.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.config import ConfigError
from harness.resources import data_path, suite_dir


class Plan(BaseModel):
    """One test plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = ""
    title: str
    description: str = ""
    tests: tuple[str, ...] = ()
    order: int = 0  # place in the page's list (then by id)

    def targets(self) -> list[Path]:
        """The pytest targets (absolute), the whole suite when ``tests`` is empty."""
        suite = suite_dir()
        return [suite / t for t in self.tests] if self.tests else [suite]


def plans_dir() -> Path:
    """The shipped plans."""
    return data_path("plans")


def load_plan(path: Path) -> Plan:
    """One plan file; a bad one raises :class:`ConfigError` naming the file and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    try:
        plan = Plan(**data)
    except ValidationError as exc:
        raise ConfigError(
            path, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    suite = suite_dir()
    missing = [t for t in plan.tests if not (suite / t.split("::")[0]).exists()]
    if missing:
        raise ConfigError(path, [f"tests: not in the bench suite: {', '.join(missing)}"])
    return plan.model_copy(update={"id": path.stem})


def load_plans(folder: Path | None = None) -> dict[str, Plan]:
    """Every plan in ``folder`` (default: the shipped ones) by id, in the page's order."""
    root = folder or plans_dir()
    plans = sorted((load_plan(p) for p in root.glob("*.toml")), key=lambda p: (p.order, p.id))
    return {p.id: p for p in plans}
