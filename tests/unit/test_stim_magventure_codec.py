"""MagVenture codec: CRC-8/MAXIM and frames byte for byte.

Vectors: tmsbench design notes, "Protocols" (MagVenture MagPro frames).
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


def test_mode_frame_layout() -> None:
    f = mv.parse_frame(mv.mode("twin", "biphasic", ipi_ms=50.0, ratio_b_a=0.67))
    assert f.ident == mv.MODE
    assert f.data == bytes([2, 0, 1, 2, 0x01, 0xF4, 0x00, 67])
