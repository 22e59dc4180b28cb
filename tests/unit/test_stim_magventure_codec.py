"""MagVenture codec: CRC-8/MAXIM and frames byte for byte.

Vectors: the frame layouts magicpy builds and parses (``magicpy.py``: lengths, ids and
data bytes; see ``instruments/stimulator/magventure_facts.md``); the CRC bytes are the
Dallas/Maxim CRC-8 table's entries (index 4 = 0x61, 5 = 0x3F) or follow from the
check value 0xA1.
"""

from __future__ import annotations

import pytest

from instruments.stimulator import magventure_codec as mv
from instruments.stimulator.base import BadCrc, MalformedReply, ShortReply


def test_crc8_maxim_check_value() -> None:
    assert mv.crc8_maxim(b"123456789") == 0xA1


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (mv.status(), "FE 01 00 00 FF"),
        (mv.amplitude(60), "FE 02 01 3C D9 FF"),
        (mv.amplitude(60, 60), "FE 03 01 3C 3C D6 FF"),
        (mv.enable(True), "FE 02 02 01 CF FF"),
        (mv.enable(False), "FE 02 02 00 91 FF"),
        (mv.fire(), "FE 02 03 01 0B FF"),
        (mv.train(10.0, 40, 1, 26.0), "FE 09 06 00 64 00 28 00 01 01 04 E7 FF"),
    ],
)
def test_command_frames_match_the_protocol_vectors(frame: bytes, expected: str) -> None:
    assert frame.hex(" ").upper() == expected


def test_status_frame_decodes_every_field() -> None:
    # mode twin (2), waveform biphasic (1 << 2), enabled (0x10), model 1 (1 << 5)
    b3 = 0x02 | 0x04 | 0x10 | 0x20
    payload = bytes([0x00, b3, 0x01, 0x02, 0x03, 31, 7, 60, 45])
    raw = bytes([0xFE, 9]) + payload + bytes([mv.crc8_maxim(payload), 0xFF])
    assert len(raw) == 13
    st = mv.decode_status(mv.parse_frame(raw))
    assert (st.mode, st.waveform, st.enabled, st.model_code) == ("twin", "biphasic", True, 1)
    assert st.serial == 0x010203
    assert (st.temperature_C, st.coil_type, st.amplitude_a, st.amplitude_b) == (31, 7, 60, 45)
    assert mv.encode_status(st) == raw


def test_short_frames_carry_x_y_and_status() -> None:
    raw = mv.encode_short(mv.R_DIDT, 93, 0, 0x34)
    assert len(raw) == 8 and raw[:3] == bytes([0xFE, 0x04, mv.R_DIDT])
    f = mv.decode_short(mv.parse_frame(raw))
    assert (f.x, f.y, f.status) == (93, 0, 0x34)


def test_broken_frames_raise_their_own_errors() -> None:
    good = mv.amplitude(60)
    with pytest.raises(BadCrc):
        mv.parse_frame(good[:-2] + bytes([good[-2] ^ 1]) + good[-1:])
    with pytest.raises(MalformedReply):
        mv.parse_frame(b"\x00" + good[1:])
    with pytest.raises(MalformedReply):
        mv.parse_frame(good[:-1] + b"\x00")
    with pytest.raises(ShortReply):
        mv.parse_frame(good[:-1])


def test_split_frames_skips_noise_and_keeps_an_incomplete_tail() -> None:
    a, b = mv.status(), mv.amplitude(60)
    frames, noise, tail = mv.split_frames(b"\x11\x22" + a + b[:3])
    assert frames == [a] and noise == b"\x11\x22" and tail == b[:3]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        # magicpy send_train / get_status2: command length 01, the id, no data
        (mv.start_train(), "FE 01 04 61 FF"),
        (mv.status2(), "FE 01 05 3F FF"),
        # magicpy set_page: length 03, id 07, page (Train = 02), a zero byte
        (mv.page("train"), "FE 03 07 02 00 EB FF"),
    ],
)
def test_frames_without_data_and_the_page_frame(frame: bytes, expected: str) -> None:
    assert frame.hex(" ").upper() == expected


