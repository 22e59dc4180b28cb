"""The drift page's numbers: the same assessment as ``tmsbench drift`` on the same journal.

The histories, the parameters and the per-device assessment are those of
:mod:`harness.cli.drift` (its :func:`~harness.cli.drift.summary` and
:func:`~harness.cli.drift.crossing_text` format them); the page adds nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drift import DriftParams
from harness.drift.source import CalibrationHistory, histories_from_journal


@dataclass(frozen=True)
class DriftView:
    """Every device with enough checks: its history, assessment and the CLI's summary."""

    histories: list[CalibrationHistory]
    drifts: list[Any]  # harness.drift.DeviceDrift
    rows: list[dict[str, Any]]  # harness.cli.drift.summary() + "leaves_tolerance" text
    too_few: list[tuple[str, int]]  # (serial, checks) left out


def drift_view(journal: Path, confidence: float = 0.95) -> DriftView:
    """Assess every device in ``journal`` exactly as ``tmsbench drift --journal`` does."""
    from harness.cli.drift import MIN_CHECKS, assess_histories, crossing_text, summary

    histories = histories_from_journal(journal) if journal.exists() else []
    usable = [h for h in histories if h.output_A_per_us.size >= MIN_CHECKS]
    drifts = assess_histories(usable, DriftParams(confidence=confidence))
    rows = [{**summary(d), "leaves_tolerance": crossing_text(d)} for d in drifts]
    too_few = [(h.serial, int(h.output_A_per_us.size)) for h in histories if h not in usable]
    return DriftView(usable, drifts, rows, too_few)
