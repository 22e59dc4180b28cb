"""MagPy's documented Rapid² sequences, played byte by byte over pyvisa against the simulator.

The sequences and reply lengths are facts read from MagPy's ``magstim.py`` (see
``instruments/stimulator/magstim_facts.md``) and written out here by hand: the CRC is the
bitwise NOT of the byte sum, replies are read the way MagPy reads them (a lone ``?``; the
echo and a ``?``/``S`` error code and CRC; or the documented length; ``ND`` up to its NUL
and one more byte). No MagPy code is used or imported. The device's own state is read
from the simulated world, not from any driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import pyvisa

from instruments.sim.world import Recorder
from tests.integration.stim_sim import SimStim, sim_stimulator

pytestmark = pytest.mark.integration

BENCH = "benches/sim.toml"
CODE = "ab12-cdef3456-78"  # an unlock code in MagPy's README form, xxxx-xxxxxxxx-xx


def crc(body: bytes) -> bytes:
    return bytes([~sum(body) & 0xFF])


class MagPyLike:
    """Our own client that frames and reads exactly as MagPy documents it."""

    def __init__(self, resource: str) -> None:
        self.rm = pyvisa.ResourceManager("@py")
        self.port = self.rm.open_resource(resource, baud_rate=9600, timeout=1000)
        self.port.read_termination = None
        self.port.write_termination = None

    def close(self) -> None:
        self.port.close()
        self.rm.close()

    def _read(self, n: int) -> bytes:
        return bytes(self.port.read_bytes(n))

    def send(self, body: bytes, read_bytes: int | None) -> bytes:
        """Write ``body`` + CRC; read the reply as MagPy's port controller does."""
        self.port.write_raw(body + crc(body))
        first = self._read(1)
        if first == b"N":  # the version: one byte at a time up to the NUL, then the CRC
            reply = first
            while reply[-1] != 0:
                reply += self._read(1)
            return reply + self._read(1)
        if first == b"?":
            return first
        reply = first + self._read(1)
        if reply[-1] in b"?S":
            return reply + self._read(1)
        assert read_bytes is not None
        return reply + self._read(read_bytes - 2)


@pytest.fixture
def locked() -> Iterator[tuple[SimStim, MagPyLike]]:
    """A simulated Rapid² on software 9 that needs its unlock code."""
    with sim_stimulator(
        BENCH, speed=1.0, sim_stimulator={"unlock_code": CODE, "version_text": "9.1.0"}
    ) as sim:
        client = MagPyLike(sim.resource)
        try:
            yield sim, client
        finally:
            client.send(b"EA", 3)
            client.send(b"R@", 3)
            client.close()


def ok(reply: bytes, echo: bytes, length: int) -> bytes:
    assert reply[:1] == echo and len(reply) == length, reply
    assert reply[-1:] == crc(reply[:-1]), reply
    return reply


def test_v9_connect_unlock_version_and_system_status(locked: tuple[SimStim, MagPyLike]) -> None:
    sim, c = locked
    # Q@ on a unit that needs its code is refused; Q + code takes remote control
    assert c.send(b"Q@", 3) == b"QS" + crc(b"QS")
    assert c.send(b"Qwrong-code-00000", 3) == b"Q?" + crc(b"Q?")
    assert not sim.world.state.remote
    reply = ok(c.send(b"Q" + CODE.encode(), 3), b"Q", 3)
    assert reply[1] & 0x80 and sim.world.state.remote  # bit 7: remote status
    # ND: "N" + version text + NUL + CRC (MagPy parses "9.1.0" to (9, 1, 0))
    assert c.send(b"ND", None) == b"N9.1.0\x00" + crc(b"N9.1.0\x00")
    # x@: six bytes, instrument + Rapid + extended status (MagPy getSystemStatus, v9+)
    x = ok(c.send(b"x@", 6), b"x", 6)
    assert x[2] & 0x08  # Rapid status bit 3: single-pulse mode after power-up
    # I@ (error code, 6 bytes), o@ (charge delay), ^@/_@ (enhanced power, 4 bytes), b@
    err = ok(c.send(b"I@", 6), b"I", 6)
    assert chr(err[2]) in "UCE" and err[3:5].isdigit()  # source letter + two digits
    assert x[4] & 0x04 == 0 and x[3] == 0  # extended word MSB then LSB: no charge delay yet
    ok(c.send(b"o@", 7), b"o", 7)  # v9: 4 digits (MAGIC getChargeDelay)
    # replies carry the status from before the command (decision S1 of the fact sheet):
    # the effect shows in the next reply
    on = ok(c.send(b"^@", 4), b"^", 4)
    assert not on[2] & 0x01  # bit 0: enhanced power mode, not yet on in ^@'s own reply
    assert ok(c.send(b"x@", 6), b"x", 6)[2] & 0x01
    assert ok(c.send(b"_@", 4), b"_", 4)[2] & 0x01  # still on in _@'s own reply
    assert not ok(c.send(b"x@", 6), b"x", 6)[2] & 0x01
    ok(c.send(b"b@", 3), b"b", 3)


