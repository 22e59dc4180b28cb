"""The calibration check (what ``tmsbench calibrate --serial SN`` runs)."""

from __future__ import annotations

import pytest

from harness.calibration import run_calibration


@pytest.mark.calibration
def test_calibration(rig, spec, measure) -> None:
    result = run_calibration(rig, spec, measure, measure.measurements)
    for caption, png in result.figures:
        measure.figure(caption, png)
    assert result.certificate_pdf.stat().st_size > 0
