"""Bench and spec files: valid files load, wrong files name every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ConfigError, load_bench, load_spec

ROOT = Path(__file__).resolve().parents[2]

GOOD_BENCH = """
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
"""


def write(tmp_path: Path, text: str, name: str = "bench.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["sim.toml", "sim-magventure.toml", "example-lab.toml"])
def test_shipped_bench_files_load(name: str) -> None:
    bench = load_bench(ROOT / "benches" / name)
    assert bench.station
    spec_path = bench.spec_path()
    assert spec_path is not None and spec_path.exists()
    spec = load_spec(spec_path)
    assert spec.stimulator_model == bench.stimulator.model


def test_minimal_bench_defaults(tmp_path: Path) -> None:
    bench = load_bench(write(tmp_path, GOOD_BENCH))
    assert bench.scope is None and bench.daq is None and bench.sim is None
    assert bench.sinks.journal.path.endswith("journal.sqlite")
    assert bench.sinks.influxdb is None


def test_every_problem_is_reported_with_file_and_key(tmp_path: Path) -> None:
    bad = (
        GOOD_BENCH.replace('driver = "magstim"', 'driver = "neuronetics"')
        .replace("inductance_uH = 16.0", "inductance_uH = -16.0")
        .replace('serial = "D70-99"\n', "")
    )
    path = write(tmp_path, bad)
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    msg = str(info.value)
    lines = msg.splitlines()
    assert len(lines) == 3, msg
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert "stimulator.driver: Input should be 'magstim' or 'magventure' (got 'neuronetics')" in msg
    assert "coil.inductance_uH: Input should be greater than 0 (got -16.0)" in msg
    assert "coil.serial: missing (required)" in msg


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_BENCH + "\n[scope]\ndriver='keysight'\nresource='x'\nchanels={}\n")
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    msg = str(info.value)
    assert "scope.chanels: unknown key" in msg
    assert "scope.channels: missing (required)" in msg


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'station = "x"\n[stimulator\n')
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert str(info.value).startswith(f"{path}: not valid TOML")
    assert "line 2" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_bench(tmp_path / "nope.toml")


def test_two_probes_on_one_input(tmp_path: Path) -> None:
    text = (
        GOOD_BENCH
        + """
[scope]
driver = "keysight"
resource = "TCPIP::10.1.1.1::5025::SOCKET"
[scope.channels.current]
channel = 1
quantity = "current"
volts_per_unit = 0.001
[scope.channels.efield]
channel = 1
quantity = "efield"
volts_per_unit = 0.01
"""
    )
    with pytest.raises(ConfigError, match=r"scope: two probes on the same"):
        load_bench(write(tmp_path, text))


def test_fault_knob_out_of_range(tmp_path: Path) -> None:
    text = (
        (ROOT / "benches" / "sim.toml")
        .read_text()
        .replace(
            "# all off; see README", "capacitor_fade = 1.5\nmissing_pulse_every = -1\n# see README"
        )
    )
    with pytest.raises(ConfigError) as info:
        load_bench(write(tmp_path, text))
    msg = str(info.value)
    assert "sim.faults.capacitor_fade: Input should be less than or equal to 1 (got 1.5)" in msg
    assert "sim.faults.missing_pulse_every: Input should be greater than or equal to 0" in msg


def test_spec_tolerance_needs_a_band(tmp_path: Path) -> None:
    text = (
        (ROOT / "specs" / "magstim-rapid2-d70.toml")
        .read_text()
        .replace(
            "didt_tolerance = { relative = 0.05, marginal = 0.6 }",
            "didt_tolerance = { marginal = 0.6 }",
        )
    )
    with pytest.raises(ConfigError, match=r"output.didt_tolerance: a tolerance needs"):
        load_spec(write(tmp_path, text, "spec.toml"))


def test_spec_shape_for_unknown_waveform(tmp_path: Path) -> None:
    text = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text() + "\n[shape.monophasic]\n"
    with pytest.raises(ConfigError, match=r"shape\.monophasic: not one of waveforms"):
        load_spec(write(tmp_path, text, "spec.toml"))


@pytest.mark.parametrize(
    "key", ["period_us = 400.0", "phase_ratio = 0.8", "second_zero_us = 200.0"]
)
def test_monophasic_shape_asks_no_ring(tmp_path: Path, key: str) -> None:
    """A monophasic pulse does not ring: period and phase ratio are refused, naming the key."""
    text = (ROOT / "specs" / "magstim-200-2-d70.toml").read_text()
    text = text.replace("[shape.monophasic]\n", f"[shape.monophasic]\n{key}\n")
    name = key.split(" ")[0]
    with pytest.raises(
        ConfigError, match=rf"shape\.monophasic\.{name}: a monophasic pulse does not ring"
    ):
        load_spec(write(tmp_path, text, "spec.toml"))


def test_spec_expected_output_linear_and_table() -> None:
    spec = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml")
    assert spec.output.expected_didt(60) == pytest.approx(0.6 * 114.7)
    assert spec.output.expected_efield(100) == pytest.approx(122.0)
    table = spec.output.model_copy(update={"points": [(50, 60.0), (100, 110.0)]})
    assert table.expected_didt(75) == pytest.approx(85.0)
    assert table.expected_didt(25) == pytest.approx(30.0)


def test_rate_limit_table() -> None:
    limits = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml").limits
    assert limits.max_rate_hz(30) == 50
    assert limits.max_rate_hz(31) == 30
    assert limits.max_rate_hz(80) == 18
    assert limits.max_rate_hz(100) == 15


def test_overdamped_sim_circuit_is_a_config_error(tmp_path: Path) -> None:
    from instruments.sim.world import World

    text = (
        (ROOT / "benches" / "sim.toml")
        .read_text()
        .replace("resistance_mohm = 34.6", "resistance_mohm = 900.0")
    )
    bench = load_bench(write(tmp_path, text))
    with pytest.raises(ConfigError, match="overdamped"):
        World(bench)
