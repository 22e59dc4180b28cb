"""Byte-exact request -> reply tables from ``instruments/scope/scpi_facts.md``.

Each row is one fact of the sheet (its id in the comment); the expected bytes are
written from the source named there, never from the code under test. The same
rows run against the simulator's engine and, where the driver builds or parses
those bytes, against the driver's dialect codec.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_bench
from instruments.scope.dialects import (
    KEYSIGHT,
    TEKTRONIX,
    keysight_ascii,
    parse_error_pairs,
    parse_keysight_preamble,
    parse_tektronix_preamble,
    tektronix_ascii,
)
from instruments.sim.scope_engine import Block, ScopeEngine
from instruments.sim.world import World

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {"keysight": "benches/sim.toml", "tektronix": "benches/sim-magventure.toml"}


def engine(driver: str) -> ScopeEngine:
    bench = load_bench(ROOT / BENCHES[driver])
    assert bench.scope is not None
    eng = ScopeEngine(World(bench), bench.scope)
    eng.execute("*RST;*CLS")
    return eng


# (request, replies) on a freshly reset scope
KEYSIGHT_ROWS = [
    ("*ESE 36;*ESE?", ["+36"]),  # C3
    ("*SRE 255;*SRE?", ["+191"]),  # C4: bit 6 (RQS) cannot be enabled
    ("*TST?", ["+0"]),  # C6
    ("*STB?", ["+0"]),  # C5
    ("*OPC;*ESR?", ["+1"]),  # C2: OPC is bit 0
    (":FOO:BAR;*ESR?", ["+32"]),  # C1: command error, bit 5
    (":FOO:BAR;:SYSTem:ERRor?", ['-113,"Undefined header"']),  # C1
    (":SYSTem:ERRor?", ['+0,"No error"']),  # K20
    ("*ESE 32;:FOO;*STB?", ["+32"]),  # C5: ESB
    ("*ESE 32;*SRE 32;:FOO;*STB?", ["+96"]),  # C5: ESB + MSS
    (":WAVeform:FORMat ASCii;:WAVeform:FORMat?", ["ASC"]),  # K3
    (":WAVeform:FORMat WORD;:WAVeform:FORMat?", ["WORD"]),  # K3
    (":WAV:POIN:MODE NORM;:WAV:POIN:MODE?", ["NORM"]),  # K9
    (":WAV:POIN:MODE MAX;:WAV:POIN:MODE?", ["MAX"]),  # K9
    (":WAV:POIN:MODE RAW;:WAV:POIN:MODE?", ["RAW"]),  # K9
    (":TRIGger:SWEep?", ["AUTO"]),  # K10: AUTO after *RST
    (":TRIGger:SWEep NORMal;:TRIGger:SWEep?", ["NORM"]),  # K10
    (":ACQuire:TYPE PEAK;:ACQuire:TYPE?", ["PEAK"]),  # K11
    (":ACQuire:TYPE HRESolution;:ACQuire:TYPE?", ["HRES"]),  # K11
    (":ACQuire:MODE SEGMented;:ACQuire:MODE?", ["SEGM"]),  # K11
    (":TIMebase:REFerence LEFT;:TIMebase:REFerence?", ["LEFT"]),  # K12
    (":TIMebase:REFerence RIGHt;:TIMebase:REFerence?", ["RIGH"]),  # K12
    (":TIMebase:MODE?", ["MAIN"]),  # K14
    (":CHANnel1:SCALe 0.5;:CHANnel1:RANGe?", ["+4.000000000E+00"]),  # K13: 8 div
    (":CHANnel2:RANGe 16;:CHANnel2:SCALe?", ["+2.000000000E+00"]),  # K13
    (":WAVeform:SOURce CHANnel2;:WAVeform:SOURce?", ["CHAN2"]),  # K8
]

TEKTRONIX_ROWS = [
    ("*ESE 36;*ESE?", ["36"]),  # C3
    ("*TST?", ["0"]),  # C6
    ("*OPC;*ESR?", ["1"]),  # C2
    ("FOO;*ESR?", ["32"]),  # C1
    ("DATa:WIDth 2;WFMOutpre:BYT_Nr?", ["2"]),  # T3
    ("WFMOutpre:BYT_Nr 1;DATa:WIDth?", ["1"]),  # T3
    ("WFMOutpre:BIT_Nr 16;WFMOutpre:BYT_Nr?", ["2"]),  # T3
    ("DATa:ENCdg SRIbinary;WFMOutpre:BN_Fmt?;WFMOutpre:BYT_Or?", ["RI", "LSB"]),  # T2
    ("DATa:ENCdg RPBinary;WFMOutpre:BN_Fmt?;WFMOutpre:BYT_Or?", ["RP", "MSB"]),  # T2
    ("DATa:ENCdg ASCIi;WFMOutpre:ENCdg?", ["ASC"]),  # T2
    ("WFMOutpre:ENCdg BINary;WFMOutpre:ENCdg?", ["BIN"]),  # T2
    ("WFMOutpre:PT_Fmt?;WFMOutpre:PT_Off?;WFMOutpre:XUNit?", ["Y", "0", '"s"']),  # T1
    ("TRIGger:A:MODe?", ["AUTO"]),  # T6
    ("TRIGger:A:MODe NORMal;TRIGger:A:MODe?", ["NORMAL"]),  # T6
    ("TRIGger:STATE?", ["SAVE"]),  # T7: stopped
    ("BUSY?", ["0"]),  # T8
    ("ACQuire:STOPAfter SEQuence;ACQuire:STATE RUN;BUSY?", ["1"]),  # T8
    ("ACQuire:MODe?", ["SAMPLE"]),  # T5
    ("ACQuire:MODe HIRes;ACQuire:MODe?", ["HIRES"]),  # T5
    ("ACQuire:NUMACq?", ["0"]),  # T5
]


@pytest.mark.parametrize(("request_", "replies"), KEYSIGHT_ROWS)
def test_keysight_reply_bytes(request_: str, replies: list[str]) -> None:
    assert engine("keysight").execute(request_) == replies


@pytest.mark.parametrize(("request_", "replies"), TEKTRONIX_ROWS)
def test_tektronix_reply_bytes(request_: str, replies: list[str]) -> None:
    assert engine("tektronix").execute(request_) == replies


def test_keysight_known_commands_leave_the_queue_empty() -> None:
    """Every command of the fact sheet is a known header (an unknown one would be -113)."""
    eng = engine("keysight")
    for cmd in [
        ":DIGitize CHANnel1",
        ":STOP",
        ":AUToscale",
        ":TRIGger:FORCe",
        ":STOP",
        "*TRG",
        ":STOP",
        ":ACQuire:POINts?",
        ":WAVeform:COUNt?",
        ":WAVeform:TYPE?",
        ":WAVeform:XINCrement?",
        ":WAVeform:XORigin?",
        ":WAVeform:XREFerence?",
        ":WAVeform:YINCrement?",
        ":WAVeform:YORigin?",
        ":WAVeform:YREFerence?",
        ":CHANnel1?",
        ":TIMebase?",
        ":SYSTem:SETup?",
        "*WAI",
    ]:
        eng.execute(cmd)
    assert eng.execute(":SYSTem:ERRor?") == ['+0,"No error"']


def test_tektronix_known_commands_leave_the_queue_empty() -> None:
    eng = engine("tektronix")
    for cmd in ["DATa?", "TRIGger FORCe", "*TRG", "WFMOutpre:WFId?", "WFMOutpre:NR_Pt?"]:
        eng.execute(cmd)
    assert eng.execute("*ESR?") == ["0"]


def test_keysight_channel_and_timebase_setup_replies() -> None:
    """K15/K14: the header-on forms PyMeasure's parser cuts at [7:] and [5:]."""
    eng = engine("keysight")
    chan = eng.execute(":CHANnel1:SCALe 5;:CHANnel1?")[0]
    assert isinstance(chan, str) and chan.startswith(":CHAN1:RANG +4.00E+01;OFFS ")
    fields = dict(v.split(" ") for v in chan[7:].split(";"))
    assert set(fields) >= {"RANG", "OFFS", "COUP", "IMP", "DISP", "PROB", "PROB:SKEW", "STYP"}
    tim = eng.execute(":TIMebase?")[0]
    assert isinstance(tim, str) and tim.startswith(":TIM:MODE MAIN;REF CENT;MAIN:RANG ")
    keys = set(dict(v.split(" ") for v in tim[5:].split(";")))
    assert keys == {"MODE", "REF", "MAIN:RANG", "POS"}


