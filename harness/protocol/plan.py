"""Pre-flight: a protocol + a motor threshold + the spec -> the train calls, or a refusal.

Everything is checked for the whole protocol before the first pulse: the intensity the
prescription gives at this threshold against the spec's range, the pulse rate against
the rate the spec allows at that intensity and its minimum pulse interval, pulses per
train, the off time between trains, the gap between bursts (a gap below the spec's
``min_intertrain_interval_s`` cannot be timed by the host: it needs the DAQ-timed
trigger, and is refused on a bench without one), the scope's segment memory, and the
coil temperature now against the spec's limit. A refusal is one line naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.dose import Prescription
from harness.analysis.train import burst_times
from harness.config import SpecConfig
from harness.protocol.schema import Protocol
from harness.safety import (
    LimitExceeded,
    check_intensity,
    check_pattern,
    check_rate,
    check_train,
)
from instruments.stimulator.base import Train

#: Scope segments one train call can capture (harness.capture.BenchRig.train).
MAX_SEGMENTS = 1000
#: Host-timed schedule tolerance (train starts, total duration), ms of device time. Our
#: choice: clinical protocols state off times in whole seconds; 100 ms is far below them.
SCHEDULE_TOLERANCE_MS = 100.0


class ProtocolRefused(ValueError):
    """The protocol breaks a limit of the spec or the bench; nothing was sent.

    ``needs_trigger``: what it lacks is a DAQ-timed trigger (a bench without one cannot
    deliver theta burst; the device might, on a bench wired for it).
    """

    def __init__(self, message: str, *, needs_trigger: bool = False) -> None:
        super().__init__(message)
        self.needs_trigger = needs_trigger


@dataclass(frozen=True)
class Step:
    """One train call of the protocol."""

    session: int  # 0-based
    index: int  # 0-based, within the session
    start_s: float  # prescribed start, s after the protocol's first train
    train: Train  # device train: one burst each for theta burst
    hardware_timed: bool  # the bursts' gaps are timed by the DAQ, not the host
    rest_before_s: float = 0.0  # disarmed gap before this step (a new session)


@dataclass(frozen=True)
class Plan:
    """A protocol resolved for one threshold: the setting and every train call."""

    protocol: Protocol
    threshold_percent: float
    intensity_percent: int
    steps: tuple[Step, ...]

    @property
    def pulses(self) -> int:
        """Pulses prescribed."""
        return self.protocol.pulses

    def prescription(self, spec: SpecConfig, *, host_scale: float = 1.0) -> Prescription:
        """The dose check's prescription (``host_scale``: host latency in device time)."""
        p = self.protocol.pattern
        out, t = spec.output, spec.timing
        return Prescription(
            pulses_per_burst=p.pulses,
            bursts_per_train=p.bursts,
            rate_hz=p.rate_hz,
            burst_rate_hz=p.burst_rate_hz,
            train_starts_s=tuple(s.start_s for s in self.steps),
            train_span_s=p.span_s,
            duration_s=self.protocol.duration_s,
            expected_didt_A_per_us=out.expected_didt(self.intensity_percent),
            didt_relative=out.didt_tolerance.relative,
            didt_absolute=out.didt_tolerance.absolute,
            coil_temperature_max_C=spec.limits.coil_temperature_max_C,
            rate_error_percent_max=t.rate_error_percent_max,
            burst_rate_error_percent_max=t.burst_rate_error_percent_max,
            jitter_us_max=t.jitter_us_max,
            span_tolerance_ms=t.interval_tolerance_ms * host_scale,
            schedule_tolerance_ms=SCHEDULE_TOLERANCE_MS * host_scale,
        )


def _device_train(protocol: Protocol) -> Train:
    p = protocol.pattern
    if p.bursts > 1:
        gap = p.inter_burst_gap_s or 0.0
        return Train(rate_hz=p.rate_hz, pulses=p.pulses, trains=p.bursts, iti_s=gap)
    return Train(rate_hz=p.rate_hz, pulses=p.pulses)


def steps_of(protocol: Protocol, *, hardware_timed: bool) -> tuple[Step, ...]:
    """Every train call with its prescribed start (s after the first train's start)."""
    p, s = protocol.pattern, protocol.schedule
    train = _device_train(protocol)
    out: list[Step] = []
    for session in range(s.sessions):
        # a session starts after the last one's last pulse and the gap between sessions
        t0 = session * (p.session_span_s + s.session_interval_s)
        for k in range(p.trains):
            rest = s.session_interval_s if session and not k else 0.0
            out.append(Step(session, k, t0 + k * p.train_period_s, train, hardware_timed, rest))
    return tuple(out)


def _refuse(protocol: Protocol, why: str, *, needs_trigger: bool = False) -> ProtocolRefused:
    return ProtocolRefused(
        f"protocol {protocol.name} v{protocol.version} refused before the first pulse: {why}",
        needs_trigger=needs_trigger,
    )


def preflight(
    protocol: Protocol,
    threshold_percent: float,
    spec: SpecConfig,
    *,
    can_trigger: bool = False,
    coil_temperature_C: float | None = None,
) -> Plan:
    """The plan of ``protocol`` at ``threshold_percent`` %MSO, or :class:`ProtocolRefused`.

    ``can_trigger``: the bench times bursts with the DAQ's counter output (triggered
    trains); ``coil_temperature_C``: the coil now (None: the bench cannot read it).
    """
    if not 0 < threshold_percent <= 100:
        raise _refuse(protocol, f"motor threshold {threshold_percent:g} %MSO is not in (0, 100]")
    lim = spec.limits
    pct = protocol.intensity_percent(threshold_percent)
    at = f"{protocol.intensity_percent_mt:g} % of a {threshold_percent:g} %MSO motor threshold"
    p = protocol.pattern
    train = _device_train(protocol)
    gap = p.inter_burst_gap_s
    hardware = gap is not None and gap < lim.min_intertrain_interval_s
    try:
        check_intensity(lim, pct, f"intensity ({at})")
        check_rate(lim, pct, p.rate_hz)
        if hardware and not can_trigger:
            check_train(lim, pct, train)  # names the inter-burst gap the host cannot time
        elif hardware:  # the card fires single pulses: judged pulse by pulse, as it will be
            times = burst_times(rate_hz=train.rate_hz, pulses=train.pulses,
                                trains=train.trains, iti_s=train.iti_s)
            check_pattern(lim, pct, [float(x) for x in times])
        else:
            check_train(lim, pct, train)
        if p.trains > 1:
            off = Train(rate_hz=p.rate_hz, pulses=p.pulses, trains=2,
                        iti_s=p.inter_train_interval_s)
            check_train(lim, pct, off)
    except LimitExceeded as err:
        why = str(err)
        host = hardware and not can_trigger and "inter-train" in why
        if host:
            why = (f"the gap between bursts {gap:g} s is below the minimum inter-train interval "
                   f"{lim.min_intertrain_interval_s:g} s the host can time, and the bench has "
                   "no DAQ-timed trigger")
        raise _refuse(protocol, why, needs_trigger=host) from None
    if p.pulses_per_train > MAX_SEGMENTS:
        raise _refuse(protocol, f"{p.pulses_per_train} pulses per train exceed the "
                                f"{MAX_SEGMENTS} the scope can capture in one train")
    top = lim.coil_temperature_max_C
    if coil_temperature_C is not None and coil_temperature_C >= top:
        raise _refuse(protocol, f"coil temperature {coil_temperature_C:.1f} °C is not below the "
                                f"limit {top:g} °C")
    return Plan(protocol, threshold_percent, pct, steps_of(protocol, hardware_timed=hardware))
