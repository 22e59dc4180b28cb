"""The README's "drivers on their own" snippets run as written against the simulated bench.

Each snippet opens a driver from a resource string and keyword arguments only (no bench
file, no harness import); the test swaps the README's example resources for the live
ones the simulator serves, then checks the device's own state afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from instruments.sim.bench import SimBench
from instruments.sim.settings import SimBenchSettings
from instruments.sim.world import World

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _snippets() -> list[str]:
    text = README.read_text()
    section = text.split("### Drivers on their own", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[SimBenchSettings, World]]:
    from harness.config import load_bench  # the test builds the sim from the shipped bench

    bench = load_bench(ROOT / "benches" / "sim.toml")
    with SimBench(bench) as sb:
        yield sb.live, sb.world


def _run(code: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert "harness" not in code, "a driver snippet must not need the harness"
    exec(compile(code, "README.md", "exec"), {})
    return capsys.readouterr().out


def test_readme_has_one_snippet_per_driver_family() -> None:
    blocks = _snippets()
    assert len(blocks) == 3
    assert [b.split("\n", 1)[0] for b in blocks] == [
        "from instruments.stimulator import StimulatorSettings, open_stimulator",
        "from instruments.scope import ScopeChannel, ScopeSettings, open_scope",
        "from instruments.daq import DaqChannel, DaqSettings, open_daq",
    ]


def test_stimulator_snippet(live, capsys) -> None:
    bench, world = live
    code = _snippets()[0].replace("ASRL/dev/ttyUSB0::INSTR", bench.stimulator.resource)
    out = _run(code, capsys)
    assert "rapid2" in out.lower() or "magstim" in out.lower()
    assert not world.armed  # the device itself, after the with-block


def test_stimulator_with_block_disarms_an_armed_unit(live) -> None:
    from instruments.stimulator import StimulatorSettings, open_stimulator

    bench, world = live
    settings = StimulatorSettings(driver="magstim", resource=bench.stimulator.resource,
                                  model="rapid2")
    with open_stimulator(settings) as stim:
        stim.set_intensity(10)
        stim.arm()
        assert world.armed
    assert not world.armed


def test_scope_snippet(live, capsys) -> None:
    bench, _ = live
    assert bench.scope is not None
    code = _snippets()[1].replace("TCPIP::192.0.2.10::5025::SOCKET", bench.scope.resource)
    out = _run(code, capsys)
    assert "[]" in out  # no SCPI errors queued
    assert "," in out.split("[]")[0]  # *IDN? reply: maker,model,serial,firmware


def test_daq_snippet(live, capsys) -> None:
    bench, world = live
    assert bench.daq is not None and bench.daq.grpc
    code = (
        _snippets()[2]
        .replace('device="Dev1",', f'device="SimDev1", grpc="{bench.daq.grpc}",')
        .replace('"Dev1/ai1"', '"SimDev1/ai1"')
    )
    out = _run(code, capsys)
    reading = float(out.strip().splitlines()[-1])
    assert abs(reading - world.coil_temperature_C()) < 1.0  # °C, thermocouple noise
