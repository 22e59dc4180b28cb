"""SCPI dialects: command templates, reply formats and preamble parsers as data.

A :class:`Dialect` is what differs between scope families; the driver
(:mod:`instruments.scope.driver`) is written once against it. Facts used:

Keysight InfiniiVision: ``:WAVeform:PREamble?`` = ten comma-separated fields
(format 0 BYTE / 1 WORD / 4 ASCii, type, points, count, xincrement, xorigin,
xreference, yincrement, yorigin, yreference); V = (code − yreference)·yincrement
+ yorigin; t = (i − xreference)·xincrement + xorigin. Unsigned WORD reserves
0x0000 (hole), 0x0001 (clipped low), 0xFFFF (clipped high). Acquisition done =
bit 3 (Run, 8) of ``:OPERegister:CONDition?`` clear. Errors: ``:SYSTem:ERRor?``
answers ``<n>,"<text>"`` one at a time, ``+0,"No error"`` when empty.

Tektronix MSO: ``WFMOutpre?`` = BYT_NR;BIT_NR;ENCDG;BN_FMT;BYT_OR;WFID;NR_PT;
PT_FMT;PT_ORDER;XUNIT;XINCR;XZERO;PT_OFF;YUNIT;YMULT;YOFF;YZERO; V = (code −
YOFF)·YMULT + YZERO; t_i = XZERO + (i − PT_OFF)·XINCR. ``SRIbinary`` = signed
little-endian. Acquisition done = ``ACQuire:STATE?`` 0. Errors: ``*ESR?`` then
``ALLEv?`` (all events, ``<n>,"<text>"`` pairs, comma-separated).
FastFrame time stamps (this project's format, the simulator answers it):
``HORizontal:FASTframe:TIMEStamp:ALL?`` = one NR3 number per acquired frame,
comma-separated, seconds since the first frame's trigger.

ASCii transfers: Keysight preamble format 4 (older InfiniiVision 5000/6000/7000: 2),
data = comma-separated volts inside a ``#8`` block, scaled as WORD (yreference
32768); Tektronix ``ENCdg ASC``: ``CURVe?`` = comma-separated NR1 codes, no block.
Triggers are set to NORMal sweep/mode: in AUTO a real scope records without a
trigger, so a missing pulse would look like a flat capture.

(Facts, each with its source and confidence: ``instruments/scope/scpi_facts.md``.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from instruments.scope.waveform import Preamble

_PAIR = re.compile(r'\s*([+-]?\d+)\s*,\s*"((?:[^"]|"")*)"')


def split_unquoted(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside double-quoted strings."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_error_pairs(text: str) -> list[tuple[int, str]]:
    """``-113,"Undefined header",-222,"Bad"`` -> [(code, text), ...]; code 0 (no error) dropped."""
    pairs = [(int(c), t.replace('""', '"')) for c, t in _PAIR.findall(text)]
    return [(c, t) for c, t in pairs if c != 0]


def parse_keysight_preamble(text: str) -> Preamble:
    """Parse a Keysight ``:WAVeform:PREamble?`` reply (we always set LSBFirst, UNSigned ON)."""
    f = [s.strip() for s in text.strip().split(",")]
    if len(f) != 10:
        raise ValueError(f"preamble has {len(f)} fields, expected 10: {text[:120]!r}")
    fmt = int(float(f[0]))
    ascii_ = fmt in (2, 4)  # ASCii: 4 on X-series, 2 on 5000/6000/7000 series
    if fmt == 1 or ascii_:
        dtype, low, high = "<u2", 0x0001, 0xFFFF
    elif fmt == 0:
        dtype, low, high = "u1", 0x01, 0xFF
    else:
        raise ValueError(f"preamble format {fmt} is not BYTE (0), WORD (1) or ASCii (4)")
    xinc, xorg, xref = float(f[4]), float(f[5]), float(f[6])
    return Preamble(
        points=int(float(f[2])),
        t0_s=xorg - xref * xinc,
        dt_s=xinc,
        y_increment=float(f[7]),
        y_origin=float(f[8]),
        y_reference=float(f[9]),
        dtype=dtype,
        rail_low=low,
        rail_high=high,
        hole=None if ascii_ else 0,
        ascii=ascii_,
    )


def parse_tektronix_preamble(text: str) -> Preamble:
    """Parse a Tektronix ``WFMOutpre?`` reply (HEADer OFF)."""
    f = [s.strip() for s in split_unquoted(text.strip(), ";")]
    if len(f) < 17:
        raise ValueError(f"WFMOutpre has {len(f)} fields, expected 17: {text[:160]!r}")
    nbytes, encdg, bn_fmt, byt_or = int(f[0]), f[2].upper(), f[3].upper(), f[4].upper()
    if not encdg.startswith(("BIN", "ASC")) or nbytes not in (1, 2):
        raise ValueError(f"WFMOutpre encoding {encdg} with {nbytes} bytes is not 8/16-bit")
    signed = bn_fmt == "RI"
    kind = ("i" if signed else "u") + str(nbytes)
    dtype = kind if nbytes == 1 else ("<" if byt_or == "LSB" else ">") + kind
    bits = 8 * nbytes
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    xinc, xzero, pt_off = float(f[10]), float(f[11]), float(f[12])
    return Preamble(
        points=int(f[6]),
        t0_s=xzero - pt_off * xinc,
        dt_s=xinc,
        y_increment=float(f[14]),
        y_origin=float(f[16]),
        y_reference=float(f[15]),
        dtype=dtype,
        rail_low=low,
        rail_high=high,
        ascii=encdg.startswith("ASC"),
    )


def keysight_ascii(raw: bytes, pre: Preamble) -> npt.NDArray[np.int64]:
    """ASCii block payload (volts, comma-separated) -> the WORD codes they stand for."""
    volts = np.array([float(v) for v in raw.decode("ascii").split(",") if v.strip()])
    codes = np.rint((volts - pre.y_origin) / pre.y_increment + pre.y_reference)
    return codes.astype(np.int64)


def tektronix_ascii(raw: bytes, pre: Preamble) -> npt.NDArray[np.int64]:
    """``CURVe?`` in ASCii: comma-separated NR1 codes."""
    return np.array([int(v) for v in raw.decode("ascii").split(",") if v.strip()], np.int64)


def keysight_busy(reply: str) -> bool:
    """Run bit (bit 3, value 8) of ``:OPERegister:CONDition?`` still set."""
    return bool(int(float(reply)) & 8)


def tektronix_busy(reply: str) -> bool:
    """``ACQuire:STATE?`` is 1 while the sequence runs."""
    return int(float(reply)) != 0


def keysight_timebase(record_s: float, pretrigger: float, points: int) -> list[str]:
    """Window [−pre·record, (1−pre)·record] around the trigger: position = centre − trigger."""
    return [
        ":TIMebase:REFerence CENTer",
        f":TIMebase:RANGe {record_s:.9E}",
        f":TIMebase:POSition {record_s * (0.5 - pretrigger):.9E}",
        f":WAVeform:POINts {points}",
    ]


def tektronix_timebase(record_s: float, pretrigger: float, points: int) -> list[str]:
    """Ten divisions per record; HORizontal:POSition = % of the record before the trigger."""
    return [
        "HORizontal:MODE MANual",
        f"HORizontal:RECOrdlength {points}",
        f"HORizontal:SCAle {record_s / 10:.9E}",
        f"HORizontal:POSition {pretrigger * 100:.6g}",
    ]


@dataclass(frozen=True)
class Dialect:
    """What differs between scope families. Templates use ``{ch}`` and ``{value}``."""

    name: str
    init: tuple[str, ...]  # sent once after connecting: formats, headers off
    source: str  # scope input name, ``{ch}``
    channel: dict[str, str]  # "scale" | "offset" | "probe" | "coupling" | "display" -> template
    trigger: tuple[str, ...]  # edge trigger setup, ``{src}``, ``{ch}``, ``{level}``, ``{slope}``
    slopes: dict[str, str]  # "rising"/"falling" -> dialect word
    timebase: Callable[[float, float, int], list[str]]
    single: tuple[str, ...]  # one acquisition
    segmented: tuple[str, ...]  # N triggers into segmented memory, ``{n}``
    start: str  # start the armed acquisition
    stop: str
    busy_query: str
    busy: Callable[[str], bool]
    acquired_query: str  # number of segments / frames acquired
    select_source: str  # ``{src}``
    preamble_query: str
    data_query: str
    parse_preamble: Callable[[str], Preamble]
    select_segment: tuple[str, ...]  # ``{i}`` 1-based
    select_all_segments: tuple[str, ...] | None  # ``{n}``; None: read segment by segment
    time_tag_query: str  # Keysight: of the selected segment; Tektronix: all frames
    tags_all_at_once: bool
    error_query: str
    error_status_query: str | None = None  # asked first; 0 means "no errors" (Tektronix *ESR?)
    errors_all_at_once: bool = False
    force_trigger: str = ""  # trigger now, without the trigger condition
    parse_ascii: Callable[[bytes, Preamble], npt.NDArray[np.int64]] = keysight_ascii
    ascii_in_block: bool = True  # Keysight: ASCii data inside a #8 block; Tektronix: a line


KEYSIGHT = Dialect(
    name="keysight",
    init=(
        "*CLS",
        ":WAVeform:FORMat WORD",
        ":WAVeform:BYTeorder LSBFirst",
        ":WAVeform:UNSigned ON",
        ":WAVeform:POINts:MODE RAW",
    ),
    source="CHAN{ch}",
    channel={
        "scale": ":CHANnel{ch}:SCALe {value:.9E}",
        "offset": ":CHANnel{ch}:OFFSet {value:.9E}",
        "probe": ":CHANnel{ch}:PROBe {value:.6g}",
        "coupling": ":CHANnel{ch}:COUPling {value}",
        "display": ":CHANnel{ch}:DISPlay {value}",
    },
    trigger=(
        ":TRIGger:MODE EDGE",
        ":TRIGger:SWEep NORMal",
        ":TRIGger:EDGE:SOURce {src}",
        ":TRIGger:EDGE:LEVel {level:.9E}",
        ":TRIGger:EDGE:SLOPe {slope}",
    ),
    slopes={"rising": "POSitive", "falling": "NEGative"},
    timebase=keysight_timebase,
    single=(":ACQuire:MODE RTIMe",),
    segmented=(":ACQuire:MODE SEGMented", ":ACQuire:SEGMented:COUNt {n}"),
    start=":SINGle",
    stop=":STOP",
    busy_query=":OPERegister:CONDition?",
    busy=keysight_busy,
    acquired_query=":WAVeform:SEGMented:COUNt?",
    select_source=":WAVeform:SOURce {src}",
    preamble_query=":WAVeform:PREamble?",
    data_query=":WAVeform:DATA?",
    parse_preamble=parse_keysight_preamble,
    select_segment=(":ACQuire:SEGMented:INDex {i}",),
    select_all_segments=None,
    time_tag_query=":WAVeform:SEGMented:TTAG?",
    tags_all_at_once=False,
    error_query=":SYSTem:ERRor?",
    force_trigger=":TRIGger:FORCe",
)

TEKTRONIX = Dialect(
    name="tektronix",
    init=(
        "HEADer OFF",
        "VERBose OFF",
        "*CLS",
        "DATa:ENCdg SRIbinary",
        "WFMOutpre:BYT_Nr 2",
        "DATa:STARt 1",
        "DATa:STOP 1000000000",  # whole record: the scope clamps STOP to the record length
    ),
    source="CH{ch}",
    channel={
        "scale": "CH{ch}:SCAle {value:.9E}",
        "offset": "CH{ch}:OFFSet {value:.9E}",
        "probe": "CH{ch}:PROBEFunc:EXTAtten {value:.6g}",
        "coupling": "CH{ch}:COUPling {value}",
        "display": "DISplay:GLObal:CH{ch}:STATE {value}",
    },
    trigger=(
        "TRIGger:A:TYPe EDGE",
        "TRIGger:A:MODe NORMal",
        "TRIGger:A:EDGE:SOUrce {src}",
        "TRIGger:A:LEVel:{src} {level:.9E}",
        "TRIGger:A:EDGE:SLOpe {slope}",
    ),
    slopes={"rising": "RISe", "falling": "FALL"},
    timebase=tektronix_timebase,
    single=("HORizontal:FASTframe:STATE OFF", "ACQuire:STOPAfter SEQuence"),
    segmented=(
        "HORizontal:FASTframe:STATE ON",
        "HORizontal:FASTframe:COUNt {n}",
        "ACQuire:STOPAfter SEQuence",
    ),
    start="ACQuire:STATE RUN",
    stop="ACQuire:STATE STOP",
    busy_query="ACQuire:STATE?",
    busy=tektronix_busy,
    acquired_query="ACQuire:NUMFRAMESACQuired?",
    select_source="DATa:SOUrce {src}",
    preamble_query="WFMOutpre?",
    data_query="CURVe?",
    parse_preamble=parse_tektronix_preamble,
    select_segment=("DATa:FRAMESTARt {i}", "DATa:FRAMESTOP {i}"),
    select_all_segments=("DATa:FRAMESTARt 1", "DATa:FRAMESTOP {n}"),
    time_tag_query="HORizontal:FASTframe:TIMEStamp:ALL?",
    tags_all_at_once=True,
    error_query="ALLEv?",
    error_status_query="*ESR?",
    errors_all_at_once=True,
    force_trigger="TRIGger FORCe",
    parse_ascii=tektronix_ascii,
    ascii_in_block=False,
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (KEYSIGHT, TEKTRONIX)}
