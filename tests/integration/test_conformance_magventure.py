"""MAGIC's and magicpy's MagPro sequences, played byte by byte over pyvisa against the simulator.

The command bytes and the reply lengths the clients read after each command are facts from
MAGIC's ``magventure.m`` and magicpy's ``magicpy.py`` (see
``instruments/stimulator/magventure_facts.md``), written out here by hand: no client code is
used or imported, and no frame is built with the codec under test. The CRC bytes are
CRC-8/MAXIM values of the Dallas table (FE len id data CRC FF). The device's own state is
read from the simulated world, not from any driver.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
import pyvisa

from instruments.sim.world import Recorder
from tests.integration.stim_sim import SimStim, sim_stimulator

pytestmark = pytest.mark.integration

BENCH = "benches/sim-magventure.toml"


class MagicLike:
    """Our own client: writes a frame, reads the number of bytes the clients read."""

    def __init__(self, resource: str) -> None:
        self.rm = pyvisa.ResourceManager("@py")
        self.port = self.rm.open_resource(resource, baud_rate=38400, timeout=1000)
        self.port.read_termination = None
        self.port.write_termination = None

    def close(self) -> None:
        self.port.close()
        self.rm.close()

    def send(self, hex_frame: str, read_bytes: int) -> bytes:
        self.port.write_raw(bytes.fromhex(hex_frame))
        return bytes(self.port.read_bytes(read_bytes)) if read_bytes else b""

    def quiet(self, s: float = 0.3) -> bytes:
        """Everything the unit volunteers within ``s`` seconds."""
        out = b""
        end = time.monotonic() + s
        self.port.timeout = 50
        try:
            while time.monotonic() < end:
                with contextlib.suppress(pyvisa.errors.VisaIOError):
                    out += bytes(self.port.read_bytes(1))
        finally:
            self.port.timeout = 1000
        return out


@pytest.fixture
def unit() -> Iterator[tuple[SimStim, MagicLike]]:
    with sim_stimulator(BENCH, speed=1.0) as sim:
        client = MagicLike(sim.resource)
        try:
            yield sim, client
        finally:
            client.send("FE 02 02 00 91 FF", 0)  # disable
            client.close()


def ready(sim: SimStim) -> bool:
    core = sim.server.device.core
    return bool(core.ready(core.now()))


def frame_ok(reply: bytes, ident: int, length: int) -> bytes:
    assert len(reply) == length and reply[0] == 0xFE and reply[-1] == 0xFF, reply.hex(" ")
    assert reply[1] == length - 4 and reply[2] == ident, reply.hex(" ")
    return reply


def test_status_status2_and_mode_get_have_the_lengths_both_clients_read(
    unit: tuple[SimStim, MagicLike],
) -> None:
    _, c = unit
    st = frame_ok(c.send("FE 01 00 00 FF", 13), 0x00, 13)  # getStatus: 13 bytes
    assert st[3] & 0x10 == 0 and st[3] >> 5 == 1  # disabled; model bits 1 = MagPro X100
    assert st[8] == 82  # coil type 82 = MC-B70 (magicpy's coil table)
    s2 = frame_ok(c.send("FE 01 05 3F FF", 19), 0x05, 19)  # getStatus2: 19 bytes
    assert s2[15] == 1 and s2[16] == 0  # page Main, no train running
    # getMode: flag 00 and ten zero bytes in all (len 0B); 14 bytes back
    mode = frame_ok(c.send("FE 0B 09 00 00 00 00 00 00 00 00 00 00 2B FF", 14), 0x09, 14)
    assert mode[4] == 1 and mode[5] == 0 and mode[7] == 1  # X100, Standard, Biphasic


def test_amplitude_enable_fire_and_disable(unit: tuple[SimStim, MagicLike]) -> None:
    sim, c = unit
    amp = c.send("FE 02 01 3C D9 FF", 8)  # setAmplitude 60: an 8-byte reply
    assert amp[2] == 0x01 and amp[3] == 60
    c.quiet()  # and a volunteered status frame
    assert sim.world.state.intensity_percent == 60
    # arm: magicpy reads 24 bytes on an X100 (status, coil info, status)
    arm = c.send("FE 02 02 01 CF FF", 24)
    assert [arm[i] for i in (0, 8, 16)] == [0xFE] * 3 and arm[23] == 0xFF
    assert sim.world.armed
    deadline = time.monotonic() + 5
    while not ready(sim):  # no ready bit on the wire: the device's own state
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pulses = Recorder()
    sim.world.subscribe(pulses)
    didt = frame_ok(c.send("FE 02 03 01 0B FF", 8), 0x02, 8)  # fire: 8 bytes, di/dt
    assert len(pulses.events) == 1 and didt[3] > 0
    c.send("FE 02 02 00 91 FF", 8)  # disarm: 8 bytes
    assert not sim.world.armed


def test_set_train_start_train_and_status2_running(unit: tuple[SimStim, MagicLike]) -> None:
    sim, c = unit
    c.send("FE 02 01 1E 46 FF", 8)  # 30 %
    c.send("FE 02 02 01 CF FF", 24)
    c.quiet()
    deadline = time.monotonic() + 5
    while not ready(sim):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # setTrain(10 Hz, 5 pulses, 1 train, 1.0 s): 06 0064 0005 0001 000A
    c.send("FE 09 06 00 64 00 05 00 01 00 0A 28 FF", 8)
    pulses = Recorder()
    sim.world.subscribe(pulses)
    frame_ok(c.send("FE 01 04 61 FF", 17), 0x04, 17)  # sendTrain: 17 bytes (MEP frame)
    time.sleep(0.1)
    assert frame_ok(c.send("FE 01 05 3F FF", 19), 0x05, 19)[16] == 1  # running
    deadline = time.monotonic() + 3
    while len(pulses.events) < 5:
        assert time.monotonic() < deadline, f"{len(pulses.events)} of 5 pulses"
        time.sleep(0.05)
    gaps = [b.t_s - a.t_s for a, b in zip(pulses.events, pulses.events[1:], strict=False)]
    assert all(abs(g - 0.1) < 0.002 for g in gaps), gaps  # 10 Hz on the device clock
    time.sleep(0.2)
    c.quiet(0.1)
    assert frame_ok(c.send("FE 01 05 3F FF", 19), 0x05, 19)[16] == 0
