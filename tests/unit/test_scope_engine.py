"""The simulated scope's SCPI engine without a socket: parser, state, ADC, capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.config import load_bench
from instruments.sim.rlc import summarise
from instruments.sim.scope_engine import Block, ScopeEngine, compile_header
from instruments.sim.world import World

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {"keysight": "benches/sim.toml", "tektronix": "benches/sim-magventure.toml"}


def make(driver: str, noise: float | None = None) -> tuple[World, ScopeEngine]:
    bench = load_bench(ROOT / BENCHES[driver])
    if noise is not None:
        assert bench.sim is not None
        bench = bench.model_copy(update={"sim": bench.sim.model_copy(update={"noise": noise})})
    world = World(bench)
    assert bench.scope is not None
    engine = ScopeEngine(world, bench.scope)
    world.subscribe(engine.on_pulse)
    world.set_intensity(60)
    world.arm()
    return world, engine


def one(engine: ScopeEngine, msg: str) -> str | Block:
    out = engine.execute(msg)
    assert len(out) == 1, out
    return out[0]


def test_header_short_and_long_forms() -> None:
    rx = compile_header("CHANnel<n>:SCALe")
    for text in ("CHAN1:SCAL", "channel2:scale", "Chan3:Scale", "CHANNEL:SCAL"):
        assert rx.fullmatch(text), text
    for text in ("CHA1:SCAL", "CHANN1:SCAL", "CHAN1:SCA"):
        assert not rx.fullmatch(text), text


def test_unknown_header_goes_to_the_keysight_queue() -> None:
    _, eng = make("keysight")
    assert eng.execute(":FOO:BAR 1") == []
    assert one(eng, ":SYSTem:ERRor?").startswith('-113,"Undefined header')
    assert one(eng, ":SYST:ERR?") == '+0,"No error"'


def test_tektronix_errors_via_esr_and_allev() -> None:
    _, eng = make("tektronix")
    eng.execute("FOO;CH1:SCAle -3")
    assert one(eng, "*ESR?") == str(32 | 16)  # command error + execution error
    events = one(eng, "ALLEv?")
    assert isinstance(events, str) and events.startswith("-113,") and ",-222," in events
    assert one(eng, "*ESR?") == "0"
    assert one(eng, "ALLEv?") == '0,"No events to report - queue empty"'


def test_compound_message_answers_in_order() -> None:
    _, eng = make("keysight")
    out = eng.execute(":CHAN1:SCAL 0.5;:CHAN1:SCAL?;*OPC?")
    assert out == ["+5.000000000E-01", "1"]


def test_capture_quantises_16_bit_and_scales_like_the_preamble() -> None:
    world, eng = make("keysight", noise=0.0)
    eng.execute(":WAV:FORM WORD;:WAV:BYT LSBF;:WAV:UNS ON;:CHAN1:SCAL 1.0;:TRIG:EDGE:LEV 0.2")
    eng.execute(":SINGle")
    ev = world.fire(at=world.clock.now() + 0.1)
    assert ev is not None
    assert one(eng, ":OPER:COND?") == "0"
    pre = str(one(eng, ":WAV:PRE?")).split(",")
    data = one(eng, ":WAV:DATA?")
    assert isinstance(data, Block) and data.ndigits == 8
    codes = np.frombuffer(data.payload, "<u2").astype(float)
    volts = (codes - float(pre[9])) * float(pre[7]) + float(pre[8])
    t = float(pre[5]) + float(pre[4]) * np.arange(codes.size)
    truth = summarise(ev.circuit, ev.v0_V, ev.topology).peak_current_A * 1e-3
    assert volts.max() == pytest.approx(truth, abs=float(pre[7]))  # within one LSB
    assert t[np.argmax(volts)] > 0  # the peak comes after the trigger
    assert float(pre[7]) == pytest.approx(8 * 1.0 / 65536)


def test_values_beyond_four_divisions_sit_at_the_rails() -> None:
    world, eng = make("keysight", noise=0.0)
    eng.execute(":WAV:FORM WORD;:WAV:BYT LSBF;:CHAN1:SCAL 0.2;:TRIG:EDGE:LEV 0.2")
    eng.execute(":SINGle")
    world.fire(at=world.clock.now() + 0.1)
    codes = np.frombuffer(one(eng, ":WAV:DATA?").payload, "<u2")  # type: ignore[union-attr]
    assert codes.max() == 0xFFFF and codes.min() == 0x0001  # both lobes exceed ±0.8 V
    assert 0 not in codes  # 0x0000 is the hole code, never data
    eng.execute(":WAV:FORM BYTE")
    b = np.frombuffer(one(eng, ":WAV:DATA?").payload, "u1")  # type: ignore[union-attr]
    assert b.max() == 0xFF and b.min() == 0x01


def test_no_trigger_when_the_level_is_never_crossed() -> None:
    world, eng = make("tektronix")
    eng.execute("TRIGger:A:EDGE:SOUrce CH1;TRIGger:A:LEVel:CH1 100;ACQuire:STATE RUN")
    world.fire(at=world.clock.now() + 0.1)
    assert one(eng, "ACQuire:STATE?") == "1"
    eng.execute("TRIGger:A:LEVel:CH1 0.5;TRIGger:A:EDGE:SLOpe FALL")
    world.fire(at=world.clock.now() + 0.2)  # the current falls through 0.5 V after its peak
    assert one(eng, "ACQuire:STATE?") == "0"


def test_fastframe_frames_and_time_stamps() -> None:
    world, eng = make("tektronix")
    eng.execute(
        "HORizontal:RECOrdlength 1000;HORizontal:FASTframe:STATE ON;"
        "HORizontal:FASTframe:COUNt 3;TRIGger:A:LEVel:CH1 0.2;ACQuire:STATE RUN"
    )
    t0 = world.clock.now() + 0.1
    for k in range(3):
        world.fire(at=t0 + 0.25 * k)
    assert one(eng, "ACQuire:NUMFRAMESACQuired?") == "3"
    stamps = [float(x) for x in str(one(eng, "HORizontal:FASTframe:TIMEStamp:ALL?")).split(",")]
    assert stamps == pytest.approx([0.0, 0.25, 0.5], abs=1e-12)
    eng.execute("DATa:ENCdg SRIbinary;WFMOutpre:BYT_Nr 2;DATa:FRAMESTARt 2;DATa:FRAMESTOP 3")
    assert len(one(eng, "CURVe?").payload) == 2 * 2 * 1000  # type: ignore[union-attr]
    assert str(one(eng, "WFMOutpre?")).split(";")[6] == "1000"  # NR_PT is per frame


def test_keysight_segments_and_time_tags() -> None:
    world, eng = make("keysight")
    eng.execute(":ACQ:MODE SEGM;:ACQ:SEGM:COUN 4;:TRIG:EDGE:LEV 0.2;:SING")
    t0 = world.clock.now() + 0.1
    for k in range(4):
        world.fire(at=t0 + 0.1 * k)
    assert one(eng, ":WAV:SEGM:COUN?") == "4"
    tags = [float(str(one(eng, f":ACQ:SEGM:IND {i};:WAV:SEGM:TTAG?"))) for i in range(1, 5)]
    assert tags == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=1e-12)
    eng.execute(":ACQ:SEGM:IND 9")
    assert eng.execute(":WAV:SEGM:TTAG?") == []
    assert one(eng, ":SYST:ERR?").startswith("-222")


def test_data_before_any_acquisition_is_an_error() -> None:
    _, eng = make("keysight")
    data = one(eng, ":WAV:DATA?")
    assert isinstance(data, Block) and data.payload == b""
    assert one(eng, ":SYST:ERR?").startswith("-230")


def test_reset_restores_defaults() -> None:
    _, eng = make("tektronix")
    eng.execute("HORizontal:SCAle 1e-3;HORizontal:RECOrdlength 2000")
    eng.execute("*RST")
    assert one(eng, "HORizontal:SCAle?") == "+1.000000000E-04"
    assert one(eng, "HORizontal:RECOrdlength?") == "10000"
