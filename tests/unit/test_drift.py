"""Drift analytics on synthetic histories whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.drift import (
    DAYS_PER_MONTH,
    DriftParams,
    Status,
    assess_device,
    ewma_chart,
    predict_crossing,
    robust_trend,
)
from harness.drift.source import histories_from_points, influxql, points_from_influx_json

NOMINAL = 68.82  # A/µs: Rapid² + D70 at 60 %MSO
LOW, HIGH = 0.95 * NOMINAL, 1.05 * NOMINAL
DAY0 = 20_000.0  # days since the epoch (2024-10-04)
SEEDS = range(40)


def history(
    rate_pct_per_day: float,
    noise: float,
    seed: int,
    *,
    n: int = 26,
    every_days: float = 7.0,
    offset: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Weekly checks: output = nominal·(1+offset)·(1 − rate·t)·(1 + N(0, noise))."""
    rng = np.random.default_rng(seed)
    t = DAY0 + np.arange(n) * every_days
    y = NOMINAL * (1 + offset) * (1 - rate_pct_per_day / 100 * (t - DAY0))
    return t, y * (1 + rng.normal(0.0, noise, n))


def assess(t: np.ndarray, y: np.ndarray, **kw: object):
    return assess_device("SN", t, y, expected_A_per_us=NOMINAL, low_A_per_us=LOW,
                         high_A_per_us=HIGH, **kw)


def true_crossing_day(rate_pct_per_day: float, offset: float = 0.0) -> float:
    return DAY0 + (1 - 0.95 / (1 + offset)) / (rate_pct_per_day / 100)


# ------------------------------------------------------------------ trend accuracy
@pytest.mark.parametrize("rate", [0.01, 0.03, 0.06])  # % of nominal per day
def test_rate_ci_covers_the_true_rate(rate: float) -> None:
    truth = -rate * DAYS_PER_MONTH  # %/month
    hits, errors = 0, []
    for seed in SEEDS:
        d = assess(*history(rate, 0.003, seed))
        hits += d.rate_low_pct_per_month <= truth <= d.rate_high_pct_per_month
        errors.append(d.rate_pct_per_month - truth)
    # 95 % intervals: ≥ 34 of 40 (P(fewer) < 1 % for a true 95 % interval)
    assert hits >= 34, f"{hits}/40 intervals cover the true rate"
    assert abs(np.mean(errors)) < 0.05  # %/month: no bias
    assert np.sqrt(np.mean(np.square(errors))) < 0.1  # typical error ≪ CI half-width


@pytest.mark.parametrize(("rate", "offset"), [(0.03, 0.0), (0.04, 0.01), (0.045, -0.01)])
def test_crossing_interval_covers_the_true_crossing(rate: float, offset: float) -> None:
    truth = true_crossing_day(rate, offset)
    hits, widths = 0, []
    for seed in SEEDS:
        t, y = history(rate, 0.003, seed, n=13, offset=offset)  # 12 weeks, crossing after
        assert truth > t[-1]
        c = assess(t, y).crossing
        assert c is not None and c.side == "low"
        hits += c.covers(truth)
        widths.append(c.late_day - c.early_day)
    assert hits >= 36, f"{hits}/40 crossing intervals cover the true date"
    assert np.median(widths) < 0.5 * (truth - DAY0)  # informative, not just "some day"


def test_theil_sen_ignores_a_gross_outlier() -> None:
    t, y = history(0.03, 0.002, 3)
    y[10] *= 0.8  # one botched check: −20 %
    d = assess(t, y)
    assert d.rate_pct_per_month == pytest.approx(-0.03 * DAYS_PER_MONTH, abs=0.1)


