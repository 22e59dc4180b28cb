"""The drift page's numbers: the same assessment as ``tmsbench drift`` on the same journal.

The histories, the parameters and the per-device assessment are those of
:mod:`harness.cli.drift` (its :func:`~harness.cli.drift.summary` and
:func:`~harness.cli.drift.crossing_text` format them); the page adds nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.drift import DriftParams, assess_device
from harness.drift.source import CalibrationHistory, histories_from_journal

MIN_CHECKS = 3  # as tmsbench drift: fewer checks give no trend


@dataclass(frozen=True)
class DriftView:
    """Every device with enough checks: its history, assessment and the CLI's summary."""

    histories: list[CalibrationHistory]
    drifts: list[Any]  # harness.drift.DeviceDrift
    rows: list[dict[str, Any]]  # harness.cli.drift.summary() + "leaves_tolerance" text
    too_few: list[tuple[str, int]]  # (serial, checks) left out


def drift_view(journal: Path, confidence: float = 0.95) -> DriftView:
    """Assess every device in ``journal`` exactly as ``tmsbench drift --journal`` does."""
    from harness.cli.drift import crossing_text, summary

    histories = histories_from_journal(journal) if journal.exists() else []
    usable = [h for h in histories if h.output_A_per_us.size >= MIN_CHECKS]
    params = DriftParams(confidence=confidence)
    drifts = [
        assess_device(
            h.serial, h.t_days, h.output_A_per_us,
            expected_A_per_us=h.expected_A_per_us,
            low_A_per_us=h.low_A_per_us, high_A_per_us=h.high_A_per_us,
            slope_t_days=h.slope_t_days, cal_slope_A_per_us_per_pct=h.slope_A_per_us_per_pct,
            expected_slope_A_per_us_per_pct=h.expected_slope_A_per_us_per_pct,
            params=params,
        )
        for h in usable
    ]
    rows = [{**summary(d), "leaves_tolerance": crossing_text(d)} for d in drifts]
    too_few = [(h.serial, int(h.output_A_per_us.size)) for h in histories if h not in usable]
    return DriftView(usable, drifts, rows, too_few)
