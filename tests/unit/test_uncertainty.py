"""GUM budgets checked against arithmetic done here by hand, not by the code under test."""

from __future__ import annotations

import math

import pytest

from harness.analysis.uncertainty import TypeB, budget, type_a_of_mean

# The simulated bench's reference instruments (benches/sim.toml), written out again here.
MONITOR = TypeB("current_monitor", gain_percent=1.0)  # Pearson 1423, ±1 %, rectangular
SCOPE = TypeB("scope", gain_percent=2.0, timebase_ppm=2.1)  # DSOX3024T, ±2 %, ±2.1 ppm
PROBE = TypeB("efield_probe", gain_percent=3.0, distribution="normal_k2")  # U = 3 % (k = 2)


def test_peak_didt_budget_by_hand() -> None:
    # 68.82 A/µs (60 %MSO of 114.7 A/µs), fit standard error 0.05 A/µs.
    # monitor gain: 68.82 · 0.01 / √3 = 0.688 2 / 1.732 051 = 0.397 332
    # scope gain:   68.82 · 0.02 / √3 = 1.376 4 / 1.732 051 = 0.794 664
    # timebase:     68.82 · 2.1e-6 / √3 = 1.445 22e-4 / 1.732 051 = 8.343 98e-5
    # type A:       0.05
    # u_c² = 0.157 873 + 0.631 491 + 6.96e-9 + 0.002 5 = 0.791 864 → u_c = 0.889 867
    # U = 2 · u_c = 1.779 73 A/µs
    b = budget("didt", 68.82, sensor=MONITOR, scope=SCOPE, type_a=0.05)
    parts = {c.source: c.u for c in b.contributions}
    assert parts["current_monitor gain"] == pytest.approx(0.397332, rel=1e-5)
    assert parts["scope gain"] == pytest.approx(0.794664, rel=1e-5)
    assert parts["scope timebase"] == pytest.approx(8.34398e-5, rel=1e-5)
    assert parts["repeatability / fit standard error"] == 0.05
    assert [c.kind for c in b.contributions] == ["B", "B", "B", "A"]
    assert b.u_c == pytest.approx(0.889867, rel=1e-5)
    assert pytest.approx(1.77973, rel=1e-5) == b.U


def test_period_budget_by_hand() -> None:
    # 244.0 µs on the scope's timebase only: 244.0 · 2.1e-6 / √3 = 5.124e-4 / 1.732 051
    # = 2.958 34e-4 µs; U = 5.916 68e-4 µs. Gains do not enter a time interval.
    b = budget("time", 244.0, scope=SCOPE)
    assert len(b.contributions) == 1
    assert b.u_c == pytest.approx(2.95834e-4, rel=1e-5)
    assert pytest.approx(5.91668e-4, rel=1e-5) == b.U


def test_efield_certificate_figure_is_divided_by_two() -> None:
    # probe U = 3 % at k = 2 → u = 1.5 %: 73.2 · 0.015 = 1.098; scope 73.2 · 0.02/√3 = 0.845 242
    # u_c = √(1.205 604 + 0.714 434) = 1.385 654
    b = budget("efield", 73.2, sensor=PROBE, scope=SCOPE)
    assert b.u_c == pytest.approx(1.385654, rel=1e-5)


def test_didt_ignores_offset_and_ratio_has_no_gain() -> None:
    offset_monitor = TypeB("cm", gain_percent=1.0, offset=5.0)
    assert budget("didt", 50.0, sensor=offset_monitor).u_c == pytest.approx(0.5 / math.sqrt(3))
    assert budget("current", 50.0, sensor=offset_monitor).u_c == pytest.approx(
        math.sqrt(0.5**2 + 5.0**2) / math.sqrt(3)
    )
    assert budget("ratio", 0.8, scope=SCOPE, type_a=0.004).u_c == 0.004


def test_temperature_thermocouple_and_daq() -> None:
    # class 1 ±1.5 °C and DAQ ±1 °C, both rectangular: √(0.75 + 0.333 333) = 1.040 833
    tc, daq = TypeB("tc", offset=1.5), TypeB("daq", offset=1.0)
    assert budget("temperature", 23.0, sensor=tc, daq=daq).u_c == pytest.approx(1.040833, 1e-6)


def test_type_a_of_mean_by_hand() -> None:
    # 10, 12, 14: mean 12, s² = (4 + 0 + 4)/2 = 4, s/√3 = 2/1.732 051 = 1.154 701
    assert type_a_of_mean([10.0, 12.0, 14.0]) == pytest.approx(1.154701, rel=1e-6)
    assert math.isnan(type_a_of_mean([1.0]))


def test_budget_reaches_the_journal_and_influx_fields(tmp_path) -> None:
    from harness.limits import Limits, Measurement, Verdict
    from harness.measure import budget_fields
    from harness.record.encode import LineEncoder
    from harness.record.journal import Journal
    from harness.record.outbox import Outbox

    b = budget("didt", 68.82, sensor=MONITOR, scope=SCOPE, type_a=0.05)
    m = Measurement(
        "peak dI/dt", 68.82, "A/µs", Limits(65.0, 72.0), Verdict.PASS, extra=budget_fields(b)
    )
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.append_measurement(m)
    with Outbox(path, "influx") as box:
        (row,) = box.read_after(0, 10)
        line = LineEncoder(box.tagset_json).encode(row)
    fields = line.split(" ")[-2]
    assert "U=1.7797" in fields and "u_c=0.8898" in fields and "k=2.0" in fields
    assert "budget" not in fields  # the whole budget stays in the journal
    assert '"scope gain (B)":0.7946' in row[-1]