def test_v9_rtms_mode_train_and_single_pulse_mode(locked: tuple[SimStim, MagPyLike]) -> None:
    sim, c = locked
    ok(c.send(b"Q" + CODE.encode(), 3), b"Q", 3)
    ok(c.send(b"@050", 3), b"@", 3)
    # MagPy rTMSMode(True): "[0010" (duration 1.0 s) leaves single-pulse mode, "B0010" 1 Hz
    assert ok(c.send(b"[0010", 4), b"[", 4)[2] & 0x08  # its own reply: the state before
    assert not ok(c.send(b"x@", 6), b"x", 6)[2] & 0x08  # then: repetitive mode
    ok(c.send(b"B0100", 4), b"B", 4)  # 10.0 Hz
    ok(c.send(b"D00005", 4), b"D", 4)  # 5 pulses (5 digits on v9+)
    ok(c.send(b"[0005", 4), b"[", 4)  # 0.5 s
    params = ok(c.send(b"\\@", 24), b"\\", 24)  # v9+: 24 bytes (MagPy getVersion)
    assert params[3:6] == b"050" and params[6:10] == b"0100" and params[10:15] == b"00005"
    ok(c.send(b"EB", 3), b"E", 3)
    deadline = time.monotonic() + 5
    while not c.send(b"x@", 6)[1] & 0x04:  # poll (MagPy: every 0.5 s armed) until ready
        assert time.monotonic() < deadline, "never ready"
        time.sleep(0.2)
    pulses = Recorder()
    sim.world.subscribe(pulses)
    ok(c.send(b"EH", 3), b"E", 3)
    saw_train = saw_wait = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rapid = c.send(b"x@", 6)[2]
        saw_train |= bool(rapid & 0x02)
        saw_wait |= bool(rapid & 0x04)
        if saw_train and not rapid & 0x06:
            break
        time.sleep(0.1)
    assert saw_train, "the train bit (Rapid status bit 1) never showed"
    assert not c.send(b"x@", 6)[2] & 0x06, "train or wait bit still set after the train"
    assert len(pulses.events) == 5
    # MagPy rTMSMode(False): "[0000" = back to single-pulse mode (valid data, not "?")
    back = ok(c.send(b"[0000", 4), b"[", 4)
    assert not back[2] & 0x08  # the state before the command
    assert ok(c.send(b"x@", 6), b"x", 6)[2] & 0x08


def test_watchdog_disarmed_5s_poll_holds_remote_armed_needs_faster(
    locked: tuple[SimStim, MagPyLike],
) -> None:
    """MagPy polls every 5 s disarmed and 0.5 s armed: the first keeps remote control
    disarmed; armed, 1.5 s of silence makes the unit disarm itself."""
    sim, c = locked
    ok(c.send(b"Q" + CODE.encode(), 3), b"Q", 3)
    for _ in range(2):
        time.sleep(5.0)
        assert c.send(b"x@", 6)[1] & 0x80, "remote control lapsed under a 5 s poll"
    ok(c.send(b"EB", 3), b"E", 3)
    assert sim.world.state.armed
    time.sleep(1.5)
    status = c.send(b"x@", 6)[1]
    assert not status & 0x02, "still armed after 1.5 s of silence"
    assert not status & 0x80


def test_driver_unlocks_reads_the_version_and_keeps_the_code_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TMS_TEST_UNLOCK", CODE)
    with sim_stimulator(
        BENCH,
        speed=20.0,
        stimulator={"unlock_code_env": "TMS_TEST_UNLOCK", "software_version": 8},
        sim_stimulator={"unlock_code": CODE, "version_text": "9.1.0"},
    ) as sim:
        stim = sim.open()
        try:
            assert stim.version == 9 and stim.version_text == "9.1.0"  # the unit's, not 8
            stim.set_intensity(40)
            stim.arm()
            assert sim.world.state.armed and sim.world.state.remote
            stim.fire()
            stim.disarm()
            assert not sim.world.state.armed
        finally:
            stim.close()
    assert CODE not in caplog.text and "9.1.0" in caplog.text  # the mismatch is said


def test_driver_without_the_code_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMS_TEST_UNLOCK", raising=False)
    with (
        sim_stimulator(
            BENCH,
            speed=20.0,
            stimulator={"unlock_code_env": "TMS_TEST_UNLOCK"},
            sim_stimulator={"unlock_code": CODE},
        ) as sim,
        pytest.raises(ValueError, match="TMS_TEST_UNLOCK"),
    ):
        sim.open()
