"""Recording measurements: judge a value against limits and commit it at once.

:class:`MeasureRecorder` is what the pytest ``measure`` fixture is, and what
commands that run procedures outside pytest (``tmsbench demo-history``) use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.analysis.decision import decide, describe_rule
from harness.analysis.uncertainty import Budget, Quantity, budget
from harness.config import Tolerance
from harness.limits import Limits, Measurement, Verdict
from harness.references import Role

if TYPE_CHECKING:  # the session module imports this one at run time
    from harness.session import BenchSession


#: The transducer whose accuracy enters each quantity's budget (besides scope and DAQ).
SENSOR: dict[str, Role] = {
    "current": "current_monitor",
    "didt": "current_monitor",
    "efield": "efield_probe",
    "temperature": "thermocouple",
    "voltage": "hv_divider",
}


class MeasureRecorder:
    """Judge and record measurements of one test (or procedure) in a bench session."""

    def __init__(self, session: BenchSession, test_id: str) -> None:
        self.session = session
        self.test_id = test_id
        self.measurements: list[Measurement] = []
        # (caption, PNG or a callable drawing it): drawn late, see render_figures()
        self.figures: list[tuple[str, bytes | Callable[[], bytes]]] = []

    def __call__(
        self,
        name: str,
        value: float | None,
        unit: str,
        limits: Limits | None = None,
        *,
        nominal: float | None = None,
        tolerance: Tolerance | None = None,
        waveform: str = "",
        quantity: Quantity | None = None,
        type_a: float | None = None,
        **extra: Any,
    ) -> Verdict:
        """Judge and record one characteristic; returns its verdict.

        Give ``limits`` directly, or ``nominal`` with a spec ``tolerance``.
        ``quantity`` (``"didt"``, ``"current"``, ``"efield"``, ``"time"``, ``"ratio"``,
        ``"temperature"``, ``"voltage"``) asks for an uncertainty budget from the bench
        file's reference instruments, with ``type_a`` (or ``standard_error``) as its
        Type A part; the spec's decision rule then judges the value with its ``U``.
        The measurement is committed to the journal before this returns.
        """
        if limits is None:
            if nominal is not None and tolerance is not None:
                limits = Limits.around(
                    nominal,
                    relative=tolerance.relative,
                    absolute=tolerance.absolute,
                    marginal=tolerance.marginal,
                )
            else:
                limits = Limits()
        s = self.session
        val = None if value is None else float(value)
        if type_a is None:
            type_a = extra.get("standard_error")  # a fit's standard error is Type A
        b = self.budget(quantity, val, type_a)
        decision = s.spec.decision
        if b is not None:
            extra = {**extra, **budget_fields(b)}
        if decision.rule != "simple" or b is not None:
            extra.setdefault("decision_rule", describe_rule(decision.rule, decision.guard_multiple))
        verdict = decide(
            val,
            limits,
            b.U if b is not None else None,
            rule=decision.rule,
            multiple=decision.guard_multiple,
        )
        if extra.get("invalid_reason"):  # not a reading of what was asked (e.g. a misfire)
            verdict = Verdict.INVALID
        m = Measurement(
            name,
            val,
            unit,
            limits,
            verdict,
            tags=s.tags(waveform=waveform),
            run_id=s.context.run_id,
            test_id=self.test_id,
            time_ns=s.now_ns(),
            extra=extra,
        )
        s.record(m)
        self.measurements.append(m)
        return m.verdict

    def budget(
        self, quantity: Quantity | None, value: float | None, type_a: float | None
    ) -> Budget | None:
        """The uncertainty budget of ``value`` from the bench's reference instruments."""
        if quantity is None or value is None or not math.isfinite(value):
            return None
        refs = self.session.bench.references
        sensor = SENSOR.get(quantity)
        return budget(
            quantity,
            value,
            sensor=refs.type_b(sensor) if sensor else None,
            scope=refs.type_b("scope"),
            daq=refs.type_b("daq"),
            type_a=type_a,
        )

    def figure(self, caption: str, png: bytes | Callable[[], bytes]) -> None:
        """Attach a PNG figure (shown in the report).

        Pass the drawing function itself (``cap.figure``) rather than its PNG to
        draw it after the test, when its instruments are disarmed: drawing takes
        tens of ms of CPU that an armed unit's keep-alive should not compete with.
        """
        self.figures.append((caption, png))

    def render_figures(self) -> list[tuple[str, bytes]]:
        """Draw every figure still pending; returns (caption, PNG) pairs.

        A figure that cannot be drawn is left out with its caption saying why;
        it never fails the test it illustrates.
        """
        done: list[tuple[str, bytes]] = []
        for caption, fig in self.figures:
            if isinstance(fig, bytes):
                done.append((caption, fig))
                continue
            try:
                done.append((caption, fig()))
            except Exception as err:  # a report figure must not change a verdict
                done.append((f"{caption} (not drawn: {type(err).__name__}: {err})", b""))
        self.figures[:] = done
        return done

    def failures(self) -> list[Measurement]:
        """Measurements whose verdict fails a test: the spec's ``decision.failing``
        (by default fail, invalid and conditional fail)."""
        failing = {Verdict(v) for v in self.session.spec.decision.failing}
        failing |= {Verdict.FAIL, Verdict.INVALID}
        return [m for m in self.measurements if m.verdict in failing]


def budget_fields(b: Budget) -> dict[str, Any]:
    """What a Measurement keeps of its budget: ``u_c``, ``U``, ``k`` and ``budget``
    (``{source (A|B): u}``; the journal keeps it whole, InfluxDB gets the scalars)."""
    return {"u_c": b.u_c, "U": b.U, "k": b.k, "budget": b.as_dict()}
