"""Deliver a planned protocol through the rig, judge it and record the dose.

:func:`deliver` runs the plan's train calls on their prescribed schedule (each train
starts at its prescribed time after the first, on the session clock: the simulated
world's clock, or the wall clock on hardware), disarmed between sessions. Bursts whose
gaps the host cannot time go through the triggered-train call (the DAQ's counter output
times them). :func:`judge` turns the delivery into measurements (one per dose check) and
:func:`record_dose` into one ``dose`` journal row, forwarded like every row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis.dose import DeliveredTrain, DoseCheck, DoseResult, verify_dose
from harness.limits import Limits, Verdict
from harness.protocol.plan import Plan, preflight
from harness.protocol.schema import Protocol
from harness.protocol.threshold import Threshold
from harness.record import records

if TYPE_CHECKING:
    from harness.capture import BenchRig, TrainCapture
    from harness.session import BenchSession

TrainCall = Callable[..., "TrainCapture"]
#: Device seconds before a session's first train at which the unit is armed again.
ARM_LEAD_S = 5.0


@dataclass
class Delivery:
    """What a run of a plan delivered (possibly cut short by an error)."""

    plan: Plan
    trains: list[DeliveredTrain] = field(default_factory=list)
    threshold_source: str = "value"  # "value" or "last" (the journal's last threshold)
    full_pulses: int | None = None  # the full protocol's pulses when this is abridged


def delivered_train(cap: TrainCapture, start_s: float) -> DeliveredTrain:
    """A train capture as the dose check's input."""
    didt = np.array([])
    if cap.pulses is not None:
        ok = np.asarray(cap.pulses.described, dtype=bool)
        didt = np.asarray(cap.pulses.peak_didt_A_per_us, dtype=np.float64)[ok]
    temps = [t for t in (cap.max_coil_temperature_C, cap.temperature_after) if t is not None]
    return DeliveredTrain(
        start_s=start_s,
        times_s=np.asarray(cap.times_s, dtype=np.float64),
        n_scope=cap.n_scope,
        n_daq=cap.n_daq,
        n_valid=cap.n_valid,
        didt_A_per_us=didt,
        max_temperature_C=max(temps) if temps else None,
    )


def deliver(
    rig: BenchRig,
    delivery: Delivery,
    *,
    now_s: Callable[[], float],
    sleep: Callable[[float], None],
    triggered: TrainCall | None = None,
) -> Delivery:
    """Run every train call of ``delivery.plan``; trains are appended as they finish.

    ``now_s()``: the session clock (s); ``sleep(s)``: wait device seconds. A step the
    host cannot time needs ``triggered`` (the pre-flight refused the plan otherwise).
    """
    plan = delivery.plan
    steps = plan.steps
    first: float | None = None

    def wait_until(t: float) -> None:
        if (left := t - now_s()) > 0:
            sleep(left)

    for step in steps:
        if first is None:
            rig.arm(plan.intensity_percent)  # arming time is not part of the schedule
        elif step.rest_before_s > 0:
            rig.close()  # disarmed between sessions, armed again just before the next
            wait_until(first + step.start_s - ARM_LEAD_S)
            rig.arm(plan.intensity_percent)
        if first is not None:
            wait_until(first + step.start_s)
        call = triggered if step.hardware_timed else rig.train
        if call is None:
            raise RuntimeError("a hardware-timed step without a triggered-train call")
        start = now_s()
        if first is None:
            first = start
        t = step.train
        cap = call(rate_hz=t.rate_hz, pulses=t.pulses, percent=plan.intensity_percent,
                   trains=t.trains, iti_s=t.iti_s)
        delivery.trains.append(delivered_train(cap, start))
        _progress(rig, plan, len(delivery.trains), cap.n_valid)
    return delivery


def _progress(rig: BenchRig, plan: Plan, k: int, n_valid: int) -> None:
    """The rig's progress line after train ``k`` (1-based), with the scheduled rest."""
    if rig.progress is None:
        return
    from harness.capture import train_progress_line

    steps = plan.steps
    step, t = steps[k - 1], steps[k - 1].train
    span = plan.protocol.pattern.span_s
    rest = steps[k].start_s - step.start_s - span if k < len(steps) else 0.0
    rig.progress(train_progress_line(
        k, len(steps), rate_hz=t.rate_hz, pulses=t.pulses, trains=t.trains, iti_s=t.iti_s,
        rest_after_s=rest, n_valid=n_valid, wall_per_device_s=rig.stimulator.wall(1.0),
    ))


def check_limits(c: DoseCheck) -> Limits:
    """A dose check's limits as a :class:`Limits`."""
    return Limits(low=c.low, high=c.high, nominal=c.nominal)


