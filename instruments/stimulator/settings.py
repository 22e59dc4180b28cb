"""Settings of a stimulator driver: which protocol, which port, which unit."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from instruments.settings import Settings


class StimulatorSettings(Settings):
    """The stimulator under test, reached over a serial port through pyvisa."""

    driver: Literal["magstim", "magventure"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. ASRL/dev/ttyUSB0::INSTR")
    model: str = Field(min_length=1, description="e.g. rapid2, bistim2, 200-2, magpro-x100")
    serial: str = Field(default="unknown", min_length=1)
    timeout_ms: Annotated[int, Field(gt=0)] = 1000
    # Magstim frame widths depend on it. The Rapid² driver reads it from the unit (``ND``)
    # and uses this value only when the unit does not answer ``ND``.
    software_version: Annotated[int, Field(ge=1)] = 9
    # NAME of the environment variable holding a Rapid²'s unlock code (software 9+). The
    # code is a secret: it is read at connect time and never logged or shown.
    unlock_code_env: str | None = Field(default=None, min_length=1)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: str, info: ValidationInfo) -> str:
        """A Magstim model must be one the Magstim protocol knows; a MagPro a ``magpro-*``."""
        from instruments.stimulator import magstim_codec  # late: the codec imports the base

        driver = info.data.get("driver")
        if driver == "magstim" and model not in magstim_codec.MODELS:
            known = ", ".join(magstim_codec.MODELS)
            raise ValueError(f"{model!r} is not a Magstim model (one of {known})")
        if driver == "magventure" and not model.lower().startswith("magpro-"):
            raise ValueError(f"{model!r} is not a MagPro model (magpro-x100, magpro-r30, ...)")
        return model
