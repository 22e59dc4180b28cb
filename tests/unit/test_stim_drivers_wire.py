"""Drivers against a scripted fake port: the exact bytes on the wire, and typed errors.

Frame vectors: tmsbench design notes, "Protocols".
"""

from __future__ import annotations

import pytest

from harness.config import StimulatorSettings
from instruments.stimulator import (
    DeviceRejected,
    ExpectedProtocol,
    ReplyTimeout,
    ShortReply,
    Train,
    open_stimulator,
)
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator import magventure_codec as mv

FAST = 1000.0  # device time runs 1000x: documented waits take no wall time

STANDBY = mc.STANDBY | mc.COIL_PRESENT | mc.REMOTE  # 0x89
ARMED = mc.ARMED | mc.COIL_PRESENT | mc.REMOTE  # 0x8A
READY = ARMED | mc.READY  # 0x8E


def magstim(model: str = "rapid2", version: int = 9) -> StimulatorSettings:
    return StimulatorSettings(
        driver="magstim",
        resource="ASRL/dev/fake::INSTR",
        model=model,
        serial="SN-42",
        software_version=version,
    )


def reply(c: str, status: int, **kw: object) -> bytes:
    return mc.encode_reply(c, status, **kw)  # type: ignore[arg-type]


def version_reply(text: str) -> bytes:
    """``N`` + version text + NUL + CRC (MagPy reads to the NUL, then one CRC byte)."""
    body = b"N" + text.encode() + b"\x00"
    return body + bytes([mc.crc(body)])


ND = bytes.fromhex("4E 44 6D")  # "ND" + CRC: ~(0x4E + 0x44) & 0xFF = 0x6D
IDLE = mc.RAPID_HVPSU | mc.RAPID_COIL_READY  # 0x30: no train, no wait, repetitive mode


def connect(version: str = "9.0.0") -> list[tuple[bytes, bytes]]:
    """A Rapid²'s connect: remote control, the software version, the parameters."""
    return [
        (mc.REMOTE_ON, reply("Q", STANDBY)),
        (ND, version_reply(version)),
        (mc.PARAMETERS, reply("J", STANDBY, fields=((0, 3), (0, 3), (0, 3)))),
    ]


CONNECT = connect()
# v9+ keep-alive/status poll: "Get System Status" (Magstim TDb 087 5.4 and 6.14; MAGIC)
X9 = bytes.fromhex("78 40 47")


def x_reply(status: int) -> bytes:
    """x, instrument status, Rapid status, extended status MSB, LSB, CRC."""
    return reply("x", status, rapid_status=IDLE, extra=b"\x00\x00")


# A BiStim² or 200² has no ND (MagPy's Magstim and BiStim classes never send it).
CONNECT_200 = [(mc.REMOTE_ON, reply("Q", STANDBY)), CONNECT[2]]


def test_magstim_connect_set_arm_fire_disarm_bytes() -> None:
    wire = ExpectedProtocol(
        [
            *CONNECT,
            # set intensity 50 %: read the current power, then @050 (disarmed: no wait)
            (mc.PARAMETERS, reply("J", STANDBY, fields=((0, 3), (0, 3), (0, 3)))),
            (bytes.fromhex("40 30 35 30 2A"), reply("@", STANDBY)),
            # arm, then wait on the device's armed + ready bits
            (bytes.fromhex("45 42 78"), reply("E", ARMED)),
            (X9, x_reply(ARMED)),
            (X9, x_reply(READY)),
            # fire one pulse: single-pulse mode ("[0000", MagPy rTMSMode), ready, EH
            (
                bytes.fromhex("5B 30 30 30 30 E4"),
                reply("[", READY, rapid_status=IDLE | mc.RAPID_SINGLE_PULSE),
            ),
            (X9, x_reply(READY)),
            (bytes.fromhex("45 48 72"), reply("E", ARMED)),
            (bytes.fromhex("45 41 79"), reply("E", STANDBY)),
        ]
    )
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    stim.set_intensity(50)
    stim.arm()
    assert stim.fire() is None  # the Magstim reports no dI/dt
    stim.disarm()
    wire.assert_done()


