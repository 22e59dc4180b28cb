"""Magstim serial protocol (200², BiStim², Rapid²): pure encoding and decoding.

Every protocol fact used here is listed with its source and confidence in
``magstim_facts.md`` beside this module (Magstim's TDb 086/087 protocol documents,
MagPy and MAGIC, read for facts only).
In short: 9600 8N1. A command frame is one ASCII command character, ASCII data (``@``
when none) and a CRC byte, CRC = low 8 bits of the bitwise NOT of the byte sum
(``@050`` -> ``*``). A reply echoes the command character, then a binary status byte
(bit 0 standby, 1 armed, 2 ready, 3 coil present, 4 replace coil, 5 error present,
6 error type, 7 remote); Rapid replies to ``B``/``D``/``[``/``\\@``/``^``/``_``/``x``
add the Rapid status byte (bit 0 enhanced power, 1 train, 2 wait, 3 single-pulse mode,
4 HV-PSU connected, 5 coil ready, 6 theta PSU, 7 modified coil algorithm); ASCII digit
fields and the CRC follow. Errors: a lone ``?`` = invalid command; echo ``?`` CRC =
invalid data; echo ``S`` CRC = state conflict. ``ND`` answers ``N`` + the version text
+ NUL + CRC. Software version 9 and later: 5-digit pulses, 4-digit duration, and remote
control is taken with ``Q`` + the 16-character unlock code (``xxxx-xxxxxxxx-xx``).

Every function here is pure: bytes in, values or typed errors out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from instruments.stimulator.base import BadCrc, DeviceRejected, MalformedReply, ShortReply

# status byte 1
STANDBY = 0x01
ARMED = 0x02
READY = 0x04
COIL_PRESENT = 0x08
REPLACE_COIL = 0x10
ERROR_PRESENT = 0x20
ERROR_TYPE = 0x40
REMOTE = 0x80
# Rapid status byte (MagPy parseMagstimResponse 'rapid'; MAGIC agrees, see the fact sheet)
RAPID_ENHANCED = 0x01
RAPID_TRAIN = 0x02  # a train is being delivered
RAPID_WAIT = 0x04  # the enforced wait after a train is running
RAPID_SINGLE_PULSE = 0x08  # single-pulse mode (duration 0), not repetitive mode
RAPID_HVPSU = 0x10
RAPID_COIL_READY = 0x20
RAPID_THETA_PSU = 0x40
RAPID_MODIFIED_COIL = 0x80
# Extended instrument status (third status byte of the ``x@`` reply)
EXT_PLUS1 = 0x01
EXT_SPECIAL_TRIGGER = 0x02
EXT_CHARGE_DELAY_SET = 0x04

UNLOCK_CODE_LENGTH = 16  # "xxxx-xxxxxxxx-xx" (MagPy README)

INVALID = ord("?")
CONFLICT = ord("S")

MODELS = ("200-2", "bistim2", "rapid2")


def crc(data: bytes) -> int:
    """Low 8 bits of the bitwise NOT of the byte sum."""
    return ~sum(data) & 0xFF


def frame(command: str, data: str = "@") -> bytes:
    """One command frame: command char + ASCII data + CRC."""
    body = (command + data).encode("ascii")
    return body + bytes([crc(body)])


def _digits(value: int, width: int, what: str) -> str:
    if not 0 <= value < 10**width:
        raise ValueError(f"{what} {value} does not fit {width} digits")
    return f"{value:0{width}d}"


# ------------------------------------------------------------------ commands


def power_a(percent: int) -> bytes:
    """``@nnn``: power of unit A (%MSO, 0..100)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"power {percent} %MSO outside 0..100")
    return frame("@", _digits(percent, 3, "power"))


def power_b(percent: int) -> bytes:
    """``Annn``: power of unit B (BiStim), %MSO."""
    if not 0 <= percent <= 100:
        raise ValueError(f"power {percent} %MSO outside 0..100")
    return frame("A", _digits(percent, 3, "power"))


def interval(ms: int) -> bytes:
    """``Cnnn``: BiStim inter-pulse interval (ms)."""
    return frame("C", _digits(ms, 3, "interval ms"))


def frequency(rate_hz: float) -> bytes:
    """``Bnnnn``: Rapid repetition rate in 0.1 Hz."""
    return frame("B", _digits(round(rate_hz * 10), 4, "rate (0.1 Hz)"))


def pulses(n: int, version: int) -> bytes:
    """``Dnnnnn`` (version >= 9) or ``Dnnnn``: pulses per Rapid train."""
    return frame("D", _digits(n, 5 if version >= 9 else 4, "pulses"))


def duration(seconds: float, version: int) -> bytes:
    """``[nnnn`` (version >= 9) or ``[nnn``: Rapid train duration in 0.1 s."""
    return frame("[", _digits(round(seconds * 10), 4 if version >= 9 else 3, "duration (0.1 s)"))


