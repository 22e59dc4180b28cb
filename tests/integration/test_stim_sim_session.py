"""Both simulated stimulators through pyvisa on their pty: what the World records.

Opens the resource SimBench wrote, sets the intensity, arms through the safety
layer, fires single pulses, a paired pulse and a 10 Hz train, and checks the
World saw exactly those pulses at the right V0 and exact world times.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from stim_sim import sim_stimulator  # shared set-up (this folder is on sys.path)

from harness.config import load_spec
from harness.safety import armed
from instruments.stimulator import Train

ROOT = Path(__file__).resolve().parents[2]
SPEED = 20.0  # world seconds per wall second

CASES = {
    # bench, percent, paired interval ms, paired B %MSO (None: same unit, same level)
    "magstim-rapid2": ("benches/sim.toml", 60, 100.0, None),
    "magventure-x100": ("benches/sim-magventure.toml", 60, 50.0, 40),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES)
def test_singles_pair_and_train_are_recorded_exactly(case: str) -> None:
    bench_file, percent, pair_ms, pair_b = CASES[case]
    with sim_stimulator(
        ROOT / bench_file, speed=SPEED, sim_stimulator={"remote_timeout_s": 20.0}
    ) as sim:
        assert sim.resource.startswith("ASRL/dev/pts/") and sim.resource.endswith("::INSTR")
        world = sim.world
        spec = load_spec(sim.bench.spec_path())
        stim = sim.open()
        try:
            with armed(stim, spec.limits, intensity_percent=percent) as s:
                assert world.armed and world.state.intensity_percent == percent
                s.fire()
                s.fire()
                s.paired_pulse(pair_ms, pair_b)
                s.train(Train(rate_hz=10.0, pulses=10))
        finally:
            stim.close()

        assert not world.armed and world.state.disarm_reason == "command"
        pulses = world.pulses
        assert len(pulses) == 2 + 2 + 10
        v0 = world.v0_for(percent)
        # singles and the first of the pair at the set level
        for p in pulses[:3]:
            assert p.channel == "A" and p.v0_V == pytest.approx(v0, rel=1e-9)
        first, second = pulses[2], pulses[3]
        assert second.t_s - first.t_s == pytest.approx(pair_ms / 1000.0, abs=1e-9)
        if pair_b is None:
            assert second.channel == "A" and second.v0_V == pytest.approx(v0, rel=1e-9)
        else:
            assert second.channel == "B"
            assert second.v0_V == pytest.approx(world.v0_for(pair_b), rel=1e-9)
        train = pulses[4:]
        t0 = train[0].t_s
        for k, p in enumerate(train):
            assert p.t_s == pytest.approx(t0 + k / 10.0, abs=1e-9)
            assert p.channel == "A" and p.v0_V == pytest.approx(v0, rel=1e-9)
            assert p.discharged


@pytest.mark.integration
def test_identify_and_status_over_the_pty() -> None:
    with sim_stimulator(ROOT / "benches/sim-magventure.toml", speed=SPEED) as sim:
        stim = sim.open()
        try:
            ident = stim.identify()
            assert ident.model == "magpro-x100"
            assert ident.serial == "1000001"  # the digits of SIM-X100-0001
            st = stim.status()
            assert st.armed is False and st.coil_present is True
            assert stim.coil_temperature() == round(sim.world.coil_temperature_C())
        finally:
            stim.close()
