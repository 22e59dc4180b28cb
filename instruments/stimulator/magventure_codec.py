"""MagVenture MagPro serial protocol: pure encoding and decoding.

Every fact, with its source and confidence, is in ``magventure_facts.md`` beside this
module (MAGIC's ``magventure.m`` and magicpy's ``magicpy.py`` / ``stimulators.py``, read
for facts only). In short: 38400 8N1. A frame is ``0xFE``, length (bytes of id + data),
command id, data, CRC-8/MAXIM over id and data, ``0xFF``. Replies both clients read:
00 status (13 bytes), 05 status 2 (19), 04 start train (17), 09 mode (14), every other
command 8 bytes (enable on an X100: three frames, 24, per magicpy). Device frames by id:
00/05 status, 01 amplitude, 02 di/dt, 03 temperature and coil type, 04 MEP, 07
amplitude factor, 08 page and train running, 09 mode. The status byte ([3] of 00/05,
[5] of the 8-byte frames): bits 1:0 mode (Standard/Power/Twin/Dual), 3:2 waveform
(Monophasic/Biphasic/HalfSine/Biphasic burst), 4 enabled, 7:5 model (0 R30, 1 X100,
2 R30+Option, 3 X100+Option, 4 R30+Option+Mono, 5 MST). The mode command 09 has 10 data
bytes: set/get flag, model, mode, direction, waveform, burst index (0 = 5 pulses ... 3 =
2), IPI×10 ms MSB/LSB, B/A×100 MSB/LSB. The device sends frames unprompted when its
settings change.
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
# device -> host ids (magicpy parse_response)
R_STATUS = 0x00
R_AMPLITUDE = 0x01
R_DIDT = 0x02
R_TEMPERATURE = 0x03
R_MEP = 0x04
R_STATUS2 = 0x05
R_ORIGINAL_AMPLITUDE = 0x06
R_AMPLITUDE_FACTOR = 0x07
R_PAGE = 0x08
R_MODE = 0x09

# The commands whose reply magicpy reads, with the reply's id and total length. magicpy
# reads 13 bytes after 00, 19 after 05, 17 after 04 (the only 17-byte frame is the MEP
# frame, id 04) and 14 after 09; after 03 (fire) it reads 8 bytes, and the only 8-byte
# frame fire can produce is the di/dt frame (id 02; an inference, see the fact sheet).
# Every other command (amplitude, enable, train settings, page, delays) the driver sends
# without waiting for a particular frame and confirms from the next status frame: magicpy
# does not say which 8-byte frame answers them (enable on an X100: three, 24 bytes).
REPLY_ID = {
    STATUS: R_STATUS,
    STATUS2: R_STATUS2,
    START_TRAIN: R_MEP,
    MODE: R_MODE,
    FIRE: R_DIDT,
}
REPLY_LENGTH = {STATUS: 13, STATUS2: 19, START_TRAIN: 17, MODE: 14, FIRE: 8}
PAGES = {"main": 1, "train": 2, "trig": 3, "config": 4, "protocol": 7}  # magicpy set_page
TRAIN_RATES_HZ = tuple(round(0.1 * i, 1) for i in range(1, 10)) + tuple(
    float(i) for i in range(1, 101)
)  # magicpy set_train: 0.1 .. 0.9 Hz in 0.1 steps, then whole Hz to 100


def train_pulses_allowed(pulses: int) -> bool:
    """1 .. 100 pulses, or 1000 .. 2000 in hundreds (MAGIC setTrain; magicpy's check
    stops at 99 and 1900, one step short of its own docstring)."""
    return 1 <= pulses <= 100 or (1000 <= pulses <= 2000 and pulses % 100 == 0)


MODES = ("standard", "power", "twin", "dual")
WAVEFORMS = ("monophasic", "biphasic", "halfsine", "biphasic_burst")
# Model bits of the status byte (magicpy stimulators.py stimulator_types)
MODEL_CODES = {
    0: "magpro-r30",
    1: "magpro-x100",
    2: "magpro-r30-option",
    3: "magpro-x100-option",
    4: "magpro-r30-option-mono",
    5: "magpro-mst",
}
# Coil type byte (magicpy stimulators.py coil_types); 0 is also "a coil it does not know"
COIL_TYPES = {
    0: "MRi-B91",
    56: "Cool-B35 RO",
    62: "MCF-B65",
    63: "MCF-P-B65",
    73: "C-B70",
    82: "MC-B70",
}
BURST_PULSES = (5, 4, 3, 2)  # burst index 0..3 (magicpy parse_response)


def coil_type_code(model: str) -> int:
    """The coil type byte of a coil model name (``MC-B70`` -> 82); 0 if unknown."""
    for code, name in COIL_TYPES.items():
        if name.lower() == model.lower():
            return code
    return 0


def model_code(model: str) -> int:
    """The model bits of a ``magpro-*`` name; :class:`ValueError` if not in the table."""
    for code, name in MODEL_CODES.items():
        if name == model.lower():
            return code
    raise ValueError(f"{model!r}: not a MagPro model code ({', '.join(MODEL_CODES.values())})")


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
    """``04``: start the configured train sequence (no data; magicpy ``send_train``)."""
    return encode(START_TRAIN)


def status2() -> bytes:
    """``05``: ask for the 19-byte status-2 frame (no data)."""
    return encode(STATUS2)


def page(name: str) -> bytes:
    """``07``: show a page of the front panel (``main``, ``train``, ``trig``, ``config``,
    ``protocol``), then a zero byte."""
    if name.lower() not in PAGES:
        raise ValueError(f"page {name!r} not one of {', '.join(PAGES)}")
    return encode(PAGE, bytes([PAGES[name.lower()], 0]))


def train(rate_hz: float, pulses: int, trains: int, iti_s: float) -> bytes:
    """``06``: rate×10, pulses, trains, ITI×10 (uint16 MSB first each; magicpy
    ``set_train``). The ITI runs from the last pulse of a train to the first of the next.

    :class:`ValueError` outside what magicpy lets through: rates in :data:`TRAIN_RATES_HZ`,
    pulses per :func:`train_pulses_allowed`, 1..500 trains, ITI 0.1..120 s in 0.1 s.
    """
    if round(rate_hz, 1) not in TRAIN_RATES_HZ or abs(rate_hz - round(rate_hz, 1)) > 1e-9:
        raise ValueError(f"train rate {rate_hz:g} Hz: the MagPro takes 0.1..0.9 Hz or whole Hz")
    if not train_pulses_allowed(pulses):
        raise ValueError(f"{pulses} pulses per train: the MagPro takes 1..100 or 1000..2000")
    if not 1 <= trains <= 500:
        raise ValueError(f"{trains} trains: the MagPro takes 1..500")
    if trains > 1 and (
        not 0.1 - 1e-9 <= iti_s <= 120 + 1e-9 or abs(iti_s * 10 - round(iti_s * 10)) > 1e-6
    ):
        raise ValueError(
            f"inter-train interval {iti_s:g} s: the MagPro takes 0.1..120 s in 0.1 s steps"
        )
    return encode(
        TRAIN,
        _u16(round(rate_hz * 10), "rate (0.1 Hz)")
        + _u16(pulses, "pulses")
        + _u16(trains, "trains")
        + _u16(round(max(iti_s, 0.1 if trains > 1 else 0.0) * 10), "ITI (0.1 s)"),
    )


def mode(
    mode_name: str = "standard",
    waveform: str = "biphasic",
    *,
    model: int = 1,
    set_values: bool = True,
    direction: int = 0,
    burst_pulses: int = 2,
    ipi_ms: float = 10.0,
    ratio_b_a: float = 1.0,
) -> bytes:
    """``09``: set (or get) flag, model, mode, direction, waveform, burst index,
    IPI×10 (ms) MSB/LSB, B/A×100 MSB/LSB: 10 data bytes (magicpy ``set_mode``)."""
    if burst_pulses not in BURST_PULSES:
        raise ValueError(f"burst pulses {burst_pulses} not one of {BURST_PULSES}")
    data = bytes(
        [
            1 if set_values else 0,
            model & 0xFF,
            MODES.index(mode_name),
            direction & 0xFF,
            WAVEFORMS.index(waveform),
            BURST_PULSES.index(burst_pulses),
        ]
    )
    data += _u16(round(ipi_ms * 10), "IPI (0.1 ms)") + _u16(round(ratio_b_a * 100), "B/A ratio")
    return encode(MODE, data)


def get_mode() -> bytes:
    """``09`` with the get flag and zeros: ask for the mode reply."""
    return encode(MODE, bytes(10))


@dataclass(frozen=True)
class ModeReply:
    """The 14-byte ``09`` reply: model, mode, direction, waveform, burst pulses, IPI and
    B/A ratio indices (magicpy ``parse_response``)."""

    model_code: int
    mode: str
    direction: int
    waveform: str
    burst_pulses: int
    ipi_index: int
    ratio_index: int

    @property
    def ratio_b_a(self) -> float:
        """B/A amplitude ratio: 5 − 0.05 × index."""
        return round(5.0 - 0.05 * self.ratio_index, 2)


def decode_mode(frame: Frame) -> ModeReply:
    """Decode a ``09`` reply; :class:`MalformedReply` if it is not one."""
    d = frame.data
    if frame.ident != R_MODE or len(d) != 9 or d[2] >= len(MODES) or d[4] >= len(WAVEFORMS):
        raise MalformedReply(
            f"not a mode reply (id {frame.ident:02X}, {len(d)} data bytes)",
            received=encode(frame.ident, d) if len(d) < MAX_LEN else b"",
        )
    burst = BURST_PULSES[d[5]] if d[5] < len(BURST_PULSES) else 0
    return ModeReply(d[1], MODES[d[2]], d[3], WAVEFORMS[d[4]], burst, d[6] | d[7] << 8, d[8])


def encode_mode(r: ModeReply) -> bytes:
    """A device's ``09`` reply (simulator side)."""
    data = bytes(
        [
            0,
            r.model_code & 0xFF,
            MODES.index(r.mode),
            r.direction & 0xFF,
            WAVEFORMS.index(r.waveform),
            BURST_PULSES.index(r.burst_pulses) if r.burst_pulses in BURST_PULSES else 0,
            r.ipi_index & 0xFF,
            (r.ipi_index >> 8) & 0xFF,
            r.ratio_index & 0xFF,
        ]
    )
    return encode(R_MODE, data)


