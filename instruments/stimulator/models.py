"""What each stimulator model can do, as its maker documents it.

The simulator behaves within these limits (as the real unit would refuse or
delay), and the harness refuses a spec that is looser than the device it is
meant for. Each figure names its source; "assumption" where none was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateStep:
    """Up to ``up_to_percent`` %MSO the device repeats at most ``max_rate_hz``."""

    up_to_percent: float
    max_rate_hz: float


@dataclass(frozen=True)
class DeviceModel:
    """Documented limits of one stimulator model (rates in Hz, times in ms / s, °C)."""

    name: str
    driver: str
    rate_steps: tuple[RateStep, ...] = ()
    min_pulse_interval_ms: float = 20.0
    min_intertrain_interval_s: float = 0.5
    max_train_pulses: int = 10_000
    coil_cutoff_C: float = 40.0
    trains: bool = True
    paired_pulses: bool = True  # two pulses at a set interval from the host's one command
    waveforms: tuple[str, ...] = ("biphasic",)
    sources: tuple[str, ...] = field(default=())

    def max_rate_hz(self, percent: float) -> float | None:
        """Highest rate (Hz) the device delivers at ``percent`` %MSO; ``None``: not limited."""
        for step in sorted(self.rate_steps, key=lambda r: r.up_to_percent):
            if percent <= step.up_to_percent:
                return step.max_rate_hz
        return None if not self.rate_steps else 0.0


# Magstim Rapid² with one power supply: 50/30/18/15 Hz at 30/50/80/100 %MSO, 20 ms
# minimum interval, >= 500 ms between trains (Magstim Rapid² operating manual figures as
# collected in the project's design notes; confidence: one source). Coil cut-off 40 °C:
# the Rapid² refuses to arm above it (same source); IEC 60601-1 caps applied parts at 41 °C.
RAPID2 = DeviceModel(
    name="rapid2",
    driver="magstim",
    rate_steps=(
        RateStep(30, 50.0),
        RateStep(50, 30.0),
        RateStep(80, 18.0),
        RateStep(100, 15.0),
    ),
    min_pulse_interval_ms=20.0,
    min_intertrain_interval_s=0.5,
    sources=("Magstim Rapid² figures in the design notes (single PSU)",),
)

# Magstim 200² and BiStim²: single pulses only (no train commands in MagPy's `Magstim`
# and `BiStim` classes). No public repetition-rate table was found: not limited here
# (assumption; the unit's own recharge wait is reported through its ready bit).
MAGSTIM_200 = DeviceModel(
    name="200-2",
    driver="magstim",
    trains=False,
    paired_pulses=False,  # a single 200² has one capacitor: paired pulses need a BiStim²
    waveforms=("monophasic",),
    sources=("MagPy Magstim class: no train or interval commands",),
)
BISTIM2 = DeviceModel(
    name="bistim2",
    driver="magstim",
    trains=False,
    waveforms=("monophasic",),
    sources=("MagPy BiStim class: no train commands",),
)

# MagPro X100: up to 100 pps at low output. The per-intensity steps are an assumption
# (no public rate table found); they match the shipped X100 spec.
MAGPRO_X100 = DeviceModel(
    name="magpro-x100",
    driver="magventure",
    rate_steps=(RateStep(50, 100.0), RateStep(80, 50.0), RateStep(100, 30.0)),
    min_pulse_interval_ms=10.0,
    min_intertrain_interval_s=0.5,
    waveforms=("biphasic", "monophasic", "halfsine"),
    sources=("assumption: rate steps; 100 pps maximum",),
)

MODELS: dict[str, DeviceModel] = {
    m.name: m for m in (RAPID2, MAGSTIM_200, BISTIM2, MAGPRO_X100)
}


def device_model(name: str) -> DeviceModel | None:
    """The documented model ``name`` (case-insensitive), or ``None`` when nobody described it."""
    return MODELS.get(name.lower())
