"""Ctrl-C, double signals and hung instruments, checked on the simulated device itself.

The simulated bench runs as `tmsbench sim` in its own process; a pytest run uses its live
bench file. After each attack the test reads the *device's* arming state changes from the
simulator's own output (time-stamped), never the driver's belief: who disarmed it (a
command over the link, or the unit's own remote-control lapse) and how soon.
"""

from __future__ import annotations

import signal
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from stop_rig import PtyRelay, SimProcess, TcpRelay, pytest_proc  # this folder is on sys.path

pytestmark = pytest.mark.integration

TRAIN_TEST = """
from pathlib import Path


def test_long_train(train):
    train(rate_hz=5.0, pulses=150, percent=30)  # 30 s of pulses


def test_after(stimulator):
    Path("after").write_text("ran")
"""

HOLD_TEST = """
import time

from harness.safety import armed


def test_hold(stimulator, spec, {fixture}):
    with armed(stimulator, spec.limits, intensity_percent=20):
        end = time.monotonic() + 90
        while time.monotonic() < end:
            {call}
            time.sleep(0.1)
"""


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    proc = SimProcess(tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


def _run_verdict(journal: Path) -> str:
    with sqlite3.connect(journal) as db:
        return str(db.execute("SELECT verdict FROM runs").fetchone()[0])


def _signal_mid_train(
    tmp_path: Path, sim: SimProcess, signals: list[int]
) -> tuple[str, int, float]:
    (tmp_path / "test_train_stop.py").write_text(TRAIN_TEST)
    started = time.time()
    proc = pytest_proc(tmp_path, sim.live, "test_train_stop.py")
    try:
        assert sim.wait_event("armed", started, 90) is not None, "never armed"
        time.sleep(2.0)  # a few pulses into the train
        sent = time.time()
        for k, sig in enumerate(signals):
            if k:
                time.sleep(0.05)
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out, proc.returncode, sent


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGINT, signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["ctrl-c", "ctrl-c-then-sigterm", "ctrl-c-twice"],
)
def test_ctrl_c_mid_train_disarms_first_and_records_aborted(
    tmp_path: Path, sim: SimProcess, signals: list[int]
) -> None:
    out, rc, sent = _signal_mid_train(tmp_path, sim, signals)
    event = sim.wait_event("disarmed", sent, 5)
    assert event is not None, "the device was never disarmed"
    when, why = event
    assert why == "disarmed (command)", f"disarmed by {why}, not by the harness"
    assert when - sent < 2.0, f"disarmed {when - sent:.2f} s after the signal"
    assert rc == 2, out[-3000:]  # pytest's exit status for an interrupt
    assert "may still be ARMED" not in out and "ExceptionGroup" not in out, out[-3000:]
    assert "Invalid session handle" not in out
    assert not (tmp_path / "after").exists(), "the run went on after Ctrl-C"
    assert "HTML report:" in out and "1 failed" in out  # the summary is printed
    assert _run_verdict(tmp_path / "journal.sqlite") == "aborted"
    report = next((tmp_path / "results").glob("*/report.html")).read_text()
    assert "ABORTED" in report
    cases = {
        tc.get("name"): tc for tc in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    }
    failure = cases["test_long_train"].find("failure")
    assert failure is not None and "SIGINT" in (failure.get("message") or "")


def _hang(
    tmp_path: Path, sim: SimProcess, fixture: str, call: str, relay_kind: str
) -> tuple[str, int, float, tuple[float, str] | None]:
    data = sim.bench()
    relay: TcpRelay | PtyRelay
    if relay_kind == "daq":
        host, port = data["daq"]["grpc"].rsplit(":", 1)
        relay = TcpRelay((host, int(port)))
        data["daq"]["grpc"] = f"127.0.0.1:{relay.port}"
    elif relay_kind == "scope":
        parts = data["scope"]["resource"].split("::")  # TCPIP::host::port::SOCKET
        relay = TcpRelay((parts[1], int(parts[2])))
        data["scope"]["resource"] = f"TCPIP::127.0.0.1::{relay.port}::SOCKET"
    else:
        relay = PtyRelay(
            data["stimulator"]["resource"].removeprefix("ASRL").removesuffix("::INSTR")
        )
        data["stimulator"]["resource"] = relay.resource
    bench = sim.write_bench(data, tmp_path / "relayed.toml")
    (tmp_path / "test_hold.py").write_text(HOLD_TEST.format(fixture=fixture, call=call))
    started = time.time()
    proc = pytest_proc(tmp_path, bench, "test_hold.py")
    try:
        assert sim.wait_event("armed", started, 90) is not None, "never armed"
        time.sleep(1.0)
        paused = time.time()
        relay.pause()
        event = sim.wait_event("disarmed", paused, 30)
        try:
            out, _ = proc.communicate(timeout=60)
        except Exception:
            proc.kill()
            out, _ = proc.communicate()
        return out, proc.returncode, paused, event
    finally:
        if proc.poll() is None:
            proc.kill()
        relay.close()


def test_hung_daq_while_armed_is_disarmed_by_the_watchdog(tmp_path: Path, sim: SimProcess) -> None:
    out, rc, paused, event = _hang(tmp_path, sim, "daq", 'daq.read_temperature("coil_temp")', "daq")
    assert event is not None, "a hung DAQ left the unit armed"
    when, why = event
    assert why == "disarmed (command)", why  # by the harness, not the unit's own time-outs
    assert when - paused < 14.0, f"armed for {when - paused:.1f} s after the DAQ hung"
    assert rc == 1, out[-3000:]
    assert "SimDev1" in out or "nidaq" in out, out[-3000:]  # names the instrument and call


def test_hung_scope_while_armed_disarms_and_names_the_query(
    tmp_path: Path, sim: SimProcess
) -> None:
    out, rc, paused, event = _hang(tmp_path, sim, "scope", 'scope.query("*OPC?")', "scope")
    assert event is not None, "a hung scope left the unit armed"
    when, why = event
    assert why == "disarmed (command)", why
    assert when - paused < 14.0, f"armed for {when - paused:.1f} s after the scope hung"
    assert rc == 1 and "*OPC?" in out, out[-3000:]


def test_hung_serial_line_lets_the_unit_disarm_itself(tmp_path: Path, sim: SimProcess) -> None:
    out, rc, paused, event = _hang(tmp_path, sim, "bench", "stimulator.status()", "serial")
    assert event is not None, "a hung serial line left the unit armed"
    when, why = event
    # nothing reaches the unit any more: its own remote-control lapse is what disarms it
    assert why == "disarmed (remote control lapsed)", why
    assert when - paused < 3.0, f"armed for {when - paused:.1f} s after the line hung"
    assert rc == 1 and "no reply within" in out, out[-3000:]
