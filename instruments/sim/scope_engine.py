"""The simulated oscilloscope: SCPI parser, instrument state and capture, one engine.

One :class:`ScopeEngine` speaks either dialect: the state (channels, timebase,
trigger, acquisition, captures, error queue) and the handlers are shared; a
dialect table maps command headers to handlers and fixes the reply formats.
The transport lives in :mod:`instruments.sim.scope_server`.

Capture model: when armed and the world fires, the trigger channel's noise-free
probe signal is searched for the edge (level, slope); the record window is
placed around that instant; every input sees its probe quantity × volts_per_unit
× probe factor, plus Gaussian noise (world.noise_fraction × the record's peak,
world.rng); a 16-bit ADC spans 8 vertical divisions centred on the offset, and
values beyond it sit at the rails (int16 −32768 / 32767). BYTE/8-bit transfers
round those codes to 8 bits. Time tags are world-clock trigger times.

Facts (Keysight preamble, reserved unsigned WORD codes, Tektronix WFMOutpre
fields): tmsbench design notes, "Oscilloscope SCPI".
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from instruments.scope.settings import ScopeChannel, ScopeSettings
from instruments.sim.world import PulseEvent, World

ADC_FULL_SCALE_DIV = 8.0
N_INPUTS = 4
MAX_POINTS = 50_000_000
TRIGGER_SEARCH_STEP_S = 10e-9
IDN = {
    "keysight": "KEYSIGHT TECHNOLOGIES,DSOX3024T,TMSBENCH-SIM,07.50.2021102830",
    "tektronix": "TEKTRONIX,MSO54,TMSBENCH-SIM,CF:91.1CT FV:1.0.0",
}
ERRORS = {
    -102: "Syntax error",
    -104: "Data type error",
    -109: "Missing parameter",
    -113: "Undefined header",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
}


class ScpiFault(Exception):
    """A command failed: queue ``code`` with ``text``."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        text = ERRORS.get(code, "Error")
        super().__init__(f"{text}; {detail}" if detail else text)


@dataclass(frozen=True)
class Block:
    """A binary reply: the server frames it as ``#<d><len>`` + payload + LF."""

    payload: bytes
    ndigits: int | None = None  # fixed digit count (Keysight #8), None = minimal


@dataclass
class ChannelState:
    scale: float = 1.0  # V/div (probe factor applied)
    offset: float = 0.0  # V at screen centre
    probe: float = 1.0
    coupling: str = "DC"
    display: bool = True


@dataclass
class Capture:
    """One triggered record of every input (16-bit codes) and its scaling at capture time."""

    t_trigger: float  # world time of the trigger (s)
    x0: float  # time of sample 0 from the trigger (s)
    dt: float
    codes: dict[int, npt.NDArray[np.int16]]
    lsb: dict[int, float]  # V per 16-bit code
    offset: dict[int, float]


@dataclass
class _Command:
    regex: re.Pattern[str]
    modes: str  # "q", "s" or "qs"
    handler: Callable[[list[int], str | None, bool], Any]


def compile_header(template: str) -> re.Pattern[str]:
    """``CHANnel<n>:SCALe`` -> regex accepting short/long forms, e.g. CHAN1:SCAL, channel2:scale."""
    parts = []
    for node in template.split(":"):
        m = re.fullmatch(r"([*A-Z_]+)([a-z_]*)(<n>)?", node)
        if not m:
            raise ValueError(f"bad header template {template!r}")
        short, rest, suffix = m.groups()
        alts = (
            re.escape(short)
            if not rest
            else f"(?:{re.escape(short + rest.upper())}|{re.escape(short)})"
        )
        parts.append(alts + (r"(\d*)" if suffix else ""))
    return re.compile(":".join(parts), re.IGNORECASE)


