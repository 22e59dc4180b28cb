"""Magstim codec: frames and replies byte for byte.

Vectors: tmsbench design notes, "Protocols" (Magstim frames and replies, hex, CRC last).
"""

from __future__ import annotations

import pytest

from instruments.stimulator import magstim_codec as mc
from instruments.stimulator.base import BadCrc, DeviceRejected, MalformedReply, ShortReply

FRAMES = [
    (mc.power_a(50), "40 30 35 30 2A"),
    (mc.ARM, "45 42 78"),
    (mc.DISARM, "45 41 79"),
    (mc.FIRE, "45 48 72"),
    (mc.REMOTE_ON, "51 40 6E"),
    (mc.REMOTE_OFF, "52 40 6D"),
    (mc.PARAMETERS, "4A 40 75"),
    (mc.TEMPERATURE, "46 40 79"),
    (mc.RAPID_PARAMETERS, "5C 40 63"),
    (mc.frequency(10.0), "42 30 31 30 30 FC"),
]


@pytest.mark.parametrize(("frame", "expected"), FRAMES)
def test_command_frames_match_the_protocol_vectors(frame: bytes, expected: str) -> None:
    assert frame.hex(" ").upper() == expected


def test_crc_is_the_inverted_byte_sum() -> None:
    assert mc.crc(b"@050") == ord("*")


def test_field_widths_follow_the_software_version() -> None:
    assert mc.pulses(40, 9)[:-1] == b"D00040"
    assert mc.pulses(40, 8)[:-1] == b"D0040"
    assert mc.duration(4.0, 9)[:-1] == b"[0040"
    assert mc.duration(4.0, 8)[:-1] == b"[040"
    assert mc.reply_length(mc.RAPID_PARAMETERS, 9) == 24
    assert mc.reply_length(mc.RAPID_PARAMETERS, 8) == 22
    assert mc.reply_length(mc.RAPID_PARAMETERS, 6) == 21


def test_temperature_reply_decodes_to_two_readings() -> None:
    reply = bytes.fromhex("46 88 32 33 35 32 34 30 01")
    r = mc.parse_reply(mc.TEMPERATURE, reply, 9)
    assert r.fields == (235, 240)
    assert r.status & mc.REMOTE and r.status & mc.COIL_PRESENT
    assert not r.status & mc.ARMED


def test_rapid_replies_carry_a_second_status_byte() -> None:
    reply = mc.encode_reply("B", mc.STANDBY, rapid_status=mc.RAPID_TRAIN)
    assert len(reply) == 4
    assert mc.parse_reply(mc.frequency(10), reply, 9).rapid_status == mc.RAPID_TRAIN


@pytest.mark.parametrize(
    ("command", "reply", "kind"),
    [
        (mc.power_a(50), "3F", "invalid_command"),
        (mc.power_a(50), "40 3F 80", "invalid_data"),
        (mc.ARM, "45 53 67", "state_conflict"),
    ],
)
def test_error_replies_are_typed(command: bytes, reply: str, kind: str) -> None:
    with pytest.raises(DeviceRejected) as err:
        mc.parse_reply(command, bytes.fromhex(reply), 9)
    assert err.value.kind == kind
    assert err.value.received == bytes.fromhex(reply)


def test_expected_length_tracks_error_replies() -> None:
    assert mc.expected_length(mc.ARM, b"", 9) == 3
    assert mc.expected_length(mc.TEMPERATURE, b"?", 9) == 1
    assert mc.expected_length(mc.TEMPERATURE, b"FS", 9) == 3
    assert mc.expected_length(mc.TEMPERATURE, b"F\x88", 9) == 9


def test_bad_crc_short_and_foreign_replies_raise_their_own_errors() -> None:
    good = mc.encode_reply("E", mc.ARMED | mc.REMOTE)
    with pytest.raises(BadCrc):
        mc.parse_reply(mc.ARM, good[:-1] + bytes([good[-1] ^ 1]), 9)
    with pytest.raises(ShortReply):
        mc.parse_reply(mc.TEMPERATURE, b"F\x88235", 9)
    with pytest.raises(MalformedReply):
        mc.parse_reply(mc.ARM, b"Q" + good[1:], 9)
    digits = mc.encode_reply("F", 0x88, fields=((235, 3), (240, 3)))
    bad = digits[:2] + b"2x5" + digits[5:-1]
    with pytest.raises(MalformedReply):
        mc.parse_reply(mc.TEMPERATURE, bad + bytes([mc.crc(bad)]), 9)


def test_values_that_do_not_fit_are_refused_before_encoding() -> None:
    with pytest.raises(ValueError):
        mc.power_a(101)
    with pytest.raises(ValueError):
        mc.pulses(100000, 9)
    with pytest.raises(ValueError):
        mc.frequency(1000.0)