def test_magstim_rapid_train_bytes_and_wait_on_the_train_bit() -> None:
    running = IDLE | mc.RAPID_TRAIN
    params = ((60, 3), (100, 4), (40, 5), (40, 4), (5, 4))
    wire = ExpectedProtocol(
        [
            *CONNECT,
            (bytes.fromhex("42 30 31 30 30 FC"), reply("B", READY, rapid_status=IDLE)),
            (mc.duration(4.0, 9), reply("[", READY, rapid_status=IDLE)),
            (mc.pulses(40, 9), reply("D", READY, rapid_status=IDLE)),
            (X9, x_reply(READY)),
            (mc.FIRE, reply("E", ARMED)),
            (mc.RAPID_PARAMETERS, reply("\\", ARMED, rapid_status=running, fields=params)),
            (
                mc.RAPID_PARAMETERS,
                reply("\\", ARMED, rapid_status=IDLE | mc.RAPID_WAIT, fields=params),
            ),
            (mc.RAPID_PARAMETERS, reply("\\", READY, rapid_status=IDLE, fields=params)),
        ]
    )
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    polls: list[int] = []
    stim.run_train(Train(rate_hz=10.0, pulses=40), poll=lambda: polls.append(1))
    wire.assert_done()
    assert polls, "the train poll (temperature watch) was never called"
    assert mc.duration(4.0, 9)[:-1] == b"[0040" and mc.pulses(40, 9)[:-1] == b"D00040"


def test_magstim_old_firmware_uses_narrow_fields() -> None:
    wire = ExpectedProtocol(
        [
            *connect("8.0.0"),  # the unit's ND answer, not the settings, sets the widths
            (mc.frequency(10.0), reply("B", READY, rapid_status=IDLE)),
            (b"[002" + bytes([mc.crc(b"[002")]), reply("[", READY, rapid_status=IDLE)),
            (b"D0002" + bytes([mc.crc(b"D0002")]), reply("D", READY, rapid_status=IDLE)),
            (mc.REMOTE_ON, reply("Q", READY)),
            (mc.FIRE, reply("E", ARMED)),
            (
                mc.RAPID_PARAMETERS,
                reply(
                    "\\",
                    READY,
                    rapid_status=IDLE,
                    fields=((60, 3), (100, 4), (2, 4), (2, 3), (5, 4)),
                ),
            ),
        ]
    )
    stim = open_stimulator(magstim(version=9), clock_speed=FAST, transport=wire)
    stim.paired_pulse(100.0)
    wire.assert_done()


def test_bistim_paired_pulse_sets_b_power_and_interval() -> None:
    wire = ExpectedProtocol(
        [
            *CONNECT_200,
            (mc.PARAMETERS, reply("J", READY, fields=((60, 3), (0, 3), (0, 3)))),
            (b"A040" + bytes([mc.crc(b"A040")]), reply("A", READY)),
            (mc.REMOTE_ON, reply("Q", READY)),
            (b"C003" + bytes([mc.crc(b"C003")]), reply("C", READY)),
            (mc.REMOTE_ON, reply("Q", READY)),
            (mc.FIRE, reply("E", ARMED)),
        ]
    )
    stim = open_stimulator(magstim("bistim2"), clock_speed=FAST, transport=wire)
    stim.paired_pulse(3, intensity_b_percent=40)
    wire.assert_done()


def _params(status: int) -> bytes:
    return mc.encode_reply("J", status, fields=((30, 3), (0, 3), (0, 3)))


def test_magstim_state_conflict_names_device_resource_and_bytes() -> None:
    # the conflict is real (remote control held, per the J@ status): no retry
    wire = ExpectedProtocol(
        [*CONNECT, (mc.ARM, bytes.fromhex("45 53 67")), (mc.PARAMETERS, _params(mc.REMOTE))]
    )
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    with pytest.raises(DeviceRejected) as err:
        stim.arm()
    assert err.value.kind == "state_conflict"
    text = str(err.value)
    assert "magstim rapid2 #SN-42" in text and "ASRL/dev/fake::INSTR" in text
    assert "45 42 78" in text and "45 53 67" in text


def test_magstim_retakes_lapsed_remote_control_once() -> None:
    """A state change refused because remote control lapsed: Q@, then the command again."""
    wire = ExpectedProtocol(
        [
            *CONNECT,
            (mc.DISARM, bytes.fromhex("45 53 67")),
            (mc.PARAMETERS, _params(mc.STANDBY)),
            (mc.REMOTE_ON, mc.encode_reply("Q", mc.REMOTE)),
            (mc.DISARM, mc.encode_reply("E", mc.REMOTE)),
        ]
    )
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    stim.disarm()
    assert wire.written[-4:] == [mc.DISARM, mc.PARAMETERS, mc.REMOTE_ON, mc.DISARM]


def test_magstim_silence_is_a_reply_timeout_and_a_cut_reply_is_short() -> None:
    wire = ExpectedProtocol([*CONNECT, (mc.TEMPERATURE, b""), (mc.TEMPERATURE, b"F\x88235")])
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    with pytest.raises(ReplyTimeout) as err:
        stim.coil_temperature()
    assert "46 40 79" in str(err.value) and "(nothing)" in str(err.value)
    with pytest.raises(ShortReply) as short:
        stim.coil_temperature()
    assert short.value.received == b"F\x88235"


