"""Motor-threshold hunts on the simulated subject, judged against its true threshold.

Each method hunts the threshold of the bench file's ``[sim.subject]`` with real pulses
and triggered EMG records; the estimate is judged against the subject's ``rmt_pct``.
Tolerances follow the population figures of tests/unit/test_threshold_population.py
(400 virtual subjects): ML-PEST (25 pulses) and Mills-Nithi are within ±2 %MSO in 93-95 %
of subjects, relative frequency within ±3 %MSO in 98 % (±2 in only 88 %). A bench
without a simulated subject skips: on a person the true threshold is unknown.
"""

from __future__ import annotations

import pytest

from harness.config import Tolerance
from harness.limits import Limits


@pytest.mark.needs("emg", "subject")
@pytest.mark.parametrize(
    ("method", "max_pulses", "tol_pct", "pulses_max"),
    [
        ("ml_pest", 25, 2.0, 25),
        ("mills_nithi", None, 2.0, 200),
        ("relative_frequency", None, 3.0, 200),
    ],
)
def test_motor_threshold_hunt(
    method, max_pulses, tol_pct, pulses_max, bench, motor_threshold, measure
) -> None:
    true_pct = bench.sim.subject.rmt_pct
    result = motor_threshold(method=method, max_pulses=max_pulses, true_pct=true_pct)
    assert result.converged, result.reason
    measure(
        f"{method}: motor threshold",
        result.estimate_pct,
        "%MSO",
        nominal=true_pct,
        tolerance=Tolerance(absolute=tol_pct),
    )
    measure(f"{method}: pulses used", result.pulses, "pulses", Limits(high=pulses_max))
    if result.ci_pct is not None:
        lo, hi = result.ci_pct
        measure(f"{method}: 95 % interval width", hi - lo, "%MSO", Limits(high=4 * tol_pct))