def test_mode_frame_layout() -> None:
    """magicpy set_mode: length 0B; set flag, model, mode, direction, waveform, burst
    index (2 pulses = 3), IPI×10 MSB LSB, B/A×100 MSB LSB."""
    raw = mv.mode("twin", "biphasic", model=1, ipi_ms=50.0, ratio_b_a=0.67)
    assert raw[:3] == bytes([0xFE, 0x0B, 0x09])
    f = mv.parse_frame(raw)
    assert f.data == bytes([0x01, 0x01, 0x02, 0x00, 0x01, 0x03, 0x01, 0xF4, 0x00, 0x43])
    assert mv.parse_frame(mv.get_mode()).data == bytes(10)  # get: the flag and all zeros


def _frame(ident: int, data: list[int]) -> bytes:
    payload = bytes([ident, *data])
    return bytes([0xFE, len(payload)]) + payload + bytes([mv.crc8_maxim(payload), 0xFF])


def test_mode_reply_decodes_magicpy_fields() -> None:
    """The 14-byte 09 reply: [4] model, [5] mode, [6] direction, [7] waveform, [8] burst
    index, [9] IPI index LSB, [10] MSB, [11] B/A index (ratio = 5 - 0.05 × index)."""
    raw = _frame(0x09, [0x00, 0x01, 0x02, 0x01, 0x01, 0x00, 0x2C, 0x01, 80])
    assert len(raw) == 14
    r = mv.decode_mode(mv.parse_frame(raw))
    assert (r.model_code, r.mode, r.direction, r.waveform) == (1, "twin", 1, "biphasic")
    assert r.burst_pulses == 5 and r.ipi_index == 0x012C and r.ratio_b_a == 1.0
    assert mv.encode_mode(r)[4:-2] == raw[4:-2]  # the sim side agrees (flag byte aside)


def test_status2_decodes_page_and_running() -> None:
    """The 19-byte 05 frame: the status fields, original A/B, factor A/B, page, running."""
    b3 = 0x01 | 0x04 | 0x10 | 0x20  # power, biphasic, enabled, X100
    raw = _frame(0x05, [b3, 0, 0, 9, 25, 82, 40, 0, 40, 0, 100, 100, 2, 1])
    assert len(raw) == 19
    s2 = mv.decode_status2(mv.parse_frame(raw))
    assert s2.status.mode == "power" and s2.status.enabled and s2.status.serial == 9
    assert s2.status.coil_type == 82 and mv.COIL_TYPES[82] == "MC-B70"
    assert (s2.original_a, s2.factor_a, s2.page, s2.running) == (40, 100, 2, True)


def test_reply_lengths_are_magicpys() -> None:
    assert mv.REPLY_LENGTH == {0x00: 13, 0x05: 19, 0x04: 17, 0x09: 14, 0x03: 8}
    assert mv.REPLY_ID == {0x00: 0x00, 0x05: 0x05, 0x04: 0x04, 0x09: 0x09, 0x03: 0x02}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((2.5, 10, 1, 1.0), "0.1..0.9 Hz or whole Hz"),
        ((101.0, 10, 1, 1.0), "whole Hz"),
        ((10.0, 101, 1, 1.0), "1..100 or 1000..2000"),
        ((10.0, 1050, 1, 1.0), "1..100 or 1000..2000"),
        ((10.0, 10, 501, 1.0), "1..500"),
        ((10.0, 10, 2, 0.16), "0.1 s steps"),
        ((10.0, 10, 2, 121.0), "0.1..120 s"),
    ],
)
def test_train_settings_outside_magicpys_ranges_are_refused(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mv.train(*args)
    assert mv.train(0.5, 2000, 500, 120.0)[3:5] == bytes([0x00, 0x05])  # 0.5 Hz ×10
