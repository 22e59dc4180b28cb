"""Specs that would widen the safety limits beyond the device are refused, one line each."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from harness import speccheck
from harness.config import ConfigError, load_bench, load_spec

ROOT = Path(__file__).resolve().parents[2]
RAPID_SPEC = ROOT / "specs" / "magstim-rapid2-d70.toml"
RAPID_BENCH = ROOT / "benches" / "sim.toml"


def _spec_with(tmp_path: Path, edit: dict[str, Any]) -> Path:
    data = tomllib.loads(RAPID_SPEC.read_text())
    for dotted, value in edit.items():
        table = data
        *parents, key = dotted.split(".")
        for p in parents:
            table = table.setdefault(p, {})
        table[key] = value
    out = tmp_path / "spec.toml"
    out.write_text(tomli_w.dumps(data))
    return out


# (edit of the shipped Rapid² spec, words the one line must contain); figures: the
# Rapid² delivers 50/30/18/15 Hz up to 30/50/80/100 %MSO, 20 ms minimum interval,
# 0.5 s between trains, coil cut-off 40 °C; IEC 60601-1 applied parts 41 °C.
DANGEROUS = [
    ({"limits.coil_temperature_max_C": 200.0}, ["limits.coil_temperature_max_C", "200", "40"]),
    ({"limits.coil_temperature_max_C": float("inf")}, ["coil_temperature_max_C", "inf"]),
    ({"limits.rate_limits": [{"up_to_percent": 100, "max_rate_hz": 1000}]},
     ["limits.rate_limits[0]", "1000 Hz", "50 Hz at 30 %MSO"]),
    ({"limits.rate_limits": [{"up_to_percent": 30, "max_rate_hz": 50},
                             {"up_to_percent": 100, "max_rate_hz": 30}]},
     ["limits.rate_limits[1]", "30 Hz", "18 Hz at 80 %MSO"]),
    ({"limits.rate_limits": []}, ["limits.rate_limits: none", "15 Hz at 100 %MSO"]),
    ({"limits.min_pulse_interval_ms": 5.0}, ["limits.min_pulse_interval_ms", "5 ms", "20 ms"]),
    ({"limits.min_intertrain_interval_s": 0.1}, ["min_intertrain_interval_s", "0.1 s", "0.5 s"]),
    ({"stimulator_model": "magpro-x100"}, ["stimulator_model", "magpro-x100", "rapid2"]),
    ({"thermal.heating_percent": 100.0, "limits.intensity_max_percent": 90.0},
     ["thermal.heating_percent", "100 %MSO", "0..90"]),
    ({"thermal.heating_rate_hz": 40.0}, ["thermal.heating_rate_hz", "40 Hz", "18 Hz"]),
    ({"calibration.percents": [20, 60, 100], "limits.intensity_max_percent": 80.0},
     ["calibration.percents[2]", "100 %MSO"]),
]


@pytest.mark.parametrize(("edit", "words"), DANGEROUS, ids=[str(e) for e, _ in DANGEROUS])
def test_a_looser_spec_is_refused_naming_key_value_and_device_limit(
    tmp_path: Path, edit: dict[str, Any], words: list[str]
) -> None:
    bench = load_bench(RAPID_BENCH)
    spec = load_spec(_spec_with(tmp_path, edit))
    with pytest.raises(ConfigError) as err:
        speccheck.check(spec, bench)
    lines = str(err.value).splitlines()
    hit = [ln for ln in lines if all(w in ln for w in words)]
    assert hit, lines
    assert all(ln.startswith(str(tmp_path / "spec.toml")) for ln in lines)


def test_minimum_above_maximum_is_one_line_at_load(tmp_path: Path) -> None:
    path = _spec_with(tmp_path, {"limits.intensity_min_percent": 90.0,
                                 "limits.intensity_max_percent": 50.0})
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert "intensity_min_percent 90 is not below intensity_max_percent 50" in str(err.value)


@pytest.mark.parametrize("bench", ["sim.toml", "sim-magventure.toml", "example-lab.toml"])
def test_shipped_specs_fit_their_devices(bench: str) -> None:
    b = load_bench(ROOT / "benches" / bench)
    path = b.spec_path()
    assert path is not None
    assert speccheck.device_problems(load_spec(path), b) == []


def test_a_spec_within_the_device_passes(tmp_path: Path) -> None:
    tighter = _spec_with(tmp_path, {"limits.coil_temperature_max_C": 38.0,
                                    "limits.min_pulse_interval_ms": 50.0})
    assert speccheck.device_problems(load_spec(tighter), load_bench(RAPID_BENCH)) == []
