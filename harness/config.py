"""Bench and spec files: TOML -> typed, validated models (pydantic v2).

A *bench file* describes one test station: which stimulator, scope, DAQ and
coil are connected, how the probes are scaled and where results go. A *spec
file* describes one stimulator + coil model: expected output vs %MSO, pulse
shape, tolerances and the limits the harness enforces before sending anything.

Every problem in a file is reported at once, one line each, naming the file,
the key path and what was expected (:class:`ConfigError`); never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.references import References
from instruments.coil import CoilSettings
from instruments.daq.settings import DaqChannel, DaqSettings
from instruments.scope.settings import ScopeChannel, ScopeSettings
from instruments.settings import ConfigError, Topology
from instruments.sim.settings import SimBenchSettings, SimSettings, SimStimulator
from instruments.stimulator.settings import StimulatorSettings

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Percent = Annotated[float, Field(ge=0, le=100)]

__all__ = [
    "BenchConfig",
    "CoilSettings",
    "ConfigError",
    "DaqChannel",
    "DaqSettings",
    "ScopeChannel",
    "ScopeSettings",
    "SimSettings",
    "SimStimulator",
    "SpecConfig",
    "StimulatorSettings",
    "Topology",
    "load_bench",
    "load_spec",
    "write_bench",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------- bench
# The instrument tables are the drivers' own settings models (instruments/*/settings.py);
# the bench file composes them and adds what only a station has: spec and result sinks.


class BenchStimulator(StimulatorSettings):
    """``[stimulator]`` of a bench file: the driver's settings, with the unit's serial required."""

    serial: str = Field(min_length=1)


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
    #: Raw pulse points (``tms_pulse``) go to this retention policy (InfluxDB 1.x), so
    #: they can expire sooner than verdicts and calibrations (README, "Retention and
    #: rollup"); unset: with everything else.
    pulse_retention_policy: str | None = None
    #: Write the hourly pulse rollup ``tms_pulse_1h`` beside the raw pulses.
    rollup: bool = True

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        """A URL whose host and port can be reached (``:notaport`` is refused here)."""
        from harness.record.sinks import check_url

        return check_url(url)


class Sinks(_Model):
    """Where results go: always the journal, optionally InfluxDB."""

    journal: JournalSink = JournalSink()
    influxdb: InfluxSink | None = None


class BenchConfig(SimBenchSettings):
    """A whole bench file: instruments, coil, optional simulated world, spec and sinks."""

    station: str = Field(min_length=1)
    spec: str | None = Field(default=None, description="spec file, relative to the bench file")
    stimulator: BenchStimulator
    sinks: Sinks = Sinks()
    #: The calibrated instruments of the measurement chain (harness.references).
    references: References = References()

    def spec_path(self) -> Path | None:
        """The spec file resolved against the bench file's folder."""
        if self.spec is None:
            return None
        return (self.folder() / self.spec).resolve()


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
    # Which reading decides intensity accuracy: the peak dI/dt from the current record,
    # the E-field (or dB/dt) channel, or both. Both are always recorded; the one that does
    # not decide is kept with its expected value as a cross-check, without a verdict.
    # Linearity and calibration judge dI/dt (every bench has the current record).
    intensity_channel: Literal["didt", "efield", "both"] = "both"

    @model_validator(mode="after")
    def _monotonic_points(self) -> OutputSpec:
        """Output points rise with %MSO: each %MSO once, output never falling."""
        pts = self.points
        for (p0, v0), (p1, v1) in itertools.pairwise(pts):
            if p1 <= p0:
                raise ValueError(f"points: %MSO must rise from point to point ({p0} then {p1})")
            if v1 < v0:
                raise ValueError(
                    f"points: output falls from {v0} A/µs at {p0} %MSO to {v1} A/µs at {p1} %MSO"
                )
        return self

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
    rise_time_us: Positive | None = None  # onset to the current peak (monophasic's own metric)
    # FDA 2011 rTMS guidance: monophasic, the current above 10 % of its peak; damped
    # sinusoids, the conduction time (first dB/dt peak to the next of the same polarity)
    pulse_width_us: Positive | None = None


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

    @model_validator(mode="after")
    def _ordered(self) -> SafetyLimits:
        if self.intensity_min_percent >= self.intensity_max_percent:
            raise ValueError(
                f"intensity_min_percent {self.intensity_min_percent:g} is not below "
                f"intensity_max_percent {self.intensity_max_percent:g}"
            )
        return self

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
    # Heating adapts to the coil: further trains of heating_pulses follow (each after
    # the device's inter-train pause) until the coil has risen target_rise_K, up to
    # max_heating_trains and never closer than 3 K to limits.coil_temperature_max_C.
    target_rise_K: Positive = 2.0
    max_heating_trains: Annotated[int, Field(ge=1, le=20)] = 6


