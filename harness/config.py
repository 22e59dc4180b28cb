"""Bench and spec files: TOML -> typed, validated models (pydantic v2).

A *bench file* describes one test station: which stimulator, scope, DAQ and
coil are connected, how the probes are scaled and where results go. A *spec
file* describes one stimulator + coil model: expected output vs %MSO, pulse
shape, tolerances and the limits the harness enforces before sending anything.

Every problem in a file is reported at once, one line each, naming the file,
the key path and what was expected (:class:`ConfigError`); never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Topology = Literal["biphasic", "halfsine", "monophasic"]
Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Percent = Annotated[float, Field(ge=0, le=100)]


class ConfigError(ValueError):
    """A bench or spec file is wrong; ``problems`` holds one line per problem."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------- bench


class StimulatorConfig(_Model):
    """The stimulator under test, reached over a serial port through pyvisa."""

    driver: Literal["magstim", "magventure"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. ASRL/dev/ttyUSB0::INSTR")
    model: str = Field(min_length=1, description="e.g. rapid2, bistim2, 200-2, magpro-x100")
    serial: str = Field(min_length=1)
    timeout_ms: Annotated[int, Field(gt=0)] = 1000
    software_version: Annotated[int, Field(ge=1)] = 9  # Magstim frame widths depend on it


class ScopeChannel(_Model):
    """One scope input and the probe on it.

    ``volts_per_unit`` converts the physical quantity to probe volts: a current
    probe in V/A, an E-field probe in V per V/m, a pickup coil in V per A/µs.
    """

    channel: Annotated[int, Field(ge=1, le=8)]
    quantity: Literal["current", "efield", "didt"]
    volts_per_unit: Positive


class ScopeConfig(_Model):
    """An oscilloscope reached over LAN SCPI."""

    driver: Literal["keysight", "tektronix"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. TCPIP::host::5025::SOCKET")
    timeout_ms: Annotated[int, Field(gt=0)] = 5000
    channels: dict[str, ScopeChannel] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_inputs(self) -> ScopeConfig:
        used = [c.channel for c in self.channels.values()]
        if len(used) != len(set(used)):
            raise ValueError(f"two probes on the same scope input: {sorted(used)}")
        return self


class DaqChannel(_Model):
    """One DAQ channel: physical name, kind, and a linear scale to physical units."""

    physical: str = Field(min_length=1, description="e.g. Dev1/ai0, Dev1/ctr0, Dev1/port0/line0")
    kind: Literal["ai_voltage", "thermocouple", "counter", "di", "do"]
    scale: float = Field(default=1.0, description="physical units per volt (e.g. HV divider ratio)")
    units: str = "V"
    min_val: float = -10.0
    max_val: float = 10.0
    thermocouple_type: Literal["B", "E", "J", "K", "N", "R", "S", "T"] = "K"


class DaqConfig(_Model):
    """An NI DAQ device, local (NI-DAQmx driver) or over NI gRPC device server."""

    device: str = Field(min_length=1)
    grpc: str | None = Field(default=None, description="host:port of an NI gRPC device server")
    sample_rate_hz: Positive = 10_000.0
    channels: dict[str, DaqChannel] = Field(default_factory=dict)


class CoilConfig(_Model):
    """The coil, with the discharge-loop values the analysis and simulator use.

    ``resistance_mohm`` is the whole discharge loop (coil, cable, switch).
    ``coil_factor`` is E at 2 cm depth per unit dI/dt, in V/m per A/µs.
    """

    model: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    inductance_uH: Positive
    resistance_mohm: Positive
    coil_factor: Positive


class JournalSink(_Model):
    """The embedded durable journal (SQLite, WAL)."""

    path: str = "results/journal.sqlite"


class InfluxSink(_Model):
    """An InfluxDB-compatible server the journal is forwarded to."""

    url: str = Field(pattern=r"^https?://", description="e.g. http://127.0.0.1:8086")
    api: Literal["auto", "v1", "v2"] = "auto"
    database: str | None = None
    retention_policy: str | None = None
    org: str | None = None
    bucket: str | None = None
    token_env: str | None = Field(default=None, description="NAME of the env var with the token")
    verify_tls: bool = True
    timeout_s: Positive = 5.0
    batch_size: Annotated[int, Field(gt=0)] = 5000


class Sinks(_Model):
    """Where results go: always the journal, optionally InfluxDB."""

    journal: JournalSink = JournalSink()
    influxdb: InfluxSink | None = None


class SimStimulator(_Model):
    """Electrical model of the simulated stimulator (the coil half is :class:`CoilConfig`)."""

    capacitance_uF: Positive
    vmax_V: Positive
    waveforms: list[Topology] = Field(default=["biphasic"], min_length=1)
    damping_resistance_mohm: Positive = 80.0  # monophasic freewheel resistor Rd
    charger_power_W: Positive = 5000.0  # peak charger power; rate limits come from the spec
    arming_time_s: Annotated[float, Field(ge=0)] = 1.0
    settle_up_s_per_percent: Annotated[float, Field(ge=0)] = 0.010
    settle_down_s_per_percent: Annotated[float, Field(ge=0)] = 0.100
    armed_timeout_s: Positive = 60.0
    remote_timeout_s: Positive = 1.0
    trigger_delay_us: Annotated[float, Field(ge=0)] = 0.0


class SimThermal(_Model):
    """Coil thermal model: lumped heat capacity cooling to ambient."""

    ambient_C: float = 23.0
    heat_capacity_J_per_K: Positive = 3000.0
    cooling_tau_s: Positive = 600.0
    coil_loss_fraction: Fraction = 0.6  # share of loop losses dissipated in the coil
    cutoff_C: Positive = 40.0


class SimFaults(_Model):
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


class SimConfig(_Model):
    """The simulated bench: world clock, noise, device model and faults."""

    speed: Positive = 1.0  # world seconds per wall second
    seed: int = 0
    noise: Annotated[float, Field(ge=0)] = 0.002  # probe noise, fraction of signal peak
    start_time: str | None = None  # ISO date the world clock starts at (default: now)
    stimulator: SimStimulator
    thermal: SimThermal = SimThermal()
    faults: SimFaults = SimFaults()


class BenchConfig(_Model):
    """A whole bench file."""

    station: str = Field(min_length=1)
    spec: str | None = Field(default=None, description="spec file, relative to the bench file")
    stimulator: StimulatorConfig
    coil: CoilConfig
    scope: ScopeConfig | None = None
    daq: DaqConfig | None = None
    sinks: Sinks = Sinks()
    sim: SimConfig | None = None
    source: str = Field(default="", exclude=True)  # file it was read from

    def spec_path(self) -> Path | None:
        """The spec file resolved against the bench file's folder."""
        if self.spec is None:
            return None
        base = Path(self.source).parent if self.source else Path.cwd()
        return (base / self.spec).resolve()


# ---------------------------------------------------------------------- spec


class Tolerance(_Model):
    """``nominal ± max(absolute, relative·nominal)``; ``marginal`` = inner fraction of the band."""

    relative: Fraction = 0.0
    absolute: Annotated[float, Field(ge=0)] = 0.0
    marginal: Fraction | None = None

    @model_validator(mode="after")
    def _some_band(self) -> Tolerance:
        if self.relative == 0 and self.absolute == 0:
            raise ValueError("a tolerance needs relative > 0 or absolute > 0")
        return self


class OutputSpec(_Model):
    """Expected output vs %MSO: linear through zero unless ``points`` are given."""

    didt_max_A_per_us: Positive  # peak dI/dt at 100 %MSO
    efield_max_V_per_m: Positive  # E at 2 cm depth at 100 %MSO
    points: list[tuple[Percent, Positive]] = Field(default_factory=list)  # (%MSO, A/µs)
    reference_percent: Percent = 60.0
    didt_tolerance: Tolerance = Tolerance(relative=0.05)
    efield_tolerance: Tolerance = Tolerance(relative=0.07)

    def expected_didt(self, percent: float) -> float:
        """Expected peak dI/dt (A/µs) at ``percent`` %MSO."""
        if not self.points:
            return self.didt_max_A_per_us * percent / 100.0
        pts = sorted(self.points)
        xs = [0.0, *[p for p, _ in pts]]
        ys = [0.0, *[v for _, v in pts]]
        import numpy as np  # local: config stays importable without numpy cost

        return float(np.interp(percent, xs, ys))

    def expected_efield(self, percent: float) -> float:
        """Expected E-field at 2 cm (V/m) at ``percent`` %MSO."""
        return self.expected_didt(percent) * self.efield_max_V_per_m / self.didt_max_A_per_us


class ShapeSpec(_Model):
    """Pulse shape of one waveform (times from pulse onset, of the E/dI/dt waveform)."""

    first_zero_us: Positive | None = None
    second_zero_us: Positive | None = None
    period_us: Positive | None = None
    phase_ratio: Positive | None = None
    time_tolerance: Tolerance = Tolerance(relative=0.03)
    ratio_tolerance: Tolerance = Tolerance(relative=0.05)
    template_correlation_min: Fraction = 0.99
    nrmse_max: Fraction = 0.1  # normalised RMS error against the template
    decay_tau_us: Positive | None = None  # monophasic freewheel decay constant L/(R+Rd)


class TimingSpec(_Model):
    """Train timing tolerances."""

    rate_error_percent_max: Positive = 1.0
    # bursts timed by the host between device trains (no on-device TBS): looser
    burst_rate_error_percent_max: Positive = 5.0
    jitter_us_max: Positive = 200.0
    interval_tolerance_ms: Positive = 2.0  # paired pulse / inter-train interval
    repeatability_cv_percent_max: Positive = 2.0
    repeatability_pulses: Annotated[int, Field(ge=3)] = 10


class RateLimit(_Model):
    """Maximum repetition rate at intensities up to ``up_to_percent``."""

    up_to_percent: Percent
    max_rate_hz: Positive


class SafetyLimits(_Model):
    """What the harness refuses before a command is sent."""

    intensity_min_percent: Percent = 0.0
    intensity_max_percent: Percent = 100.0
    rate_limits: list[RateLimit] = Field(default_factory=list)
    min_pulse_interval_ms: Annotated[float, Field(ge=0)] = 20.0
    max_train_pulses: Annotated[int, Field(gt=0)] = 10_000
    min_intertrain_interval_s: Annotated[float, Field(ge=0)] = 0.5
    coil_temperature_max_C: Positive = 40.0

    def max_rate_hz(self, percent: float) -> float | None:
        """Highest allowed rate (Hz) at ``percent`` %MSO, ``None`` when unlimited."""
        for lim in sorted(self.rate_limits, key=lambda r: r.up_to_percent):
            if percent <= lim.up_to_percent:
                return lim.max_rate_hz
        return None if not self.rate_limits else 0.0


class ThermalSpec(_Model):
    """Coil cooling check: a heating train between two temperature windows.

    The time constant comes from Newton's law between a window before and one
    after the train (see ``harness.analysis.thermal``); no ambient sensor needed.
    """

    cooling_tau_max_s: Positive | None = None  # slowest acceptable cooling; None: no check
    heating_percent: Percent = 80.0
    heating_pulses: Annotated[int, Field(gt=0, le=1000)] = 120  # one scope segment each
    heating_rate_hz: Positive = 15.0
    window_s: Positive = 10.0  # each temperature window (device s)
    sample_rate_hz: Positive = 200.0  # thermocouple sampling in the windows
    settle_s: Annotated[float, Field(ge=0)] = 2.0  # after the train, before the 2nd window
    min_rise_K: Positive = 0.5  # less heating than this gives no verdict
    tau_uncertainty_max_percent: Positive = 15.0  # noisier than this gives no verdict


class CalibrationSpec(_Model):
    """The manufacturing calibration check."""

    percents: list[Percent] = Field(default=[20, 40, 60, 80, 100], min_length=2)
    pulses_per_level: Annotated[int, Field(gt=0)] = 5
    slope_tolerance: Tolerance = Tolerance(relative=0.03)
    r2_min: Fraction = 0.999
    max_deviation_percent: Positive = 5.0


class SpecConfig(_Model):
    """A whole spec file (one stimulator + coil model)."""

    name: str = Field(min_length=1)
    stimulator_model: str = Field(min_length=1)
    coil_model: str = Field(min_length=1)
    waveforms: list[Topology] = Field(min_length=1)
    output: OutputSpec
    shape: dict[str, ShapeSpec] = Field(default_factory=dict)
    limits: SafetyLimits = SafetyLimits()
    timing: TimingSpec = TimingSpec()
    calibration: CalibrationSpec = CalibrationSpec()
    thermal: ThermalSpec = ThermalSpec()
    source: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _shapes_are_waveforms(self) -> SpecConfig:
        for name in self.shape:
            if name not in self.waveforms:
                raise ValueError(f"shape.{name}: not one of waveforms {self.waveforms}")
        return self


# ------------------------------------------------------------------ loading

M = TypeVar("M", bound=BaseModel)


def _describe_error(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    msg = err.get("msg", "invalid")
    if err.get("type") == "missing":
        return f"{loc}: missing (required)"
    if err.get("type") == "extra_forbidden":
        return f"{loc}: unknown key (not part of this file's schema)"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{loc}: {msg}{shown}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from None


def parse(model: type[M], data: dict[str, Any], path: str | Path) -> M:
    """Validate ``data`` against ``model``; all problems at once as a :class:`ConfigError`."""
    try:
        return model.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise ConfigError(path, [_describe_error(e) for e in exc.errors()]) from None


def load_bench(path: str | Path) -> BenchConfig:
    """Read and validate a bench file."""
    p = Path(path)
    return parse(BenchConfig, _read_toml(p), p)


def load_spec(path: str | Path) -> SpecConfig:
    """Read and validate a spec file."""
    p = Path(path)
    return parse(SpecConfig, _read_toml(p), p)
