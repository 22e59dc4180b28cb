"""The simulated bench's one world.

All simulated instruments share a :class:`World`: the stimulator front-end
changes its power/arming state and fires it; the scope and DAQ front-ends
subscribe to its pulses and ask it for the signals their probes see. Tests ask
the world (not a driver) what really happened: which pulses fired, at what V0,
and whether the device was left disarmed.

Units: times in world seconds (see :class:`~instruments.sim.clock.WorldClock`),
voltages in V, currents in A, dI/dt in A/s, E-field in V/m, temperatures in °C.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from instruments.settings import ConfigError, Topology
from instruments.sim.clock import WorldClock
from instruments.sim.rlc import Circuit, current_and_didt, summarise
from instruments.sim.settings import SimBenchSettings, SimSettings
from instruments.sim.trigger import TriggerLine

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

BLEED_TAU_S = 0.5  # disarmed: capacitor bleeds to 0 through its dump resistor
DUMP_TAU_S = 0.05  # lowering power while armed: excess charge dumped
MAX_CAP_HISTORY = 200_000  # capacitor breakpoints kept for the DAQ's look-back


@dataclass(frozen=True)
class PulseEvent:
    """One fire of the simulated stimulator, as the world saw it."""

    index: int  # 0-based count of fires (including missing pulses)
    t_s: float  # world time of the discharge (trigger-out), s
    intensity_percent: float
    v0_V: float  # actual capacitor voltage at discharge (faults applied)
    topology: Topology  # actual topology (a misfire cuts biphasic to halfsine)
    circuit: Circuit  # actual loop (inductance shift applied)
    coil_factor: float  # V/m per A/µs
    discharged: bool = True  # False: trigger-out happened but no current flowed
    dissipated_J: float = 0.0
    coil_temperature_C: float = 0.0  # coil temperature just after the pulse
    channel: str = "A"

    def signals(self, t_rel_s: npt.ArrayLike) -> dict[str, FloatArray]:
        """Noise-free probe quantities at ``t_rel_s`` (s after discharge).

        Keys: ``current`` (A), ``didt`` (A/µs), ``efield`` (V/m at 2 cm).
        """
        t = np.asarray(t_rel_s, dtype=np.float64)
        if not self.discharged:
            z = np.zeros_like(t)
            return {"current": z, "didt": z.copy(), "efield": z.copy()}
        i, didt = current_and_didt(self.circuit, self.v0_V, self.topology, t)
        didt_us = didt * 1e-6
        return {"current": i, "didt": didt_us, "efield": didt_us * self.coil_factor}


@dataclass
class _CapState:
    """Capacitor breakpoint: voltage ``v`` at world time ``t``, then ``mode`` toward ``target``."""

    t: float
    v: float
    mode: str  # "charge" | "bleed"
    target: float


@dataclass
class StimulatorState:
    """What the simulated stimulator is doing; written by its front-end."""

    intensity_percent: float = 0.0
    intensity_b_percent: float = 0.0
    waveform: Topology = "biphasic"
    armed: bool = False
    remote: bool = False
    disarm_reason: str = ""
    armed_since: float | None = None
    last_fire: float | None = None


class World:
    """The physical state of the simulated bench and its clock."""

    def __init__(self, bench: SimBenchSettings) -> None:
        if bench.sim is None:
            raise ValueError(f"{bench.source or 'bench'}: no [sim] table: not a simulated bench")
        self.bench = bench
        self.sim: SimSettings = bench.sim
        start = datetime.fromisoformat(self.sim.start_time) if self.sim.start_time else None
        self.clock = WorldClock(self.sim.speed, start)
        self.rng = np.random.default_rng(self.sim.seed)
        coil, st = bench.coil, self.sim.stimulator
        try:
            self.nominal_circuit = Circuit(
                coil.inductance_uH * 1e-6,
                st.capacitance_uF * 1e-6,
                coil.resistance_mohm * 1e-3,
                st.damping_resistance_mohm * 1e-3,
            )
        except ValueError as exc:
            where = "coil.inductance_uH/resistance_mohm, sim.stimulator.capacitance_uF"
            raise ConfigError(bench.source or "bench", [f"{where}: {exc}"]) from None
        self.coil_factor = coil.coil_factor
        self.state = StimulatorState(waveform=st.waveforms[0])
        self.pulses: list[PulseEvent] = []
        self.lock = threading.RLock()
        self._subscribers: list[Callable[[PulseEvent], None]] = []
        self._state_listeners: list[Callable[[str], None]] = []
        self._fires = 0
        th = self.sim.thermal
        self._temp_C = th.ambient_C
        self._temp_t = 0.0
        self._cap_history: list[_CapState] = [_CapState(0.0, 0.0, "bleed", 0.0)]
        # the stimulator's external trigger input, driven by the DAQ card's counter output
        self.trigger_in = TriggerLine()

    # ----------------------------------------------------------- derived
    @property
    def faults(self) -> Any:
        """The ``[sim.faults]`` table (read live, so tests may replace ``world.sim``)."""
        return self.sim.faults

    @property
    def noise_fraction(self) -> float:
        """Probe noise std as a fraction of the signal peak."""
        return self.sim.noise + self.sim.faults.probe_noise

    def circuit(self) -> Circuit:
        """The loop as it is now (``inductance_shift`` applied)."""
        shift = self.faults.inductance_shift
        return replace(
            self.nominal_circuit, inductance_H=self.nominal_circuit.inductance_H * (1 + shift)
        )

    def v0_for(self, percent: float) -> float:
        """Capacitor voltage (V) the device charges to at ``percent`` %MSO (faults applied)."""
        f = self.faults
        return float(
            self.sim.stimulator.vmax_V
            * self.sim.stimulator.charge_fraction(percent)
            * (1 - f.capacitor_fade)
            * (1 + f.charge_error)
        )

    def configure_faults(self, **knobs: Any) -> None:
        """Change fault knobs at run time (validated like a bench file)."""
        new_faults = self.sim.faults.model_validate({**self.sim.faults.model_dump(), **knobs})
        self.sim = self.sim.model_copy(update={"faults": new_faults})

    # ----------------------------------------------------------- state
    def subscribe(self, callback: Callable[[PulseEvent], None]) -> None:
        """Call ``callback(event)`` after every fire (from the firing thread)."""
        with self.lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[PulseEvent], None]) -> None:
        """Stop calling ``callback``."""
        with self.lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def set_intensity(self, percent: float, channel: str = "A") -> None:
        """Set the power level (%MSO); while armed the capacitor follows."""
        if not 0 <= percent <= 100:
            raise ValueError(f"intensity {percent} %MSO outside 0..100")
        with self.lock:
            now = self.clock.now()
            if channel == "B":
                self.state.intensity_b_percent = percent
                return
            self.state.intensity_percent = percent
            if self.state.armed:
                self._cap_to(now, "charge", self.v0_for(percent))

    def set_waveform(self, topology: Topology) -> None:
        """Select the pulse topology; it must be one the device offers."""
        offered = self.sim.stimulator.waveforms
        if topology not in offered:
            raise ValueError(f"waveform {topology!r} not offered by this device ({offered})")
        with self.lock:
            self.state.waveform = topology

    def arm(self) -> None:
        """Arm: the charger starts charging the capacitor to the set level."""
        with self.lock:
            now = self.clock.now()
            self.state.armed = True
            self.state.armed_since = now
            self.state.disarm_reason = ""
            self._cap_to(now, "charge", self.v0_for(self.state.intensity_percent))
        self._tell("armed")

    def disarm(self, reason: str = "command") -> None:
        """Disarm: the capacitor bleeds to zero. ``reason`` is kept for tests and logs."""
        with self.lock:
            now = self.clock.now()
            was_armed = self.state.armed
            if was_armed:
                self.state.disarm_reason = reason
            self.state.armed = False
            self.state.armed_since = None
            self._cap_to(now, "bleed", 0.0)
        if was_armed:
            self._tell(f"disarmed ({reason})")

    def on_state(self, listener: Callable[[str], None]) -> None:
        """Call ``listener("armed")`` / ``listener("disarmed (<reason>)")`` on every change."""
        self._state_listeners.append(listener)

    def _tell(self, what: str) -> None:
        for listener in list(self._state_listeners):
            try:
                listener(what)
            except Exception:  # a listener must never change what the device does
                log.exception("world state listener failed")

    @property
    def armed(self) -> bool:
        """Whether the simulated device is armed right now."""
        with self.lock:
            return self.state.armed

    def fire(self, at: float | None = None, channel: str = "A") -> PulseEvent | None:
        """Discharge at world time ``at`` (default now); ``None`` if not armed.

        Timing jitter, missing pulses, misfires, capacitor fade, charge error
        and inductance shift are applied here.
        """
        with self.lock:
            if not self.state.armed:
                return None
            f = self.faults
            t = self.clock.now() if at is None else at
            if f.timing_jitter_us > 0:
                t += float(self.rng.normal(0.0, f.timing_jitter_us * 1e-6))
            self._fires += 1
            missing = f.missing_pulse_every > 0 and self._fires % f.missing_pulse_every == 0
            topo: Topology = self.state.waveform
            if (
                topo == "biphasic"
                and f.thyristor_misfire > 0
                and self.rng.random() < f.thyristor_misfire
            ):
                topo = "halfsine"
            percent = (
                self.state.intensity_percent if channel == "A" else self.state.intensity_b_percent
            )
            # channel B (BiStim / twin mode) has its own bank, modelled as always recharged
            cap_now = self.capacitor_voltage(t) if channel == "A" else self.v0_for(percent)
            v0 = min(cap_now, self.v0_for(percent)) if not missing else 0.0
            v0 = max(v0, 0.0)
            circuit = self.circuit()
            dissipated = 0.0
            if not missing and v0 > 0:
                summ = summarise(circuit, v0, topo)
                dissipated = summ.dissipated_J
                self._heat(t, summ.coil_dissipated_J * self.sim.thermal.coil_loss_fraction)
                if channel == "A":
                    self._cap_set(
                        _CapState(t, abs(summ.v_end_V), "charge", self.v0_for(percent))
                    )
            event = PulseEvent(
                index=self._fires - 1,
                t_s=t,
                intensity_percent=percent,
                v0_V=v0,
                topology=topo,
                circuit=circuit,
                coil_factor=self.coil_factor,
                discharged=not missing and v0 > 0,
                dissipated_J=dissipated,
                coil_temperature_C=self._temp_at(t),
                channel=channel,
            )
            self.state.last_fire = t
            self.pulses.append(event)
            subscribers = list(self._subscribers)
        for cb in subscribers:
            cb(event)
        return event

    # ----------------------------------------------------------- thermal
    def _tau(self) -> float:
        return float(self.sim.thermal.cooling_tau_s / (1.0 - self.faults.coil_cooling_degraded))

    def _temp_at(self, t: float) -> float:
        amb = self.sim.thermal.ambient_C
        dt = max(t - self._temp_t, 0.0)
        return amb + (self._temp_C - amb) * math.exp(-dt / self._tau())

    def _heat(self, t: float, joules: float) -> None:
        self._temp_C = self._temp_at(t) + joules / self.sim.thermal.heat_capacity_J_per_K
        self._temp_t = max(t, self._temp_t)

    def coil_temperature_C(self, t: float | None = None) -> float:
        """Coil temperature (°C) at world time ``t`` (default now)."""
        with self.lock:
            return self._temp_at(self.clock.now() if t is None else t)

    def set_coil_temperature(self, celsius: float) -> None:
        """Force the coil temperature now (tests of the over-temperature cutoff)."""
        with self.lock:
            self._temp_C, self._temp_t = celsius, self.clock.now()

    # ----------------------------------------------------------- capacitor
    @staticmethod
    def _eval_segment(c: _CapState, t: FloatArray, cap_f: float, power_W: float) -> FloatArray:
        dt = np.clip(t - c.t, 0.0, None)
        if c.mode == "bleed":
            return c.v * np.exp(-dt / BLEED_TAU_S)
        if c.v <= c.target:
            return np.minimum(np.sqrt(c.v**2 + 2.0 * power_W * dt / cap_f), c.target)
        return c.target + (c.v - c.target) * np.exp(-dt / DUMP_TAU_S)

    def _cap_eval(self, t: FloatArray) -> FloatArray:
        """Capacitor voltage at world times ``t`` from the recorded breakpoints."""
        cap_f = self.nominal_circuit.capacitance_F
        power = self.sim.stimulator.charger_power_W
        hist = self._cap_history
        starts = np.fromiter((c.t for c in hist), dtype=np.float64, count=len(hist))
        out = np.zeros_like(t)  # before the world started: discharged
        if t.size > 1 and np.all(t[1:] >= t[:-1]):
            # sorted times (DAQ sample clocks): one slice per segment, linear in samples
            bounds = np.append(np.searchsorted(t, starts, side="left"), t.size)
            for k in np.nonzero(np.diff(bounds) > 0)[0]:
                lo, hi = bounds[k], bounds[k + 1]
                out[lo:hi] = self._eval_segment(hist[k], t[lo:hi], cap_f, power)
            return out
        seg = np.searchsorted(starts, t, side="right") - 1
        for k in np.unique(seg):
            if k >= 0:
                m = seg == k
                out[m] = self._eval_segment(hist[k], t[m], cap_f, power)
        return out

    def _cap_set(self, state: _CapState) -> None:
        hist = self._cap_history
        while hist and hist[-1].t > state.t:
            hist.pop()  # a scheduled pulse earlier than the last breakpoint overrides it
        hist.append(state)
        if len(hist) > MAX_CAP_HISTORY:
            del hist[: len(hist) - MAX_CAP_HISTORY]

    def _cap_to(self, now: float, mode: str, target: float) -> None:
        v = float(self._cap_eval(np.array([now]))[0])
        self._cap_set(_CapState(now, v, mode, target))

    def capacitor_voltage(self, t: float | None = None) -> float:
        """Capacitor voltage (V) at world time ``t`` (default now)."""
        with self.lock:
            tt = self.clock.now() if t is None else t
            return float(self._cap_eval(np.array([tt]))[0])

    def capacitor_trace(self, t_s: npt.ArrayLike) -> FloatArray:
        """Capacitor voltage (V) at world times ``t_s`` (the HV-divider signal).

        Each pulse drops the voltage to its end value, then the charger
        restores it; disarming bleeds it to zero.
        """
        with self.lock:
            return self._cap_eval(np.asarray(t_s, dtype=np.float64))

    # ----------------------------------------------------------- describe
    def describe(self) -> dict[str, Any]:
        """The world's parameters and the closed-form pulse they give at 100 %MSO."""
        c = self.circuit()
        st = self.sim.stimulator
        v0 = self.v0_for(100.0)
        out: dict[str, Any] = {
            "station": self.bench.station,
            "stimulator": f"{self.bench.stimulator.driver} {self.bench.stimulator.model} "
            f"#{self.bench.stimulator.serial}",
            "coil": f"{self.bench.coil.model} #{self.bench.coil.serial}",
            "L_uH": c.inductance_H * 1e6,
            "C_uF": c.capacitance_F * 1e6,
            "R_mohm": c.resistance_ohm * 1e3,
            "Rd_mohm": c.damping_resistance_ohm * 1e3,
            "alpha_per_s": c.alpha,
            "omega0_rad_per_s": c.omega0,
            "omega_d_rad_per_s": c.omega_d,
            "period_us": c.period_s * 1e6,
            "vmax_V": st.vmax_V,
            "v0_at_100_V": v0,
            "coil_factor_V_per_m_per_A_per_us": self.coil_factor,
            "waveforms": list(st.waveforms),
            "clock_speed": self.sim.speed,
            "seed": self.sim.seed,
            "noise_fraction": self.noise_fraction,
            "faults": {k: v for k, v in self.faults.model_dump().items() if v},
        }
        if self.sim.subject is not None:  # the hand muscle on the EMG input
            out["subject"] = self.sim.subject.model_dump()
        for topo in st.waveforms:
            s = summarise(c, v0, topo)
            out[f"{topo}_at_100"] = {
                "peak_current_A": s.peak_current_A,
                "t_peak_us": s.t_peak_s * 1e6,
                "didt_max_A_per_us": s.didt0_A_per_s * 1e-6,
                "efield_max_V_per_m": s.didt0_A_per_s * 1e-6 * self.coil_factor,
                "stored_J": s.stored_J,
                "dissipated_J": s.dissipated_J,
                "duration_us": s.duration_s * 1e6,
            }
        return out


def world_from_bench(bench: SimBenchSettings, **fault_overrides: Any) -> World:
    """A world for ``bench`` with some fault knobs overridden (tests)."""
    world = World(bench)
    if fault_overrides:
        world.configure_faults(**fault_overrides)
    return world


@dataclass
class Recorder:
    """Collects pulse events from a world (handy in tests)."""

    events: list[PulseEvent] = field(default_factory=list)

    def __call__(self, event: PulseEvent) -> None:
        self.events.append(event)
