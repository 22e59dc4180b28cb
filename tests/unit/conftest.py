"""Shared fixtures for unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import BenchConfig, load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim_bench() -> BenchConfig:
    """The default simulated bench (Magstim Rapid² + D70)."""
    return load_bench(ROOT / "benches" / "sim.toml")


@pytest.fixture
def magventure_bench() -> BenchConfig:
    """The simulated MagPro X100 + MC-B70 bench."""
    return load_bench(ROOT / "benches" / "sim-magventure.toml")