@settings(max_examples=60, deadline=None)
@given(
    slope=st.floats(-0.5, 0.5).filter(lambda s: abs(s) > 1e-3),  # A/µs per day
    level=st.floats(50.0, 90.0),
    n=st.integers(5, 60),
    every=st.floats(0.5, 30.0),
    shift=st.floats(-1000.0, 1000.0),
)
def test_noise_free_line_is_recovered_exactly(
    slope: float, level: float, n: int, every: float, shift: float
) -> None:
    t = DAY0 + shift + np.arange(n) * every
    y = level + slope * (t - t[0])
    tr = robust_trend(t, y)
    assert tr.slope_per_day == pytest.approx(slope, rel=1e-9, abs=1e-12)
    eps = 1e-9 * abs(slope)
    assert tr.slope_low_per_day - eps <= slope <= tr.slope_high_per_day + eps
    assert float(tr.at(t[-1])) == pytest.approx(y[-1], rel=1e-9)
    c = predict_crossing(tr, LOW, HIGH)
    assert c is not None
    bound = LOW if slope < 0 else HIGH
    exact = t[0] + (bound - level) / slope
    tol = 1e-6 * max(1.0, abs(exact - t[0]))
    assert c.day == pytest.approx(exact, abs=tol)
    assert c.early_day - tol <= exact <= c.late_day + tol


