"""MagVenture MagPro serial protocol: pure encoding and decoding.

Protocol facts (tmsbench design notes, "Protocols"): 38400 8N1. A frame is
``0xFE``, length (bytes of id + data), command id, data, CRC-8/MAXIM over id
and data (poly x⁸+x⁵+x⁴+1 reflected = 0x8C, init 0, no final XOR; check value
of "123456789" is 0xA1), ``0xFF``. Ids: 00 status, 01 amplitude A[,B] %,
02 enable/disable, 03 fire, 04 start train, 05 status 2, 06 train (rate×10,
pulses, trains, ITI×10 as uint16 MSB first), 07 page, 08 trigger/charge
delays, 09 mode/direction/waveform, burst count, IPI×10, B/A×100. The status
reply (13 bytes, offsets counting ``FE`` as 0): [3] mode/status (bits 1:0 mode
Standard/Power/Twin/Dual, 3:2 waveform Mono/Biphasic/Halfsine/Biphasic burst,
4 enabled, 7:5 model), [4..6] serial, [7] temperature, [8] coil type, [9]/[10]
amplitude A/B. Amplitude, di/dt and temperature frames are 8 bytes:
``FE 04 id x y status CRC FF``. The device sends frames unprompted when its
settings change.

Assumptions of ours, not in those facts (check against hardware): device->host
ids 00 status, 01 amplitude (x=A, y=B %), 02 di/dt (x=A, y=B A/µs) answering
a fire, 03 temperature (x=°C); which frame answers which command
(:data:`REPLY_ID`); the 09 data layout (mode, direction, waveform, burst
pulses: 1 byte each; IPI×10 ms, B/A×100: uint16 MSB first); serial [4..6]
as a 24-bit number MSB first; coil type 0 = no coil; a device stays silent on
frames it cannot use.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from instruments.stimulator.base import BadCrc, MalformedReply, ShortReply

START = 0xFE
END = 0xFF
MAX_LEN = 32  # longest id+data we accept; real frames are <= 9

# host -> device ids
STATUS = 0x00
AMPLITUDE = 0x01
ENABLE = 0x02
FIRE = 0x03
START_TRAIN = 0x04
STATUS2 = 0x05
TRAIN = 0x06
PAGE = 0x07
DELAYS = 0x08
MODE = 0x09
# device -> host ids (assumed, see module docstring)
R_STATUS = 0x00
R_AMPLITUDE = 0x01
R_DIDT = 0x02
R_TEMPERATURE = 0x03

REPLY_ID = {
    STATUS: R_STATUS,
    AMPLITUDE: R_AMPLITUDE,
    ENABLE: R_STATUS,
    FIRE: R_DIDT,
    START_TRAIN: R_STATUS,
    STATUS2: R_STATUS,
    TRAIN: R_STATUS,
    PAGE: R_STATUS,
    DELAYS: R_STATUS,
    MODE: R_STATUS,
}

MODES = ("standard", "power", "twin", "dual")
WAVEFORMS = ("monophasic", "biphasic", "halfsine", "biphasic_burst")
MODEL_CODES = {1: "magpro-x100", 2: "magpro-r30", 3: "magpro-r20"}  # assumed codes


def crc8_maxim(data: bytes) -> int:
    """CRC-8/MAXIM (Dallas 1-Wire): reflected poly 0x8C, init 0, no final XOR."""
    c = 0
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8C if c & 1 else c >> 1
    return c


def encode(ident: int, data: bytes = b"") -> bytes:
    """``FE len id data CRC FF``."""
    payload = bytes([ident]) + data
    if len(payload) > MAX_LEN:
        raise ValueError(f"frame payload of {len(payload)} bytes is too long")
    return bytes([START, len(payload)]) + payload + bytes([crc8_maxim(payload), END])


def _u16(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} does not fit 16 bits")
    return struct.pack(">H", value)


# ------------------------------------------------------------------ commands


def status() -> bytes:
    """Ask for the status frame."""
    return encode(STATUS)


def amplitude(a_percent: int, b_percent: int | None = None) -> bytes:
    """Amplitude A (and B) in %MSO."""
    vals = [a_percent] if b_percent is None else [a_percent, b_percent]
    for v in vals:
        if not 0 <= v <= 100:
            raise ValueError(f"amplitude {v} %MSO outside 0..100")
    return encode(AMPLITUDE, bytes(vals))


def enable(on: bool) -> bytes:
    """Enable (arm) or disable."""
    return encode(ENABLE, b"\x01" if on else b"\x00")


def fire() -> bytes:
    """Fire (the pulse, pair or burst the mode defines)."""
    return encode(FIRE, b"\x01")


def start_train() -> bytes:
    """Start the configured train sequence."""
    return encode(START_TRAIN, b"\x01")


def train(rate_hz: float, pulses: int, trains: int, iti_s: float) -> bytes:
    """Train settings: rate×10, pulses, trains, ITI×10 (uint16 MSB first each)."""
    return encode(
        TRAIN,
        _u16(round(rate_hz * 10), "rate (0.1 Hz)")
        + _u16(pulses, "pulses")
        + _u16(trains, "trains")
        + _u16(round(iti_s * 10), "ITI (0.1 s)"),
    )


def mode(
    mode_name: str = "standard",
    waveform: str = "biphasic",
    *,
    direction: int = 0,
    burst_pulses: int = 2,
    ipi_ms: float = 0.0,
    ratio_b_a: float = 1.0,
) -> bytes:
    """Mode, current direction, waveform, burst pulses, IPI×10 (ms), B/A×100."""
    data = bytes(
        [MODES.index(mode_name), direction & 0xFF, WAVEFORMS.index(waveform), burst_pulses & 0xFF]
    )
    data += _u16(round(ipi_ms * 10), "IPI (0.1 ms)") + _u16(round(ratio_b_a * 100), "B/A ratio")
    return encode(MODE, data)


# ------------------------------------------------------------------ frames


@dataclass(frozen=True)
class Frame:
    """One decoded frame: id and data (CRC checked)."""

    ident: int
    data: bytes


def expected_length(received: bytes) -> int:
    """Total frame length judging by what arrived so far (at least 2 until the length byte)."""
    if len(received) < 2:
        return 2
    return received[1] + 4


def parse_frame(data: bytes) -> Frame:
    """Decode one complete frame; :class:`MalformedReply`, :class:`ShortReply`, :class:`BadCrc`."""
    if not data:
        raise ShortReply("empty reply", received=data)
    if data[0] != START:
        raise MalformedReply(f"frame starts with {data[0]:02X}, not FE", received=data)
    if len(data) < 2:
        raise ShortReply("frame without a length byte", received=data)
    n = data[1]
    if not 1 <= n <= MAX_LEN:
        raise MalformedReply(f"frame length byte {n} out of range 1..{MAX_LEN}", received=data)
    want = n + 4
    if len(data) < want:
        raise ShortReply(f"frame has {len(data)} of {want} bytes", received=data)
    if len(data) > want:
        raise MalformedReply(f"frame has {len(data)} bytes, not {want}", received=data)
    if data[-1] != END:
        raise MalformedReply(f"frame ends with {data[-1]:02X}, not FF", received=data)
    payload = data[2 : 2 + n]
    if data[-2] != crc8_maxim(payload):
        raise BadCrc(f"CRC {data[-2]:02X} != {crc8_maxim(payload):02X}", received=data)
    return Frame(payload[0], bytes(payload[1:]))


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes, bytes]:
    """Cut complete frames off ``buffer``: (frames, noise bytes skipped, incomplete tail)."""
    frames: list[bytes] = []
    noise = bytearray()
    i = 0
    while i < len(buffer):
        if buffer[i] != START:
            noise.append(buffer[i])
            i += 1
            continue
        if i + 1 >= len(buffer):
            break
        n = buffer[i + 1]
        if not 1 <= n <= MAX_LEN:
            noise.append(buffer[i])
            i += 1
            continue
        if i + n + 4 > len(buffer):
            break
        frames.append(bytes(buffer[i : i + n + 4]))
        i += n + 4
    return frames, bytes(noise), bytes(buffer[i:])


# ------------------------------------------------------------------ decoded replies


@dataclass(frozen=True)
class DeviceStatus:
    """The 13-byte status frame, decoded."""

    mode: str
    waveform: str
    enabled: bool
    model_code: int
    serial: int
    temperature_C: int
    coil_type: int
    amplitude_a: int
    amplitude_b: int
    raw: bytes = b""

    @property
    def model(self) -> str:
        return MODEL_CODES.get(self.model_code, f"magpro-code-{self.model_code}")


def status_byte(mode_name: str, waveform: str, enabled: bool, model_code: int) -> int:
    """Byte [3] of the status frame."""
    return (
        MODES.index(mode_name)
        | WAVEFORMS.index(waveform) << 2
        | (0x10 if enabled else 0)
        | (model_code & 0x07) << 5
    )


def decode_status_byte(b: int) -> tuple[str, str, bool, int]:
    """(mode, waveform, enabled, model code) of byte [3]."""
    return MODES[b & 0x03], WAVEFORMS[(b >> 2) & 0x03], bool(b & 0x10), b >> 5


def decode_status(frame: Frame) -> DeviceStatus:
    """The status frame's fields; :class:`MalformedReply` if it is not one."""
    if frame.ident != R_STATUS or len(frame.data) != 8:
        raise MalformedReply(
            f"not a status frame (id {frame.ident:02X}, {len(frame.data)} data bytes)",
            received=encode(frame.ident, frame.data) if len(frame.data) < MAX_LEN else b"",
        )
    d = frame.data
    mode_name, waveform, enabled, model_code = decode_status_byte(d[0])
    return DeviceStatus(
        mode=mode_name,
        waveform=waveform,
        enabled=enabled,
        model_code=model_code,
        serial=int.from_bytes(d[1:4], "big"),
        temperature_C=d[4],
        coil_type=d[5],
        amplitude_a=d[6],
        amplitude_b=d[7],
        raw=encode(frame.ident, d),
    )


