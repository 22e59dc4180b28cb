"""Drift analytics over calibration history: pure numpy/scipy, arrays in, frozen dataclasses out.

* :mod:`harness.drift.trend`: Theil–Sen trend with Sen's confidence interval;
* :mod:`harness.drift.chart`: EWMA control chart, centre from a baseline period;
* :mod:`harness.drift.assess`: tolerance crossing prediction and status per device;
* :mod:`harness.drift.source`: calibration history from the journal or InfluxDB;
* :mod:`harness.drift.record`: assessments as journal records (``tmsbench drift --record``);
* :mod:`harness.drift.plot`: PNG figures.
"""

from harness.drift.assess import (
    Crossing,
    DeviceDrift,
    DriftParams,
    Status,
    assess_device,
    predict_crossing,
)
from harness.drift.chart import EwmaChart, ewma_chart, short_term_sigma
from harness.drift.trend import (
    DAYS_PER_MONTH,
    Trend,
    days_from_ns,
    ns_from_days,
    robust_trend,
)

__all__ = [
    "DAYS_PER_MONTH",
    "Crossing",
    "DeviceDrift",
    "DriftParams",
    "EwmaChart",
    "Status",
    "Trend",
    "assess_device",
    "days_from_ns",
    "ewma_chart",
    "ns_from_days",
    "predict_crossing",
    "robust_trend",
    "short_term_sigma",
]
