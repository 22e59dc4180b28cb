"""Settings of the simulated bench: the instruments it serves and its world.

:class:`SimBenchSettings` is everything the simulator needs: the driver-level
settings of each instrument (the same models the drivers take) plus the coil
and the ``[sim]`` world table. The harness's bench file extends it with the
station's spec and result sinks.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from instruments.coil import CoilSettings
from instruments.daq.settings import DaqSettings
from instruments.scope.settings import ScopeSettings
from instruments.settings import Settings, Topology
from instruments.stimulator.settings import StimulatorSettings

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class SimStimulator(Settings):
    """Electrical model of the simulated stimulator (the coil half is :class:`CoilSettings`)."""

    capacitance_uF: Positive
    vmax_V: Positive
    waveforms: list[Topology] = Field(default=["biphasic"], min_length=1)
    damping_resistance_mohm: Positive = 80.0  # monophasic freewheel resistor Rd
    charger_power_W: Positive = 5000.0  # peak charger power; rate limits are the model's
    arming_time_s: Annotated[float, Field(ge=0)] = 1.0
    settle_up_s_per_percent: Annotated[float, Field(ge=0)] = 0.010
    settle_down_s_per_percent: Annotated[float, Field(ge=0)] = 0.100
    armed_timeout_s: Positive = 60.0
    # Remote control lapses after this much silence while armed (MagPy polls every 0.5 s
    # armed) and, far longer, while disarmed (MagPy polls every 5 s): see magstim_facts.md.
    remote_timeout_s: Positive = 1.0
    remote_timeout_disarmed_s: Positive = 10.0
    # A Rapid² on software 9+ that needs its unlock code with ``Q`` (None: ``Q@`` is taken).
    unlock_code: str | None = Field(default=None, min_length=16, max_length=16, repr=False)
    # The version text the simulated Magstim answers to ``ND`` (None: "<software_version>.0.0").
    version_text: str | None = None
    trigger_delay_us: Annotated[float, Field(ge=0)] = 0.0
    # The charger's set point vs %MSO, as (%MSO, fraction of vmax_V) points, linear
    # between them and from (0, 0): a device whose output follows a table rather than a
    # line (what a spec's output.points describe). Empty: V0 = vmax_V x %MSO / 100.
    # (a fraction may pass 1: a device off its table by a few % at the top)
    output_curve: list[
        tuple[Annotated[float, Field(gt=0, le=100)], Annotated[float, Field(ge=0, le=1.5)]]
    ] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rising_curve(self) -> SimStimulator:
        """The curve's %MSO rise from point to point and end at 100 %MSO."""
        xs = [p for p, _ in self.output_curve]
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError(f"output_curve: %MSO must rise from point to point, got {xs}")
        if xs and xs[-1] != 100:
            raise ValueError(f"output_curve: the last point must be at 100 %MSO, got {xs[-1]}")
        return self

    def charge_fraction(self, percent: float) -> float:
        """Fraction of ``vmax_V`` the capacitor charges to at ``percent`` %MSO."""
        if not self.output_curve:
            return percent / 100.0
        xs = [0.0, *(p for p, _ in self.output_curve)]
        ys = [0.0, *(f for _, f in self.output_curve)]
        return float(np.interp(percent, xs, ys))


class SimThermal(Settings):
    """Coil thermal model: lumped heat capacity cooling to ambient."""

    ambient_C: float = 23.0
    heat_capacity_J_per_K: Positive = 3000.0
    cooling_tau_s: Positive = 600.0
    coil_loss_fraction: Fraction = 0.6  # share of loop losses dissipated in the coil
    cutoff_C: Positive = 40.0


