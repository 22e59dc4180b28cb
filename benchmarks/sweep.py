"""Calibration sweep on the simulated bench: wall time vs the device-imposed waits.

A 10-level sweep (10 … 100 %MSO, one pulse per level, upwards) through the real
drivers, transports and analysis, at world-clock speed 1. The baseline, computed
in the same run from the simulated device's own timing parameters and the pulses
the world recorded, is the time the device itself makes anyone wait: arming,
power settling (10 ms per % up), recharge after each pulse and the minimum pulse
interval; steps that overlap count once (the longest). Target: ≤ 1.15x.

Run: .venv/bin/python benchmarks/sweep.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.capture import BenchRig
from harness.session import BenchSession, SessionOptions
from instruments.scope import open_scope
from instruments.sim.rlc import summarise
from instruments.stimulator import open_stimulator

LEVELS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def device_waits(session: BenchSession, levels: list[float]) -> float:
    """Seconds the simulated device imposes on this sweep (from its parameters)."""
    st = session.bench.sim.stimulator  # type: ignore[union-attr]
    min_interval = session.spec.limits.min_pulse_interval_ms / 1e3
    pulses = [p for p in session.world.pulses if p.discharged][-len(levels) :]
    total = st.arming_time_s  # power set while disarmed: no settling before arming
    for k in range(1, len(levels)):
        settle = (levels[k] - levels[k - 1]) * st.settle_up_s_per_percent
        prev = pulses[k - 1]
        s = summarise(prev.circuit, prev.v0_V, prev.topology)
        target = session.world.v0_for(levels[k])
        recharge = 0.5 * prev.circuit.capacitance_F * (target**2 - s.v_end_V**2)
        recharge_s = max(recharge, 0.0) / st.charger_power_W
        total += max(settle, recharge_s, min_interval)
    return total


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        opts = SessionOptions(results=tmp, journal=str(Path(tmp) / "j.sqlite"))
        s = BenchSession(opts).open()
        try:
            stim = s.instrument("stimulator", lambda: open_stimulator(s.bench.stimulator))
            scope = s.instrument("scope", lambda: open_scope(s.bench.scope))
            rig = BenchRig(s, stim, scope, None, s.spec, test_id="benchmark-sweep")
            rig.fire_and_capture(LEVELS[0])  # warm-up: connections, first arming
            rig.close()
            t0 = time.perf_counter()
            caps = rig.sweep(LEVELS)
            assert all(c.current.valid for c in caps), [c.invalid_reason for c in caps]
            wall = time.perf_counter() - t0
            rig.close()
            waits = device_waits(s, LEVELS)
        finally:
            s.close("pass")
    print(f"calibration sweep, {len(LEVELS)} levels, 1 pulse each, simulated bench at speed 1")
    print(f"  wall time                 : {wall:7.3f} s")
    print(f"  device-imposed waits      : {waits:7.3f} s  (baseline, same run)")
    print(f"  ratio                     : {wall / waits:7.3f}x  (target <= 1.15x)")
    print(f"  harness overhead per level: {(wall - waits) / len(LEVELS) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