def test_too_few_points_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        robust_trend([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 3"):
        robust_trend([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])


def test_crossing_is_open_when_the_trend_is_not_significant() -> None:
    t, y = history(0.0, 0.003, 7)
    tr = robust_trend(t, y)
    assert not tr.significant
    c = predict_crossing(tr, LOW, HIGH)
    assert c is None or math.isinf(c.late_day)


# ------------------------------------------------------------------ status
def test_stable_devices_are_not_flagged() -> None:
    flagged = [seed for seed in SEEDS if assess(*history(0.0, 0.003, seed)).status != Status.OK]
    assert len(flagged) <= 4, f"stable devices flagged for seeds {flagged}"


def test_drifting_device_is_drifting_with_a_future_crossing() -> None:
    statuses = [assess(*history(0.02, 0.003, seed)).status for seed in SEEDS]
    assert statuses.count(Status.DRIFTING) >= 36
    d = assess(*history(0.02, 0.003, 0))
    assert d.crossing is not None and d.crossing.day > d.last_day


def test_small_significant_trend_counts_as_stable() -> None:
    t, y = history(0.002, 0.0, 0)  # 0.06 %/month, noise-free: significant but tiny
    d = assess(t, y)
    assert d.output_trend.significant and d.status == Status.OK
    d = assess(t, y, params=DriftParams(min_rate_pct_per_month=0.01))
    assert d.status == Status.DRIFTING


def test_out_of_tolerance_wins() -> None:
    t, y = history(0.06, 0.003, 1, n=20)  # −6 % after ~100 days
    d = assess(t, y)
    assert y[-1] < LOW and d.status == Status.OUT_OF_TOLERANCE
    assert d.crossing is not None and d.crossing.day <= d.last_day


# ------------------------------------------------------------------ control chart
@pytest.mark.parametrize("k", [12, 16, 20])
def test_step_change_triggers_the_chart_soon_after_the_step(k: int) -> None:
    delays = []
    for seed in SEEDS:
        t, y = history(0.0, 0.003, seed)
        y[k:] *= 0.98  # −2 % step
        ch = assess(t, y).chart
        assert ch is not None and ch.first_signal is not None
        delays.append(ch.first_signal - k)
    delays_arr = np.array(delays)
    assert np.mean(delays_arr < 0) <= 0.1  # false alarm before the step
    assert np.all(delays_arr <= 3)  # 6.7σ step: caught within 3 checks


def test_recent_step_is_an_alarm_not_a_drift() -> None:
    statuses = []
    for seed in SEEDS:
        t, y = history(0.0, 0.003, seed)
        y[-3:] *= 0.98
        statuses.append(assess(t, y).status)
    assert statuses.count(Status.ALARM) >= 36


def test_ewma_limits_follow_the_formula() -> None:
    y = np.array([10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.1, 10.0, 11.0, 11.2])
    ch = ewma_chart(y, baseline_checks=4, lam=0.25, width_sigma=3.0)
    assert ch.center == pytest.approx(np.mean(y[:4]))
    assert ch.sigma == pytest.approx(np.median(np.abs(np.diff(y))) / 0.9539)
    z = ch.center
    for i, x in enumerate(y, start=1):
        z = 0.25 * x + 0.75 * z
        var = 0.25 / 1.75 * (1 - 0.75 ** (2 * i)) + 1 / 4
        assert ch.ewma[i - 1] == pytest.approx(z)
        assert ch.upper[i - 1] - ch.center == pytest.approx(3 * ch.sigma * math.sqrt(var))
    expected = [i for i in range(len(y)) if not ch.lower[i] <= ch.ewma[i] <= ch.upper[i]]
    assert expected and ch.first_signal == expected[0] >= 8  # the jump is at index 8
    with pytest.raises(ValueError):
        ewma_chart(y[:3])


# ------------------------------------------------------------------ sources
def test_points_become_histories_per_serial() -> None:
    pts = [
        {"time_ns": 3, "name": "calibration reference output", "stimulator_serial": "B",
         "value": 68.0, "nominal": 68.82, "low": 65.4, "high": 72.3},
        {"time_ns": 1, "name": "calibration reference output", "stimulator_serial": "B",
         "value": 69.0, "nominal": 68.82, "low": 65.4, "high": 72.3},
        {"time_ns": 2, "name": "calibration slope", "stimulator_serial": "B", "value": 1.14,
         "nominal": 1.147},
        {"time_ns": 2, "name": "calibration R²", "stimulator_serial": "B", "value": 0.99},
        {"time_ns": 2, "name": "calibration reference output", "stimulator_serial": "A",
         "value": 68.5},
    ]
    a, b = histories_from_points(pts)
    assert a.serial == "A" and math.isinf(a.low_A_per_us)
    assert b.serial == "B" and list(b.time_ns) == [1, 3] and list(b.output_A_per_us) == [69, 68]
    assert (b.low_A_per_us, b.high_A_per_us, b.expected_A_per_us) == (65.4, 72.3, 68.82)
    assert list(b.slope_A_per_us_per_pct) == [1.14] and b.expected_slope_A_per_us_per_pct == 1.147


def test_influxql_answer_is_parsed() -> None:
    q = influxql("SN'1")
    assert "\"stimulator_serial\" = 'SN\\'1'" in q and 'FROM "tms_measurement"' in q
    assert '"station", "stimulator_model", "coil_serial" FROM' in q  # tags as columns
    answer = {"results": [{"statement_id": 0, "series": [{
        "name": "tms_measurement",
        "tags": {"stimulator_serial": "SN1", "name": "calibration reference output"},
        "columns": ["time", "value", "nominal", "low", "high", "station", "stimulator_model",
                    "coil_serial"],
        "values": [[1_700_000_000_000_000_000, 68.1, 68.82, 65.38, 72.26, "s1", None, "C1"]],
    }]}]}
    (h,) = histories_from_points(points_from_influx_json(answer))
    assert h.serial == "SN1" and h.output_A_per_us[0] == 68.1 and h.low_A_per_us == 65.38
    assert h.tags == {"station": "s1", "coil_serial": "C1"}
    with pytest.raises(RuntimeError, match="database not found"):
        points_from_influx_json({"results": [{"error": "database not found: x"}]})


def test_figures_are_png() -> None:
    from harness.drift.plot import device_plot, overview_plot
    from harness.drift.source import CalibrationHistory

    t, y = history(0.04, 0.003, 2)
    h = CalibrationHistory("SN", (t * 86_400e9).astype(np.int64), y, NOMINAL, LOW, HIGH,
                           np.array([], dtype=np.int64), np.array([]))
    d = assess(h.t_days, y)
    for png in (device_plot(h, d), overview_plot([h], [d])):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000