def test_keysight_system_setup_round_trips_as_a_definite_block() -> None:
    """K16: :SYSTem:SETup? is a #8 block; sending it back restores the settings."""
    eng = engine("keysight")
    eng.execute(":CHANnel1:SCALe 0.25;:TIMebase:REFerence LEFT")
    block = eng.execute(":SYSTem:SETup?")[0]
    assert isinstance(block, Block) and block.ndigits == 8
    eng.execute("*RST")
    eng.execute(f":SYSTem:SETup #8{len(block.payload):08d}{block.payload.decode()}")
    assert eng.execute(":CHAN1:SCAL?;:TIM:REF?;:SYST:ERR?") == [
        "+2.500000000E-01",
        "LEFT",
        '+0,"No error"',
    ]


def test_ascii_preamble_format_field_and_word_scaling() -> None:
    """K4: format 4 = ASCii; ASCii reports the WORD scaling (yreference 32768)."""
    eng = engine("keysight")
    pre = str(eng.execute(":WAVeform:FORMat ASCii;:WAVeform:PREamble?")[0]).split(",")
    assert pre[0] == "4" and pre[9] == "32768"
    assert str(eng.execute(":WAV:FORM BYTE;:WAV:PRE?")[0]).split(",")[0] == "0"
    assert str(eng.execute(":WAV:FORM WORD;:WAV:PRE?")[0]).split(",")[0] == "1"


