"""The pulse rollup's pure parts: hour spans a batch is read in, and a cell's fields."""

from __future__ import annotations

from harness.record.rollup import METRICS, _Cell, spans


def test_hours_close_together_are_read_in_one_span() -> None:
    assert spans([5, 3, 4, 9, 11, 14, 30, 30]) == [(3, 5), (9, 11), (14, 14), (30, 30)]
    assert spans([1, 4], max_gap=2) == [(1, 1), (4, 4)]
    assert spans([]) == []


def test_a_cell_counts_every_pulse_and_averages_only_numbers() -> None:
    cell = _Cell()
    cell.add({"peak_didt_A_per_us": 80.0, "period_us": 345.0}, failed=False)
    cell.add({"peak_didt_A_per_us": 70.0, "period_us": float("nan")}, failed=True)
    cell.add({"peak_didt_A_per_us": 90.0}, failed=False)
    fields = dict(kv.split("=") for kv in cell.fields().split(","))
    assert fields["pulses"] == "3.0" and fields["failed"] == "1.0"
    assert float(fields["peak_didt_A_per_us"]) == 80.0  # (80 + 70 + 90) / 3
    assert fields["peak_didt_A_per_us_sum"] == "240.0"
    assert fields["peak_didt_A_per_us_count"] == "3.0"
    assert fields["peak_didt_A_per_us_min"] == "70.0"
    assert fields["peak_didt_A_per_us_max"] == "90.0"
    assert fields["period_us"] == "345.0" and fields["period_us_count"] == "1.0"  # NaN left out
    assert not any(k.startswith("energy_J") for k in fields)  # never measured: no field
    assert len(METRICS) == 7
