"""A spec may only be as loose as the device it is written for allows.

Every safety limit of a spec (``[limits]``, the cooling check's heating train, the
calibration levels) is checked against the bench's stimulator model as its maker
documents it (:mod:`instruments.stimulator.models`) and against IEC 60601-1's 41 °C
ceiling for applied parts. Each problem is one line naming the key, the value and the
limit it breaks; :func:`check` raises them together as a :class:`ConfigError`.
"""

from __future__ import annotations

from harness.config import BenchConfig, ConfigError, SpecConfig
from instruments.stimulator.models import DeviceModel, device_model

IEC_60601_APPLIED_PART_C = 41.0  # IEC 60601-1 surface temperature limit of applied parts


def _rate_problems(spec: SpecConfig, device: DeviceModel) -> list[str]:
    lim = spec.limits
    if not device.rate_steps:
        return []
    if not lim.rate_limits:
        top = device.max_rate_hz(lim.intensity_max_percent)
        return [
            "limits.rate_limits: none (any rate allowed); the "
            f"{device.name} delivers at most {top:g} Hz at {lim.intensity_max_percent:g} %MSO"
        ]
    out: list[str] = []
    steps = sorted(lim.rate_limits, key=lambda r: r.up_to_percent)
    # both tables are steps, constant on (previous mark, mark]: comparing them at every
    # mark of either compares them everywhere
    marks = {r.up_to_percent for r in steps} | {r.up_to_percent for r in device.rate_steps}
    for m in sorted(marks):
        ours, dev = lim.max_rate_hz(m), device.max_rate_hz(m)
        if ours is None or dev is None or ours <= dev + 1e-9:
            continue
        i = next(k for k, r in enumerate(steps) if m <= r.up_to_percent)
        out.append(
            f"limits.rate_limits[{i}]: {ours:g} Hz up to {steps[i].up_to_percent:g} %MSO is "
            f"above the {device.name}'s {dev:g} Hz at {m:g} %MSO"
        )
        break
    return out


def device_problems(spec: SpecConfig, bench: BenchConfig) -> list[str]:
    """Lines naming every limit of ``spec`` looser than ``bench``'s device (empty: none)."""
    out: list[str] = []
    lim = spec.limits
    model = bench.stimulator.model
    if spec.stimulator_model.lower() != model.lower():
        out.append(
            f"stimulator_model: {spec.stimulator_model!r} but the bench's stimulator is "
            f"{model!r}: a spec judges only the model it was written for"
        )
    device = device_model(model)
    ceiling = IEC_60601_APPLIED_PART_C
    if device is not None:
        ceiling = min(ceiling, device.coil_cutoff_C)
    if lim.coil_temperature_max_C > ceiling:
        who = f"the {device.name}'s coil cut-off" if device else "IEC 60601-1 applied parts"
        out.append(
            f"limits.coil_temperature_max_C: {lim.coil_temperature_max_C:g} °C is above "
            f"{who} ({ceiling:g} °C)"
        )
    if device is not None:
        out += _rate_problems(spec, device)
        if lim.min_pulse_interval_ms < device.min_pulse_interval_ms - 1e-9:
            out.append(
                f"limits.min_pulse_interval_ms: {lim.min_pulse_interval_ms:g} ms is below the "
                f"{device.name}'s minimum {device.min_pulse_interval_ms:g} ms"
            )
        if device.trains:
            if lim.min_intertrain_interval_s < device.min_intertrain_interval_s - 1e-9:
                out.append(
                    f"limits.min_intertrain_interval_s: {lim.min_intertrain_interval_s:g} s is "
                    f"below the {device.name}'s minimum {device.min_intertrain_interval_s:g} s"
                )
            if lim.max_train_pulses > device.max_train_pulses:
                out.append(
                    f"limits.max_train_pulses: {lim.max_train_pulses} is above the "
                    f"{device.name}'s maximum {device.max_train_pulses}"
                )
    out += _within_own_limits(spec)
    return out


def _within_own_limits(spec: SpecConfig) -> list[str]:
    """Procedures of the spec that its own limits would refuse."""
    out: list[str] = []
    lim = spec.limits
    lo, hi = lim.intensity_min_percent, lim.intensity_max_percent

    def outside(key: str, percent: float) -> None:
        if not lo - 1e-9 <= percent <= hi + 1e-9:
            out.append(f"{key}: {percent:g} %MSO is outside limits {lo:g}..{hi:g} %MSO")

    th = spec.thermal
    if th.cooling_tau_max_s is not None:
        outside("thermal.heating_percent", th.heating_percent)
        top = lim.max_rate_hz(th.heating_percent)
        if top is not None and th.heating_rate_hz > top + 1e-9:
            out.append(
                f"thermal.heating_rate_hz: {th.heating_rate_hz:g} Hz is above the spec's own "
                f"rate limit {top:g} Hz at {th.heating_percent:g} %MSO"
            )
        if th.heating_pulses > lim.max_train_pulses:
            out.append(
                f"thermal.heating_pulses: {th.heating_pulses} is above limits.max_train_pulses "
                f"{lim.max_train_pulses}"
            )
    for i, p in enumerate(spec.calibration.percents):
        outside(f"calibration.percents[{i}]", p)
    outside("output.reference_percent", spec.output.reference_percent)
    return out


def check(spec: SpecConfig, bench: BenchConfig) -> None:
    """Raise :class:`ConfigError` (one line per problem, naming the spec file) if any."""
    problems = device_problems(spec, bench)
    if problems:
        raise ConfigError(spec.source or "spec", problems)
