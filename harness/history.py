"""``tmsbench demo-history``: months of real calibration checks on aging simulated devices.

Each simulated device is a distinct stimulator serial with its own aging law,
applied through the simulator's fault knobs before every check:

* ``capacitor_fade`` grows linearly at the device's rate (fraction of V0 per
  day), plus an optional step from a given day on (a failing capacitor bank);
* ``charge_error`` is the device's fixed charge offset plus check-to-check
  noise (normal, ``noise`` std).

Every check is the manufacturing calibration (:func:`harness.calibration.run_calibration`)
over the simulated instruments: the stimulator is armed and fired through its
serial protocol, the pulses are captured by the scope and analysed, the fit
is judged and recorded. Between checks the world clock is advanced, so the
records carry calendar dates spanning ``days`` that end about now. The
device's own waits run on the world clock, so a fast ``sim_speed`` keeps the
run short; a spec copy with fewer levels (``levels``, ``pulses_per_level``)
shortens each check.

The aging law is the truth a drift estimate is checked against: the output at
the reference intensity is ``nominal · (1 − fade(t)) · (1 + charge_error)``.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from harness.drift.trend import DAYS_PER_MONTH
from harness.limits import Verdict
from harness.report.html import TestResult
from harness.session import DEFAULT_BENCH, BenchSession, SessionOptions

SECONDS_PER_DAY = 86_400.0
DEFAULT_LEVELS = (20.0, 40.0, 60.0, 80.0, 100.0)
REMOTE_TIMEOUT_S = 600.0  # simulated device's remote-control lapse in the demo (world s)
ARMED_TIMEOUT_S = 3600.0  # simulated device's armed-without-firing time-out in the demo (world s)


@dataclass(frozen=True)
class AgingLaw:
    """How one simulated device's output changes with calendar time.

    ``fade_per_day`` is the growth of ``capacitor_fade`` (fraction of V0 per
    day); from ``step_day`` (days after the first check) on, ``step_fade`` more
    is lost. ``charge_offset`` (fraction) is fixed, ``noise`` (fraction, std)
    is drawn anew for every check.
    """

    serial: str
    fade_per_day: float = 0.0
    charge_offset: float = 0.0
    noise: float = 0.003
    step_day: float | None = None
    step_fade: float = 0.0
    label: str = ""

    def fade(self, day: float) -> float:
        """``capacitor_fade`` (fraction) ``day`` days after the first check."""
        step = self.step_fade if self.step_day is not None and day >= self.step_day else 0.0
        return min(max(self.fade_per_day * day + step, 0.0), 0.99)

    def relative_output(self, day: float) -> float:
        """Noise-free output at ``day`` as a fraction of nominal."""
        return (1.0 - self.fade(day)) * (1.0 + self.charge_offset)

    @property
    def rate_pct_per_month(self) -> float:
        """True linear trend of the output, % of nominal per mean month (step excluded)."""
        return -self.fade_per_day * (1.0 + self.charge_offset) * 100.0 * DAYS_PER_MONTH

    def crossing_day(self, low_fraction: float) -> float:
        """Day (after the first check) the noise-free output falls to ``low_fraction`` of
        nominal by the linear fade alone (inf if it never does)."""
        if self.fade_per_day <= 0:
            return math.inf
        return (1.0 - low_fraction / (1.0 + self.charge_offset)) / self.fade_per_day


def aging_laws(
    devices: int, days: float, *, every_days: float = 7.0, seed: int = 1, tolerance: float = 0.05
) -> list[AgingLaw]:
    """Aging laws for ``devices`` demo devices over a ``days``-long history.

    The first five are: stable; slow drift; a drift that leaves the
    ``tolerance`` band at about 70 % of the history; a drift that would
    leave it about half a history after its end; a stable device whose
    output steps down 3 % four checks before the end. More devices get random
    rates (fixed by ``seed``).
    """
    rng = np.random.default_rng(seed)
    out: list[AgingLaw] = []
    for i in range(devices):
        serial = f"DEMO-{i + 1:02d}"
        offset = float(rng.uniform(-0.01, 0.01))
        low = 1.0 - tolerance
        kind = i if i < 5 else -1
        if kind == 0:
            law = AgingLaw(serial, 0.0, offset, label="stable")
        elif kind == 1:
            law = AgingLaw(serial, 0.008 / DAYS_PER_MONTH, offset, label="slow drift")
        elif kind == 2:
            fade = (1.0 - low / (1.0 + offset)) / (0.7 * days)
            law = AgingLaw(serial, fade, offset, label="crosses tolerance")
        elif kind == 3:
            fade = (1.0 - low / (1.0 + offset)) / (1.5 * days)
            law = AgingLaw(serial, fade, offset, label="drifting")
        elif kind == 4:
            step_day = days - 4.5 * every_days
            law = AgingLaw(serial, 0.0, offset, step_day=step_day, step_fade=0.03, label="step")
        else:
            rate = float(rng.uniform(0.0, 0.015)) / DAYS_PER_MONTH
            law = AgingLaw(serial, rate, offset, label="random drift")
        out.append(law)
    return out


@dataclass(frozen=True)
class DeviceHistory:
    """What the demo recorded for one device."""

    law: AgingLaw
    check_days: tuple[float, ...]  # days after the first check
    output_A_per_us: tuple[float, ...]  # fitted output at the reference intensity
    verdicts: tuple[str, ...]
    first_ns: int
    last_ns: int
    wall_s: float
    expected_A_per_us: float = 0.0
    run_id: str = ""
    notes: list[str] = field(default_factory=list)


def _reduced_spec(spec_path: Path, levels: Sequence[float], pulses: int, out: Path) -> Path:
    raw = tomllib.loads(spec_path.read_text())
    cal = raw.setdefault("calibration", {})
    cal["percents"] = [float(p) for p in levels]
    cal["pulses_per_level"] = int(pulses)
    out.write_text(tomli_w.dumps(raw))
    return out


def _device_bench(
    bench_path: Path, spec_path: Path, start: dt.datetime, seed: int, speed: float, out: Path
) -> Path:
    raw = tomllib.loads(bench_path.read_text())
    if "sim" not in raw:
        raise ValueError(f"{bench_path}: demo-history needs a simulated bench (a [sim] table)")
    raw["spec"] = str(spec_path)
    sim = raw["sim"]
    sim["start_time"] = start.isoformat()
    sim["seed"] = int(seed)
    sim["speed"] = float(speed)
    # At high speed the device's own watchdogs (1 s remote-control lapse, 60 s armed
    # without firing) are a few ms of wall time, less than the scheduling stalls of a
    # loaded machine (a CI run once saw the unit disarm mid-sweep at 200x): lengthen
    # both. The watchdogs themselves are tested at real-time speeds elsewhere.
    stim = sim.setdefault("stimulator", {})
    stim["remote_timeout_s"] = max(float(stim.get("remote_timeout_s", 1.0)), REMOTE_TIMEOUT_S)
    stim["armed_timeout_s"] = max(float(stim.get("armed_timeout_s", 60.0)), ARMED_TIMEOUT_S)
    out.write_text(tomli_w.dumps(raw))
    return out


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    for v in (Verdict.INVALID, Verdict.FAIL, Verdict.MARGINAL):
        if v in verdicts:
            return v
    return Verdict.PASS


def run_device(
    law: AgingLaw,
    *,
    bench_file: Path,
    check_days: Sequence[float],
    journal: str | None,
    results: str,
    seed: int,
    sim_speed: float,
) -> DeviceHistory:
    """Run every check of one device in one bench session (one run id)."""
    from harness.calibration import run_calibration
    from harness.capture import BenchRig
    from harness.measure import MeasureRecorder
    from instruments.daq import open_daq
    from instruments.scope import open_scope
    from instruments.stimulator import open_stimulator

    rng = np.random.default_rng(seed)
    wall0 = time.monotonic()
    session = BenchSession(
        SessionOptions(
            bench=str(bench_file), dut_serial=law.serial, journal=journal, results=results,
            sim_speed=sim_speed,
        )
    ).open()
    verdicts: list[Verdict] = []
    outputs: list[float] = []
    times: list[int] = []
    try:
        world = session.world
        bench = session.bench
        spec = session.spec
        if world is None or bench.sim is None or bench.scope is None:
            raise ValueError(f"{bench.where()}: demo-history needs a simulated bench with a scope")
        speed, scope_settings, daq_settings = bench.sim.speed, bench.scope, bench.daq
        stim = session.instrument(
            "stimulator", lambda: open_stimulator(bench.stimulator, clock_speed=speed)
        )
        scope = session.instrument("scope", lambda: open_scope(scope_settings))
        daq = (
            session.instrument("daq", lambda: open_daq(daq_settings)) if daq_settings else None
        )
        ref = spec.output.reference_percent
        for k, day in enumerate(check_days):
            world.clock.advance(max(0.0, day * SECONDS_PER_DAY - world.clock.now()))
            world.configure_faults(
                capacitor_fade=law.fade(day),
                charge_error=float(np.clip(law.charge_offset + rng.normal(0.0, law.noise),
                                           -0.5, 0.5)),
            )
            test_id = f"demo-history::check[{k:03d}]"
            measure = MeasureRecorder(session, test_id)
            rig = BenchRig(session, stim, scope, daq, spec, test_id=test_id)
            try:
                res = run_calibration(rig, spec, measure, measure.measurements)
            finally:
                rig.close()
            verdicts.append(res.verdict)
            # each check is one test of the run (its first and only attempt): yields count it
            outcome = "passed" if res.verdict in (Verdict.PASS, Verdict.MARGINAL) else "failed"
            session.tests.append(TestResult(test_id, outcome))
            session.record_test(test_id, outcome, 1, "first", 0.0)
            outputs.append(res.fit.slope_per_percent * ref + res.fit.offset)
            times.append(session.now_ns())
        expected = spec.output.expected_didt(ref)
        run_id = session.context.run_id
    finally:
        session.close(_worst(verdicts) if verdicts else Verdict.INVALID)
    return DeviceHistory(
        law=law,
        check_days=tuple(float(d) for d in check_days),
        output_A_per_us=tuple(outputs),
        verdicts=tuple(str(v) for v in verdicts),
        first_ns=times[0],
        last_ns=times[-1],
        wall_s=time.monotonic() - wall0,
        expected_A_per_us=expected,
        run_id=run_id,
    )


def check_schedule(days: float, every_days: float) -> list[float]:
    """Days (after the first check) of every check: 0, every, 2·every, … ≤ days."""
    if every_days <= 0 or days < 0:
        raise ValueError("--days must be ≥ 0 and --every-days > 0")
    n = math.floor(days / every_days + 1e-9) + 1
    return [k * every_days for k in range(n)]


def summary_line(h: DeviceHistory) -> str:
    """One line per device: serial, aging law, checks, output first → last, verdicts."""
    law = h.law
    first = dt.datetime.fromtimestamp(h.first_ns / 1e9, dt.UTC).date()
    last = dt.datetime.fromtimestamp(h.last_ns / 1e9, dt.UTC).date()
    fails = sum(v in ("fail", "invalid") for v in h.verdicts)
    step = f", step −{law.step_fade:.1%} on day {law.step_day:g}" if law.step_day else ""
    return (
        f"{law.serial}  {law.label:<17} truth {law.rate_pct_per_month:+.2f} %/month{step}; "
        f"{len(h.verdicts)} checks {first}..{last}, output {h.output_A_per_us[0]:.2f} → "
        f"{h.output_A_per_us[-1]:.2f} A/µs, {fails} failed; {h.wall_s:.1f} s"
    )


def demo_history(
    *,
    devices: int = 5,
    days: float = 180.0,
    every_days: float = 7.0,
    bench: str | None = None,
    journal: str | None = None,
    results: str = "results",
    seed: int = 1,
    sim_speed: float = 200.0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    pulses_per_level: int = 1,
    end: dt.datetime | None = None,
    laws: Sequence[AgingLaw] | None = None,
    report: Callable[[str], Any] | None = print,
) -> list[DeviceHistory]:
    """Run the demo history; returns one :class:`DeviceHistory` per device.

    The last check of every device is at about ``end`` (default: now).
    ``report`` gets the summary line of each device as it finishes.
    """
    bench_path = Path(bench) if bench else DEFAULT_BENCH
    from harness.config import load_bench

    base = load_bench(bench_path)
    if base.sim is None:
        raise ValueError(f"{bench_path}: demo-history needs a simulated bench (a [sim] table)")
    spec_src = base.spec_path()
    if spec_src is None:
        raise ValueError(f"{bench_path}: the bench file names no spec")
    schedule = check_schedule(days, every_days)
    end = end or dt.datetime.now(dt.UTC)
    start = end - dt.timedelta(days=schedule[-1])
    laws = list(laws) if laws is not None else aging_laws(
        devices, days, every_days=every_days, seed=seed
    )
    out: list[DeviceHistory] = []
    with tempfile.TemporaryDirectory(prefix="tmsbench-demo-") as tmp:
        spec_copy = _reduced_spec(spec_src, levels, pulses_per_level, Path(tmp) / "spec.toml")
        for i, law in enumerate(laws):
            dev_seed = seed * 1000 + i
            folder = Path(tmp) / f"{i:03d}"
            folder.mkdir()
            bench_copy = _device_bench(
                bench_path, spec_copy, start, dev_seed, sim_speed, folder / bench_path.name
            )
            h = run_device(
                law,
                bench_file=bench_copy,
                check_days=schedule,
                journal=journal or str(base.sinks.journal.path),
                results=results,
                seed=dev_seed,
                sim_speed=sim_speed,
            )
            out.append(h)
            if report is not None:
                report(summary_line(h))
    return out