# ------------------------------------------------------------------ the driver's codec


def test_driver_sets_normal_trigger_sweep() -> None:
    """K10/T6: AUTO would record without a trigger, so the driver asks for NORMal."""
    assert ":TRIGger:SWEep NORMal" in KEYSIGHT.trigger
    assert "TRIGger:A:MODe NORMal" in TEKTRONIX.trigger
    assert KEYSIGHT.force_trigger == ":TRIGger:FORCe"  # K17
    assert TEKTRONIX.force_trigger == "TRIGger FORCe"  # T9
    assert ":WAVeform:POINts:MODE RAW" in KEYSIGHT.init  # K9


def test_codec_reads_the_documented_examples() -> None:
    # K4 (PyMeasure test_waveform_preamble): format 4, 62500 points
    p = parse_keysight_preamble("4,0,62500,1,1.6E-08,-5.0E-04,0,7.851759E-04,0,32768")
    assert p.ascii and p.dt_s == pytest.approx(1.6e-8) and p.t0_s == pytest.approx(-5e-4)
    # K5: ASCii values are volts; the codec turns them back into WORD codes
    codes = keysight_ascii(b"+0.000000E+00,+7.851759E-04,-1.570352E-03", p)
    assert codes.tolist() == [32768, 32769, 32766]
    # T1 (TDS5000B guide example, HEADer OFF): NR_PT 1000, XINCR 80e-9, PT_OFF 625
    tek = parse_tektronix_preamble(
        '2;16;BINARY;RI;MSB;"Ch1, DC coupling, 200.0mV/div, 10.00us/div, 1250 points, '
        'Sample mode";1000;Y;LINEAR;"s";80.0000E-9;0.0000;625;"V";31.2500E-6;0.0000;0.0000'
    )
    assert (tek.points, tek.dtype) == (1000, ">i2")
    assert tek.t0_s == pytest.approx(-625 * 80e-9)
    # T4 (TDS programmer manual CURVe? example): NR1 codes, comma-separated
    assert tektronix_ascii(b"61,62,61,60,60,-59", tek).tolist() == [61, 62, 61, 60, 60, -59]
    assert parse_error_pairs('-113,"Undefined header"') == [(-113, "Undefined header")]  # C1


def test_simulator_replies_parse_with_the_codec() -> None:
    """Simulator and codec agree on every preamble form (BYTE, WORD, ASCii; RI/RP, LSB/MSB)."""
    ks = engine("keysight")
    for fmt, ascii_ in (("BYTE", False), ("WORD", False), ("ASCii", True)):
        text = str(ks.execute(f":WAVeform:FORMat {fmt};:WAVeform:PREamble?")[0])
        assert parse_keysight_preamble(text).ascii is ascii_
    tek = engine("tektronix")
    for enc, dtype in (("SRIbinary", "<i2"), ("RIBinary", ">i2"), ("RPBinary", ">u2")):
        text = str(tek.execute(f"DATa:ENCdg {enc};DATa:WIDth 2;WFMOutpre?")[0])
        assert parse_tektronix_preamble(text).dtype == dtype
