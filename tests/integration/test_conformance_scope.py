"""Published command flows played over pyvisa (pyvisa-py TCPIP SOCKET) against the simulated scope.

* Keysight InfiniiVision programming guide: ``:DIGitize`` then ``:WAVeform:FORMat``
  BYTE / WORD / ASCii, ``:WAVeform:PREamble?`` and its single fields, ``:WAVeform:DATA?``.
* Tektronix MSO programmer manual: ``DATa:SOUrce``, ``DATa:ENCdg``, ``DATa:WIDth``,
  ``WFMOutpre:<field>?``, ``CURVe?`` after a single sequence polled with ``BUSY?``.
* PyMeasure's ``KeysightDSOX1102G.download_data`` command sequence (written out here;
  PyMeasure is not a dependency).

Raw pyvisa sessions, not the project's driver: these are what other clients send.
Facts: ``instruments/scope/scpi_facts.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvisa

from harness.config import BenchConfig, load_bench
from instruments.scope.block import read_block
from instruments.sim.bench import SimBench
from instruments.sim.rlc import summarise
from instruments.sim.world import PulseEvent, World

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BENCHES = {"keysight": "benches/sim.toml", "tektronix": "benches/sim-magventure.toml"}
INTENSITY = 60.0
KS_FIELDS = ("COUNt", "XINCrement", "XORigin", "XREFerence", "YINCrement", "YORigin", "YREFerence")
TEK_FIELDS = ("BYT_Nr", "BN_Fmt", "BYT_Or", "NR_Pt", "XINcr", "XZEro", "PT_Off", "YMUlt", "YOFf")
TEK_FIELDS += ("YZEro", "ENCdg")


def scope_only(bench: BenchConfig) -> BenchConfig:
    stim = bench.stimulator.model_copy(update={"resource": "ASRL/dev/null::INSTR"})
    return bench.model_copy(update={"stimulator": stim, "daq": None})


@pytest.fixture(scope="module")
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


def start(driver: str) -> SimBench:
    bench = SimBench(scope_only(load_bench(ROOT / BENCHES[driver])))
    bench.start()
    bench.world.set_intensity(INTENSITY)
    bench.world.arm()
    return bench


@pytest.fixture
def keysight() -> Iterator[SimBench]:
    bench = start("keysight")
    yield bench
    bench.stop()


@pytest.fixture
def tektronix() -> Iterator[SimBench]:
    bench = start("tektronix")
    yield bench
    bench.stop()


def session(rm: pyvisa.ResourceManager, bench: SimBench) -> Any:
    assert bench.live.scope is not None
    return rm.open_resource(
        bench.live.scope.resource, read_termination="\n", write_termination="\n", timeout=5000
    )


def peak_A(world: World) -> float:
    return summarise(world.circuit(), world.v0_for(INTENSITY), world.state.waveform).peak_current_A


def fire(world: World) -> PulseEvent:
    last = world.state.last_fire
    at = world.clock.now() + 0.05 if last is None else max(world.clock.now(), last + 0.1)
    event = world.fire(at=at)
    assert event is not None and event.discharged
    return event


def wait_armed(rm: pyvisa.ResourceManager, bench: SimBench) -> None:
    """:DIGitize holds its own connection: see the Run bit (8) on a second one before firing
    (the programming guides' way for a single-shot DUT is the same status register)."""
    other = session(rm, bench)
    try:
        for _ in range(1000):
            if int(other.query(":OPERegister:CONDition?")) & 8:
                return
        raise AssertionError("the scope never armed")
    finally:
        other.close()


def setup_keysight(inst: Any, world: World) -> float:
    """Channel 1 (1 mV/A current monitor) with the pulse on screen, edge trigger at 10 %."""
    peak_v = peak_A(world) * 1e-3
    inst.write("*RST;*CLS")
    inst.write(f":CHANnel1:SCALe {peak_v * 1.3 / 4:.6E}")
    inst.write(":TIMebase:RANGe 1E-3;:TIMebase:REFerence LEFT;:TIMebase:POSition 0")
    inst.write(f":TRIGger:EDGE:SOURce CHANnel1;:TRIGger:EDGE:LEVel {0.1 * peak_v:.6E}")
    inst.write(":TRIGger:SWEep NORMal;:WAVeform:POINts:MODE RAW;:WAVeform:POINts 10000")
    return peak_v


def test_keysight_digitize_and_three_transfer_formats(keysight: SimBench, rm: Any) -> None:
    world = keysight.world
    inst = session(rm, keysight)
    try:
        peak_v = setup_keysight(inst, world)
        inst.write(":DIGitize CHANnel1")
        inst.write("*OPC?")  # held by the scope until the acquisition is complete
        wait_armed(rm, keysight)
        fire(world)
        assert inst.read() == "1"
        assert inst.query(":OPERegister:CONDition?") == "0"  # stopped after :DIGitize
        assert inst.query(":TER?") == "+1"

        inst.write(":WAVeform:SOURce CHANnel1")
        volts: dict[str, np.ndarray] = {}
        for fmt in ("BYTE", "WORD", "ASCii"):
            inst.write(f":WAVeform:FORMat {fmt};:WAVeform:BYTeorder LSBFirst;:WAVeform:UNSigned 1")
            pre = inst.query(":WAVeform:PREamble?").split(",")
            assert pre[0] == {"BYTE": "0", "WORD": "1", "ASCii": "4"}[fmt]
            single = [inst.query(f":WAVeform:{q}?") for q in KS_FIELDS]
            assert single == pre[3:]
            assert inst.query(":WAVeform:POINts?") == pre[2] == "10000"
            xinc, xorg, xref = float(pre[4]), float(pre[5]), int(pre[6])
            yinc, yorg, yref = float(pre[7]), float(pre[8]), int(pre[9])
            assert xinc == pytest.approx(1e-7) and xorg == pytest.approx(-1e-4)
            inst.write(":WAVeform:DATA?")
            if fmt == "ASCii":
                raw = inst.read_raw()  # "#8" + 8 digits + text + LF
                assert raw[:2] == b"#8" and len(raw) == 10 + int(raw[2:10]) + 1
                v = np.array([float(x) for x in raw[10:-1].decode().split(",")])
            else:
                payload = read_block(inst)
                codes = np.frombuffer(payload, "u1" if fmt == "BYTE" else "<u2")
                v = (codes.astype(float) - yref) * yinc + yorg
            assert v.size == 10000 and v.max() == pytest.approx(peak_v, rel=0.03)
            t = (np.arange(v.size) - xref) * xinc + xorg
            assert t[np.argmax(v)] > 0  # the pulse peaks after the trigger
            volts[fmt] = v
        byte_lsb = 256 * 8 * float(inst.query(":CHANnel1:SCALe?")) / 65536
        assert np.abs(volts["WORD"] - volts["ASCii"]).max() < 1e-5 * peak_v + 1e-9
        assert np.abs(volts["WORD"] - volts["BYTE"]).max() <= byte_lsb
    finally:
        inst.close()


def test_keysight_unknown_command_and_status_registers(keysight: SimBench, rm: Any) -> None:
    inst = session(rm, keysight)
    try:
        inst.write("*CLS;*ESE 32;*SRE 32")
        inst.write(":FROBnicate:NOW 1")
        assert inst.query("*STB?") == "+96"  # ESB and MSS
        assert inst.query(":SYSTem:ERRor?") == '-113,"Undefined header"'
        assert inst.query(":SYSTem:ERRor?") == '+0,"No error"'
        assert inst.query("*ESR?") == "+32"
        assert inst.query("*ESR?") == "+0"
        assert inst.query("*TST?") == "+0"
    finally:
        inst.close()


def test_pymeasure_keysight_download_data_sequence(keysight: SimBench, rm: Any) -> None:
    """The bytes PyMeasure's KeysightDSOX1102G sends (lower-case forms included)."""
    world = keysight.world
    inst = session(rm, keysight)
    try:
        inst.write("*RST")  # factory_reset()
        inst.write("*CLS")  # clear_status()
        peak_v = peak_A(world) * 1e-3
        inst.write(f":channel1:SCALe {peak_v * 1.3 / 4:f}")  # ch(1).scale = ...
        inst.write(f":TRIGger:EDGE:LEVel {0.1 * peak_v:f}")  # (no PyMeasure property)
        inst.write(":DIGitize CHAN1")  # digitize("channel1")
        wait_armed(rm, keysight)
        fire(world)
        assert inst.query("*OPC?") == "1"
        # download_data(source="channel1", points=2000)
        inst.write(":waveform:source CHAN1")
        inst.write(":waveform:points:mode NORM")
        inst.write(":waveform:points 2000")
        pre = [float(v) for v in inst.query(":waveform:preamble?").split(",")]
        assert len(pre) == 10 and int(pre[2]) <= 2000 and int(pre[0]) in (0, 1, 4)
        inst.write(":waveform:format ASC")
        raw = inst.query(":waveform:data?").split(",")
        raw[0] = raw[0][10:]  # PyMeasure strips "#8" and the eight length digits
        data = np.array([float(x) for x in raw])
        assert data.size == int(pre[2]) and data.max() == pytest.approx(peak_v, rel=0.05)
        # the read-backs PyMeasure maps
        assert inst.query(":waveform:points:mode?") == "NORM"
        assert inst.query(":waveform:format?") == "ASC"
        assert inst.query(":waveform:source?") == "CHAN1"
        assert int(inst.query(":waveform:preamble?").split(",")[0]) == 4
        assert inst.query(":ACQuire:TYPE?") == "NORM" and inst.query(":ACQuire:MODE?") == "RTIM"
        chan = inst.query(":channel1?")
        assert chan[5] == "1" and dict(v.split(" ") for v in chan[7:].split(";"))["COUP"] == "DC"
        tb = dict(v.split(" ") for v in inst.query(":timebase?")[5:].split(";"))
        assert tb["MODE"] == "MAIN" and float(tb["MAIN:RANG"]) > 0
        inst.write(":autoscale")
        assert inst.query(":SYSTem:ERRor?") == '+0,"No error"'
    finally:
        inst.close()


def test_tektronix_single_sequence_and_curve(tektronix: SimBench, rm: Any) -> None:
    world = tektronix.world
    inst = session(rm, tektronix)
    try:
        peak_v = peak_A(world) * 1e-3
        inst.write("*RST;*CLS;HEADer OFF")
        inst.write(f"CH1:SCAle {peak_v * 1.3 / 4:.6E}")
        inst.write("HORizontal:RECOrdlength 10000;HORizontal:SCAle 1E-4;HORizontal:POSition 10")
        inst.write(f"TRIGger:A:EDGE:SOUrce CH1;TRIGger:A:LEVel:CH1 {0.1 * peak_v:.6E}")
        inst.write("TRIGger:A:MODe NORMal;ACQuire:STOPAfter SEQuence;ACQuire:STATE RUN")
        assert inst.query("TRIGger:STATE?") == "READY"
        assert inst.query("BUSY?") == "1"
        fire(world)
        for _ in range(1000):  # "while BUSY? keep looping" (bounded)
            if inst.query("BUSY?") == "0":
                break
        assert inst.query("BUSY?") == "0" and inst.query("ACQuire:NUMACq?") == "1"
        assert inst.query("TRIGger:STATE?") == "SAVE"

        inst.write("DATa:SOUrce CH1;DATa:ENCdg RIBinary;DATa:WIDth 2;DATa:STARt 1;DATa:STOP 10000")
        f = {k: inst.query(f"WFMOutpre:{k}?") for k in TEK_FIELDS}
        assert (f["BYT_Nr"], f["BN_Fmt"], f["BYT_Or"], f["ENCdg"]) == ("2", "RI", "MSB", "BIN")
        assert int(f["NR_Pt"]) == 10000
        inst.write("CURVe?")
        codes = np.frombuffer(read_block(inst), ">i2")
        v = (codes - float(f["YOFf"])) * float(f["YMUlt"]) + float(f["YZEro"])
        t = float(f["XZEro"]) + (np.arange(codes.size) - float(f["PT_Off"])) * float(f["XINcr"])
        assert codes.size == 10000 and v.max() == pytest.approx(peak_v, rel=0.03)
        assert t[0] == pytest.approx(-1e-4) and t[np.argmax(v)] > 0
        inst.write("DATa:ENCdg ASCIi")
        text = inst.query("CURVe?")
        assert np.array_equal(np.array([int(x) for x in text.split(",")]), codes)
        inst.write("FOO:BAR")
        assert inst.query("*ESR?") == "32"
        assert inst.query("ALLEv?").startswith('-113,"Undefined header')
    finally:
        inst.close()