class CalibrationSpec(_Model):
    """The manufacturing calibration check."""

    percents: list[Percent] = Field(default=[20, 40, 60, 80, 100], min_length=2)
    pulses_per_level: Annotated[int, Field(gt=0)] = 5
    slope_tolerance: Tolerance = Tolerance(relative=0.03)
    r2_min: Fraction = 0.999
    max_deviation_percent: Positive = 5.0


class DecisionSpec(_Model):
    """How verdicts are decided (ILAC-G8:2019; see ``harness.analysis.decision``).

    ``failing`` lists the verdicts that fail a test: for manufacturing release add
    ``"conditional_pass"`` (a value within the guard band is not released).
    """

    rule: Literal["simple", "guarded"] = "simple"
    guard_multiple: Positive = 1.0  # w = guard_multiple · U
    failing: list[
        Literal["fail", "invalid", "conditional_fail", "conditional_pass", "marginal"]
    ] = Field(default=["fail", "invalid", "conditional_fail"])


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
    decision: DecisionSpec = DecisionSpec()
    #: The spec's own version: give a new one for every change of content.
    version: str = ""
    #: Who approved this version for release testing, and when (both or neither).
    approved_by: str = ""
    approved_on: dt.date | None = None
    source: str = Field(default="", exclude=True)
    #: SHA-256 of the spec's content (set by :func:`load_spec`; see :func:`content_sha256`).
    content_sha256: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _approval_is_whole(self) -> SpecConfig:
        if bool(self.approved_by) != (self.approved_on is not None):
            raise ValueError("approved_by and approved_on: give both or neither")
        return self

    def engineering_reasons(self) -> list[str]:
        """Why a run with this spec is an engineering run, not a release test ([] if none).

        Only a versioned and approved spec can release a device; a spec whose content
        changed under the same version is found against earlier runs (the journal).
        """
        why = []
        if not self.version:
            why.append(f"spec {self.name!r} has no version")
        if not self.approved_by:
            why.append(f"spec {self.name!r} is not approved (no approved_by / approved_on)")
        return why

    @model_validator(mode="after")
    def _shapes_are_waveforms(self) -> SpecConfig:
        for name, shape in self.shape.items():
            if name not in self.waveforms:
                raise ValueError(f"shape.{name}: not one of waveforms {self.waveforms}")
            if name == "monophasic":
                ringing = ("second_zero_us", "period_us", "phase_ratio")
                for key in ringing:
                    if getattr(shape, key) is not None:
                        raise ValueError(
                            f"shape.monophasic.{key}: a monophasic pulse does not ring (judge "
                            "rise_time_us, pulse_width_us and decay_tau_us instead)"
                        )
        return self


# ------------------------------------------------------------------ loading

M = TypeVar("M", bound=BaseModel)


def _describe_error(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type")
    if kind == "missing":
        return f"{loc}: missing (required)"
    if kind == "extra_forbidden":
        return f"{loc}: unknown key (not part of this file's schema)"
    if kind in ("value_error", "assertion_error"):
        # our own validators already name the value; drop pydantic's "Value error, " prefix
        return f"{loc}: {msg.split(', ', 1)[-1]}"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
    return f"{loc}: {msg}{shown}"


MAX_FILE_BYTES = 1_000_000  # a bench or spec file is a few kB; anything this big is a mistake


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        if path.is_dir():
            raise ConfigError(path, ["is a folder, not a TOML file"])
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                path, [f"file is {size / 1e6:.1f} MB; a bench or spec file is at most 1 MB"]
            )
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, [f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"]
        ) from None
    except RecursionError:
        raise ConfigError(path, ["nested too deeply to be a bench or spec file"]) from None
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


def content_sha256(data: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a TOML document's content: its keys and values, sorted, as JSON.

    Comments, whitespace and the order of keys do not count; every value does
    (dates and times as their ISO text).
    """
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load_spec(path: str | Path) -> SpecConfig:
    """Read and validate a spec file (its content hash in ``content_sha256``)."""
    p = Path(path)
    data = _read_toml(p)
    spec = parse(SpecConfig, data, p)
    return spec.model_copy(update={"content_sha256": content_sha256(data)})


LIVE_HEADER = "# written by tmsbench sim: live resources of the simulated bench\n"


def write_bench(bench: BenchConfig, path: Path, header: str = "", *, served: bool = False) -> Path:
    """Write ``bench`` as a bench file at ``path`` (its spec path made absolute).

    Only what was set is written (defaults stay defaults); ``served`` marks the ``[sim]``
    table as served by the running simulator, so a run on the file uses those instruments.
    """
    data = bench.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    spec = bench.spec_path()
    if spec is not None:
        data["spec"] = str(spec)
    if served and "sim" in data:
        data["sim"]["served"] = True
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + tomli_w.dumps(data))
    return path


def as_bench(settings: SimBenchSettings) -> BenchConfig:
    """``settings`` as the bench file model it was built from (the simulator keeps the class)."""
    if not isinstance(settings, BenchConfig):
        raise TypeError(f"{settings.where()}: not a bench file model")
    return settings
