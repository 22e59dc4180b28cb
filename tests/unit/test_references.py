"""Reference instruments in the bench file: dates, due-date gate lines, identity check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.config import ConfigError, load_bench

ROOT = Path(__file__).resolve().parents[2]

BENCH = """
station = "lab-3"
[stimulator]
driver = "magstim"
resource = "ASRL/dev/ttyUSB0::INSTR"
model = "rapid2"
serial = "R2-1234"
[coil]
model = "D70"
serial = "D70-99"
inductance_uH = 16.0
resistance_mohm = 34.6
coil_factor = 1.06
[references]
warn_days = 10
[references.scope]
model = "DSOX3024T"
serial = "MY123"
certificate = "C-1"
calibrated = 2026-01-10
due = 2027-01-10
gain_percent = 2.0
timebase_ppm = 2.1
[references.current_monitor]
model = "Pearson 1423"
serial = "PE-9"
certificate = "C-2"
calibrated = 2025-12-01
due = 2026-12-01
gain_percent = 1.0
"""


def bench(tmp_path: Path, text: str = BENCH):
    p = tmp_path / "bench.toml"
    p.write_text(text)
    return load_bench(p)


@pytest.mark.parametrize(
    "name", ["sim.toml", "sim-magventure.toml", "sim-magstim200.toml", "example-lab.toml"]
)
def test_shipped_benches_list_every_reference(name: str) -> None:
    refs = load_bench(ROOT / "benches" / name).references
    assert set(refs.instruments) == {
        "scope", "current_monitor", "efield_probe", "hv_divider", "thermocouple", "daq"
    }  # fmt: skip
    for ref in refs.instruments.values():
        assert ref.calibrated < ref.due


def test_expired_names_instrument_serial_and_date(tmp_path: Path) -> None:
    refs = bench(tmp_path).references
    assert refs.expired(dt.date(2026, 12, 1)) == []  # due that day: still valid
    (line,) = refs.expired(dt.date(2026, 12, 2))
    assert "current_monitor" in line and "PE-9" in line and "2026-12-01" in line


def test_due_soon_warns_within_warn_days(tmp_path: Path) -> None:
    refs = bench(tmp_path).references
    assert refs.due_soon(dt.date(2026, 11, 20)) == []  # 11 days before
    (line,) = refs.due_soon(dt.date(2026, 11, 21))  # 10 days before
    assert "PE-9" in line and "10 days" in line


def test_identity_mismatch_names_what_differs(tmp_path: Path) -> None:
    refs = bench(tmp_path).references
    assert refs.identity_mismatch("scope", "KEYSIGHT TECHNOLOGIES,DSOX3024T,MY123,07.50") is None
    why = refs.identity_mismatch("scope", "KEYSIGHT TECHNOLOGIES,DSOX3024T,MY999,07.50")
    assert why is not None and "'MY999'" in why and "'MY123'" in why and "model" not in why
    assert refs.identity_mismatch("daq", "anything") is None  # not listed: nothing to compare


def test_due_before_calibration_is_one_line(tmp_path: Path) -> None:
    text = BENCH.replace("due = 2027-01-10", "due = 2025-01-10")
    with pytest.raises(ConfigError) as err:
        bench(tmp_path, text)
    assert "references.scope" in str(err.value) and "2025-01-10" in str(err.value)


def test_daq_identity_product_type_and_hex_serial(tmp_path: Path) -> None:
    text = BENCH + (
        '[references.daq]\nmodel = "PCIe-6351"\nserial = "01A2B3C4"\ncertificate = "C-3"\n'
        "calibrated = 2026-01-10\ndue = 2027-01-10\n"
    )
    refs = bench(tmp_path, text).references
    assert refs.daq_mismatch("PCIe-6351", "1A2B3C4") is None  # NI MAX drops leading zeros
    why = refs.daq_mismatch("USB-6001", "1A2B3C5")
    assert why is not None and "'USB-6001'" in why and "'1A2B3C5'" in why
    assert refs.daq_mismatch("PCIe-6351", "0") is None  # a simulated device has no serial