class SimFaults(Settings):
    """Fault knobs of the simulated bench; all off by default."""

    # physics (world)
    capacitor_fade: Fraction = 0.0  # fractional output (V0) loss
    charge_error: float = Field(default=0.0, ge=-0.5, le=0.5)  # fractional V0 error
    inductance_shift: float = Field(default=0.0, ge=-0.5, le=2.0)  # fractional L change
    missing_pulse_every: Annotated[int, Field(ge=0)] = 0  # every Nth fire gives no pulse
    timing_jitter_us: Annotated[float, Field(ge=0)] = 0.0  # std of pulse timing error
    thyristor_misfire: Fraction = 0.0  # probability a biphasic pulse is cut to half-sine
    coil_cooling_degraded: Annotated[float, Field(ge=0, lt=1)] = 0.0  # fraction of cooling lost
    probe_noise: Annotated[float, Field(ge=0)] = 0.0  # extra noise, fraction of signal peak
    # the current monitor reads this many % high (its real sensitivity, V/A, is higher than
    # its label): out of tolerance in a way no check of the run can see
    reference_gain_error: float = Field(default=0.0, ge=-50.0, le=50.0)
    # stimulator serial link
    serial_drop_after_n: Annotated[int, Field(ge=0)] = 0
    reply_delay_ms: Annotated[float, Field(ge=0)] = 0.0
    garbage_reply_every_n: Annotated[int, Field(ge=0)] = 0
    bad_crc_every_n: Annotated[int, Field(ge=0)] = 0
    # scope
    scope_disconnect_after_n: Annotated[int, Field(ge=0)] = 0
    scope_reply_delay_ms: Annotated[float, Field(ge=0)] = 0.0
    scope_truncated_block_every_n: Annotated[int, Field(ge=0)] = 0
    scope_no_trigger: bool = False
    # DAQ
    daq_read_timeout: bool = False
    daq_device_missing: bool = False
    thermocouple_open: bool = False


class SimSubject(Settings):
    """A simulated hand muscle on the bench's EMG channel (model: instruments/sim/subject.py).

    Intensities are %MSO of this bench's coil and stimulator at its nominal output.
    """

    rmt_pct: Annotated[float, Field(gt=0, le=100)] = 50.0  # true resting motor threshold
    slope_pct: Positive = 4.0  # recruitment sigmoid scale (%MSO)
    sigma_x_pct: Annotated[float, Field(ge=0)] = 2.5  # excitability variability (%MSO)
    sigma_y_log10: Annotated[float, Field(ge=0)] = 0.15  # amplitude variability (log10)
    max_uV: Annotated[float, Field(gt=50)] = 3000.0  # saturation peak-to-peak (µV)
    noise_pp_uV: Annotated[float, Field(ge=0)] = 15.0  # baseline peak-to-peak (µV)
    latency_ms: Annotated[float, Field(ge=5, le=60)] = 22.0  # MEP onset after the pulse
    seed: int = 0

    @model_validator(mode="after")
    def _solvable(self) -> SimSubject:
        """The model must reach its threshold (raises the model's one-line reason)."""
        from instruments.sim.emg import subject_model  # emg imports these settings

        subject_model(self)
        return self


class SimSettings(Settings):
    """The simulated world: clock, noise, device model and faults."""

    speed: Positive = 1.0  # world seconds per wall second
    seed: int = 0
    noise: Annotated[float, Field(ge=0)] = 0.002  # probe noise, fraction of signal peak
    start_time: str | None = None  # ISO date the world clock starts at (default: now)
    # the instruments are already served by a running `tmsbench sim` (its live bench file):
    # a run must not build a second, unconnected world, only keep the clock speed
    served: bool = False
    stimulator: SimStimulator
    thermal: SimThermal = SimThermal()
    faults: SimFaults = SimFaults()
    subject: SimSubject | None = None  # a hand muscle on the EMG channel (optional)
    # folder of the switch and log of a scope shared by benches ([scope] resource =
    # "sim:NAME", instruments/sim/scope_switch.py); relative to the bench file's folder;
    # default: tmsbench-sim-shared in the system's temporary folder
    shared_dir: str | None = None


class SimBenchSettings(Settings):
    """The instruments a simulated bench serves, the coil on the stimulator, and the world."""

    station: str = Field(default="sim", min_length=1)
    stimulator: StimulatorSettings
    coil: CoilSettings
    scope: ScopeSettings | None = None
    daq: DaqSettings | None = None
    sim: SimSettings | None = None
    source: str = Field(default="", exclude=True)  # file it was read from

    def where(self) -> str:
        """The file these settings came from, for error messages."""
        return self.source or "bench"

    def folder(self) -> Path:
        """The folder relative paths in these settings are resolved against."""
        return Path(self.source).parent if self.source else Path.cwd()
