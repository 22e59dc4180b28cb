"""Settings of an NI DAQ driver: the device, where it is reached, and its channels."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from instruments.settings import Settings

Positive = Annotated[float, Field(gt=0)]
# X Series default counter output terminals: ctrN drives PFI(12 + N) (nidaqmx_facts.md)
X_SERIES_CO_TERM_BASE = 12


def _norm(physical: str) -> str:
    """A physical channel name compared as DAQmx does: no leading slash, any case."""
    return physical.strip().lstrip("/").lower()


class DaqChannel(Settings):
    """One DAQ channel: physical name, kind, and a linear scale to physical units."""

    physical: str = Field(min_length=1, description="e.g. Dev1/ai0, Dev1/ctr0, Dev1/port0/line0")
    kind: Literal["ai_voltage", "thermocouple", "counter", "di", "do"]
    scale: float = Field(default=1.0, description="physical units per volt (e.g. HV divider ratio)")
    units: str = "V"
    min_val: float = -10.0
    max_val: float = 10.0
    thermocouple_type: Literal["B", "E", "J", "K", "N", "R", "S", "T"] = "K"

    @model_validator(mode="after")
    def _sane(self) -> DaqChannel:
        """A zero scale would turn every reading into 0; an inverted range reads nothing.

        ``physical`` names one physical channel: DAQmx reads a list
        (``Dev1/ai0, Dev1/ai1``), a range (``Dev1/ai0:3``) or, for digital
        lines, a port (``Dev1/port0``) as several channels, but a bench channel
        is one reading.
        """
        phys = self.physical.strip()
        if "," in phys or ":" in phys:
            raise ValueError(
                f"physical: {phys!r} is a DAQmx channel list or range (several channels); "
                "name one physical channel, e.g. Dev1/ai0"
            )
        if self.kind in ("di", "do") and not re.search(r"(^|/)line\d+$", phys, re.IGNORECASE):
            raise ValueError(
                f"physical: {phys!r} is not one digital line; a {self.kind} channel is one line, "
                "e.g. Dev1/port0/line0 (Dev1/port0 means every line of the port)"
            )
        if self.scale == 0:
            raise ValueError("scale: must not be 0 (physical units per volt)")
        if self.min_val >= self.max_val:
            raise ValueError(f"min_val {self.min_val} must be below max_val {self.max_val}")
        return self


class DaqSettings(Settings):
    """An NI DAQ device, local (NI-DAQmx driver) or over NI gRPC device server."""

    device: str = Field(min_length=1)
    grpc: str | None = Field(default=None, description="host:port of an NI gRPC device server")
    sample_rate_hz: Positive = 10_000.0
    call_margin_s: Positive = Field(
        default=5.0,
        description="gRPC: each call's deadline is its expected duration plus this margin (s)",
    )
    channels: dict[str, DaqChannel] = Field(default_factory=dict)
    trigger_in: str | None = Field(
        default=None,
        description="terminal wired to the stimulator's trigger-out (e.g. /Dev1/PFI0): "
        "starts acquisitions that must begin with a pulse (MEP records)",
    )
    trigger_out: str | None = Field(
        default=None,
        description="counter whose output is wired to the stimulator's trigger input "
        "(e.g. Dev1/ctr1): card-timed pulse patterns (theta burst)",
    )
    trigger_out_term: str | None = Field(
        default=None,
        description="terminal that counter drives (default: the counter's default output "
        "terminal, on X Series /Dev1/PFI12 + counter number)",
    )

    @model_validator(mode="after")
    def _trigger_out(self) -> DaqSettings:
        """``trigger_out`` is one counter of this device; its terminal is one PFI line."""
        if self.trigger_out is not None:
            m = re.fullmatch(r"/?([^/]+)/ctr(\d+)", self.trigger_out.strip(), re.IGNORECASE)
            if m is None or m.group(1).lower() != self.device.lower():
                raise ValueError(
                    f"trigger_out: {self.trigger_out!r} is not a counter of {self.device} "
                    f"(e.g. {self.device}/ctr1)"
                )
            wanted = _norm(self.trigger_out)
            used = [n for n, c in self.channels.items() if _norm(c.physical) == wanted]
            if used:
                raise ValueError(
                    f"trigger_out: {self.trigger_out} is also channel {used[0]!r}; a counter "
                    "either counts or generates pulses, not both"
                )
        if self.trigger_out_term is not None and not re.fullmatch(
            r"/[^/]+/PFI\d+", self.trigger_out_term.strip(), re.IGNORECASE
        ):
            raise ValueError(
                f"trigger_out_term: {self.trigger_out_term!r} is not a terminal like "
                f"/{self.device}/PFI13"
            )
        return self

    def trigger_terminal(self) -> str | None:
        """The terminal wired to the stimulator's trigger input (None: not wired)."""
        if self.trigger_out is None:
            return None
        if self.trigger_out_term:
            return self.trigger_out_term.strip()
        ctr = int(re.split(r"ctr", self.trigger_out, flags=re.IGNORECASE)[-1])
        return f"/{self.device}/PFI{X_SERIES_CO_TERM_BASE + ctr}"
