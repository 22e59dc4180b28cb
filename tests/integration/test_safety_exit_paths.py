"""Every way out of an armed block leaves the simulated device disarmed.

The verdict comes from the simulator's World (``world.armed``,
``world.state.disarm_reason``), never from the driver. SIGTERM and Ctrl-C are
real signals sent to a subprocess that arms the simulator through its pty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from stim_sim import sim_stimulator, wait_until  # shared set-up (this folder is on sys.path)

from harness.config import load_spec
from harness.safety import CoilOverTemperature, LimitExceeded, armed
from instruments.stimulator import Train

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {
    "magstim": ROOT / "benches/sim.toml",
    "magventure": ROOT / "benches/sim-magventure.toml",
}
SPEED = 20.0
TIMING = {"remote_timeout_s": 60.0, "armed_timeout_s": 120.0}
pytestmark = pytest.mark.integration

SCRIPT = """
import sys, time
from harness.config import SafetyLimits, StimulatorSettings
from harness.safety import armed
from instruments.stimulator import open_stimulator

config = StimulatorSettings.model_validate_json(sys.argv[1])
stim = open_stimulator(config, clock_speed=float(sys.argv[2]))
try:
    with armed(stim, SafetyLimits(), intensity_percent=40):
        print("ARMED", flush=True)
        while True:
            time.sleep(0.05)
finally:
    stim.close()
"""


@pytest.mark.parametrize("driver", BENCHES)
def test_normal_exit_and_exception_disarm(driver: str) -> None:
    with sim_stimulator(BENCHES[driver], speed=SPEED, sim_stimulator=TIMING) as sim:
        stim = sim.open()
        lim = load_spec(sim.bench.spec_path()).limits
        try:
            with armed(stim, lim, intensity_percent=30) as s:
                s.fire()
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
            with (
                pytest.raises(RuntimeError, match="test step failed"),
                armed(stim, lim, intensity_percent=30),
            ):
                assert sim.world.armed
                raise RuntimeError("test step failed")
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
        finally:
            stim.close()


@pytest.mark.parametrize("driver", BENCHES)
def test_triggered_pattern_fires_armed_and_a_failing_card_still_disarms(driver: str) -> None:
    """The unit fires on trigger-input edges while armed; a card failing mid-pattern leaves
    it disarmed, and a pattern out of the spec is refused before the unit is made ready."""
    with sim_stimulator(BENCHES[driver], speed=SPEED, sim_stimulator=TIMING) as sim:
        stim = sim.open()
        lim = load_spec(sim.bench.spec_path()).limits
        times = [0.0, 0.02, 0.04]

        def generate(poll: object) -> None:  # the card: three edges, then it fails
            t0 = sim.world.clock.now() + 0.05
            sim.world.trigger_in.emit([t0 + t for t in times], "card")
            wait_until(lambda: len(sim.world.pulses) == 3, 5.0, "three triggered pulses")
            raise RuntimeError("card failed")

        try:
            with (
                pytest.raises(RuntimeError, match="card failed"),
                armed(stim, lim, intensity_percent=30) as s,
            ):
                s.triggered(times, generate)
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
            assert all(p.discharged and p.intensity_percent == 30 for p in sim.world.pulses)
            with (
                pytest.raises(LimitExceeded, match="shortest pulse interval 5 ms"),
                armed(stim, lim, intensity_percent=30) as s,
            ):
                s.triggered([0.0, 0.005], generate)
            assert not sim.world.armed and len(sim.world.pulses) == 3
        finally:
            stim.close()


@pytest.mark.parametrize("driver", BENCHES)
def test_out_of_spec_values_never_reach_the_device(driver: str) -> None:
    with sim_stimulator(BENCHES[driver], speed=SPEED, sim_stimulator=TIMING) as sim:
        stim = sim.open()
        lim = load_spec(sim.bench.spec_path()).limits
        try:
            seen = sim.commands_seen
            with (
                pytest.raises(LimitExceeded, match="intensity 120 %MSO"),
                armed(stim, lim, intensity_percent=120),
            ):
                pass
            assert sim.commands_seen == seen  # refused before a byte was sent
            assert sim.world.state.armed_since is None and sim.world.state.intensity_percent == 0
            too_fast = lim.max_rate_hz(90) * 1.5
            with (
                pytest.raises(LimitExceeded, match="rate at 90 %MSO"),
                armed(stim, lim, intensity_percent=90) as s,
            ):
                seen = sim.commands_seen
                s.train(Train(rate_hz=too_fast, pulses=5))
            assert sim.commands_seen - seen <= 3  # only the keep-alive and the disarm
            assert sim.world.pulses == []
            assert not sim.world.armed and sim.world.state.disarm_reason == "command"
        finally:
            stim.close()


@pytest.mark.parametrize("driver", BENCHES)
def test_hot_coil_during_a_train_stops_it(driver: str) -> None:
    # device cutoff above the spec limit: the harness must act first
    with sim_stimulator(
        BENCHES[driver], speed=SPEED, sim_stimulator=TIMING, thermal={"cutoff_C": 60.0}
    ) as sim:
        world = sim.world

        def heat(event: object) -> None:
            if len(world.pulses) == 5:
                world.set_coil_temperature(45.0)

        world.subscribe(heat)
        stim = sim.open()
        lim = load_spec(sim.bench.spec_path()).limits
        try:
            with (
                pytest.raises(CoilOverTemperature) as err,
                armed(stim, lim, intensity_percent=30, temperature_poll_s=0.2) as s,
            ):
                s.train(Train(rate_hz=10.0, pulses=100))
        finally:
            stim.close()
        assert err.value.reading_C == pytest.approx(45.0, abs=1.0)
        assert err.value.limit_C == lim.coil_temperature_max_C
        assert not world.armed and world.state.disarm_reason == "command"
        assert 5 <= len(world.pulses) < 100


@pytest.mark.parametrize(
    ("driver", "signum"),
    [
        ("magstim", signal.SIGTERM),
        ("magstim", signal.SIGINT),
        ("magventure", signal.SIGTERM),
        ("magventure", signal.SIGINT),
    ],
)
def test_signals_disarm(driver: str, signum: int, tmp_path: Path) -> None:
    script = tmp_path / "arm_and_wait.py"
    script.write_text(SCRIPT)
    with sim_stimulator(BENCHES[driver], speed=SPEED, sim_stimulator=TIMING) as sim:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, str(script), sim.bench.stimulator.model_dump_json(), str(SPEED)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            # a run started in the background (nohup, `&` in a script) inherits SIGINT
            # ignored, and Python then never raises KeyboardInterrupt: give the child the
            # default disposition, as a terminal would
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line.strip() == "ARMED", proc.stderr.read() if proc.stderr else ""
            assert sim.world.armed
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wait_until(lambda: not sim.world.armed, 2.0, "disarmed")
        assert sim.world.state.disarm_reason == "command", stderr
        if signum == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM, stderr
        else:
            assert proc.returncode != 0 and "KeyboardInterrupt" in stderr
