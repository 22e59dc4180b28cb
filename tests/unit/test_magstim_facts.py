"""Byte-exact Magstim frames from the fact sheet (magstim_facts.md), against codec and device.

Every expected byte string below is written out by hand from the facts (CRC = bitwise NOT
of the byte sum, low 8 bits), not produced by the code under test.
"""

from __future__ import annotations

import pytest

from instruments.stimulator import magstim_codec as mc

# (fact id, what the codec builds, the bytes on the wire)
REQUESTS = [
    ("M1 remote on", mc.REMOTE_ON, bytes.fromhex("51 40 6E")),  # Q@n
    ("M2 unlock", mc.remote_on("ab12-cdef3456-78"), b"Qab12-cdef3456-78" + bytes([0x5B])),
    ("M3 version", mc.VERSION, b"NDm"),
    ("M4 system status", mc.SYSTEM_STATUS, b"x@G"),
    ("M5 error code", mc.ERROR_CODE, bytes.fromhex("49 40 76")),
    ("M6 single-pulse mode", mc.SINGLE_PULSE_MODE, bytes.fromhex("5B 30 30 30 30 E4")),
    ("M7 enhanced on", mc.ENHANCED_ON, bytes.fromhex("5E 40 61")),
    ("M8 enhanced off", mc.ENHANCED_OFF, bytes.fromhex("5F 40 60")),
    ("M9 ignore coil safety", mc.IGNORE_COIL_SAFETY, bytes.fromhex("62 40 5D")),
    ("M10 get charge delay", mc.GET_CHARGE_DELAY, bytes.fromhex("6F 40 50")),
    ("M11 arm", mc.ARM, b"EBx"),
    ("M12 power 50", mc.power_a(50), b"@050*"),
]


@pytest.mark.parametrize(("fact", "built", "wire"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_requests_are_the_documented_bytes(fact: str, built: bytes, wire: bytes) -> None:
    assert built == wire


# (command, version, reply length MagPy reads)
LENGTHS = [
    (mc.SYSTEM_STATUS, 9, 6),
    (mc.ERROR_CODE, 9, 6),
    (mc.GET_CHARGE_DELAY, 9, 7),  # MAGIC getChargeDelay: 4 digits on v9
    (mc.GET_CHARGE_DELAY, 10, 8),  # 5 digits on v10+
    (mc.ENHANCED_ON, 9, 4),
    (mc.SINGLE_PULSE_MODE, 9, 4),
    (mc.RAPID_PARAMETERS, 9, 24),
    (mc.RAPID_PARAMETERS, 7, 22),
    (mc.RAPID_PARAMETERS, 6, 21),
    (mc.charge_delay(100, 9), 9, 4),
    (mc.charge_delay(100, 10), 10, 6),
    (mc.REMOTE_ON, 9, 3),
]


@pytest.mark.parametrize(("command", "version", "length"), LENGTHS)
def test_reply_lengths_are_the_documented_ones(command: bytes, version: int, length: int) -> None:
    assert mc.reply_length(command, version) == length


def test_version_reply_reads_to_the_nul_and_parses() -> None:
    wire = b"N9.1.0\x00" + bytes([~sum(b"N9.1.0\x00") & 0xFF])
    assert mc.expected_length(mc.VERSION, wire[:3], 9) == 4  # no NUL yet: one more byte
    assert mc.expected_length(mc.VERSION, wire[:7], 9) == 8  # NUL seen: then the CRC
    r = mc.parse_reply(mc.VERSION, wire, 9)
    assert r.text == "9.1.0" and mc.parse_version(r.text) == (9, 1, 0)


def test_rapid_status_bits_are_magpys() -> None:
    bits = [
        mc.RAPID_ENHANCED,
        mc.RAPID_TRAIN,
        mc.RAPID_WAIT,
        mc.RAPID_SINGLE_PULSE,
        mc.RAPID_HVPSU,
        mc.RAPID_COIL_READY,
        mc.RAPID_THETA_PSU,
        mc.RAPID_MODIFIED_COIL,
    ]
    assert bits == [1 << i for i in range(8)]


def test_device_side_frame_lengths() -> None:
    assert mc.parse_command_length(b"Q", 9) == 0  # the next byte decides
    assert mc.parse_command_length(b"Q@", 9) == 3
    assert mc.parse_command_length(b"Qa", 9) == 18
    assert mc.parse_command_length(b"n", 9) == 6 and mc.parse_command_length(b"n", 10) == 7
    assert mc.parse_command_length(b"x", 9) == 3


def test_an_unlock_code_must_have_16_characters() -> None:
    with pytest.raises(ValueError, match="16"):
        mc.remote_on("short")


def test_error_code_reply_is_a_source_letter_and_two_digits() -> None:
    # TDb 087 6.13: I, status, source (U UI / C coil / E system), MSD, LSD, CRC
    body = bytes([0x49, 0x81]) + b"C12"
    r = mc.parse_reply(mc.ERROR_CODE, body + bytes([~sum(body) & 0xFF]), 9)
    assert r.status == 0x81 and r.text == "C12"


def test_system_status_extended_word_is_msb_then_lsb() -> None:
    # TDb 087 6.14 / section 10: x, instrument, Rapid, extended MSB, extended LSB, CRC
    body = bytes([0x78, 0x81, 0x38, 0x00, 0x05])
    r = mc.parse_reply(mc.SYSTEM_STATUS, body + bytes([~sum(body) & 0xFF]), 9)
    assert r.rapid_status == 0x38 and r.extra == bytes([0x00, 0x05])
    assert r.extra[1] & mc.EXT_PLUS1 and r.extra[1] & mc.EXT_CHARGE_DELAY_SET


def test_version_text_is_read_by_its_digit_runs() -> None:
    assert mc.parse_version("9.1.0") == (9, 1, 0)
    assert mc.parse_version("V9.0") == (9, 0)  # a prefix does not lose the number
