"""Train timing: pulse count (scope and DAQ counter), rate, jitter, duration, bursts."""

from __future__ import annotations

import pytest

from harness.analysis.train import check_bursts
from harness.config import Tolerance
from harness.limits import Limits


def _safe_percent(spec, rate_hz: float) -> float:
    """Highest of 60/40/30 %MSO the spec allows at ``rate_hz`` (trains stay inside limits)."""
    ok = [p for p in (60, 40, 30) if (spec.limits.max_rate_hz(p) or 1e9) >= rate_hz]
    if not ok:
        pytest.skip(f"the spec allows no tested intensity at {rate_hz:g} Hz")
    return ok[0]


def _exact(n: int) -> Limits:
    return Limits(low=n, high=n, nominal=n)


def _check_count(measure, cap, expected: int) -> None:
    measure("pulses seen by the scope", cap.n_scope, "pulses", _exact(expected))
    if cap.n_daq is not None:
        measure("pulses counted by the DAQ (trigger-out)", cap.n_daq, "pulses", _exact(expected))
    measure("valid pulse records", cap.n_valid, "pulses", _exact(expected))


def _ms(tol_ms: float) -> Tolerance:
    return Tolerance(absolute=tol_ms)


def _host_ms(spec, scale: float) -> Tolerance:
    """The spec's tolerance for host-timed gaps, in device time (see ``host_latency_scale``)."""
    return Tolerance(absolute=spec.timing.interval_tolerance_ms * scale)


def _pct(pct: float) -> Tolerance:
    return Tolerance(relative=pct / 100.0)


@pytest.mark.parametrize("rate_hz", [10.0, 20.0])
@pytest.mark.needs("trains")
def test_train_timing(rate_hz, spec, train, measure) -> None:
    pulses = 40
    cap = train(rate_hz=rate_hz, pulses=pulses, percent=_safe_percent(spec, rate_hz))
    measure.figure(
        f"{rate_hz:g} Hz train: interval deviation from nominal",
        lambda: cap.figure(jitter_limit_us=spec.timing.jitter_us_max),
    )
    _check_count(measure, cap, pulses)
    t, m = spec.timing, cap.metrics
    lim = t.rate_error_percent_max
    measure("rate error", m.rate_error_pct, "%", Limits(low=-lim, high=lim, nominal=0.0))
    measure("interval jitter", m.jitter_us, "µs", Limits(high=t.jitter_us_max))
    duration = m.train_durations_s[0] * 1e3 if m.train_durations_s else None
    measure("train duration", duration, "ms", nominal=(pulses - 1) / rate_hz * 1e3,
            tolerance=_ms(t.interval_tolerance_ms))


@pytest.mark.needs("trains")
def test_intertrain_interval(spec, train, measure, host_latency_scale) -> None:
    iti = max(1.0, spec.limits.min_intertrain_interval_s)
    cap = train(rate_hz=10.0, pulses=10, trains=2, iti_s=iti, percent=_safe_percent(spec, 10))
    _check_count(measure, cap, 20)
    gaps = cap.metrics.inter_train_intervals_s
    measure("trains found", len(gaps) + 1, "trains", _exact(2))
    measure("inter-train interval", gaps[0] * 1e3 if gaps else None, "ms", nominal=iti * 1e3,
            tolerance=_host_ms(spec, host_latency_scale))


def _check_bursts(measure, spec, cap, *, rate_hz: float, pulses: int, bursts: int,
                  iti_s: float, label: str = "") -> None:
    """Each prescribed burst as delivered: its pulse count, every interval inside it and its
    start after the previous (whole) burst, each within the spec's jitter limit: the card
    times them, so only the stimulator's own trigger-to-pulse jitter may move them.

    Only a burst that breaks one is recorded on its own (named by its number), beside the
    count of bursts delivered as prescribed.
    """
    tol_ms = spec.timing.jitter_us_max / 1e3
    intra_ms = 1e3 / rate_hz
    period_ms = ((pulses - 1) / rate_hz + iti_s) * 1e3
    checks = check_bursts(cap.times_s, rate_hz=rate_hz, pulses_per_burst=pulses,
                          bursts=bursts, iti_s=iti_s)
    good = 0
    for b in checks:
        name = f"{label}burst {b.index + 1} of {bursts}"
        if b.n_pulses != pulses:
            measure(f"{name}: pulses", b.n_pulses, "pulses", _exact(pulses))
            continue
        ok = True
        worst = max(b.intervals_s, key=lambda x: abs(x * 1e3 - intra_ms), default=None)
        if worst is not None and abs(worst * 1e3 - intra_ms) > tol_ms:
            ok = False
            measure(f"{name}: intra-burst interval", worst * 1e3, "ms", nominal=intra_ms,
                    tolerance=_ms(tol_ms))
        prev_whole = b.index > 0 and checks[b.index - 1].n_pulses == pulses
        if prev_whole and abs(b.start_gap_s * 1e3 - period_ms) > tol_ms:
            ok = False
            measure(f"{name}: start after burst {b.index}", b.start_gap_s * 1e3, "ms",
                    nominal=period_ms, tolerance=_ms(tol_ms))
        good += ok
    measure(f"{label}bursts delivered as prescribed", good, "bursts", _exact(bursts))