def twin_ipi_index(ipi_ms: float) -> int:
    """The IPI index of a twin/dual-mode interval (the inverse of magicpy's table:
    3000 ms at 0 in 100 ms steps, 1000 at 20 in 50, 500 at 30 in 10, 100 at 70 in 1,
    20 at 150 in 0.5, 10 at 170 in 0.1, down to 1 ms at 260)."""
    for start, at, step in (
        (0, 3000.0, 100.0),
        (20, 1000.0, 50.0),
        (30, 500.0, 10.0),
        (70, 100.0, 1.0),
        (150, 20.0, 0.5),
    ):
        floor = {0: 1000.0, 20: 500.0, 30: 100.0, 70: 20.0, 150: 10.0}[start]
        if ipi_ms >= floor:
            return start + round((at - min(ipi_ms, 3000.0)) / step)
    return min(260, 170 + round((10.0 - max(ipi_ms, 1.0)) / 0.1))


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


@dataclass(frozen=True)
class Status2:
    """The 19-byte status-2 frame: the status fields, then original amplitudes, amplitude
    factors, the page shown and whether a train or protocol is running."""

    status: DeviceStatus
    original_a: int
    original_b: int
    factor_a: int
    factor_b: int
    page: int
    running: bool


def decode_status2(frame: Frame) -> Status2:
    """Decode a ``05`` frame; :class:`MalformedReply` if it is not one."""
    d = frame.data
    if frame.ident != R_STATUS2 or len(d) != 14:
        raise MalformedReply(
            f"not a status-2 frame (id {frame.ident:02X}, {len(d)} data bytes)",
            received=encode(frame.ident, d) if len(d) < MAX_LEN else b"",
        )
    st = decode_status(Frame(R_STATUS, d[:8]))
    return Status2(st, d[8], d[9], d[10], d[11], d[12], bool(d[13]))


def encode_status2(s: DeviceStatus, *, page: int = 1, running: bool = False) -> bytes:
    """A device's 19-byte status-2 frame (simulator side): the status fields, original
    amplitudes (the set ones), amplitude factors (100 %), page, train/protocol running."""
    data = encode_status(s)[3:-2]
    data += bytes([s.amplitude_a & 0xFF, s.amplitude_b & 0xFF, 100, 100, page & 0xFF])
    data += bytes([1 if running else 0])
    return encode(R_STATUS2, data)


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
