"""Protocol files: ``protocols/*.toml`` -> a validated :class:`Protocol` (pydantic v2).

A protocol is a clinical prescription: intensity as % of the motor threshold and the
pattern of pulses (rate, pulses per train or per burst, bursts per train and their rate,
the off time between trains, trains per session, sessions per day and the gap between
them). A bad file is reported one line per problem naming the file, the key and the
value (:class:`~harness.config.ConfigError`, as for bench and spec files).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

from harness.config import ConfigError, _describe_error, _Model, _read_toml
from harness.resources import data_path

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(gt=0)]


class Pattern(_Model):
    """The pulses of one session.

    A train is ``pulses`` at ``rate_hz``; with ``bursts`` > 1 it is ``bursts`` bursts of
    ``pulses`` at ``rate_hz``, one burst every 1/``burst_rate_hz`` s (theta burst).
    ``inter_train_interval_s`` is the off time after a train's on time (on time =
    pulses/rate or bursts/burst rate: "4 s on, 26 s off"), as protocols state it.
    """

    rate_hz: Positive  # pulses per second within a train (within a burst)
    pulses: Count  # per train, or per burst when bursts > 1
    bursts: Count = 1  # per train
    burst_rate_hz: Positive | None = None  # bursts per second (required when bursts > 1)
    inter_train_interval_s: NonNegative = 0.0
    trains: Count = 1  # per session

    @model_validator(mode="after")
    def _bursts_fit(self) -> Pattern:
        if self.bursts > 1:
            if self.burst_rate_hz is None:
                raise ValueError(f"burst_rate_hz: missing (required with bursts = {self.bursts})")
            burst_s = (self.pulses - 1) / self.rate_hz
            if burst_s >= 1.0 / self.burst_rate_hz:
                raise ValueError(
                    f"burst_rate_hz: {self.burst_rate_hz:g} Hz leaves no gap after a burst of "
                    f"{self.pulses} pulses at {self.rate_hz:g} Hz ({burst_s * 1e3:g} ms)"
                )
        elif self.burst_rate_hz is not None:
            raise ValueError(f"burst_rate_hz: set ({self.burst_rate_hz:g}) but bursts = 1")
        if self.trains > 1 and self.inter_train_interval_s <= 0:
            raise ValueError(
                f"inter_train_interval_s: must be > 0 with trains = {self.trains} "
                f"(got {self.inter_train_interval_s:g})"
            )
        return self

    @property
    def pulses_per_train(self) -> int:
        """Pulses in one train."""
        return self.pulses * self.bursts

    @property
    def on_s(self) -> float:
        """A train's on time as prescribed (s): pulses/rate, or bursts/burst rate."""
        if self.bursts > 1 and self.burst_rate_hz is not None:
            return self.bursts / self.burst_rate_hz
        return self.pulses / self.rate_hz

    @property
    def span_s(self) -> float:
        """First to last pulse of one train (s)."""
        burst_s = (self.pulses - 1) / self.rate_hz
        if self.bursts > 1 and self.burst_rate_hz is not None:
            return (self.bursts - 1) / self.burst_rate_hz + burst_s
        return burst_s

    @property
    def inter_burst_gap_s(self) -> float | None:
        """Last pulse of a burst to the first of the next (s); None without bursts."""
        if self.bursts > 1 and self.burst_rate_hz is not None:
            return 1.0 / self.burst_rate_hz - (self.pulses - 1) / self.rate_hz
        return None

    @property
    def train_period_s(self) -> float:
        """Start of one train to the start of the next (s): on time + off time."""
        return self.on_s + self.inter_train_interval_s

    @property
    def session_span_s(self) -> float:
        """First to last pulse of one session (s)."""
        return (self.trains - 1) * self.train_period_s + self.span_s


class Schedule(_Model):
    """Sessions in one day; the interval is from one session's end to the next's start."""

    sessions: Count = 1
    session_interval_s: NonNegative = 0.0

    @model_validator(mode="after")
    def _gap(self) -> Schedule:
        if self.sessions > 1 and self.session_interval_s <= 0:
            raise ValueError(
                f"session_interval_s: must be > 0 with sessions = {self.sessions} "
                f"(got {self.session_interval_s:g})"
            )
        return self


class Protocol(_Model):
    """One treatment protocol file."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str = Field(min_length=1)
    title: str = ""
    source: str = Field(min_length=10, description="the literature reference of the prescription")
    intensity_percent_mt: Annotated[float, Field(gt=0, le=200)]  # % of the motor threshold
    pattern: Pattern
    schedule: Schedule = Schedule()
    path: str = Field(default="", exclude=True)  # the file it was read from (set on loading)

    @property
    def pulses_per_session(self) -> int:
        """Pulses prescribed in one session."""
        return self.pattern.pulses_per_train * self.pattern.trains

    @property
    def pulses(self) -> int:
        """Pulses prescribed in all (the day's sessions)."""
        return self.pulses_per_session * self.schedule.sessions

    @property
    def duration_s(self) -> float:
        """First to last pulse of the whole protocol, as prescribed (s)."""
        s = self.schedule
        p = self.pattern
        # a session ends with its last train's off time before the gap to the next one
        return s.sessions * p.session_span_s + (s.sessions - 1) * s.session_interval_s

    def intensity_percent(self, threshold_percent: float) -> int:
        """The stimulator setting (whole %MSO) for a motor threshold (%MSO)."""
        # half-way up (a clinic rounds 31.5 to 32), not to the even neighbour as round() does
        return math.floor(self.intensity_percent_mt * threshold_percent / 100.0 + 0.5)


def abridged(protocol: Protocol, max_pulses: int) -> Protocol:
    """The first ``max_pulses`` (whole bursts or trains) of ``protocol``'s first session.

    For a short check of the same pattern (a demo run); the dose record says it was
    abridged and how many pulses the whole protocol has.
    """
    p = protocol.pattern
    if protocol.pulses <= max_pulses:
        return protocol
    ppt = p.pulses_per_train
    if ppt <= max_pulses:
        pattern = p.model_copy(update={"trains": max_pulses // ppt})
    elif p.bursts > 1:
        pattern = p.model_copy(update={"bursts": max(2, max_pulses // p.pulses), "trains": 1})
    else:
        pattern = p.model_copy(update={"pulses": max(2, max_pulses), "trains": 1})
    return protocol.model_copy(update={"pattern": pattern, "schedule": Schedule()})


def protocols_dir() -> Path:
    """The shipped protocol files (in a checkout: ``protocols/``)."""
    return data_path("protocols")


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate one protocol file."""
    p = Path(path)
    data = _read_toml(p)
    if "path" in data:
        raise ConfigError(p, ["path: unknown key (not part of this file's schema)"])
    try:
        proto = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(p, [_describe_error(e) for e in exc.errors()]) from None
    return proto.model_copy(update={"path": str(p)})


def available() -> dict[str, Path]:
    """Shipped protocol files by name (the file's stem)."""
    return {p.stem: p for p in sorted(protocols_dir().glob("*.toml"))}


def find_protocol(name: str) -> Protocol:
    """The shipped protocol ``name`` (or a path to a protocol file)."""
    files = available()
    if name in files:
        proto = load_protocol(files[name])
    elif name.endswith(".toml"):
        proto = load_protocol(name)
    else:
        known = ", ".join(files) or "none"
        raise ConfigError(Path(name), [f"no such protocol (known: {known})"])
    return proto