def _enum(arg: str | None, options: list[str]) -> str:
    """Match ``arg`` against SCPI enum words (``POSitive``): return the long form, upper case."""
    if arg is None:
        raise ScpiFault(-109)
    word = arg.strip().strip('"').upper()
    for opt in options:
        short = "".join(c for c in opt if not c.islower())
        if word in (opt.upper(), short):
            return opt.upper()
    raise ScpiFault(-224, f"{arg!r} not one of {options}")


def _num(arg: str | None, lo: float | None = None, hi: float | None = None) -> float:
    if arg is None:
        raise ScpiFault(-109)
    try:
        value = float(arg)
    except ValueError:
        raise ScpiFault(-104, repr(arg)) from None
    if not np.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ScpiFault(-222, f"{arg} outside {lo}..{hi}")
    return value


def _bool(arg: str | None) -> bool:
    return _enum(arg, ["ON", "OFF", "1", "0"]) in ("ON", "1")


def _discard(_: object) -> None:
    """Validate-and-ignore settings the simulator accepts but does not model."""
    return None


def _nr3(v: float) -> str:
    return f"{v:+.9E}"


def _split_units(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [u.strip() for u in out if u.strip()]


@dataclass
class _State:
    channels: dict[int, ChannelState] = field(
        default_factory=lambda: {n: ChannelState() for n in range(1, N_INPUTS + 1)}
    )
    points: int = 10_000
    duration: float = 1e-3  # record length (s)
    ks_position: float = 0.4e-3  # Keysight: trigger to screen centre (s)
    tek_position: float = 10.0  # Tektronix: % of the record before the trigger
    trig_source: int = 1
    trig_levels: dict[int, float] = field(default_factory=lambda: dict.fromkeys(range(1, 9), 0.0))
    trig_slope: str = "rising"
    segmented: bool = False
    seg_count: int = 2
    seg_index: int = 1
    running: bool = False
    continuous: bool = False
    target: int = 1
    captures: list[Capture] = field(default_factory=list)
    ter: bool = False
    # transfer settings
    wav_source: int = 1
    wav_format: str = "BYTE"  # Keysight BYTE | WORD
    byteorder: str = "MSBFIRST"
    unsigned: bool = True
    tek_encoding: str = "RIBINARY"
    tek_bytes: int = 1
    data_start: int = 1
    data_stop: int = 10_000
    frame_start: int = 1
    frame_stop: int = 1


class ScopeEngine:
    """Instrument state and SCPI handling of one simulated scope on ``world``."""

    def __init__(self, world: World, config: ScopeSettings) -> None:
        self.world = world
        self.config = config
        self.dialect = config.driver
        self.probes: dict[int, ScopeChannel] = {c.channel: c for c in config.channels.values()}
        self.lock = threading.RLock()
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self.st = _State()
        self._cache: tuple[Any, bytes] | None = None
        table = self._keysight_table() if self.dialect == "keysight" else self._tektronix_table()
        self.commands = [_Command(compile_header(t), m, h) for t, m, h in table]

    # ------------------------------------------------------------ parsing
    def execute(self, message: bytes | str) -> list[str | Block]:
        """Run one program message (units separated by ';'); return its replies in order."""
        text = message.decode("ascii", "replace") if isinstance(message, bytes) else message
        replies: list[str | Block] = []
        with self.lock:
            for unit in _split_units(text):
                try:
                    out = self._unit(unit)
                except ScpiFault as exc:
                    self.push_error(exc.code, str(exc))
                    continue
                if out is not None:
                    replies.append(out)
        return replies

    def _unit(self, unit: str) -> str | Block | None:
        parts = unit.split(None, 1)
        header = parts[0].lstrip(":")
        arg = parts[1].strip() if len(parts) > 1 else None
        query = header.endswith("?")
        header = header.rstrip("?")
        for cmd in self.commands:
            m = cmd.regex.fullmatch(header)
            if m is None:
                continue
            if ("q" if query else "s") not in cmd.modes:
                raise ScpiFault(-113, unit)
            sfx = [int(g) if g else 1 for g in m.groups()]
            reply: str | Block | None = cmd.handler(sfx, arg, query)
            return reply
        raise ScpiFault(-113, unit)

    def push_error(self, code: int, text: str) -> None:
        """Queue an error (and set the matching ESR bit)."""
        if len(self.errors) >= 30:
            self.errors[-1] = (-350, ERRORS[-350])
        else:
            self.errors.append((code, text))
        self.esr |= {1: 32, 2: 16, 3: 8, 4: 4}.get(abs(code) // 100, 8)

    # ------------------------------------------------------------ tables
    def _common(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("*IDN", "q", lambda s, a, q: IDN[self.dialect]),
            ("*RST", "s", lambda s, a, q: self.reset()),
            ("*CLS", "s", lambda s, a, q: self._cls()),
            ("*OPC", "qs", lambda s, a, q: "1" if q else None),
            ("*WAI", "s", lambda s, a, q: None),
            ("*ESR", "q", lambda s, a, q: self._esr()),
        ]

    def _keysight_table(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            *self._common(),
            ("SYSTem:ERRor", "q", lambda s, a, q: self._pop_error()),
            ("CHANnel<n>:SCALe", "qs", self._ch_scale),
            ("CHANnel<n>:OFFSet", "qs", self._ch_offset),
            ("CHANnel<n>:PROBe", "qs", self._ch_probe),
            ("CHANnel<n>:COUPling", "qs", self._ch_coupling),
            ("CHANnel<n>:DISPlay", "qs", self._ch_display),
            ("TIMebase:RANGe", "qs", self._ks_range),
            ("TIMebase:SCALe", "qs", self._ks_scale),
            ("TIMebase:POSition", "qs", self._ks_position),
            ("TIMebase:REFerence", "qs", self._ks_reference),
            ("TRIGger:MODE", "qs", lambda s, a, q: "EDGE" if q else _discard(_enum(a, ["EDGE"]))),
            ("TRIGger:EDGE:SOURce", "qs", self._trig_source),
            ("TRIGger:EDGE:LEVel", "qs", self._ks_trig_level),
            ("TRIGger:EDGE:SLOPe", "qs", self._ks_slope),
            ("ACQuire:MODE", "qs", self._ks_acq_mode),
            ("ACQuire:SEGMented:COUNt", "qs", self._ks_seg_count),
            ("ACQuire:SEGMented:INDex", "qs", self._ks_seg_index),
            ("SINGle", "s", lambda s, a, q: self._start(self.st.segmented, self.st.seg_count)),
            ("RUN", "s", lambda s, a, q: self._start(False, 1, continuous=True)),
            ("STOP", "s", lambda s, a, q: self._stop()),
            ("OPERegister:CONDition", "q", lambda s, a, q: str(40 if self.st.running else 0)),
            ("TER", "q", lambda s, a, q: self._ter()),
            ("WAVeform:SOURce", "qs", self._wav_source),
            ("WAVeform:FORMat", "qs", self._ks_format),
            ("WAVeform:BYTeorder", "qs", self._ks_byteorder),
            ("WAVeform:UNSigned", "qs", self._ks_unsigned),
            ("WAVeform:POINts", "qs", self._points),
            ("WAVeform:POINts:MODE", "qs", lambda s, a, q: "RAW" if q else None),
            ("WAVeform:PREamble", "q", lambda s, a, q: self._ks_preamble()),
            ("WAVeform:DATA", "q", lambda s, a, q: self._ks_data()),
            ("WAVeform:SEGMented:COUNt", "q", lambda s, a, q: str(len(self.st.captures))),
            ("WAVeform:SEGMented:TTAG", "q", lambda s, a, q: self._ks_ttag()),
        ]

    def _tektronix_table(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            *self._common(),
            ("ALLEv", "q", lambda s, a, q: self._all_events()),
            ("HEADer", "qs", lambda s, a, q: "0" if q else _discard(_bool(a))),
            ("VERBose", "qs", lambda s, a, q: "0" if q else _discard(_bool(a))),
            ("CH<n>:SCAle", "qs", self._ch_scale),
            ("CH<n>:OFFSet", "qs", self._ch_offset),
            ("CH<n>:PROBEFunc:EXTAtten", "qs", self._ch_probe),
            ("CH<n>:COUPling", "qs", self._ch_coupling),
            ("DISplay:GLObal:CH<n>:STATE", "qs", self._ch_display),
            ("HORizontal:MODE", "qs", lambda s, a, q: "MANUAL" if q else None),
            ("HORizontal:SCAle", "qs", self._tek_hscale),
            ("HORizontal:RECOrdlength", "qs", self._points),
            ("HORizontal:POSition", "qs", self._tek_hposition),
            ("TRIGger:A:TYPe", "qs", lambda s, a, q: "EDGE" if q else _discard(_enum(a, ["EDGE"]))),
            ("TRIGger:A:EDGE:SOUrce", "qs", self._trig_source),
            ("TRIGger:A:LEVel:CH<n>", "qs", self._tek_trig_level),
            ("TRIGger:A:EDGE:SLOpe", "qs", self._tek_slope),
            ("ACQuire:STOPAfter", "qs", self._tek_stopafter),
            ("ACQuire:STATE", "qs", self._tek_acq_state),
            ("ACQuire:NUMFRAMESACQuired", "q", lambda s, a, q: str(len(self.st.captures))),
            ("HORizontal:FASTframe:STATE", "qs", self._tek_ff_state),
            ("HORizontal:FASTframe:COUNt", "qs", self._tek_ff_count),
            ("HORizontal:FASTframe:TIMEStamp:ALL", "q", lambda s, a, q: self._tek_timestamps()),
            ("DATa:SOUrce", "qs", self._wav_source),
            ("DATa:ENCdg", "qs", self._tek_encoding),
            ("DATa:STARt", "qs", self._tek_data_start),
            ("DATa:STOP", "qs", self._tek_data_stop),
            ("DATa:FRAMESTARt", "qs", self._tek_frame_start),
            ("DATa:FRAMESTOP", "qs", self._tek_frame_stop),
            ("WFMOutpre:BYT_Nr", "qs", self._tek_bytes),
            ("WFMOutpre", "q", lambda s, a, q: self._tek_preamble()),
            ("CURVe", "q", lambda s, a, q: self._tek_curve()),
        ]

    # ------------------------------------------------------------ status
    def reset(self) -> None:
        """``*RST``: default settings, no captures (errors stay queued)."""
        with self.lock:
            self.st = _State()
            self._cache = None

    def _cls(self) -> None:
        self.errors.clear()
        self.esr = 0

    def _esr(self) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _pop_error(self) -> str:
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.popleft()
        return f'{code:+d},"{text}"'

    def _all_events(self) -> str:
        if not self.errors:
            return '0,"No events to report - queue empty"'
        out = ",".join(f'{c},"{t}"' for c, t in self.errors)
        self.errors.clear()
        return out

    def _ter(self) -> str:
        value, self.st.ter = self.st.ter, False
        return "+1" if value else "+0"

    # ------------------------------------------------------------ vertical
    def _chan(self, sfx: list[int]) -> ChannelState:
        n = sfx[0]
        if n not in self.st.channels:
            raise ScpiFault(-113, f"no channel {n}")
        return self.st.channels[n]

    def _ch_scale(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        ch = self._chan(sfx)
        if q:
            return _nr3(ch.scale)
        ch.scale = _num(arg, 1e-6, 1e4)
        return None

    def _ch_offset(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        ch = self._chan(sfx)
        if q:
            return _nr3(ch.offset)
        ch.offset = _num(arg, -1e5, 1e5)
        return None

    def _ch_probe(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        ch = self._chan(sfx)
        if q:
            return _nr3(ch.probe)
        ch.probe = _num(arg, 1e-4, 1e4)
        return None

    def _ch_coupling(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        ch = self._chan(sfx)
        if q:
            return ch.coupling
        ch.coupling = _enum(arg, ["DC", "AC"])
        return None

    def _ch_display(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        ch = self._chan(sfx)
        if q:
            return "1" if ch.display else "0"
        ch.display = _bool(arg)
        return None

    # ------------------------------------------------------------ horizontal
    def x0(self) -> float:
        """Time of sample 0 from the trigger (s) under the current timebase."""
        st = self.st
        if self.dialect == "keysight":
            return st.ks_position - st.duration / 2
        return -st.tek_position / 100.0 * st.duration

    def _ks_range(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _nr3(self.st.duration)
        self.st.duration = _num(arg, 1e-9, 100.0)
        return None

    def _ks_scale(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _nr3(self.st.duration / 10)
        self.st.duration = 10 * _num(arg, 1e-10, 10.0)
        return None

    def _ks_position(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _nr3(self.st.ks_position)
        self.st.ks_position = _num(arg, -100.0, 100.0)
        return None

    def _ks_reference(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "CENT"
        if _enum(arg, ["CENTer", "LEFT", "RIGHt", "CUSTom"]) != "CENTER":
            raise ScpiFault(-221, "the simulator supports the CENTer reference only")
        return None

    def _tek_hscale(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _nr3(self.st.duration / 10)
        self.st.duration = 10 * _num(arg, 1e-10, 10.0)
        return None

    def _tek_hposition(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _nr3(self.st.tek_position)
        self.st.tek_position = _num(arg, 0.0, 100.0)
        return None

    def _points(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(self.st.points)
        self.st.points = int(_num(arg, 100, MAX_POINTS))
        return None

    # ------------------------------------------------------------ trigger
    def _parse_source(self, arg: str | None) -> int:
        if arg is None:
            raise ScpiFault(-109)
        m = re.fullmatch(r"(?:CHANNEL|CHAN|CH)(\d)", arg.strip().upper())
        if not m or int(m.group(1)) not in self.st.channels:
            raise ScpiFault(-224, f"source {arg!r}")
        return int(m.group(1))

    def _source_name(self, n: int) -> str:
        return f"CHAN{n}" if self.dialect == "keysight" else f"CH{n}"

    def _trig_source(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self._source_name(self.st.trig_source)
        self.st.trig_source = self._parse_source(arg)
        return None

    def _ks_trig_level(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        src = self.st.trig_source
        if q:
            return _nr3(self.st.trig_levels[src])
        self.st.trig_levels[src] = _num(arg, -1e5, 1e5)
        return None

    def _tek_trig_level(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        self._chan(sfx)
        n = sfx[0]
        if q:
            return _nr3(self.st.trig_levels[n])
        self.st.trig_levels[n] = _num(arg, -1e5, 1e5)
        return None

    def _ks_slope(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "POS" if self.st.trig_slope == "rising" else "NEG"
        word = _enum(arg, ["POSitive", "NEGative"])
        self.st.trig_slope = "rising" if word == "POSITIVE" else "falling"
        return None

    def _tek_slope(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "RISE" if self.st.trig_slope == "rising" else "FALL"
        word = _enum(arg, ["RISe", "FALL"])
        self.st.trig_slope = "rising" if word == "RISE" else "falling"
        return None

    # ------------------------------------------------------------ acquisition
    def _start(self, segmented: bool, count: int, continuous: bool = False) -> None:
        st = self.st
        st.captures = []
        st.target = count if segmented else 1
        st.continuous = continuous
        st.running = True
        st.ter = False
        self._cache = None

    def _stop(self) -> None:
        self.st.running = False

    def _ks_acq_mode(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "SEGM" if self.st.segmented else "RTIM"
        self.st.segmented = _enum(arg, ["RTIMe", "SEGMented"]) == "SEGMENTED"
        return None

    def _ks_seg_count(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(self.st.seg_count)
        self.st.seg_count = int(_num(arg, 2, 1000))
        return None

    def _ks_seg_index(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(self.st.seg_index)
        self.st.seg_index = int(_num(arg, 1, 1000))
        return None

    def _tek_stopafter(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "RUNSTOP" if self.st.continuous else "SEQUENCE"
        self.st.continuous = _enum(arg, ["SEQuence", "RUNSTop"]) == "RUNSTOP"
        return None

    def _tek_acq_state(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        st = self.st
        if q:
            return "1" if st.running else "0"
        word = _enum(arg, ["RUN", "STOP", "ON", "OFF", "1", "0"])
        if word in ("RUN", "ON", "1"):
            self._start(st.segmented, st.seg_count, continuous=st.continuous)
        else:
            self._stop()
        return None

    def _tek_ff_state(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "1" if self.st.segmented else "0"
        self.st.segmented = _bool(arg)
        return None

    def _tek_ff_count(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(self.st.seg_count)
        self.st.seg_count = int(_num(arg, 1, 100_000))
        return None

    # ------------------------------------------------------------ capture
    def on_pulse(self, event: PulseEvent) -> None:
        """World subscriber: capture the pulse when armed and the edge trigger fires."""
        with self.lock:
            st = self.st
            if not st.running or self.world.faults.scope_no_trigger:
                return
            t_trig = self._trigger_time(event)
            if t_trig is None:
                return
            capture = self._capture(event, t_trig)
            if st.continuous and not st.segmented:
                st.captures = [capture]
            else:
                st.captures.append(capture)
            st.ter = True
            self._cache = None
            if not st.continuous and len(st.captures) >= st.target:
                st.running = False

    def _input_volts(self, sig: dict[str, Any], n: int, size: int) -> npt.NDArray[np.float64]:
        probe = self.probes.get(n)
        if probe is None:
            return np.zeros(size)
        return np.asarray(
            sig[probe.quantity] * (probe.volts_per_unit * self.st.channels[n].probe),
            dtype=np.float64,
        )

    def _trigger_time(self, event: PulseEvent) -> float | None:
        """Seconds after the discharge when the trigger source crosses its level (None: never)."""
        st = self.st
        src = st.trig_source
        span = 1.5 * event.circuit.period_s
        t = np.arange(-2e-6, span, TRIGGER_SEARCH_STEP_S)
        v = self._input_volts(event.signals(t), src, t.size)
        level = st.trig_levels[src]
        if st.trig_slope == "rising":
            hits = np.flatnonzero((v[:-1] < level) & (v[1:] >= level))
        else:
            hits = np.flatnonzero((v[:-1] > level) & (v[1:] <= level))
        if hits.size == 0:
            return None
        i = int(hits[0])
        frac = (level - v[i]) / (v[i + 1] - v[i])
        return float(t[i] + frac * (t[i + 1] - t[i]))

    def _capture(self, event: PulseEvent, t_trig: float) -> Capture:
        st = self.st
        n, dt, x0 = st.points, st.duration / st.points, self.x0()
        t = x0 + t_trig + dt * np.arange(n, dtype=np.float64)
        sig = event.signals(t)
        rng = self.world.rng
        noise = self.world.noise_fraction
        codes, lsbs, offsets = {}, {}, {}
        for k, ch in st.channels.items():
            v = self._input_volts(sig, k, n)
            if k in self.probes and noise > 0:
                peak = float(np.max(np.abs(v))) if v.size else 0.0
                if peak > 0:
                    v = v + rng.normal(0.0, noise * peak, n)
            lsb = ADC_FULL_SCALE_DIV * ch.scale / 65536.0
            c = np.rint((v - ch.offset) / lsb)
            codes[k] = np.clip(c, -32768, 32767).astype(np.int16)
            lsbs[k], offsets[k] = lsb, ch.offset
        return Capture(event.t_s + t_trig, x0, dt, codes, lsbs, offsets)

    # ------------------------------------------------------------ transfer
    def _wav_source(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self._source_name(self.st.wav_source)
        self.st.wav_source = self._parse_source(arg)
        return None

    def _ks_format(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self.st.wav_format
        word = _enum(arg, ["WORD", "BYTE", "ASCii"])
        if word == "ASCII":
            raise ScpiFault(-221, "the simulator sends WORD or BYTE only")
        self.st.wav_format = word
        return None

    def _ks_byteorder(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "LSBF" if self.st.byteorder == "LSBFIRST" else "MSBF"
        self.st.byteorder = _enum(arg, ["LSBFirst", "MSBFirst"])
        return None

    def _ks_unsigned(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "1" if self.st.unsigned else "0"
        self.st.unsigned = _bool(arg)
        return None

    def _tek_encoding(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self.st.tek_encoding
        self.st.tek_encoding = _enum(arg, ["SRIbinary", "RIBinary", "SRPbinary", "RPBinary"])
        return None

    def _tek_bytes(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(self.st.tek_bytes)
        self.st.tek_bytes = int(_enum(arg, ["1", "2"]))
        return None

    def _int_setting(self, name: str, arg: str | None, q: bool, lo: int, hi: float) -> str | None:
        if q:
            return str(getattr(self.st, name))
        setattr(self.st, name, int(_num(arg, lo, hi)))
        return None

    def _tek_data_start(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        return self._int_setting("data_start", arg, q, 1, 1e10)

    def _tek_data_stop(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        return self._int_setting("data_stop", arg, q, 1, 1e10)

    def _tek_frame_start(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        return self._int_setting("frame_start", arg, q, 1, 1e6)

    def _tek_frame_stop(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        return self._int_setting("frame_stop", arg, q, 1, 1e6)

    def _ks_capture(self) -> Capture | None:
        caps = self.st.captures
        if not caps:
            return None
        if self.st.segmented:
            i = self.st.seg_index
            if i > len(caps):
                raise ScpiFault(-222, f"segment {i} of {len(caps)} acquired")
            return caps[i - 1]
        return caps[-1]

    @staticmethod
    def _bytes8(codes: npt.NDArray[np.int16]) -> npt.NDArray[np.int32]:
        """16-bit codes rounded to 8 bits (−128..127; the rails stay rails)."""
        out: npt.NDArray[np.int32] = np.clip((codes.astype(np.int32) + 128) >> 8, -128, 127)
        return out

    def _ks_preamble(self) -> str:
        st = self.st
        cap = self._ks_capture()
        src = st.wav_source
        if cap is None:
            ch = st.channels[src]
            lsb, off, n, dt, x0 = (
                8 * ch.scale / 65536,
                ch.offset,
                0,
                st.duration / st.points,
                self.x0(),
            )
        else:
            lsb, off, n, dt, x0 = cap.lsb[src], cap.offset[src], cap.codes[src].size, cap.dt, cap.x0
        word = st.wav_format == "WORD"
        yinc = lsb if word else lsb * 256
        yref = (32768 if word else 128) if st.unsigned else 0
        fields = [
            "1" if word else "0",
            "0",
            str(n),
            "1",
            _nr3(dt),
            _nr3(x0),
            "0",
            _nr3(yinc),
            _nr3(off),
            str(yref),
        ]
        return ",".join(fields)

    def _ks_data(self) -> Block:
        st = self.st
        cap = self._ks_capture()
        if cap is None:
            self.push_error(-230, f"{ERRORS[-230]}; no acquisition")
            return Block(b"", 8)
        key = (id(cap), st.wav_source, st.wav_format, st.byteorder, st.unsigned)
        if self._cache is not None and self._cache[0] == key:
            return Block(self._cache[1], 8)
        codes = cap.codes[st.wav_source]
        end = "<" if st.byteorder == "LSBFIRST" else ">"
        if st.wav_format == "WORD":
            u = np.clip(codes.astype(np.int32) + 32768, 1, 65535)
            arr = u.astype(end + "u2") if st.unsigned else (u - 32768).astype(end + "i2")
        else:
            b = np.clip(self._bytes8(codes) + 128, 1, 255)
            arr = b.astype("u1") if st.unsigned else (b - 128).astype("i1")
        payload = arr.tobytes()
        self._cache = (key, payload)
        return Block(payload, 8)

    def _ks_ttag(self) -> str:
        caps = self.st.captures
        i = self.st.seg_index
        if not caps or i > len(caps):
            raise ScpiFault(-222, f"segment {i} of {len(caps)} acquired")
        return f"{caps[i - 1].t_trigger - caps[0].t_trigger:+.15E}"

    def _tek_frames(self) -> list[Capture]:
        st = self.st
        caps = st.captures
        if not caps:
            return []
        if not st.segmented:
            return [caps[-1]]
        lo, hi = st.frame_start, min(st.frame_stop, len(caps))
        if lo > hi:
            raise ScpiFault(-222, f"frames {lo}..{st.frame_stop} of {len(caps)} acquired")
        return caps[lo - 1 : hi]

    def _tek_span(self, n: int) -> tuple[int, int]:
        lo = min(self.st.data_start, n)
        hi = min(max(self.st.data_stop, lo), n)
        return lo, hi

    def _tek_preamble(self) -> str:
        st = self.st
        frames = self._tek_frames()
        src = st.wav_source
        if frames:
            cap = frames[0]
            lsb, off, dt, x0, n = cap.lsb[src], cap.offset[src], cap.dt, cap.x0, cap.codes[src].size
        else:
            ch = st.channels[src]
            lsb, off, dt, x0, n = 8 * ch.scale / 65536, ch.offset, st.duration / st.points, 0.0, 0
        lo, hi = self._tek_span(n) if n else (1, 0)
        signed = st.tek_encoding in ("SRIBINARY", "RIBINARY")
        order = "LSB" if st.tek_encoding.startswith("SR") else "MSB"
        nb = st.tek_bytes
        ymult = lsb if nb == 2 else lsb * 256
        yoff = 0 if signed else (32768 if nb == 2 else 128)
        ch = st.channels[src]
        wfid = (
            f'"Ch{src}, {ch.coupling} coupling, {ch.scale:.4E} V/div, '
            f'{st.duration / 10:.4E} s/div, {n} points, Sample mode"'
        )
        fields = [
            str(nb),
            str(8 * nb),
            "BIN",
            "RI" if signed else "RP",
            order,
            wfid,
            str(hi - lo + 1),
            "Y",
            "LINEAR",
            '"s"',
            _nr3(dt),
            _nr3(x0 + (lo - 1) * dt),
            "0",
            '"V"',
            _nr3(ymult),
            str(yoff),
            _nr3(off),
        ]
        return ";".join(fields)

    def _tek_curve(self) -> Block:
        st = self.st
        frames = self._tek_frames()
        if not frames:
            self.push_error(-230, f"{ERRORS[-230]}; no acquisition")
            return Block(b"")
        key = (
            tuple(id(c) for c in frames),
            st.wav_source,
            st.tek_encoding,
            st.tek_bytes,
            st.data_start,
            st.data_stop,
        )
        if self._cache is not None and self._cache[0] == key:
            return Block(self._cache[1])
        lo, hi = self._tek_span(frames[0].codes[st.wav_source].size)
        codes = np.concatenate([c.codes[st.wav_source][lo - 1 : hi] for c in frames])
        signed = st.tek_encoding in ("SRIBINARY", "RIBINARY")
        end = "<" if st.tek_encoding.startswith("SR") else ">"
        if st.tek_bytes == 2:
            arr = (
                codes.astype(end + "i2")
                if signed
                else (codes.astype(np.int32) + 32768).astype(end + "u2")
            )
        else:
            b = self._bytes8(codes)
            arr = b.astype("i1") if signed else (b + 128).astype("u1")
        payload = arr.tobytes()
        self._cache = (key, payload)
        return Block(payload)

    def _tek_timestamps(self) -> str:
        caps = self.st.captures
        if not caps:
            raise ScpiFault(-230, "no frames acquired")
        t0 = caps[0].t_trigger
        return ",".join(f"{c.t_trigger - t0:.15E}" for c in caps)
