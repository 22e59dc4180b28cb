"""Motor-threshold hunts on the bench: stimulator pulses, MEPs from the DAQ's EMG input.

The procedure's logic is pure (:mod:`harness.analysis.threshold`); here each pulse is
delivered through the safety layer and its MEP read from a finite EMG acquisition that
the DAQ's trigger input (wired to the stimulator's trigger-out) starts, so the record's
first sample is the pulse, as with an EMG amplifier into an NI card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.analysis.mep import mep_peak_to_peak_uV
from harness.analysis.threshold import ThresholdProcedure, ThresholdResult
from harness.safety import ArmedStimulator
from instruments.daq.base import Daq
from instruments.daq.settings import DaqSettings

EMG_UNITS = ("uV", "µV")
EMG_RATE_HZ = 5000.0  # ≥ 5 kS/s resolves a ~10 ms MEP (issue 20)
RECORD_S = 0.060  # the 15-50 ms MEP window and a margin
# Rossini et al. 2015: pulses for threshold hunting are spaced by more than ~4-5 s so one
# MEP does not change the next; the simulated muscle has no such memory.
CLINICAL_INTERVAL_S = 5.0


def emg_channel(daq: DaqSettings | None) -> str | None:
    """Name of the bench's EMG channel (an ``ai_voltage`` channel in µV), or None."""
    if daq is None:
        return None
    for name, ch in daq.channels.items():
        if ch.kind == "ai_voltage" and ch.units in EMG_UNITS:
            return name
    return None


@dataclass
class MepReader:
    """One triggered EMG record per pulse, reduced to its MEP peak-to-peak (µV)."""

    daq: Daq
    channel: str
    trigger: str
    rate_hz: float = EMG_RATE_HZ
    record_s: float = RECORD_S

    def pulse(self, fire: Callable[[], object]) -> float:
        """Start the triggered record, ``fire()`` one pulse, read it; MEP in µV."""
        n = round(self.record_s * self.rate_hz)
        with self.daq.start_acquisition(
            [self.channel], n, rate_hz=self.rate_hz, trigger=self.trigger
        ) as acq:
            fire()
            rec = acq.read(n, timeout_s=5.0)
        return mep_peak_to_peak_uV(rec[self.channel], self.rate_hz)


def hunt(
    stim: ArmedStimulator,
    reader: MepReader,
    procedure: ThresholdProcedure,
    *,
    interval_s: float = CLINICAL_INTERVAL_S,
    sleep: Callable[[float], None] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> ThresholdResult:
    """Run ``procedure`` to its end on the armed stimulator; ``on_step(n, %MSO, µV)`` each pulse.

    ``sleep(s)`` waits device seconds between pulses (the stimulator's own clock).
    """
    pulses = 0
    while not procedure.done:
        pct = procedure.next_intensity()
        if stim.intensity_percent != pct:
            stim.set_intensity(pct)
        if pulses and interval_s > 0 and sleep is not None:
            sleep(interval_s)
        amp = reader.pulse(stim.fire)
        pulses += 1
        procedure.observe(amp)
        if on_step is not None:
            on_step(pulses, pct, amp)
    return procedure.result()
