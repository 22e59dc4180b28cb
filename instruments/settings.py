"""Typed settings shared by every driver family: the base model and its error.

Drivers take small pydantic models (or plain keyword arguments that build
them); the harness's bench-file models compose these, so a driver opens from
a resource string without any bench file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Topology = Literal["biphasic", "halfsine", "monophasic"]


class ConfigError(ValueError):
    """Settings (a file or keyword arguments) are wrong; ``problems`` holds one line each."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class Settings(BaseModel):
    """Base of all settings models: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
