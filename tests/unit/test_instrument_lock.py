"""The lock of a shared instrument (harness/instrument_lock.py) and the shared simulated
scope's log (instruments/sim/scope_switch.py)."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from harness.instrument_lock import InstrumentLock, lock_name, shared_resource
from instruments.sim.scope_switch import ScopeSwitch, capture_spans, read_log

HOLD_S = 0.4


def _hold(folder: str, held: mp.synchronize.Event) -> None:
    lock = InstrumentLock("TCPIP0::10.0.0.5::INSTR", Path(folder))
    with lock.hold():
        held.set()
        time.sleep(HOLD_S)


def test_a_second_process_waits_for_the_holder_and_says_how_long(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    held = ctx.Event()
    other = ctx.Process(target=_hold, args=(str(tmp_path), held))
    other.start()
    try:
        assert held.wait(30)
        t0 = time.perf_counter()
        ours = InstrumentLock("tcpip0::10.0.0.5::instr", tmp_path)  # the same resource
        with ours.hold() as waited:
            measured_ms = (time.perf_counter() - t0) * 1e3
    finally:
        other.join(30)
    # the other process held it for HOLD_S from before we asked: we waited most of that
    assert waited >= 0.5 * HOLD_S * 1e3
    assert waited <= measured_ms + 1.0
    assert ours.waits_ms == [waited] and ours.total_wait_ms == waited


def test_a_free_lock_is_taken_at_once_and_resources_do_not_share_files(tmp_path: Path) -> None:
    lock = InstrumentLock("TCPIP0::10.0.0.6::INSTR", tmp_path)
    with lock.hold() as waited:
        assert waited < 200
    assert lock_name("TCPIP0::10.0.0.5::INSTR") == lock_name("tcpip0::10.0.0.5::instr")
    assert lock_name("TCPIP0::10.0.0.5::INSTR") != lock_name("TCPIP0::10.0.0.50::INSTR")
    assert lock_name("a/b") != lock_name("a_b")  # the hash tells apart what the slug merges


def test_a_private_simulated_scope_is_not_locked() -> None:
    assert shared_resource("sim") is None and shared_resource(None) is None
    assert shared_resource("sim:lab-scope") == "sim:lab-scope"
    assert shared_resource(" TCPIP0::10.0.0.5::INSTR ") == "TCPIP0::10.0.0.5::INSTR"


def test_switch_routes_the_last_bench_that_armed_and_logs_spans(tmp_path: Path) -> None:
    a = ScopeSwitch("lab scope", tmp_path, "sim-a:1")
    b = ScopeSwitch("lab scope", tmp_path, "sim-b:2")
    assert not a.routed() and not b.routed()
    a.select()
    a.read()
    assert a.routed() and not b.routed()
    b.select()  # b's capture moves the switch: a's DUT no longer reaches the scope
    assert b.routed() and not a.routed()
    b.read()
    b.read()
    events = read_log(tmp_path / "lab_scope.log")
    assert [(e, c) for e, c, _ in events] == [
        ("arm", "sim-a:1"), ("read", "sim-a:1"), ("arm", "sim-b:2"),
        ("read", "sim-b:2"), ("read", "sim-b:2"),
    ]
    t = [ns for _, _, ns in events]
    assert capture_spans(events) == [("sim-a:1", t[0], t[1]), ("sim-b:2", t[2], t[4])]


def test_spans_end_at_the_last_read_before_the_next_arm() -> None:
    events = [
        ("arm", "x", 10), ("read", "x", 15), ("arm", "y", 12), ("arm", "x", 30),
        ("read", "y", 40), ("read", "x", 35),
    ]
    # x: 10-15 and 30-35; y: 12-40 (overlapping both of x's, which a test would catch)
    assert capture_spans(events) == [("x", 10, 15), ("y", 12, 40), ("x", 30, 35)]