@pytest.mark.needs("trains")
def test_theta_burst(spec, triggered_train, measure) -> None:
    """3 pulses at 50 Hz, bursts repeated at 5 Hz (cTBS pattern), 10 bursts, card-timed."""
    iti = 0.2 - 2 / 50.0  # burst period 200 ms minus the burst's own 40 ms
    percent = _safe_percent(spec, 50)
    cap = triggered_train(rate_hz=50.0, pulses=3, trains=10, iti_s=iti, percent=percent)
    measure.figure("theta burst: interval deviation from nominal",
                   lambda: cap.figure(jitter_limit_us=spec.timing.jitter_us_max))
    _check_count(measure, cap, 30)
    _check_bursts(measure, spec, cap, rate_hz=50.0, pulses=3, bursts=10, iti_s=iti)
    b = cap.bursts
    measure("intra-burst rate", 1.0 / b.intra_interval_s, "Hz", nominal=50.0,
            tolerance=_pct(spec.timing.rate_error_percent_max))
    measure("burst repetition rate", b.burst_rate_hz, "Hz", nominal=5.0,
            tolerance=_pct(spec.timing.burst_rate_error_percent_max))


@pytest.mark.needs("paired_pulses")
def test_paired_pulse(spec, paired_pulse, measure) -> None:
    interval_ms = max(100.0, spec.limits.min_pulse_interval_ms)
    cap = paired_pulse(interval_ms=interval_ms, percent=30)
    _check_count(measure, cap, 2)
    measure("paired-pulse interval", cap.intervals_ms[0] if cap.intervals_ms else None, "ms",
            nominal=interval_ms, tolerance=_ms(spec.timing.interval_tolerance_ms))


@pytest.mark.slow
@pytest.mark.needs("trains")
def test_clinical_10hz_session(spec, train, measure) -> None:
    """3000 pulses at 10 Hz: 75 trains of 40 pulses, 26 s apart (a standard rTMS session)."""
    total = 0
    for _ in range(75):
        total += train(rate_hz=10.0, pulses=40, percent=30, rest_after_s=26.0, of=75).n_valid
    measure("pulses delivered", total, "pulses", _exact(3000))


@pytest.mark.slow
@pytest.mark.needs("trains")
def test_clinical_itbs(spec, triggered_train, measure) -> None:
    """600-pulse iTBS: 2 s of theta burst (10 bursts of 3 at 50 Hz, 5 Hz) every 10 s, 20 times,
    every burst timed by the DAQ card."""
    total, daq_total, counted = 0, 0, True
    for k in range(20):
        cap = triggered_train(rate_hz=50.0, pulses=3, trains=10, iti_s=0.16, percent=30,
                              rest_after_s=8.0, of=20)
        _check_bursts(measure, spec, cap, rate_hz=50.0, pulses=3, bursts=10, iti_s=0.16,
                      label=f"train {k + 1} of 20, ")
        total += cap.n_valid
        counted = counted and cap.n_daq is not None
        daq_total += cap.n_daq or 0
        if k == 0:
            measure.figure("iTBS train 1: interval deviation from nominal",
                           lambda cap=cap: cap.figure(jitter_limit_us=spec.timing.jitter_us_max))
    measure("iTBS pulses delivered", total, "pulses", _exact(600))
    if counted:
        measure("iTBS pulses counted by the DAQ (trigger-out)", daq_total, "pulses", _exact(600))
