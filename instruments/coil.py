"""The coil's electrical description, shared by the simulator and the analysis."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from instruments.settings import Settings

Positive = Annotated[float, Field(gt=0)]


class CoilSettings(Settings):
    """The coil, with the discharge-loop values the analysis and simulator use.

    ``resistance_mohm`` is the whole discharge loop (coil, cable, switch).
    ``coil_factor`` is E at 2 cm depth per unit dI/dt, in V/m per A/µs.
    """

    model: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    inductance_uH: Positive
    resistance_mohm: Positive
    coil_factor: Positive
