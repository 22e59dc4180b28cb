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
fields, IEEE 488.2 common commands and status bytes, the commands public
clients send): ``instruments/scope/scpi_facts.md``, which names the source and
the confidence of each. An unknown header queues -113 "Undefined header" and
sets the ESR command-error bit (32), as a real unit does.

``:DIGitize`` blocks the connection that sent it until the acquisition is
complete (the server holds that connection's next message), as the
programming guides describe for a real InfiniiVision.
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
from instruments.sim.scope_switch import ScopeSwitch
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


_KS_TYPES = {  # :ACQuire:TYPE -> (preamble <type>, :WAVeform:TYPE? / :ACQuire:TYPE? reply)
    "NORMAL": ("0", "NORM"),
    "PEAK": ("1", "PEAK"),
    "AVERAGE": ("2", "AVER"),
    "HRESOLUTION": ("3", "HRES"),
}
_KS_REFERENCE = {"LEFT": (0.1, "LEFT"), "CENTER": (0.5, "CENT"), "RIGHT": (0.9, "RIGH")}
_TEK_QUERY_FIELDS = {  # WFMOutpre:<field>? -> index in the WFMOutpre? reply
    5: "WFId",
    6: "NR_Pt",
    7: "PT_Fmt",
    8: "PT_ORder",
    9: "XUNit",
    10: "XINcr",
    11: "XZEro",
    12: "PT_Off",
    13: "YUNit",
    14: "YMUlt",
    15: "YOFf",
    16: "YZEro",
}
_TEK_ENCODINGS = {  # DATa:ENCdg word -> (ascii, signed, lsb first)
    "ASCII": (True, True, False),
    "RIBINARY": (False, True, False),
    "RPBINARY": (False, False, False),
    "SRIBINARY": (False, True, True),
    "SRPBINARY": (False, False, True),
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
    blocking: bool = False  # a :DIGitize is waiting for its acquisition
    numacq: int = 0  # Tektronix ACQuire:NUMACq?: acquisitions since ACQuire:STATE RUN
    ks_reference: str = "CENTER"  # Keysight :TIMebase:REFerence LEFT | CENTER | RIGHT
    ks_sweep: str = "AUTO"  # Keysight :TRIGger:SWEep (AUTO after *RST)
    acq_type: str = "NORMAL"  # Keysight :ACQuire:TYPE
    tek_trig_mode: str = "AUTO"  # Tektronix TRIGger:A:MODe
    tek_acq_mode: str = "SAMPLE"  # Tektronix ACQuire:MODe
    # transfer settings
    wav_source: int = 1
    wav_format: str = "BYTE"  # Keysight BYTE | WORD | ASCII
    points_mode: str = "NORMAL"  # Keysight :WAVeform:POINts:MODE NORMAL | MAXIMUM | RAW
    byteorder: str = "MSBFIRST"
    unsigned: bool = True
    tek_ascii: bool = False
    tek_signed: bool = True
    tek_lsb: bool = False  # RIBinary (MSB first) after *RST
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
        self.ese = 0  # *ESE mask
        self.sre = 0  # *SRE mask
        self._replies_pending = 0  # replies queued earlier in the message being parsed (MAV)
        self._digitized = False  # the message being parsed started a :DIGitize
        self.st = _State()
        self._cache: tuple[Any, bytes] | None = None
        #: the switch in front of a scope shared with other benches (None: this bench's own)
        self.switch: ScopeSwitch | None = None
        table = self._keysight_table() if self.dialect == "keysight" else self._tektronix_table()
        self.commands = [_Command(compile_header(t), m, h) for t, m, h in table]

    # ------------------------------------------------------------ parsing
    def execute(self, message: bytes | str) -> list[str | Block]:
        """Run one program message (units separated by ';'); return its replies in order.

        A :DIGitize does not hold the rest of the message here (the server waits)."""
        replies, rest = self.run(message)
        while rest:
            more, rest = self.run(rest)
            replies += more
        return replies

    def run(self, message: bytes | str) -> tuple[list[str | Block], str | None]:
        """Run units until one leaves a :DIGitize waiting; return (replies, the units left).

        The units left are ``""`` when this message's last unit started the wait, None when
        the sender need not wait."""
        text = message.decode("ascii", "replace") if isinstance(message, bytes) else message
        replies: list[str | Block] = []
        with self.lock:
            self._replies_pending = 0
            self._digitized = False
            units = _split_units(text)
            for k, unit in enumerate(units):
                if k and self._digitized and self.blocked:
                    return replies, ";".join(units[k:])
                try:
                    out = self._unit(unit)
                except ScpiFault as exc:
                    self.push_error(exc.code, str(exc))
                    continue
                if out is not None:
                    replies.append(out)
                    self._replies_pending += 1
            return replies, ("" if self._digitized and self.blocked else None)

    @property
    def blocked(self) -> bool:
        """True while a :DIGitize waits for its acquisition (the sender's next message waits)."""
        with self.lock:
            return self.st.blocking and self.st.running

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
        if self.dialect == "keysight":  # SYST:ERR? answers the standard text only
            text = ERRORS.get(code, text.split(";")[0])
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
            ("*OPC", "qs", lambda s, a, q: "1" if q else self._opc()),
            ("*WAI", "s", lambda s, a, q: None),
            ("*ESR", "q", lambda s, a, q: self._esr()),
            ("*ESE", "qs", lambda s, a, q: self._mask("ese", a, q)),
            ("*SRE", "qs", lambda s, a, q: self._mask("sre", a, q)),
            ("*STB", "q", lambda s, a, q: self._nr1(self._stb())),
            ("*TST", "q", lambda s, a, q: self._nr1(0)),
            ("*TRG", "s", lambda s, a, q: self._trg()),
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
            ("CHANnel<n>:RANGe", "qs", self._ch_range),
            ("CHANnel<n>", "q", lambda s, a, q: self._ks_channel_setup(s)),
            ("TIMebase", "q", lambda s, a, q: self._ks_timebase_setup()),
            ("TIMebase:MODE", "qs", lambda s, a, q: "MAIN" if q else _discard(_enum(a, ["MAIN"]))),
            ("TIMebase:RANGe", "qs", self._ks_range),
            ("TIMebase:SCALe", "qs", self._ks_scale),
            ("TIMebase:POSition", "qs", self._ks_position),
            ("TIMebase:REFerence", "qs", self._ks_reference),
            ("TRIGger:MODE", "qs", lambda s, a, q: "EDGE" if q else _discard(_enum(a, ["EDGE"]))),
            ("TRIGger:EDGE:SOURce", "qs", self._trig_source),
            ("TRIGger:EDGE:LEVel", "qs", self._ks_trig_level),
            ("TRIGger:EDGE:SLOPe", "qs", self._ks_slope),
            ("TRIGger:SWEep", "qs", self._ks_sweep),
            ("TRIGger:FORCe", "s", lambda s, a, q: self._force()),
            ("ACQuire:MODE", "qs", self._ks_acq_mode),
            ("ACQuire:TYPE", "qs", self._ks_acq_type),
            ("ACQuire:POINts", "q", lambda s, a, q: str(self.st.points)),
            ("ACQuire:SEGMented:COUNt", "qs", self._ks_seg_count),
            ("ACQuire:SEGMented:INDex", "qs", self._ks_seg_index),
            ("SINGle", "s", lambda s, a, q: self._start(self.st.segmented, self.st.seg_count)),
            ("RUN", "s", lambda s, a, q: self._start(False, 1, continuous=True)),
            ("STOP", "s", lambda s, a, q: self._stop()),
            ("DIGitize", "s", lambda s, a, q: self._digitize(a)),
            ("AUToscale", "s", lambda s, a, q: self._autoscale()),
            ("SYSTem:SETup", "qs", self._ks_setup),
            ("OPERegister:CONDition", "q", lambda s, a, q: str(40 if self.st.running else 0)),
            ("TER", "q", lambda s, a, q: self._ter()),
            ("WAVeform:SOURce", "qs", self._wav_source),
            ("WAVeform:FORMat", "qs", self._ks_format),
            ("WAVeform:BYTeorder", "qs", self._ks_byteorder),
            ("WAVeform:UNSigned", "qs", self._ks_unsigned),
            ("WAVeform:POINts", "qs", self._points),
            ("WAVeform:POINts:MODE", "qs", self._ks_points_mode),
            ("WAVeform:PREamble", "q", lambda s, a, q: ",".join(self._ks_preamble_fields())),
            ("WAVeform:COUNt", "q", lambda s, a, q: self._ks_preamble_fields()[3]),
            ("WAVeform:XINCrement", "q", lambda s, a, q: self._ks_preamble_fields()[4]),
            ("WAVeform:XORigin", "q", lambda s, a, q: self._ks_preamble_fields()[5]),
            ("WAVeform:XREFerence", "q", lambda s, a, q: self._ks_preamble_fields()[6]),
            ("WAVeform:YINCrement", "q", lambda s, a, q: self._ks_preamble_fields()[7]),
            ("WAVeform:YORigin", "q", lambda s, a, q: self._ks_preamble_fields()[8]),
            ("WAVeform:YREFerence", "q", lambda s, a, q: self._ks_preamble_fields()[9]),
            ("WAVeform:TYPE", "q", lambda s, a, q: _KS_TYPES[self.st.acq_type][1]),
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
            ("TRIGger:A:MODe", "qs", self._tek_trig_mode),
            ("TRIGger:STATE", "q", lambda s, a, q: self._tek_trigger_state()),
            ("TRIGger", "s", lambda s, a, q: self._force() if _enum(a, ["FORCe"]) else None),
            (
                "BUSY",
                "q",
                lambda s, a, q: "1" if self.st.running and not self.st.continuous else "0",
            ),
            ("ACQuire:MODe", "qs", self._tek_acq_mode),
            ("ACQuire:NUMACq", "q", lambda s, a, q: str(self.st.numacq)),
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
            ("DATa:WIDth", "qs", self._tek_bytes),
            ("DATa", "q", lambda s, a, q: self._tek_data_setup()),
            ("WFMOutpre:BYT_Nr", "qs", self._tek_bytes),
            ("WFMOutpre:BIT_Nr", "qs", self._tek_bits),
            ("WFMOutpre:ENCdg", "qs", self._tek_wfm_encdg),
            ("WFMOutpre:BN_Fmt", "qs", self._tek_bn_fmt),
            ("WFMOutpre:BYT_Or", "qs", self._tek_byt_or),
            *[
                (f"WFMOutpre:{name}", "q", self._tek_field(i))
                for i, name in _TEK_QUERY_FIELDS.items()
            ],
            ("WFMOutpre", "q", lambda s, a, q: ";".join(self._tek_preamble_fields())),
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
        return self._nr1(value)

    def _nr1(self, value: int) -> str:
        """Integer replies: Keysight signs them (``+0``), Tektronix does not (``0``)."""
        return f"{value:+d}" if self.dialect == "keysight" else str(value)

    def _mask(self, name: str, arg: str | None, q: bool) -> str | None:
        """``*ESE`` / ``*SRE``: an 8-bit enable mask (SRE bit 6 is not settable, IEEE 488.2)."""
        if q:
            return self._nr1(int(getattr(self, name)))
        value = int(_num(arg, 0, 255))
        setattr(self, name, value & ~64 if name == "sre" else value)
        return None

    def _opc(self) -> None:
        """``*OPC``: nothing is pending once a message has been parsed: ESR bit 0 (OPC) is set."""
        self.esr |= 1

    def _stb(self) -> int:
        """``*STB?``: Keysight TRG (bit 0, from TER), MAV (4), ESB (5), MSS (6); Tek 4, 5, 6."""
        stb = 0
        if self.dialect == "keysight" and self.st.ter:
            stb |= 1
        if self._replies_pending:
            stb |= 16
        if self.esr & self.ese:
            stb |= 32
        if stb & self.sre & ~64:
            stb |= 64
        return stb

    def _trg(self) -> None:
        """``*TRG``: Keysight acts as :DIGitize without sources; Tektronix runs the *DDT list
        (empty after *RST), so nothing happens."""
        if self.dialect == "keysight":
            self._digitize(None)

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

    def _ch_range(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        """Keysight full-scale vertical range: 8 divisions of the scale."""
        ch = self._chan(sfx)
        if q:
            return _nr3(ADC_FULL_SCALE_DIV * ch.scale)
        ch.scale = _num(arg, 8e-6, 8e4) / ADC_FULL_SCALE_DIV
        return None

    def _ks_channel_setup(self, sfx: list[int]) -> str:
        """``:CHANnel<n>?``: the channel's settings, headers on (the form PyMeasure parses)."""
        n = sfx[0]
        ch = self._chan(sfx)
        return (
            f":CHAN{n}:RANG {ADC_FULL_SCALE_DIV * ch.scale:+.2E};OFFS {ch.offset:+.5E};"
            f"COUP {ch.coupling};IMP ONEM;DISP {int(ch.display)};BWL 0;INV 0;"
            f'LAB "{n}";UNIT VOLT;PROB {ch.probe:+.2E};PROB:SKEW +0.00E+00;STYP SING'
        )

    def _ks_timebase_setup(self) -> str:
        st = self.st
        ref = _KS_REFERENCE[st.ks_reference][1]
        return f":TIM:MODE MAIN;REF {ref};MAIN:RANG {st.duration:+.2E};POS {st.ks_position:+.1E}"

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
        if self.dialect == "keysight":  # POSition = trigger to the reference point
            return st.ks_position - _KS_REFERENCE[st.ks_reference][0] * st.duration
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
            return _KS_REFERENCE[self.st.ks_reference][1]
        self.st.ks_reference = _enum(arg, ["LEFT", "CENTer", "RIGHt"])
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

    def _ks_sweep(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "AUTO" if self.st.ks_sweep == "AUTO" else "NORM"
        self.st.ks_sweep = _enum(arg, ["AUTO", "NORMal"])
        return None

    def _tek_trig_mode(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self.st.tek_trig_mode
        self.st.tek_trig_mode = _enum(arg, ["AUTO", "NORMal"])
        return None

    def _tek_trigger_state(self) -> str:
        st = self.st
        if not st.running:
            return "SAVE"
        return "AUTO" if st.tek_trig_mode == "AUTO" else "READY"

    # ------------------------------------------------------------ acquisition
    def _start(self, segmented: bool, count: int, continuous: bool = False) -> None:
        if self.switch is not None:
            self.switch.select()  # arming a shared scope routes this bench's DUT to it
        st = self.st
        st.captures = []
        st.target = count if segmented else 1
        st.continuous = continuous
        st.running = True
        st.ter = False
        st.numacq = 0
        st.blocking = False
        self._cache = None

    def _stop(self) -> None:
        self.st.running = False
        self.st.blocking = False

    def _digitize(self, arg: str | None) -> None:
        """``:DIGitize [src[,src...]]``: one acquisition (all segments in segmented mode);
        the scope is stopped afterwards and the sender waits until it is complete."""
        for src in (arg or "").split(","):
            if src.strip():
                self._parse_source(src)
        st = self.st
        self._start(st.segmented, st.seg_count)
        st.blocking = True
        self._digitized = True

    def _autoscale(self) -> None:
        """``:AUToscale``: the simulator cannot search a single-shot signal; it centres the
        timebase reference, puts the trigger at it and leaves the scope running."""
        st = self.st
        st.ks_reference, st.ks_position = "CENTER", 0.0
        self._start(False, 1, continuous=True)

    def _force(self) -> None:
        """Force a trigger now: an armed acquisition records the (pulse-free) inputs."""
        st = self.st
        if not st.running:
            return
        self._store(self._quiet_capture())

    def _ks_acq_type(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return _KS_TYPES[self.st.acq_type][1]
        self.st.acq_type = _enum(arg, ["NORMal", "AVERage", "HRESolution", "PEAK"])
        return None

    def _tek_acq_mode(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return self.st.tek_acq_mode
        words = ["SAMple", "PEAKdetect", "HIRes", "AVErage", "ENVelope"]
        self.st.tek_acq_mode = _enum(arg, words)
        return None

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
            if self.switch is not None and not self.switch.routed():
                return  # the switch routes another bench's DUT: this pulse never arrives
            t_trig = self._trigger_time(event)
            if t_trig is None:
                return
            self._store(self._capture(event, t_trig))

    def _store(self, capture: Capture) -> None:
        st = self.st
        if st.continuous and not st.segmented:
            st.captures = [capture]
        else:
            st.captures.append(capture)
        st.ter = True
        self._cache = None
        if not st.segmented or len(st.captures) >= st.target:
            st.numacq += 1
        if not st.continuous and len(st.captures) >= st.target:
            st.running = False
            st.blocking = False

    def _quiet_capture(self) -> Capture:
        """A record with no pulse in it (forced trigger): every input at 0 V."""
        st = self.st
        n, dt = st.points, st.duration / st.points
        codes, lsbs, offsets = {}, {}, {}
        for k, ch in st.channels.items():
            lsb = ADC_FULL_SCALE_DIV * ch.scale / 65536.0
            code = int(np.clip(np.rint(-ch.offset / lsb), -32768, 32767))
            codes[k] = np.full(n, code, dtype=np.int16)
            lsbs[k], offsets[k] = lsb, ch.offset
        return Capture(self.world.clock.now(), self.x0(), dt, codes, lsbs, offsets)

    def _input_volts(self, sig: dict[str, Any], n: int, size: int) -> npt.NDArray[np.float64]:
        probe = self.probes.get(n)
        if probe is None:
            return np.zeros(size)
        gain = probe.volts_per_unit * self.st.channels[n].probe
        if probe.quantity == "current":  # a current monitor out of calibration reads high
            gain *= 1.0 + self.world.faults.reference_gain_error / 100.0
        return np.asarray(sig[probe.quantity] * gain, dtype=np.float64)

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
            return "ASC" if self.st.wav_format == "ASCII" else self.st.wav_format
        self.st.wav_format = _enum(arg, ["WORD", "BYTE", "ASCii"])
        return None

    def _ks_points_mode(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return {"NORMAL": "NORM", "MAXIMUM": "MAX", "RAW": "RAW"}[self.st.points_mode]
        self.st.points_mode = _enum(arg, ["NORMal", "MAXimum", "RAW"])
        return None

    def _ks_setup(self, sfx: list[int], arg: str | None, q: bool) -> str | Block | None:
        """``:SYSTem:SETup``: the settings as a definite block (the simulator's own format)."""
        st = self.st
        if q:
            items = [
                f"points={st.points}",
                f"duration={st.duration!r}",
                f"position={st.ks_position!r}",
                f"reference={st.ks_reference}",
                f"trig_source={st.trig_source}",
                f"trig_slope={st.trig_slope}",
                f"sweep={st.ks_sweep}",
            ]
            for n, ch in st.channels.items():
                items.append(
                    f"ch{n}={ch.scale!r}/{ch.offset!r}/{ch.probe!r}/{ch.coupling}/{int(ch.display)}"
                )
                items.append(f"level{n}={st.trig_levels[n]!r}")
            return Block(",".join(items).encode("ascii"), 8)
        text = (arg or "").strip()
        if not text.startswith("#") or not text[1:2].isdigit() or text[1] == "0":
            raise ScpiFault(-104, "expected a definite block")
        d = int(text[1])
        body = text[2 + d :]
        if len(body) != int(text[2 : 2 + d] or -1):
            raise ScpiFault(-104, "block length")
        try:
            values = dict(item.split("=", 1) for item in body.split(","))
            st.points, st.duration = int(values["points"]), float(values["duration"])
            st.ks_position, st.ks_reference = float(values["position"]), values["reference"]
            st.trig_source, st.trig_slope = int(values["trig_source"]), values["trig_slope"]
            st.ks_sweep = values["sweep"]
            for n, ch in st.channels.items():
                scale, offset, probe, coupling, display = values[f"ch{n}"].split("/")
                ch.scale, ch.offset, ch.probe = float(scale), float(offset), float(probe)
                ch.coupling, ch.display = coupling, display == "1"
                st.trig_levels[n] = float(values[f"level{n}"])
        except (KeyError, ValueError) as exc:
            raise ScpiFault(-230, f"setup: {exc}") from None
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

    def _tek_encoding_name(self) -> str:
        st = self.st
        if st.tek_ascii:
            return "ASCII"
        return next(k for k, v in _TEK_ENCODINGS.items() if v == (False, st.tek_signed, st.tek_lsb))

    def _tek_encoding(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        st = self.st
        if q:
            return self._tek_encoding_name()
        word = _enum(arg, ["ASCIi", "SRIbinary", "RIBinary", "SRPbinary", "RPBinary"])
        ascii_, signed, lsb = _TEK_ENCODINGS[word]
        st.tek_ascii = ascii_
        if not ascii_:
            st.tek_signed, st.tek_lsb = signed, lsb
        return None

    def _tek_wfm_encdg(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "ASC" if self.st.tek_ascii else "BIN"
        self.st.tek_ascii = _enum(arg, ["ASCii", "BINary"]) == "ASCII"
        return None

    def _tek_bn_fmt(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "RI" if self.st.tek_signed else "RP"
        self.st.tek_signed = _enum(arg, ["RI", "RP"]) == "RI"
        return None

    def _tek_byt_or(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return "LSB" if self.st.tek_lsb else "MSB"
        self.st.tek_lsb = _enum(arg, ["LSB", "MSB"]) == "LSB"
        return None

    def _tek_bits(self, sfx: list[int], arg: str | None, q: bool) -> str | None:
        if q:
            return str(8 * self.st.tek_bytes)
        self.st.tek_bytes = int(_enum(arg, ["8", "16"])) // 8
        return None

    def _tek_field(self, index: int) -> Callable[[list[int], str | None, bool], str]:
        return lambda s, a, q: self._tek_preamble_fields()[index]

    def _tek_data_setup(self) -> str:
        """``DATa?`` (HEADer OFF): DESTination;ENCdg;SOUrce;STARt;STOP;WIDth."""
        st = self.st
        src = self._source_name(st.wav_source)
        return f"REF1;{self._tek_encoding_name()};{src};{st.data_start};{st.data_stop};" + str(
            st.tek_bytes
        )

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

    def _ks_view(self, cap: Capture, src: int) -> tuple[npt.NDArray[np.int16], float]:
        """The transferred points: the record decimated to at most :WAVeform:POINts."""
        codes = cap.codes[src]
        step = max(1, -(-codes.size // max(self.st.points, 1)))
        return (codes[::step], cap.dt * step) if step > 1 else (codes, cap.dt)

    def _ks_preamble_fields(self) -> list[str]:
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
            codes, dt = self._ks_view(cap, src)
            lsb, off, n, x0 = cap.lsb[src], cap.offset[src], codes.size, cap.x0
        fmt = st.wav_format
        byte = fmt == "BYTE"  # ASCii reports the WORD scaling (yreference 32768)
        yinc = lsb * 256 if byte else lsb
        yref = (128 if byte else 32768) if (st.unsigned or fmt == "ASCII") else 0
        return [
            {"BYTE": "0", "WORD": "1", "ASCII": "4"}[fmt],
            _KS_TYPES[st.acq_type][0],
            str(n),
            "1",
            _nr3(dt),
            _nr3(x0),
            "0",
            _nr3(yinc),
            _nr3(off),
            str(yref),
        ]

    def _ks_data(self) -> Block:
        if self.switch is not None:
            self.switch.read()
        st = self.st
        cap = self._ks_capture()
        if cap is None:
            self.push_error(-230, ERRORS[-230])
            return Block(b"", 8)
        key = (id(cap), st.wav_source, st.wav_format, st.byteorder, st.unsigned, st.points)
        if self._cache is not None and self._cache[0] == key:
            return Block(self._cache[1], 8)
        codes, _ = self._ks_view(cap, st.wav_source)
        end = "<" if st.byteorder == "LSBFIRST" else ">"
        if st.wav_format == "ASCII":  # volts, NR3, comma-separated, inside a #8 block
            u = np.clip(codes.astype(np.int32) + 32768, 1, 65535)
            volts = (u - 32768) * cap.lsb[st.wav_source] + cap.offset[st.wav_source]
            payload = ",".join(f"{v:+.6E}" for v in volts.tolist()).encode("ascii")
        elif st.wav_format == "WORD":
            u = np.clip(codes.astype(np.int32) + 32768, 1, 65535)
            arr = u.astype(end + "u2") if st.unsigned else (u - 32768).astype(end + "i2")
            payload = arr.tobytes()
        else:
            b = np.clip(self._bytes8(codes) + 128, 1, 255)
            payload = (b.astype("u1") if st.unsigned else (b - 128).astype("i1")).tobytes()
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

    def _tek_preamble_fields(self) -> list[str]:
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
        signed = st.tek_signed
        nb = st.tek_bytes
        ymult = lsb if nb == 2 else lsb * 256
        yoff = 0 if signed else (32768 if nb == 2 else 128)
        ch = st.channels[src]
        wfid = (
            f'"Ch{src}, {ch.coupling} coupling, {ch.scale:.4E} V/div, '
            f'{st.duration / 10:.4E} s/div, {n} points, Sample mode"'
        )
        return [
            str(nb),
            str(8 * nb),
            "ASC" if st.tek_ascii else "BIN",
            "RI" if signed else "RP",
            "LSB" if st.tek_lsb else "MSB",
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

    def _tek_curve(self) -> Block | str:
        if self.switch is not None:
            self.switch.read()
        st = self.st
        frames = self._tek_frames()
        if not frames:
            self.push_error(-230, f"{ERRORS[-230]}; no acquisition")
            return Block(b"")
        key = (
            tuple(id(c) for c in frames),
            st.wav_source,
            (st.tek_ascii, st.tek_signed, st.tek_lsb),
            st.tek_bytes,
            st.data_start,
            st.data_stop,
        )
        if self._cache is not None and self._cache[0] == key:
            cached = self._cache[1]
            return cached.decode("ascii") if st.tek_ascii else Block(cached)
        lo, hi = self._tek_span(frames[0].codes[st.wav_source].size)
        codes = np.concatenate([c.codes[st.wav_source][lo - 1 : hi] for c in frames])
        signed = st.tek_signed
        end = "<" if st.tek_lsb else ">"
        if st.tek_bytes == 2:
            arr = (
                codes.astype(end + "i2")
                if signed
                else (codes.astype(np.int32) + 32768).astype(end + "u2")
            )
        else:
            b = self._bytes8(codes)
            arr = b.astype("i1") if signed else (b + 128).astype("u1")
        if st.tek_ascii:  # NR1 codes, comma-separated, no block header
            text = ",".join(str(v) for v in arr.astype(np.int64).tolist())
            self._cache = (key, text.encode("ascii"))
            return text
        payload = arr.tobytes()
        self._cache = (key, payload)
        return Block(payload)

    def _tek_timestamps(self) -> str:
        caps = self.st.captures
        if not caps:
            raise ScpiFault(-230, "no frames acquired")
        t0 = caps[0].t_trigger
        return ",".join(f"{c.t_trigger - t0:.15E}" for c in caps)
