"""The EMG amplifier input of the simulated DAQ: the subject's MEP after each pulse.

A surface EMG amplifier on the hand muscle feeds an analog input of the NI card (the
bench file's ``ai_voltage`` channel with ``units = "uV"``; ``scale`` is µV at the
electrodes per volt at the card, i.e. 1e6 / amplifier gain). Each pulse the world fired
drives the muscle with the E-field it really induced: the subject sees the pulse as the
intensity (%MSO of the nominal coil and stimulator) that gives the same peak E-field,
so a faded capacitor or a pulse that did not discharge gives a smaller MEP or none.
Peak E-field ∝ peak dI/dt = V0 / L at the start of the discharge (RLC closed form, see
instruments/sim/rlc.py). Each pulse's MEP amplitude is drawn once, from the subject's
seed and the pulse's index, so every task that reads the pulse sees the same MEP.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from instruments.sim.settings import SimSubject
from instruments.sim.subject import MEP_DURATION_S, PP_PER_RMS, Subject, mep_shape
from instruments.sim.world import PulseEvent, World

FloatArray = npt.NDArray[np.float64]
NO_SUBJECT_NOISE_UV = 3.0  # rms at the amplifier input with no muscle connected (µV)


def subject_model(settings: SimSubject) -> Subject:
    """The pure subject model for a bench file's ``[sim.subject]``."""
    return Subject(
        rmt_pct=settings.rmt_pct,
        slope_pct=settings.slope_pct,
        sigma_x_pct=settings.sigma_x_pct,
        sigma_y_log10=settings.sigma_y_log10,
        max_uV=settings.max_uV,
        noise_pp_uV=settings.noise_pp_uV,
        latency_s=settings.latency_ms * 1e-3,
        seed=settings.seed,
    )


class EmgSource:
    """MEPs of the world's subject (or amplifier noise alone when it has none)."""

    def __init__(self, world: World) -> None:
        self.world = world
        cfg = world.sim.subject
        self.subject = subject_model(cfg) if cfg is not None else None
        self.amplitudes_uV: dict[int, float] = {}  # pulse index -> signal MEP peak-to-peak
        self._lock = threading.Lock()
        st = world.sim.stimulator
        # nominal peak dI/dt at 100 %MSO: the device as designed, no faults
        self._didt_100 = st.vmax_V * st.charge_fraction(100.0) / world.nominal_circuit.inductance_H

    @property
    def noise_rms_uV(self) -> float:
        """White-noise rms at the amplifier input (µV)."""
        if self.subject is None:
            return NO_SUBJECT_NOISE_UV
        return self.subject.noise_pp_uV / PP_PER_RMS

    def equivalent_pct(self, e: PulseEvent) -> float:
        """The %MSO whose nominal pulse induces the peak E-field this pulse did."""
        if not e.discharged:
            return 0.0
        didt = e.v0_V / e.circuit.inductance_H
        nominal_factor = self.world.coil_factor
        return 100.0 * (didt * e.coil_factor) / (self._didt_100 * nominal_factor)

    def amplitude_uV(self, e: PulseEvent) -> float:
        """Signal MEP peak-to-peak (µV) of pulse ``e``: drawn once per pulse."""
        assert self.subject is not None
        with self._lock:
            if e.index not in self.amplitudes_uV:
                rng = np.random.default_rng([self.subject.seed, e.index])
                self.amplitudes_uV[e.index] = self.subject.mep_uV(self.equivalent_pct(e), rng)
            return self.amplitudes_uV[e.index]

    def signal_uV(self, t: FloatArray) -> FloatArray:
        """The MEPs (µV, no noise) at world times ``t``."""
        out = np.zeros(t.size)
        if self.subject is None or t.size == 0:
            return out
        reach = self.subject.latency_s + MEP_DURATION_S + 1e-3
        with self.world.lock:
            events = [e for e in self.world.pulses if t[0] - reach <= e.t_s <= t[-1]]
        for e in events:
            lo, hi = np.searchsorted(t, [e.t_s, e.t_s + reach])
            if hi > lo:
                out[lo:hi] += self.amplitude_uV(e) * mep_shape(
                    t[lo:hi] - e.t_s, self.subject.latency_s
                )
        return out