def judge(result: DoseResult, measure: Callable[..., Verdict], protocol: str) -> None:
    """Record every dose check as a measurement (``where`` kept with the ones that point)."""
    for c in result.checks:
        extra: dict[str, Any] = {"protocol": protocol}
        if c.where:
            extra["where"] = c.where
        measure(f"{protocol}: {c.name}", c.value, c.unit, check_limits(c), **extra)


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def dose_fields(delivery: Delivery, result: DoseResult) -> dict[str, Any]:
    """The dose record's fields: prescription, delivery and per-train statistics."""
    plan = delivery.plan
    proto = plan.protocol
    tr = result.trains
    rates = _finite([t.rate_hz for t in tr])
    jit = _finite([t.jitter_us for t in tr])
    def num(v: float | None) -> float | None:  # JSON has no NaN
        return v if v is not None and math.isfinite(v) else None

    per_train = [
        {"train": t.index, "scope": t.pulses_scope, "daq": t.pulses_daq,
         "valid": t.pulses_valid, "rate_hz": num(t.rate_hz), "jitter_us": num(t.jitter_us),
         "span_s": num(t.span_s), "burst_rate_hz": num(t.burst_rate_hz),
         "mean_didt_A_per_us": num(t.mean_didt_A_per_us)}
        for t in tr
    ]
    dur = next((c.value for c in result.checks if c.name == "total duration"), None)
    data: dict[str, Any] = {
        "version": proto.version,
        "source": proto.source,
        "threshold_percent": plan.threshold_percent,
        "threshold_source": delivery.threshold_source,
        "intensity_percent_mt": proto.intensity_percent_mt,
        "intensity_percent": plan.intensity_percent,
        "pulses_prescribed": sum(s.train.pulses * s.train.trains for s in plan.steps),
        "pulses_delivered": result.pulses_delivered,
        "pulses_scope": sum(t.n_scope for t in delivery.trains),
        "trains_prescribed": len(plan.steps),
        "trains_delivered": len(delivery.trains),
        "sessions": proto.schedule.sessions,
        "duration_prescribed_s": proto.duration_s,
        "abridged": delivery.full_pulses is not None,
        "full_protocol_pulses": delivery.full_pulses or proto.pulses,
        "trains_json": json.dumps(per_train, allow_nan=False),
    }
    counts = [t.n_daq for t in delivery.trains]
    if counts and all(c is not None for c in counts):
        data["pulses_daq"] = sum(c or 0 for c in counts)
    if dur is not None and math.isfinite(dur):
        data["duration_s"] = dur
    if rates:
        data.update(train_rate_hz_min=min(rates), train_rate_hz_max=max(rates))
    if jit:
        data["train_jitter_us_max"] = max(jit)
    return data


def record_dose(session: BenchSession, delivery: Delivery, result: DoseResult,
                test_id: str) -> None:
    """Commit the dose record (journal first; the forwarder sends it on)."""
    verdict = Verdict.PASS if result.passed else Verdict.FAIL
    row = records.dose_row(
        dose_fields(delivery, result),
        protocol=delivery.plan.protocol.name,
        verdict=verdict,
        tags=session.tags(),
        run_id=session.context.run_id,
        test_id=test_id,
        time_ns=session.now_ns(),
    )
    session.record_rows([row])


def run_protocol(
    session: BenchSession,
    rig: BenchRig,
    measure: Callable[..., Verdict],
    plan: Plan,
    *,
    test_id: str,
    host_scale: float = 1.0,
    threshold_source: str = "value",
    full_pulses: int | None = None,
    triggered: TrainCall | None = None,
) -> DoseResult:
    """Deliver ``plan``, judge it (a measurement per check) and record the dose.

    What was delivered is judged and recorded also when delivery stops early (a lost
    link, the coil too hot): the error is raised after the record is committed.
    """
    delivery = Delivery(plan, threshold_source=threshold_source, full_pulses=full_pulses)
    stim = rig.stimulator
    try:
        deliver(rig, delivery, now_s=lambda: session.now_ns() / 1e9, sleep=stim.sleep,
                triggered=triggered)
    finally:
        rig.close()  # disarmed before judging
        result = verify_dose(plan.prescription(session.spec, host_scale=host_scale),
                             delivery.trains)
        judge(result, measure, plan.protocol.name)
        record_dose(session, delivery, result, test_id)
    return result


def deliver_protocol(
    session: BenchSession,
    rig: BenchRig,
    measure: Callable[..., Verdict],
    protocol: Protocol,
    threshold: Threshold,
    *,
    test_id: str,
    host_scale: float = 1.0,
    full_pulses: int | None = None,
) -> DoseResult:
    """Pre-flight ``protocol`` at ``threshold`` (:class:`ProtocolRefused` before any
    pulse), then deliver, judge and record it. Bursts the host cannot time go through
    the rig's triggered trains where the bench wires a DAQ counter output to the unit."""
    daq = session.bench.daq
    wired = rig.daq is not None and daq is not None and daq.trigger_out is not None
    triggered: TrainCall | None = rig.triggered_train if wired else None
    plan = preflight(
        protocol,
        threshold.percent,
        session.spec,
        can_trigger=triggered is not None,
        coil_temperature_C=rig.temperature(),
    )
    return run_protocol(
        session, rig, measure, plan, test_id=test_id, host_scale=host_scale,
        threshold_source=threshold.source, full_pulses=full_pulses, triggered=triggered,
    )
