"""The manufacturing calibration check: sweep, fit, verdict, record, certificate.

Run by ``tests/bench/test_calibration.py`` (and so by ``tmsbench calibrate``):
the spec's levels are swept upwards (lowering power settles ~10x slower than
raising it), ``pulses_per_level`` pulses each; output (peak dI/dt, A/µs) vs
%MSO is fitted and judged against the spec; the calibration record is
committed to the journal and an HTML + PDF certificate written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.analysis.calibration_fit import CalibrationFit, TableFit, fit_calibration, fit_table
from harness.analysis.decision import describe_rule
from harness.config import SpecConfig
from harness.limits import Limits, Measurement, Verdict
from harness.record import certificates
from harness.record.records import CalibrationRecord
from harness.report import certificate, plots

if TYPE_CHECKING:
    from harness.capture import BenchRig, PulseCapture
    from harness.measure import MeasureRecorder


@dataclass(frozen=True)
class CalibrationResult:
    """What one calibration check produced."""

    fit: CalibrationFit
    verdict: Verdict
    measurements: list[Measurement]
    certificate_html: Path
    certificate_pdf: Path
    figures: list[tuple[str, bytes]]


def sweep(rig: BenchRig, spec: SpecConfig) -> tuple[list[float], list[PulseCapture]]:
    """``pulses_per_level`` pulses at each level, upwards; (percent, captures)."""
    n = spec.calibration.pulses_per_level
    levels = [p for p in sorted(spec.calibration.percents) for _ in range(n)]
    return levels, rig.sweep(levels)


def pulse_problems(levels: list[float], caps: list[PulseCapture]) -> str:
    """Every pulse that gives no valid reading, with its level ("" when none)."""
    bad = [
        f"pulse {i + 1} at {p:g} %MSO: {c.invalid_reason}"
        for i, (p, c) in enumerate(zip(levels, caps, strict=True))
        if c.invalid_reason
    ]
    return "; ".join(bad)


def judge_table(
    table: TableFit,
    spec: SpecConfig,
    measure: MeasureRecorder,
    prefix: str,
    invalid_reason: str = "",
) -> list[Verdict]:
    """Judge output against the spec's ``output.points`` table; return the verdicts.

    The line through (table output, measured output) must have slope 1 within
    ``calibration.slope_tolerance`` and offset 0 within ``max_deviation_percent`` of
    the table output at the reference level; R² of that line ≥ ``r2_min``; and no
    level may deviate from its table value by more than ``max_deviation_percent``.
    """
    cal = spec.calibration
    out = spec.output
    offset_band = cal.max_deviation_percent / 100 * out.expected_didt(out.reference_percent)
    return [
        measure(
            f"{prefix} slope vs output table",
            table.slope,
            "",
            nominal=1.0,
            tolerance=cal.slope_tolerance,
        ),
        measure(
            f"{prefix} offset vs output table",
            table.offset,
            "A/µs",
            Limits(low=-offset_band, high=offset_band),
        ),
        measure(
            f"{prefix} R² vs output table",
            table.r2,
            "",
            Limits(low=cal.r2_min),
            invalid_reason=invalid_reason,
        ),
        measure(
            f"{prefix} worst deviation from output table",
            table.worst_deviation_percent,
            "%",
            Limits(high=cal.max_deviation_percent),
            at_percent=table.worst_level_percent,
        ),
    ]


def judge(
    fit: CalibrationFit,
    spec: SpecConfig,
    measure: MeasureRecorder,
    points: tuple[list[float], list[float]] | None = None,
    invalid_reason: str = "",
) -> list[Verdict]:
    """Record slope, R² and worst deviation against the spec; return their verdicts.

    ``invalid_reason`` names the pulses that gave no valid reading: the R² then
    carries it, INVALID, and the check fails.

    A spec with an output table (``output.points``) is judged against the table
    (:func:`judge_table`, from the swept ``points``: %MSO and output), not a line.
    """
    cal = spec.calibration
    if spec.output.points and points is not None:
        ref = spec.output.reference_percent
        table = fit_table(*points, spec.output.expected_didt)
        reference = measure(
            "calibration reference output",
            table.slope * spec.output.expected_didt(ref) + table.offset,
            "A/µs",
            nominal=spec.output.expected_didt(ref),
            tolerance=spec.output.didt_tolerance,
            quantity="didt",
            at_percent=ref,
        )
        return [reference, *judge_table(table, spec, measure, "calibration", invalid_reason)]
    t = cal.slope_tolerance
    ref = spec.output.reference_percent
    return [
        measure(
            "calibration reference output",
            fit.slope_per_percent * ref + fit.offset,
            "A/µs",
            nominal=spec.output.expected_didt(ref),
            tolerance=spec.output.didt_tolerance,
            quantity="didt",  # U from the current monitor, scope gain and timebase
            at_percent=ref,
        ),
        measure(
            "calibration slope",
            fit.slope_per_percent,
            "A/µs per %MSO",
            nominal=spec.output.expected_didt(100) / 100,
            tolerance=t,
            quantity="didt",  # a dI/dt scale: the same relative uncertainty
        ),
        measure(
            "calibration R²", fit.r2, "", Limits(low=cal.r2_min), invalid_reason=invalid_reason
        ),
        measure(
            "calibration worst deviation",
            fit.worst_deviation_percent,
            "%",
            Limits(high=cal.max_deviation_percent),
            at_percent=fit.worst_level_percent,
        ),
    ]


def run_calibration(
    rig: BenchRig, spec: SpecConfig, measure: MeasureRecorder, measurements: list[Measurement]
) -> CalibrationResult:
    """The whole check; ``measurements`` is the test's list the verdicts land in."""
    session = rig.session
    xs, caps = sweep(rig, spec)
    ys = [c.current.peak_didt_A_per_us for c in caps]
    last = caps[-1] if caps else None
    fit = fit_calibration(xs, ys, spec.output.expected_didt)
    # a pulse measured but not the one set (a misfire) makes the whole check INVALID
    verdicts = judge(fit, spec, measure, (xs, ys), pulse_problems(xs, caps))
    failing = {Verdict(v) for v in spec.decision.failing} | {Verdict.FAIL, Verdict.INVALID}
    verdict = next(
        (v for v in (Verdict.CONDITIONAL_PASS, Verdict.MARGINAL) if v in verdicts),
        Verdict.PASS,
    )
    if failing.intersection(verdicts):
        verdict = Verdict.FAIL
    ctx = session.context
    # one certificate per check, numbered within the run (demo-history runs many checks)
    n_certs = sum(1 for what, _ in session.artifacts if what.startswith("certificate ("))
    stem = f"certificate-{ctx.stimulator_serial}-{ctx.run_id}" + (
        f"-{n_certs + 1:02d}" if n_certs else ""
    )
    session.journal.append_calibration(
        CalibrationRecord(
            serial=ctx.stimulator_serial,
            slope=fit.slope_per_percent,
            offset=fit.offset,
            r_squared=fit.r2,
            worst_deviation=fit.worst_deviation_percent / 100.0,
            verdict=verdict,
            quantity="peak_didt",
            unit="A/us",
            tags=session.tags(),
            run_id=ctx.run_id,
            test_id=rig.test_id,
            time_ns=session.now_ns(),
            certificate=stem,
        )
    )
    levels = np.array(fit.levels_percent)
    tol = spec.output.didt_tolerance
    exp = np.array([spec.output.expected_didt(p) for p in levels])
    half = np.maximum(tol.absolute, tol.relative * exp)
    curve = plots.calibration_plot(
        xs,
        ys,
        slope=fit.slope_per_percent,
        offset=fit.offset,
        expected=exp,
        band=(exp - half, exp + half),
        levels=levels,
        unit="peak dI/dt (A/µs)",
        title=f"calibration of {ctx.stimulator_model} #{ctx.stimulator_serial}",
    )
    figures = [("output vs intensity", curve)]
    if last is not None:
        figures.append((f"pulse at {last.percent:g} %MSO", last.figure()))
    bench = session.bench
    cert = certificate.Certificate(
        title=f"Calibration certificate {ctx.stimulator_model} #{ctx.stimulator_serial}",
        verdict=verdict.value,
        context={
            "certificate number": f"{ctx.station}/{stem.removeprefix('certificate-')}",
            "issuing station": ctx.station,
            **{k: v for k, v in ctx.describe().items() if k != "reference instruments"},
            "method": f"spec {spec.name}"
            + (f" version {spec.version}" if spec.version else " (no version)")
            + ", calibration sweep "
            + ", ".join(f"{x:g}" for x in sorted(spec.calibration.percents))
            + " %MSO,"
            f" {spec.calibration.pulses_per_level} pulses per level",
            "decision rule": describe_rule(spec.decision.rule, spec.decision.guard_multiple),
            "environment": _environment(rig),
            "date of calibration": time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime(session.now_ns() / 1e9)
            ),
            # the session's clock, as every record (the world's calendar on the sim bench)
            "issued": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(session.now_ns() / 1e9)),
            "fit": f"{fit.slope_per_percent:.5g} A/µs per %MSO, offset {fit.offset:+.4g} A/µs, "
            f"R² {fit.r2:.6f}, {fit.n_points} pulses",
        },
        instruments={
            # identities only: a VISA resource names a port or path of this machine
            "stimulator": f"{bench.stimulator.driver} {bench.stimulator.model}"
            f" #{ctx.stimulator_serial}",
            "scope": f"{getattr(rig.scope, 'name', '?')}",
            "coil": f"{bench.coil.model} #{bench.coil.serial}",
            # the calibrated reference instruments the results rely on
            **{
                f"ref. {role.replace('_', ' ')}": f"{ref.model} #{ref.serial}, certificate"
                f" {ref.certificate}, calibrated {ref.calibrated}, due {ref.due}"
                for role, ref in bench.references.instruments.items()
            },
        },
        measurements=measurements,
        figures=figures,
    )
    html_path, pdf_path = certificate.write(cert, session.results_dir, stem)
    for path in (pdf_path, html_path):  # the issue rows: what `verify` checks, `approve` signs
        certificates.register(
            session.journal,
            path,
            run_id=ctx.run_id,
            run_type=ctx.run_type,
            serial=ctx.stimulator_serial,
            who=ctx.operator,
            station=ctx.station,
        )
    session.artifacts.append((f"certificate ({ctx.stimulator_serial}, {verdict})", pdf_path))
    return CalibrationResult(fit, verdict, list(measurements), html_path, pdf_path, figures)


def _environment(rig: BenchRig) -> str:
    """The environmental conditions the bench measured (coil temperature from the DAQ)."""
    try:
        coil = rig.temperature()
    except Exception as exc:  # a DAQ fault must not stop the certificate: say so on it
        return f"coil temperature not read ({type(exc).__name__}); ambient not measured"
    if coil is None:
        return "not measured (the bench has no coil thermocouple); ambient not measured"
    return f"coil {coil:.1f} °C (DAQ thermocouple, after the sweep); ambient not measured"