def encode_status(s: DeviceStatus) -> bytes:
    """The status frame a device sends (simulator side)."""
    data = bytes([status_byte(s.mode, s.waveform, s.enabled, s.model_code)])
    data += (s.serial & 0xFFFFFF).to_bytes(3, "big")
    data += bytes(
        [
            max(0, min(s.temperature_C, 255)),
            s.coil_type & 0xFF,
            s.amplitude_a & 0xFF,
            s.amplitude_b & 0xFF,
        ]
    )
    return encode(R_STATUS, data)


@dataclass(frozen=True)
class ShortFrame:
    """An 8-byte amplitude / di/dt / temperature frame: ``x``, ``y`` and the status byte."""

    ident: int
    x: int
    y: int
    status: int


def decode_short(frame: Frame) -> ShortFrame:
    """Decode an 8-byte frame; :class:`MalformedReply` if the data is not 3 bytes."""
    if len(frame.data) != 3:
        raise MalformedReply(
            f"frame id {frame.ident:02X} has {len(frame.data)} data bytes, not 3",
            received=encode(frame.ident, frame.data) if len(frame.data) < MAX_LEN else b"",
        )
    return ShortFrame(frame.ident, frame.data[0], frame.data[1], frame.data[2])


def encode_short(ident: int, x: int, y: int, status: int) -> bytes:
    """An 8-byte frame (simulator side)."""
    return encode(ident, bytes([x & 0xFF, y & 0xFF, status & 0xFF]))