def remote_on(unlock_code: str | None = None) -> bytes:
    """``Q@``, or on software version 9+ ``Q`` + the 16-character unlock code + CRC."""
    if unlock_code is None:
        return REMOTE_ON
    if len(unlock_code) != UNLOCK_CODE_LENGTH or not unlock_code.isascii():
        raise ValueError(f"an unlock code has {UNLOCK_CODE_LENGTH} ASCII characters")
    return frame("Q", unlock_code)


def charge_delay(ms: int, version: int) -> bytes:
    """``n`` + the Rapid charge delay in ms: 5 digits on version 10+, else 4 (MagPy)."""
    return frame("n", _digits(ms, 5 if version >= 10 else 4, "charge delay ms"))


SINGLE_PULSE_MODE = frame("[", "0000")  # version >= 9: duration 0 = single-pulse mode
VERSION = frame("N", "D")
SYSTEM_STATUS = frame("x")  # version >= 9; MagPy's keep-alive when an unlock code is set
ERROR_CODE = frame("I")
GET_CHARGE_DELAY = frame("o")
ENHANCED_ON = frame("^")
ENHANCED_OFF = frame("_")
IGNORE_COIL_SAFETY = frame("b")

ARM = frame("E", "B")
DISARM = frame("E", "A")
FIRE = frame("E", "H")
REMOTE_ON = frame("Q")
REMOTE_OFF = frame("R")
PARAMETERS = frame("J")
TEMPERATURE = frame("F")
RAPID_PARAMETERS = frame("\\")

# ------------------------------------------------------------------ replies


def rapid_field_widths(version: int) -> tuple[int, int, int, int, int]:
    """Digits of power, frequency, pulses, duration, wait in the ``\\@`` reply."""
    if version >= 9:
        return (3, 4, 5, 4, 4)
    if version >= 7:
        return (3, 4, 4, 3, 4)
    return (3, 4, 4, 3, 3)


def reply_layout(command: bytes, version: int) -> tuple[int, tuple[int, ...]]:
    """For a successful reply to ``command``: (status bytes, widths of the digit fields).

    ``x@`` has four status bytes (instrument, Rapid, extended, one more MagPy reads but
    does not decode); ``n`` on version 10+ answers like ``x@``.
    """
    if not command:
        raise ValueError("empty command")
    c = chr(command[0])
    if c in "BD[^_":
        return 2, ()
    if c == "x" or (c == "n" and version >= 10):
        return 4, ()
    if c == "n":
        return 2, ()
    if c == "I":
        return 1, (3,)  # source letter (U, C, E) + two digits: read as text, see parse_reply
    if c == "o":
        return 1, (5 if version >= 10 else 4,)
    if c == "\\":
        return 2, rapid_field_widths(version)
    if c == "J":
        return 1, (3, 3, 3)
    if c == "F":
        return 1, (3, 3)
    return 1, ()


def reply_length(command: bytes, version: int) -> int:
    """Bytes in a successful reply to ``command``."""
    n_status, widths = reply_layout(command, version)
    return 1 + n_status + sum(widths) + 1


def expected_length(command: bytes, received: bytes, version: int) -> int:
    """How many bytes the reply to ``command`` has, judging by what arrived so far.

    A lone ``?`` is one byte; an error code in byte 2 makes it three; the ``ND`` reply
    ends one byte after its NUL; anything else is the full reply. Never less than
    ``min(len(received), 1)``.
    """
    if received[:1] == b"?":
        return 1
    if command[:1] == b"N":
        nul = received.find(b"\x00", 1)
        return len(received) + 1 if nul < 0 else nul + 2
    if len(received) >= 2 and received[1] in (INVALID, CONFLICT):
        return 3
    return reply_length(command, version)


@dataclass(frozen=True)
class Reply:
    """A decoded successful reply."""

    command: str
    status: int
    rapid_status: int | None
    fields: tuple[int, ...]
    extra: bytes = b""  # status bytes after the Rapid one (``x@``)
    text: str = ""  # the version text of an ``ND`` reply


def parse_version(text: str) -> tuple[int, ...]:
    """``"9.1.0"`` -> ``(9, 1, 0)``: the runs of digits in the version text.

    Digit runs, not a split on dots, so a prefix (``"V9.0"``) or other separators do not
    lose the number (MAGIC reads the digit runs the same way).
    """
    return tuple(int(run) for run in re.findall(r"\d+", text))


