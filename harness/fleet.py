"""``tmsbench demo-history --fleet``: years of calibration checks on a fleet, fast.

:mod:`harness.history` drives the simulated bench for every check (seconds per
check); a fleet of hundreds of devices over years is tens of thousands of
checks, so here the rows a calibration run records are built directly and
appended to the journal in large batches (:meth:`Journal.append_rows`, one
transaction per batch), then optionally forwarded to InfluxDB by the real
forwarder. Every row has the kind, measurement name, tags and fields of the
rows a real calibration run records (``tests/bench/test_calibration.py`` via
:func:`harness.calibration.run_calibration`, seen in a journal written by
``tmsbench demo-history``), so ``tmsbench drift``, ``export``, ``status`` and
the dashboards read a fleet like a real station's history:

per check, one run (``run`` start point, runs table row) of one test: one
``pulse`` per calibration level, the four ``calibration …`` measurements
(reference output, slope, R², worst deviation, judged against the spec's
limits as :func:`harness.calibration.judge` does), the ``calibration`` record,
the ``test`` attempt row and the ``run`` finish point.

Not recorded (no files behind them): the certificates and their ``audit``
rows; the uncertainty budget fields of the measurements; the pulses' scope
settings; the run finish point's ``chain_head`` field. The hash chain itself
is complete (the journal computes it on append).

The aging law of each device (:class:`harness.history.AgingLaw`) is the truth:
the output at ``p`` %MSO is ``expected(p) · (1 − fade(day)) · (1 + charge_error)``
with the check's charge error (offset + noise) and a small per-pulse noise.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import SpecConfig, Tolerance
from harness.drift.trend import DAYS_PER_MONTH
from harness.history import DEFAULT_LEVELS, SECONDS_PER_DAY, AgingLaw
from harness.limits import Limits, Measurement, Verdict
from harness.record import records
from harness.record.records import CalibrationRecord, Row, RunInfo

#: The real calibration test's id (``tests/bench/test_calibration.py``): fleet rows carry it.
CALIBRATION_TEST = "tests/bench/test_calibration.py::test_calibration"
PULSE_NOISE = 0.001  # per-pulse dI/dt noise (fraction, std): the simulated scope's ~0.1 %
PULSE_GAP_S = 12.0  # between two calibration pulses (world s; a demo-history run: ~12 s)
#: Ratios of a pulse's readings to its peak dI/dt, as the simulated bench reads them
#: (benches/sim.toml, D70 coil: a ``tmsbench demo-history`` journal, 50 and 100 %MSO).
CURRENT_PER_DIDT_US = 50.1  # peak current (A) / peak dI/dt (A/µs)
PERIOD_US = 345.0  # biphasic pulse period (µs)
PHASE_RATIO = 0.8357
ENERGY_J_AT_100 = 166.0  # stored energy at 100 %MSO (J); ∝ (%MSO)²
TEMPLATE_CORRELATION = 0.99998
STIMULATOR_MODELS = ("rapid2", "magpro")
COIL_MODEL = "D70"


@dataclass(frozen=True)
class FleetDevice:
    """One device of the fleet: its aging law, station, models, coil and check phase."""

    law: AgingLaw
    station: str
    stimulator_model: str
    coil_serial: str
    phase_days: float  # first check, days after the fleet's start

    def tags(self) -> dict[str, str]:
        """The bounded context tags its rows carry (as a real run's)."""
        return {
            "station": self.station,
            "stimulator_model": self.stimulator_model,
            "stimulator_serial": self.law.serial,
            "coil_model": COIL_MODEL,
            "coil_serial": self.coil_serial,
            "waveform": "biphasic",
        }


@dataclass(frozen=True)
class FleetSummary:
    """What :func:`write_fleet` wrote."""

    devices: int
    checks: int
    rows: int
    first_ns: int
    last_ns: int


def fleet_devices(
    devices: int, *, stations: int = 4, days: float = 3 * 365.0, every_days: float = 7.0,
    seed: int = 1,
) -> list[FleetDevice]:
    """``devices`` devices (serials ``FLEET-0001`` …) spread round-robin over ``stations``.

    Aging: 85 % drift slowly (0 … 0.1 %/month of output), 10 % faster (0.1 … 0.4 %/month),
    5 % are stable but lose 3 % in a step somewhere in the history; every device has a
    fixed charge offset (± 1 %) and 0.3 % check-to-check noise.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(devices):
        serial = f"FLEET-{i + 1:04d}"
        offset = float(rng.uniform(-0.01, 0.01))
        u = float(rng.uniform())
        if u < 0.05:
            law = AgingLaw(serial, 0.0, offset, step_day=float(rng.uniform(0.2, 0.9)) * days,
                           step_fade=0.03, label="step")
        else:
            hi = 0.001 if u < 0.90 else 0.004
            lo = 0.0 if u < 0.90 else 0.001
            law = AgingLaw(serial, float(rng.uniform(lo, hi)) / DAYS_PER_MONTH, offset,
                           label="drift")
        out.append(FleetDevice(
            law=law,
            station=f"line-{i % max(stations, 1) + 1}",
            stimulator_model=STIMULATOR_MODELS[i % len(STIMULATOR_MODELS)],
            coil_serial=f"D70-{i + 1:05d}",
            phase_days=float(rng.uniform(0.0, every_days)),
        ))
    return out


def _limits(nominal: float, tol: Tolerance) -> Limits:
    return Limits.around(nominal, relative=tol.relative, absolute=tol.absolute,
                         marginal=tol.marginal)


def _check_verdict(verdicts: Sequence[Verdict], spec: SpecConfig) -> Verdict:
    """The check's verdict from its measurements' (as :func:`run_calibration` decides)."""
    failing = {Verdict(v) for v in spec.decision.failing} | {Verdict.FAIL, Verdict.INVALID}
    if failing.intersection(verdicts):
        return Verdict.FAIL
    return next((v for v in (Verdict.CONDITIONAL_PASS, Verdict.MARGINAL) if v in verdicts),
                Verdict.PASS)


def _run_id(t_ns: int, serial: str) -> str:
    stamp = dt.datetime.fromtimestamp(t_ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{serial}"


class _CheckMaker:
    """Builds the rows of one calibration check (module notes)."""

    def __init__(self, spec: SpecConfig, levels: Sequence[float], method: dict[str, str]) -> None:
        self.spec = spec
        self.levels = np.array(sorted(float(p) for p in levels))
        out = spec.output
        self.ref = out.reference_percent
        self.expected = np.array([out.expected_didt(p) for p in self.levels])
        cal = spec.calibration
        self.ref_limits = _limits(out.expected_didt(self.ref), out.didt_tolerance)
        self.slope_limits = _limits(out.expected_didt(100) / 100, cal.slope_tolerance)
        self.r2_limits = Limits(low=cal.r2_min)
        self.dev_limits = Limits(high=cal.max_deviation_percent)
        self.efield_per_didt = out.efield_max_V_per_m / out.didt_max_A_per_us
        self.method = method

    def rows(
        self, dev: FleetDevice, day: float, t_ns: int, rng: np.random.Generator
    ) -> tuple[list[Row], tuple[Any, ...]]:
        """Rows of one check of ``dev`` on ``day`` (days after its first) starting at ``t_ns``,
        and its runs-table row."""
        law, ctx = dev.law, dev.tags()
        run_id, test_id = _run_id(t_ns, law.serial), CALIBRATION_TEST
        charge = float(np.clip(law.charge_offset + rng.normal(0.0, law.noise), -0.5, 0.5))
        rel = (1.0 - law.fade(day)) * (1.0 + charge)
        ys = self.expected * rel * (1.0 + rng.normal(0.0, PULSE_NOISE, self.levels.size))
        info = RunInfo(run_id, station=dev.station, operator="fleet", bench="fleet.toml",
                       started_ns=t_ns, tags=ctx, method=self.method)
        out = [records.run_row(info, "start", time_ns=t_ns)]
        gap = int(PULSE_GAP_S * 1e9)
        t = t_ns
        for p, y in zip(self.levels, ys, strict=True):
            t += gap
            out.append(records.pulse_row(self._pulse(float(p), float(y)), tags=ctx,
                                         run_id=run_id, test_id=test_id, time_ns=t))
        slope, offset = np.polyfit(self.levels, ys, 1)
        resid = ys - (slope * self.levels + offset)
        ss_tot = float(np.sum((ys - ys.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 0.0
        dev_pct = np.abs(ys - self.expected) / self.expected * 100.0
        k = int(np.argmax(dev_pct))
        checks = [
            ("calibration reference output", float(slope * self.ref + offset), "A/µs",
             self.ref_limits, {"at_percent": self.ref}),
            ("calibration slope", float(slope), "A/µs per %MSO", self.slope_limits, {}),
            ("calibration R²", r2, "", self.r2_limits, {"invalid_reason": ""}),
            ("calibration worst deviation", float(dev_pct[k]), "%", self.dev_limits,
             {"at_percent": float(self.levels[k])}),
        ]
        verdicts = []
        for name, value, unit, lim, extra in checks:
            t += 10**9
            m = Measurement.check(name, value, unit, lim, tags=ctx, run_id=run_id,
                                  test_id=test_id, time_ns=t, extra=extra)
            verdicts.append(m.verdict)
            out.append(records.measurement_row(m))
        verdict = _check_verdict(verdicts, self.spec)
        t += 10**9
        out.append(records.calibration_row(CalibrationRecord(
            serial=law.serial, slope=float(slope), offset=float(offset), r_squared=r2,
            worst_deviation=float(dev_pct[k]) / 100.0, verdict=verdict, quantity="peak_didt",
            unit="A/us", tags=ctx, run_id=run_id, test_id=test_id, time_ns=t,
        )))
        outcome = "passed" if verdict in (Verdict.PASS, Verdict.MARGINAL) else "failed"
        duration = (t - t_ns) / 1e9
        t += 10**9
        out.append(records.test_row(ctx, run_id=run_id, test_id=test_id, outcome=outcome,
                                    attempt=1, reason="first", duration_s=duration, time_ns=t))
        t += 10**9
        passed = int(outcome == "passed")
        out.append(records.run_row(
            info, "finish", time_ns=t, verdict=verdict, duration_s=(t - t_ns) / 1e9,
            counts={"tests": 1, "first_pass": passed, "final_pass": passed},
        ))
        run = (run_id, dev.station, "fleet", "", "fleet.toml", t_ns, t, str(verdict))
        return out, run

    def _pulse(self, percent: float, didt: float) -> dict[str, Any]:
        return {
            "percent": percent,
            "valid": True,
            "peak_current_A": didt * CURRENT_PER_DIDT_US,
            "peak_didt_A_per_us": didt,
            "peak_didt_se_A_per_us": didt * 1e-4,
            "peak_didt_model_free_A_per_us": didt,
            "efield_V_per_m": didt * self.efield_per_didt,
            "period_us": PERIOD_US,
            "phase_ratio": PHASE_RATIO,
            "phase_ratio_model_free": PHASE_RATIO,
            "model_residual": 1.5e-4,
            "template_correlation": TEMPLATE_CORRELATION,
            "energy_J": ENERGY_J_AT_100 * (percent / 100.0) ** 2,
        }


def check_times(
    fleet: Sequence[FleetDevice], days: float, every_days: float, end_ns: int
) -> list[tuple[int, int, float]]:
    """(time ns, device index, day after its first check) of every check, in time order.

    Checks run every ``every_days`` from each device's phase on, during the working day
    (08:00 … 16:00 UTC at the device's phase), the last before ``end_ns``.
    """
    start_ns = end_ns - int(days * SECONDS_PER_DAY * 1e9)
    out = []
    for i, dev in enumerate(fleet):
        first = math.floor(dev.phase_days) + 8 / 24 + (dev.phase_days % 1.0) * 8 / 24
        n = int(max(days - first, 0.0) // every_days) + 1
        for k in range(n):
            day = first + k * every_days
            if day <= days:
                out.append((start_ns + int(day * SECONDS_PER_DAY * 1e9), i, k * every_days))
    out.sort()
    return out


def write_fleet(
    journal_path: str | Path,
    spec: SpecConfig,
    fleet: Sequence[FleetDevice],
    *,
    days: float,
    every_days: float = 7.0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    end: dt.datetime | None = None,
    seed: int = 1,
    method: dict[str, str] | None = None,
    batch_rows: int = 100_000,
    progress: Callable[[int, int], Any] | None = None,
) -> FleetSummary:
    """Append every check of ``fleet`` over ``days`` to the journal at ``journal_path``.

    Rows go in time order (the journal's wire timestamps then need no search) in
    transactions of about ``batch_rows`` rows; ``progress(checks_done, checks)`` after each.
    """
    from harness.record.journal import Journal

    end = end or dt.datetime.now(dt.UTC)
    end_ns = int(end.timestamp() * 1e9)
    times = check_times(fleet, days, every_days, end_ns)
    maker = _CheckMaker(spec, levels, method or {"spec_name": "fleet", "run_type": "demo"})
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    runs: list[tuple[Any, ...]] = []
    total = 0

    def flush(j: Journal) -> None:
        nonlocal rows, runs, total
        batch_runs = runs

        def insert(db: Any) -> None:
            db.executemany(
                "INSERT OR REPLACE INTO runs (run_id, station, operator, git_revision, bench,"
                " started_ns, finished_ns, verdict) VALUES (?,?,?,?,?,?,?,?)", batch_runs)

        total += len(j.append_rows(rows, also=insert))
        rows, runs = [], []

    with Journal(journal_path, synchronous="NORMAL") as j:
        for n, (t_ns, i, day) in enumerate(times, 1):
            r, run = maker.rows(fleet[i], day, t_ns, rng)
            rows.extend(r)
            runs.append(run)
            if len(rows) >= batch_rows:
                flush(j)
                if progress is not None:
                    progress(n, len(times))
        if rows:
            flush(j)
    return FleetSummary(
        devices=len(fleet), checks=len(times), rows=total,
        first_ns=times[0][0] if times else 0, last_ns=times[-1][0] if times else 0,
    )
