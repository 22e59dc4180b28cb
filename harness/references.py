"""Reference instruments of the measurement chain, as data in the bench file.

``[references.<role>]`` lists each instrument a result relies on (scope, current
monitor, E-field probe, HV divider, thermocouple, DAQ module) with its calibration
certificate and the accuracy its datasheet or certificate states. This module reads
them, gates a run on their due dates, checks the identities instruments report and
turns them into the Type B inputs of :mod:`harness.analysis.uncertainty`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.analysis.uncertainty import Distribution, TypeB

Role = Literal["scope", "current_monitor", "efield_probe", "hv_divider", "thermocouple", "daq"]

#: Roles whose instruments report an identity the harness can read back (``*IDN?``).
IDENTIFIED_ROLES: tuple[Role, ...] = ("scope",)

NonNegative = Annotated[float, Field(ge=0)]


class ReferenceInstrument(BaseModel):
    """One calibrated instrument of the measurement chain.

    Accuracy figures are half-widths of the band the datasheet or certificate
    states: ``distribution = "rectangular"`` for a datasheet's ± limit (GUM 4.3.7,
    u = a/√3), ``"normal_k2"`` for a certificate's expanded uncertainty at k = 2
    (GUM 4.3.3, u = a/2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    serial: str = Field(min_length=1)
    certificate: str = Field(min_length=1, description="calibration certificate id")
    calibrated: dt.date
    due: dt.date
    distribution: Distribution = "rectangular"
    gain_percent: NonNegative = 0.0  # gain (scale factor) accuracy, % of reading
    offset: NonNegative = 0.0  # offset accuracy, in the quantity's own unit (A, V/m, °C, V)
    timebase_ppm: NonNegative = 0.0  # timebase accuracy, ppm of the interval (scopes)

    @model_validator(mode="after")
    def _due_after_calibration(self) -> ReferenceInstrument:
        if self.due <= self.calibrated:
            raise ValueError(f"due {self.due} is not after calibrated {self.calibrated}")
        return self

    def describe(self) -> str:
        """``Pearson 1423 #SIM-CM-0001 (cert CAL-…, due 2027-03-01)``."""
        return f"{self.model} #{self.serial} (cert {self.certificate}, due {self.due})"


class References(BaseModel):
    """``[references]`` of a bench file: the instruments, and when to warn before a due date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warn_days: Annotated[int, Field(ge=0)] = 30
    scope: ReferenceInstrument | None = None  # the scope (every input: one datasheet figure)
    current_monitor: ReferenceInstrument | None = None  # current monitor / Rogowski coil
    efield_probe: ReferenceInstrument | None = None
    hv_divider: ReferenceInstrument | None = None
    thermocouple: ReferenceInstrument | None = None
    daq: ReferenceInstrument | None = None  # the DAQ module the slow signals go through

    @property
    def instruments(self) -> dict[Role, ReferenceInstrument]:
        """The listed instruments by role."""
        roles: tuple[Role, ...] = (
            "scope", "current_monitor", "efield_probe", "hv_divider", "thermocouple", "daq"
        )  # fmt: skip
        return {r: ref for r in roles if (ref := getattr(self, r)) is not None}

    def expired(self, today: dt.date) -> list[str]:
        """One line per instrument past its due date on ``today`` (``[]``: none)."""
        return [
            f"references.{role}: {ref.model} serial {ref.serial} was due for calibration on"
            f" {ref.due} (certificate {ref.certificate})"
            for role, ref in self.instruments.items()
            if ref.due < today
        ]

    def due_soon(self, today: dt.date) -> list[str]:
        """One line per instrument due within ``warn_days`` of ``today`` (and not yet past)."""
        soon = today + dt.timedelta(days=self.warn_days)
        return [
            f"references.{role}: {ref.model} serial {ref.serial} is due for calibration on"
            f" {ref.due} ({(ref.due - today).days} days)"
            for role, ref in self.instruments.items()
            if today <= ref.due <= soon
        ]

    def serials(self) -> list[str]:
        """Every reference instrument's serial."""
        return [ref.serial for ref in self.instruments.values()]

    def identity_mismatch(self, role: Role, idn: str) -> str | None:
        """Why ``idn`` (an IEEE-488.2 ``*IDN?`` reply) is not the bench file's ``role``.

        ``*IDN?`` answers ``maker,model,serial,firmware`` (IEEE 488.2-1992 §10.14);
        model and serial are compared, case-insensitive. ``None`` when they match or
        the bench file lists no such reference.
        """
        ref = self.instruments.get(role)
        if ref is None:
            return None
        parts = [p.strip() for p in idn.split(",")]
        model, serial = (parts[1], parts[2]) if len(parts) >= 3 else ("", "")
        wrong = []
        if model.casefold() != ref.model.casefold():
            wrong.append(f"model {model!r} (bench file: {ref.model!r})")
        if serial.casefold() != ref.serial.casefold():
            wrong.append(f"serial {serial!r} (bench file: {ref.serial!r})")
        if not wrong:
            return None
        return f"references.{role}: the instrument answers {' and '.join(wrong)} to *IDN?"

    def daq_mismatch(self, product_type: str, serial_hex: str) -> str | None:
        """Why the DAQ device's identity is not the bench file's ``[references.daq]``.

        The product type must match; the serial (hex, as NI MAX shows it) too, unless the
        device reports 0: NI-DAQmx simulated devices have no serial number.
        """
        ref = self.daq
        if ref is None or not product_type:
            return None
        wrong = []
        if product_type.casefold() != ref.model.casefold():
            wrong.append(f"product type {product_type!r} (bench file: {ref.model!r})")
        if serial_hex.strip("0") and _hex(serial_hex) != _hex(ref.serial):
            wrong.append(f"serial {serial_hex!r} (bench file: {ref.serial!r})")
        if not wrong:
            return None
        return f"references.daq: the device reports {' and '.join(wrong)}"

    def type_b(self, role: Role) -> TypeB | None:
        """The Type B accuracy of ``role`` for the uncertainty budget (None: not listed)."""
        ref = self.instruments.get(role)
        if ref is None:
            return None
        return TypeB(
            source=f"{role} {ref.model} #{ref.serial}",
            gain_percent=ref.gain_percent,
            offset=ref.offset,
            timebase_ppm=ref.timebase_ppm,
            distribution=ref.distribution,
        )


def _hex(text: str) -> int | None:
    """A serial number in hex as an int (``None``: not hex)."""
    try:
        return int(text, 16)
    except ValueError:
        return None