def parse_reply(command: bytes, data: bytes, version: int) -> Reply:
    """Decode the complete reply ``data`` to ``command``.

    Raises :class:`DeviceRejected`, :class:`ShortReply`, :class:`BadCrc` or
    :class:`MalformedReply`; never anything else.
    """
    if not data:
        raise ShortReply("empty reply", sent=command, received=data)
    echo = command[:1]
    if data[:1] == b"?":
        if len(data) != 1:
            raise MalformedReply("bytes after an invalid-command '?'", sent=command, received=data)
        raise DeviceRejected("invalid command", kind="invalid_command", sent=command, received=data)
    if data[:1] != echo:
        raise MalformedReply(
            f"reply does not echo the command {echo!r}", sent=command, received=data
        )
    if len(data) >= 2 and data[1] in (INVALID, CONFLICT):
        if len(data) < 3:
            raise ShortReply("error reply without CRC", sent=command, received=data)
        if len(data) > 3:
            raise MalformedReply("error reply too long", sent=command, received=data)
        if data[2] != crc(data[:2]):
            raise BadCrc("error reply CRC mismatch", sent=command, received=data)
        if data[1] == INVALID:
            raise DeviceRejected("invalid data", kind="invalid_data", sent=command, received=data)
        raise DeviceRejected(
            "conflicts with the current state", kind="state_conflict", sent=command, received=data
        )
    if echo == b"N":
        if data[-1] != crc(data[:-1]):
            raise BadCrc("version reply CRC mismatch", sent=command, received=data)
        if len(data) < 3 or data[-2] != 0:
            raise MalformedReply("version reply is not NUL-terminated", sent=command, received=data)
        text = data[1:-2].decode("latin-1")
        return Reply("N", 0, None, (), text=text)
    if echo == b"I":
        # error code: status, then a source letter (U = UI, C = coil, E = system) and two
        # digits (Magstim TDb 087 6.13): kept as text
        if len(data) < 6:
            raise ShortReply(f"reply has {len(data)} of 6 bytes", sent=command, received=data)
        if data[5] != crc(data[:5]):
            raise BadCrc("reply CRC mismatch", sent=command, received=data)
        return Reply("I", data[1], None, (), text=data[2:5].decode("latin-1"))
    n_status, widths = reply_layout(command, version)
    want = 1 + n_status + sum(widths) + 1
    if len(data) < want:
        raise ShortReply(f"reply has {len(data)} of {want} bytes", sent=command, received=data)
    if len(data) > want:
        raise MalformedReply(
            f"reply has {len(data)} bytes, not {want}", sent=command, received=data
        )
    if data[-1] != crc(data[:-1]):
        raise BadCrc(f"CRC {data[-1]:02X} != {crc(data[:-1]):02X}", sent=command, received=data)
    status = data[1]
    if status & STANDBY and status & ARMED:
        raise MalformedReply("status says both standby and armed", sent=command, received=data)
    rapid = data[2] if n_status >= 2 else None
    extra = bytes(data[3 : 1 + n_status])
    pos = 1 + n_status
    fields = []
    for w in widths:
        chunk = data[pos : pos + w]
        if not all(0x30 <= b <= 0x39 for b in chunk):
            raise MalformedReply(f"non-digit field {chunk!r}", sent=command, received=data)
        fields.append(int(chunk))
        pos += w
    return Reply(chr(data[0]), status, rapid, tuple(fields), extra=extra)


def status_errors(status: int) -> tuple[str, ...]:
    """Human-readable error flags of a status byte."""
    out = []
    if status & REPLACE_COIL:
        out.append("replace coil")
    if status & ERROR_PRESENT:
        out.append("error present" + (" (type 1)" if status & ERROR_TYPE else " (type 0)"))
    return tuple(out)


# ---------------------------------------------------------- device side (sim)


def parse_command_length(data: bytes, version: int) -> int | None:
    """Length of the command frame starting ``data`` (device side), ``None`` if unknown.

    ``0`` means "one more byte decides": ``Q@`` is 3 bytes, ``Q`` + unlock code 18.
    """
    if not data:
        return None
    c = chr(data[0])
    if c in "@AC":
        return 5
    if c == "Q":
        if len(data) < 2:
            return 0
        return 3 if data[1] == ord("@") else 2 + UNLOCK_CODE_LENGTH
    if c in "ERJF\\NxIo^_bYZ":
        return 3
    if c == "n":
        return 7 if version >= 10 else 6
    if c == "B":
        return 6
    if c == "D":
        return 7 if version >= 9 else 6
    if c == "[":
        return 6 if version >= 9 else 5
    return None


def encode_reply(
    command: str,
    status: int,
    *,
    rapid_status: int | None = None,
    extra: bytes = b"",
    fields: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """A device reply: echo, status byte(s), digit fields ``(value, width)``, CRC."""
    body = bytearray(command.encode("ascii")[:1])
    body.append(status & 0xFF)
    if rapid_status is not None:
        body.append(rapid_status & 0xFF)
    body.extend(extra)
    for value, width in fields:
        body.extend(_digits(max(0, min(value, 10**width - 1)), width, "field").encode())
    return bytes(body) + bytes([crc(bytes(body))])


def encode_error(command: str, code: int) -> bytes:
    """Invalid data (``?``) or state conflict (``S``) reply to ``command``."""
    body = command.encode("ascii")[:1] + bytes([code])
    return body + bytes([crc(body)])


def encode_version(text: str) -> bytes:
    """A device's ``ND`` reply: ``N`` + version text + NUL + CRC."""
    body = b"N" + text.encode("ascii") + b"\x00"
    return body + bytes([crc(body)])
