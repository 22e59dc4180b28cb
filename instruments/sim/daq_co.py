"""Counter output (pulse generation) on the simulated X Series card.

What a counter output task does, as nidaqmx drives it (facts and sources in
``instruments/daq/nidaqmx_facts.md``, "Counter output"):

- ``add_co_pulse_chan_time`` / ``add_co_pulse_chan_freq`` make one channel per
  counter with an idle state, an initial delay and one pulse's high and low time
  (or frequency and duty cycle); its output terminal (``co_pulse_term``) defaults
  to the counter's default output terminal (X Series: ctrN -> PFI(12 + N)).
- Without timing the task generates that one pulse when started.
- ``cfg_implicit_timing(FINITE, n)`` plus a buffered write of ``CtrTime`` /
  ``CtrFreq`` samples makes a *finite pulse train*: one pulse per sample (the
  buffer regenerates when it holds fewer than ``n``), each a high time then a low
  time, after the channel's initial delay; the task is done after the last pulse's
  low time.

With the line idle low a pulse's rising edge starts its high time: rising edge k
is at ``start + initial_delay + sum(high_j + low_j for j < k)``. With the line
idle high the pulse is its low time first (assumption, see the facts file) and the
rising edge ends it. Every edge on the terminal wired to the stimulator's trigger
input (``DaqSettings.trigger_terminal()``) goes onto the world's trigger line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nidaqmx.constants import FrequencyUnits, Level, TimeUnits, UsageTypeCO

# Real NI-DAQmx error codes (nidaqmx.error_codes.DAQmxErrors).
CO_WRITE_DUTY_CYCLE_OUT_OF_RANGE = -200684
CO_WRITE_FREQ_OUT_OF_RANGE = -200685
CO_WRITE_PULSE_HIGH_TIME_OUT_OF_RANGE = -200686
CO_WRITE_PULSE_LOW_TIME_OUT_OF_RANGE = -200687
WRITE_WHEN_TASK_NOT_RUNNING_CO_TIME = -200874
WRITE_WHEN_TASK_NOT_RUNNING_CO_FREQ = -200875
OUTPUT_BUFFER_EMPTY = -200462
PAL_RESOURCE_RESERVED = -50103
INVALID_ATTRIBUTE_VALUE = -200077

# X Series counters: 100 MHz timebase, 32 bits; a pulse phase lasts at least 2 ticks.
# Longer phases use the 100 kHz timebase (2^32 ticks of it: ~11.9 h).
TIMEBASE_HZ = 100e6
MIN_PHASE_S = 2 / TIMEBASE_HZ
MAX_PHASE_S = (2**32 - 1) / 100e3
CO_TERM_BASE = 12  # ctrN drives PFI(12 + N) by default

PULSE_TIME = UsageTypeCO.PULSE_TIME.value
PULSE_FREQUENCY = UsageTypeCO.PULSE_FREQUENCY.value
IDLE_LOW, IDLE_HIGH = Level.LOW.value, Level.HIGH.value
SECONDS = TimeUnits.SECONDS.value
HZ = FrequencyUnits.HZ.value


class CoError(Exception):
    """A counter output call the card refuses: ``code`` is the DAQmx error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CoChannel:
    """One counter output channel: the pulse it makes and where it goes."""

    output_type: int  # PULSE_TIME | PULSE_FREQUENCY
    idle_state: int
    initial_delay_s: float
    high_s: float
    low_s: float
    term: str  # /Dev/PFIn


@dataclass
class CoRun:
    """One started generation: its rising edges and when it ends (world s)."""

    edges: list[float]
    end: float
    wired: bool  # its edges go to the stimulator's trigger input


@dataclass
class CoTaskState:
    """Counter output state of one task."""

    implicit: bool = False
    finite: bool = True
    samps_per_chan: int = 1
    buffer: list[tuple[float, float]] = field(default_factory=list)  # (high s, low s)
    run: CoRun | None = None


def check_phase(name: str, seconds: float, chan: str) -> None:
    """A high or low time the counter can make (2 ticks of 100 MHz up to 2^32 of 100 kHz)."""
    if not (MIN_PHASE_S - 1e-15 <= seconds <= MAX_PHASE_S) or math.isnan(seconds):
        code = (
            CO_WRITE_PULSE_HIGH_TIME_OUT_OF_RANGE
            if name == "high"
            else CO_WRITE_PULSE_LOW_TIME_OUT_OF_RANGE
        )
        raise CoError(
            code,
            f"Pulse {name} time specified is not supported for this device given the "
            f"counter timebase.\nRequested Value: {seconds:g} s\n"
            f"Minimum: {MIN_PHASE_S:g} s\nMaximum: {MAX_PHASE_S:g} s\nChannel Name: {chan}",
        )


def freq_phases(freq_hz: float, duty: float, chan: str) -> tuple[float, float]:
    """(high s, low s) of one pulse of ``freq_hz`` at duty cycle ``duty`` (checked)."""
    if not 0.0 < duty < 1.0:
        raise CoError(
            CO_WRITE_DUTY_CYCLE_OUT_OF_RANGE,
            f"Duty cycle specified is not supported.\nRequested Value: {duty:g}\n"
            f"Channel Name: {chan}",
        )
    if not freq_hz > 0 or math.isinf(freq_hz):
        raise CoError(
            CO_WRITE_FREQ_OUT_OF_RANGE,
            f"Frequency specified is not supported.\nRequested Value: {freq_hz:g} Hz\n"
            f"Channel Name: {chan}",
        )
    high, low = duty / freq_hz, (1.0 - duty) / freq_hz
    for name, value in (("high", high), ("low", low)):
        try:
            check_phase(name, value, chan)
        except CoError as err:
            raise CoError(CO_WRITE_FREQ_OUT_OF_RANGE, err.message) from None
    return high, low


def pulse_edges(
    chan: CoChannel, state: CoTaskState, start_s: float
) -> tuple[list[float], float]:
    """Rising edges (world s) of a generation started at ``start_s``, and its end."""
    if state.implicit:
        if not state.buffer:
            raise CoError(
                OUTPUT_BUFFER_EMPTY,
                "Generation cannot be started, because the output buffer is empty.\n"
                "Write data before starting a buffered generation.",
            )
        n = state.samps_per_chan
        pulses = [state.buffer[k % len(state.buffer)] for k in range(n)]
    else:
        pulses = [(chan.high_s, chan.low_s)]
    t = start_s + chan.initial_delay_s
    edges = []
    for high, low in pulses:
        # idle low: the line rises as the high time starts; idle high: as it ends
        edges.append(t if chan.idle_state != IDLE_HIGH else t + low)
        t += high + low
    end = t if state.implicit else (t - pulses[0][1])  # a single pulse ends with its high time
    return edges, end
