"""Identity and connectivity: every instrument answers and is the one the bench names."""

from __future__ import annotations

import pytest

from harness.limits import Limits


def test_stimulator_identity(stimulator, bench) -> None:
    ident = stimulator.identify()
    assert ident.driver == bench.stimulator.driver
    status = stimulator.status()
    assert not status.armed, "the stimulator must start disarmed"
    assert status.coil_present is not False, f"no coil detected: {status}"
    assert not status.errors, f"the stimulator reports errors: {status.errors}"


def test_scope_identity(scope) -> None:
    idn = scope.identify()
    assert idn.strip(), "the scope gave an empty *IDN? reply"
    assert scope.errors() == [], "the scope's error queue is not empty after connecting"


@pytest.mark.needs("coil_temperature")
def test_daq_coil_temperature(daq, bench, spec, measure) -> None:
    names = [n for n, c in bench.daq.channels.items() if c.kind == "thermocouple"]
    if not names:
        pytest.skip("the bench has no thermocouple channel")
    for name in names:
        measure(
            f"coil temperature at start ({name})",
            daq.read_temperature(name),
            "°C",
            Limits(low=5.0, high=spec.limits.coil_temperature_max_C),
            quantity="temperature",
        )