def test_magstim_refuses_fractional_power_without_sending() -> None:
    wire = ExpectedProtocol(list(CONNECT))
    stim = open_stimulator(magstim(), clock_speed=FAST, transport=wire)
    with pytest.raises(ValueError):
        stim.set_intensity(50.5)
    with pytest.raises(ValueError):
        stim.set_intensity(40, "B")  # a Rapid has no channel B
    assert len(wire.written) == len(CONNECT)


# ---------------------------------------------------------------- MagVenture


def magventure() -> StimulatorSettings:
    return StimulatorSettings(
        driver="magventure", resource="ASRL/dev/fake::INSTR", model="magpro-x100", serial="7"
    )


def status_frame(enabled: bool = False, a: int = 0, b: int = 0, temp: int = 23) -> bytes:
    return mv.encode_status(mv.DeviceStatus("standard", "biphasic", enabled, 1, 7, temp, 1, a, b))


def test_magventure_session_bytes_and_unprompted_frames() -> None:
    """Commands with a known reply are exchanged; the rest are confirmed by a status."""
    sb = mv.status_byte("standard", "biphasic", True, 1)
    status = bytes.fromhex("FE 01 00 00 FF")
    amp = mv.encode_short(mv.R_AMPLITUDE, 60, 0, sb)
    s2 = mv.encode_status2(mv.DeviceStatus("standard", "biphasic", True, 1, 7, 23, 1, 60, 0))
    wire = ExpectedProtocol(
        [
            (status, status_frame()),
            (status, status_frame()),
            # amplitude: its frame and a volunteered status frame, then the confirming status
            (bytes.fromhex("FE 02 01 3C D9 FF"), amp + status_frame(a=60)),
            (status, status_frame(a=60)),
            # enable on an X100: three 8-byte frames (magicpy: 24 bytes), then the status
            (
                bytes.fromhex("FE 02 02 01 CF FF"),
                amp + mv.encode_short(mv.R_TEMPERATURE, 23, 1, sb) + amp,
            ),
            (status, status_frame(enabled=True, a=60)),
            # an unprompted temperature frame overtakes the fire reply
            (
                bytes.fromhex("FE 02 03 01 0B FF"),
                mv.encode_short(mv.R_TEMPERATURE, 24, 0, sb)
                + mv.encode_short(mv.R_DIDT, 93, 0, sb),
            ),
            (
                bytes.fromhex("FE 09 06 00 64 00 28 00 01 01 04 E7 FF"),
                mv.encode_short(mv.R_PAGE, 1, 0, sb),
            ),
            (bytes.fromhex("FE 01 04 61 FF"), mv.encode(mv.R_MEP, bytes(12))),
            (bytes.fromhex("FE 01 05 3F FF"), s2),  # status 2: no train running
            (bytes.fromhex("FE 02 02 00 91 FF"), mv.encode_short(mv.R_AMPLITUDE, 60, 0, 0x24)),
            (status, status_frame(a=60)),
        ]
    )
    stim = open_stimulator(magventure(), clock_speed=FAST, transport=wire)
    stim.set_intensity(60)
    stim.arm()
    assert stim.fire() == 93.0
    assert stim.didt() == 93.0
    stim.run_train(Train(rate_hz=10.0, pulses=40, trains=1, iti_s=26.0))
    stim.disarm()
    wire.assert_done()
    seen = {f.ident for f in stim.unprompted}  # type: ignore[attr-defined]
    assert {mv.R_STATUS, mv.R_TEMPERATURE, mv.R_AMPLITUDE, mv.R_PAGE} <= seen


def test_magventure_identify_reports_the_device_serial_and_model() -> None:
    wire = ExpectedProtocol([(mv.status(), status_frame())] * 2)
    ident = open_stimulator(magventure(), clock_speed=FAST, transport=wire).identify()
    assert (ident.model, ident.serial) == ("magpro-x100", "7")


def test_magventure_silence_is_a_reply_timeout_with_context() -> None:
    wire = ExpectedProtocol(
        [(mv.status(), status_frame()), (mv.enable(True), b""), (mv.status(), b"")]
    )
    stim = open_stimulator(magventure(), clock_speed=FAST, transport=wire)
    with pytest.raises(ReplyTimeout) as err:
        stim.arm()
    text = str(err.value)
    assert "magventure magpro-x100 #7" in text and "FE 01 00 00 FF" in text
