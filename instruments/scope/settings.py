"""Settings of a SCPI oscilloscope driver: dialect, resource and the probes on its inputs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from instruments.settings import Settings

Positive = Annotated[float, Field(gt=0)]


class ScopeChannel(Settings):
    """One scope input and the probe on it.

    ``volts_per_unit`` converts the physical quantity to probe volts: a current
    probe in V/A, an E-field probe in V per V/m, a pickup coil in V per A/µs.
    """

    channel: Annotated[int, Field(ge=1, le=8)]
    quantity: Literal["current", "efield", "didt"]
    volts_per_unit: Positive


class ScopeSettings(Settings):
    """An oscilloscope reached over LAN SCPI."""

    driver: Literal["keysight", "tektronix"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. TCPIP::host::5025::SOCKET")
    timeout_ms: Annotated[int, Field(gt=0)] = 5000
    channels: dict[str, ScopeChannel] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_inputs(self) -> ScopeSettings:
        used = [c.channel for c in self.channels.values()]
        if len(used) != len(set(used)):
            raise ValueError(f"two probes on the same scope input: {sorted(used)}")
        return self
