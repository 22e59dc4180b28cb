"""What a bench can do: the reasons a test that needs more is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capabilities import missing
from harness.config import load_bench, load_spec

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str):
    bench = load_bench(ROOT / "benches" / name)
    return bench, load_spec(bench.spec_path())


def test_rapid2_bench_has_everything_the_suite_asks() -> None:
    bench, spec = _bench("sim.toml")
    needs = ("trains", "paired_pulses", "coil_temperature", "efield", "waveform:biphasic")
    assert missing(needs, bench, spec) is None


def test_magstim_200_lacks_trains_and_paired_pulses_and_says_why() -> None:
    bench, spec = _bench("sim-magstim200.toml")
    why = missing(("trains",), bench, spec)
    assert why is not None and why.startswith("needs trains: the magstim 200-2")
    assert "MagPy" in why  # the source of the device fact
    assert "paired pulses" in (missing(("paired_pulses",), bench, spec) or "")
    assert missing(("coil_temperature", "waveform:monophasic"), bench, spec) is None
    both = missing(("trains", "waveform:biphasic"), bench, spec)
    assert both is not None and "; needs a biphasic waveform" in both


def test_bench_without_thermocouple_or_efield_input() -> None:
    bench, spec = _bench("sim.toml")
    daq = bench.daq.model_copy(
        update={
            "channels": {k: c for k, c in bench.daq.channels.items() if c.kind != "thermocouple"}
        }
    )
    scope = bench.scope.model_copy(
        update={
            "channels": {k: c for k, c in bench.scope.channels.items() if c.quantity == "current"}
        }
    )
    bare = bench.model_copy(update={"daq": daq, "scope": scope})
    assert "thermocouple" in (missing(("coil_temperature",), bare, spec) or "")
    assert "E-field input" in (missing(("efield",), bare, spec) or "")
    no_daq = bare.model_copy(update={"daq": None})
    assert missing(("coil_temperature",), no_daq, spec) is not None


def test_unknown_capability_is_a_mistake_in_the_test() -> None:
    bench, spec = _bench("sim.toml")
    with pytest.raises(ValueError, match=r"needs\('train'\): not a capability"):
        missing(("train",), bench, spec)
