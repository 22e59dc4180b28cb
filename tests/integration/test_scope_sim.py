"""The scope driver against the simulated scope over TCP, in both dialects.

Bench procedure: start the simulated bench, open the scope through pyvisa
(``TCPIP::127.0.0.1::<port>::SOCKET``), arm it, fire the world, read the pulse
back and compare it with the world's closed-form discharge.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvisa

from harness.config import BenchConfig, ScopeSettings, load_bench
from instruments.scope import (
    ClippedCapture,
    Scope,
    ScopeConnectionLost,
    ScopeTimeout,
    ScpiError,
    TriggerTimeout,
    TruncatedBlock,
    Waveform,
    capture_autoranged,
    open_scope,
)
from instruments.scope.dialects import DIALECTS
from instruments.sim.bench import SimBench
from instruments.sim.rlc import DischargeSummary, summarise
from instruments.sim.world import PulseEvent, World

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {"keysight": "benches/sim.toml", "tektronix": "benches/sim-magventure.toml"}
INTENSITY = 60.0


def scope_only(bench: BenchConfig) -> BenchConfig:
    """The bench with only the simulated scope served (other front-ends are not ours)."""
    stim = bench.stimulator.model_copy(update={"resource": "ASRL/dev/null::INSTR"})
    return bench.model_copy(update={"stimulator": stim, "daq": None})


@pytest.fixture(scope="module")
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


@pytest.fixture(params=sorted(BENCHES))
def sim(request: pytest.FixtureRequest) -> Iterator[SimBench]:
    bench = SimBench(scope_only(load_bench(ROOT / BENCHES[request.param])))
    bench.start()
    yield bench
    bench.stop()


def live_scope(sim: SimBench, **update: object) -> ScopeSettings:
    assert sim.live.scope is not None
    return sim.live.scope.model_copy(update=update)


@pytest.fixture
def scope(sim: SimBench, rm: pyvisa.ResourceManager) -> Iterator[Scope]:
    sc = open_scope(live_scope(sim), rm)
    yield sc
    sc.close()


def expected(world: World) -> DischargeSummary:
    """Closed-form pulse the world gives at INTENSITY (the 'spec' the auto-range uses)."""
    return summarise(world.circuit(), world.v0_for(INTENSITY), world.state.waveform)


def setup(world: World, scope: Scope, *, points: int = 10_000) -> None:
    """1 ms record, 10 % pre-trigger, trigger on the current at 10 % of its expected peak."""
    world.set_intensity(INTENSITY)
    world.arm()
    scope.set_timebase(1e-3, pretrigger=0.1, points=points)
    peak_v = expected(world).peak_current_A * scope.channel("current")[1].volts_per_unit
    scope.configure_channel("current", volts_per_div=peak_v * 1.3 / 4)
    scope.configure_channel("efield", volts_per_div=1.0)
    scope.set_trigger("current", 0.1 * peak_v, "rising")


def fire_one(world: World, scope: Scope) -> PulseEvent:
    """Arm the scope, fire once the capacitor has recharged (100 ms after the last pulse)."""
    scope.arm()
    last = world.state.last_fire
    at = world.clock.now() + 0.05 if last is None else max(world.clock.now(), last + 0.1)
    event = world.fire(at=at)
    assert event is not None and event.discharged
    scope.wait(5.0)
    return event


def peak(w: Waveform) -> float:
    """Peak of an 11-sample (1.1 µs) moving average: noise does not inflate it."""
    return float(np.convolve(w.values(), np.ones(11) / 11, mode="valid").max())


def current_period(w: Waveform) -> float:
    """Biphasic current: onset (last rise through 0 before the peak) to end of cycle (s)."""
    v, t = w.values(), w.t

    def at(i: int) -> float:  # linear interpolation of the zero crossing in [i, i+1]
        return float(t[i] - v[i] * (t[i + 1] - t[i]) / (v[i + 1] - v[i]))

    k = int(np.argmax(v))
    up = np.flatnonzero((v[:-1] <= 0) & (v[1:] > 0))
    down = np.flatnonzero((v[:-1] > 0) & (v[1:] <= 0))
    half = down[down > k][0]
    return at(int(up[up > half][0])) - at(int(up[up < k][-1]))


# --------------------------------------------------------------- acceptance


def test_single_pulse_matches_closed_form(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    ref = expected(world)
    exp = {"current": ref.peak_current_A, "efield": ref.didt0_A_per_s * 1e-6 * world.coil_factor}
    events: list[PulseEvent] = []
    got = capture_autoranged(scope, exp, lambda: events.append(fire_one(world, scope)))
    event = events[-1]
    truth = summarise(event.circuit, event.v0_V, event.topology)

    current = got.waveforms["current"]
    assert not current.clipped and current.n == 10_000
    assert current.dt_s == pytest.approx(1e-7) and current.t0_s == pytest.approx(-1e-4)
    assert peak(current) == pytest.approx(truth.peak_current_A, rel=0.01)
    assert current_period(current) == pytest.approx(event.circuit.period_s, rel=0.01)
    efield = got.waveforms["efield"]
    assert peak(efield) == pytest.approx(truth.didt0_A_per_s * 1e-6 * event.coil_factor, rel=0.01)
    assert scope.errors() == []


def test_train_of_40_pulses_in_segmented_memory(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    scope.arm_segmented(40)
    t0 = world.clock.now() + 0.05
    events = [world.fire(at=t0 + k * 0.1) for k in range(40)]
    scope.wait(10.0)
    assert scope.acquired() == 40

    tags = scope.time_tags()
    assert len(tags) == 40
    assert np.diff(tags) == pytest.approx(np.full(39, 0.1), abs=1e-9)

    records = scope.read_segments("current")
    assert [r.segment for r in records] == list(range(1, 41))
    assert [r.time_tag_s for r in records] == tags
    for rec, ev in zip(records, events, strict=True):
        assert ev is not None
        assert peak(rec) == pytest.approx(
            summarise(ev.circuit, ev.v0_V, ev.topology).peak_current_A, rel=0.01
        )
    one = scope.read_waveform("current", segment=7)
    assert np.array_equal(one.raw, records[6].raw) and one.time_tag_s == pytest.approx(0.6)


def test_record_length_and_pretrigger_follow_the_timebase(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope, points=4000)
    scope.set_timebase(2e-3, pretrigger=0.25, points=4000)
    fire_one(world, scope)
    w = scope.read_waveform("current")
    assert w.n == 4000
    assert w.dt_s == pytest.approx(5e-7)
    assert w.t0_s == pytest.approx(-0.5e-3)
    # the record crosses the trigger level (10 % of the expected peak) at t = 0
    level = 0.1 * expected(world).peak_current_A
    assert float(np.interp(0.0, w.t, w.values())) == pytest.approx(level, abs=0.01 * peak(w))
    # before the pulse the current is only noise
    assert np.abs(w.values()[w.t < -5e-6]).max() < 0.02 * peak(w)


# --------------------------------------------------------------- clipping


def test_clipped_capture_is_flagged_and_never_measured(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    peak_v = expected(world).peak_current_A * 1e-3
    scope.configure_channel("current", volts_per_div=peak_v / 8)  # peak at 8 div: off screen
    fire_one(world, scope)
    w = scope.read_waveform("current")
    assert w.clipped and w.n_clipped > 0
    assert w.raw.max() == w.rail_high
    with pytest.raises(ClippedCapture, match="current"):
        w.values()


def test_autorange_retries_once_with_a_larger_range(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    ref = expected(world)
    got = capture_autoranged(
        scope, {"current": ref.peak_current_A / 3}, lambda: fire_one(world, scope)
    )
    assert got.attempts == 2
    assert not got.waveforms["current"].clipped
    assert peak(got.waveforms["current"]) == pytest.approx(ref.peak_current_A, rel=0.01)


def test_autorange_gives_up_with_a_clipped_error(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    ref = expected(world)
    with pytest.raises(ClippedCapture, match="current"):
        capture_autoranged(
            scope, {"current": ref.peak_current_A / 100}, lambda: fire_one(world, scope)
        )


def test_byte_transfers_are_8_bit(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    fire_one(world, scope)
    word = scope.read_waveform("current")
    if scope.dialect.name == "keysight":
        scope.write(":WAVeform:FORMat BYTE")
    else:
        scope.write("WFMOutpre:BYT_Nr 1")
    byte = scope.read_waveform("current")
    assert byte.raw.dtype.itemsize == 1 and word.raw.dtype.itemsize == 2
    assert byte.y_increment == pytest.approx(256 * word.y_increment)
    assert np.abs(byte.volts - word.volts).max() <= byte.y_increment / 2 + word.y_increment


# --------------------------------------------------------------- errors


def test_unknown_command_raises_scpi_error_naming_everything(sim: SimBench, scope: Scope) -> None:
    scope.write(":FROBnicate 1")
    with pytest.raises(ScpiError) as info:
        scope.check_errors()
    err = info.value
    assert err.errors[0][0] == -113 and "Undefined header" in err.errors[0][1]
    assert "TMSBENCH-SIM" in str(err) and scope.config.resource in str(err)
    assert ":FROBnicate 1" in str(err)
    assert scope.errors() == []  # the queue was drained


def test_bad_setting_is_reported(sim: SimBench, scope: Scope) -> None:
    with pytest.raises(ScpiError) as info:
        scope.configure_channel("current", volts_per_div=-1.0)
    assert info.value.errors[0][0] == -222


def test_nothing_to_open_raises_connection_lost(rm: pyvisa.ResourceManager) -> None:
    cfg = ScopeSettings(
        driver="keysight",
        resource="TCPIP::127.0.0.1::9::SOCKET",
        timeout_ms=500,
        channels={"current": {"channel": 1, "quantity": "current", "volts_per_unit": 0.001}},
    )
    with pytest.raises(ScopeConnectionLost, match=r"127\.0\.0\.1::9"):
        open_scope(cfg, rm)


# --------------------------------------------------------------- fault knobs


def test_fault_disconnect_after_n(sim: SimBench, scope: Scope) -> None:
    sim.world.configure_faults(scope_disconnect_after_n=2)
    scope.reconnect()  # a fresh connection: two answers, then the scope hangs up
    assert scope.identify().startswith(("KEYSIGHT", "TEKTRONIX"))
    scope.query("*OPC?")
    t = time.monotonic()
    with pytest.raises(ScopeConnectionLost) as info:
        scope.query("*OPC?")
    assert time.monotonic() - t < 1.0  # detected, not waited out
    assert info.value.command == "*OPC?" and scope.config.resource in str(info.value)
    # the driver reopened the socket: n more commands work
    assert scope.query("*OPC?") == "1"
    sim.world.configure_faults(scope_disconnect_after_n=0)
    scope.reconnect()
    for _ in range(5):
        assert scope.query("*OPC?") == "1"


def test_close_while_waiting_for_a_reply_is_seen_at_once(
    sim: SimBench, rm: pyvisa.ResourceManager
) -> None:
    """The scope hangs up *after* the command arrived: the read fails then, not at timeout.

    (pyvisa-py alone loops on the closed socket until the VISA timeout.)
    """
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def hang_up() -> None:
        conn, _ = server.accept()
        conn.recv(100)  # the command
        time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    config = live_scope(sim, resource=f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_ms=5000)
    sc = Scope(config, DIALECTS[config.driver], rm)
    try:
        sc.connect()
        t = time.monotonic()
        with pytest.raises(ScopeConnectionLost, match=r"closed by the instrument"):
            sc.query("*OPC?")
        assert time.monotonic() - t < 2.0, "waited for the 5 s timeout"
    finally:
        sc.close()
        server.close()
        thread.join(1)


def test_fault_reply_delay(sim: SimBench, rm: pyvisa.ResourceManager) -> None:
    scope = open_scope(live_scope(sim, timeout_ms=300), rm)
    try:
        sim.world.configure_faults(scope_reply_delay_ms=100)
        t = time.monotonic()
        assert scope.query("*OPC?") == "1"
        assert time.monotonic() - t >= 0.1
        sim.world.configure_faults(scope_reply_delay_ms=600)
        with pytest.raises(ScopeTimeout, match=r"300 ms.*\*IDN\?"):
            scope.query("*IDN?")
        sim.world.configure_faults(scope_reply_delay_ms=0)
        # reconnected: the late reply cannot answer the next query
        assert scope.query("*OPC?") == "1"
        assert "TMSBENCH-SIM" in scope.query("*IDN?")
    finally:
        scope.close()


def test_fault_truncated_block(sim: SimBench, rm: pyvisa.ResourceManager) -> None:
    scope = open_scope(live_scope(sim, timeout_ms=300), rm)
    try:
        world = sim.world
        setup(world, scope)
        fire_one(world, scope)
        good = scope.read_waveform("current")
        world.configure_faults(scope_truncated_block_every_n=1)
        with pytest.raises(TruncatedBlock) as info:
            scope.read_waveform("current")
        err = info.value
        assert err.expected == 2 * 10_000 and err.received < err.expected
        assert err.command == scope.dialect.data_query
        world.configure_faults(scope_truncated_block_every_n=2)
        first = scope.read_waveform("current")  # the counter is at an odd block: whole
        with pytest.raises(TruncatedBlock):
            scope.read_waveform("current")
        world.configure_faults(scope_truncated_block_every_n=0)
        again = scope.read_waveform("current")
        assert np.array_equal(again.raw, good.raw) and np.array_equal(first.raw, good.raw)
    finally:
        scope.close()


def test_fault_no_trigger(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    world.configure_faults(scope_no_trigger=True)
    scope.arm()
    world.fire(at=world.clock.now() + 0.05)
    with pytest.raises(TriggerTimeout, match="no trigger"):
        scope.wait(0.3)
    assert not scope.busy()  # the driver stopped the acquisition
    world.configure_faults(scope_no_trigger=False)
    fire_one(world, scope)
    assert not scope.read_waveform("current").clipped


def test_trigger_level_above_the_pulse_never_triggers(sim: SimBench, scope: Scope) -> None:
    world = sim.world
    setup(world, scope)
    scope.set_trigger("current", 2 * expected(world).peak_current_A * 1e-3)
    scope.arm()
    world.fire(at=world.clock.now() + 0.05)
    with pytest.raises(TriggerTimeout):
        scope.wait(0.2)


def test_recorded_settings_are_the_scopes_own(sim: SimBench, scope: Scope) -> None:
    """The settings kept with each capture are what the (simulated) scope itself holds."""
    setup(sim.world, scope)
    got = scope.settings()
    st = sim.front_ends["scope"].engine.st  # type: ignore[attr-defined]
    for name, ch in got["channels"].items():
        own = st.channels[ch["input"]]
        assert own.scale == pytest.approx(ch["volts_per_div"], rel=1e-6), name
        assert own.offset == pytest.approx(ch["offset_V"], abs=1e-9), name
        assert own.probe == pytest.approx(ch["probe"]), name
    trig = got["trigger"]
    source = scope.channel(trig["source"])[1].channel
    assert st.trig_source == source
    assert st.trig_levels[source] == pytest.approx(trig["level_V"], rel=1e-6)
    assert st.trig_slope == trig["slope"]
    assert st.points == got["timebase"]["points"]
    assert st.duration == pytest.approx(got["timebase"]["record_s"])
