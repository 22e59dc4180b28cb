"""ILAC-G8 decision rules: the verdict table, and a Monte-Carlo run on the simulated world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.analysis.batch import analyze_pulses
from harness.analysis.decision import decide
from harness.analysis.uncertainty import budget
from harness.config import load_bench
from harness.limits import Limits, Verdict
from instruments.sim.world import world_from_bench

ROOT = Path(__file__).resolve().parents[2]
BAND = Limits(low=90.0, high=110.0, marginal_low=92.0, marginal_high=108.0, nominal=100.0)


@pytest.mark.parametrize(
    ("value", "rule", "verdict"),
    [
        (100.0, "guarded", Verdict.PASS),
        (106.9, "guarded", Verdict.PASS),  # 110 - 3 = 107: clear of the guard band
        (107.5, "guarded", Verdict.CONDITIONAL_PASS),
        (110.0, "guarded", Verdict.CONDITIONAL_PASS),  # at the limit: inside
        (112.9, "guarded", Verdict.CONDITIONAL_FAIL),
        (113.1, "guarded", Verdict.FAIL),
        (88.0, "guarded", Verdict.CONDITIONAL_FAIL),
        (91.0, "guarded", Verdict.CONDITIONAL_PASS),
        (108.5, "simple", Verdict.MARGINAL),  # simple: w = 0, the inner band still warns
        (109.9, "simple", Verdict.MARGINAL),
        (110.1, "simple", Verdict.FAIL),
        (float("nan"), "guarded", Verdict.INVALID),
        (None, "simple", Verdict.INVALID),
    ],
)
def test_verdict_table(value: float | None, rule: str, verdict: Verdict) -> None:
    assert decide(value, BAND, 3.0, rule=rule) is verdict  # type: ignore[arg-type]


def test_marginal_inside_the_acceptance_zone() -> None:
    wide = Limits(low=90.0, high=110.0, marginal_low=95.0, marginal_high=105.0, nominal=100.0)
    assert decide(106.0, wide, 3.0, rule="guarded") is Verdict.MARGINAL
    assert decide(104.0, wide, 3.0, rule="guarded") is Verdict.PASS


def test_guard_multiple_and_unknown_u() -> None:
    assert decide(105.0, BAND, 3.0, rule="guarded", multiple=2.0) is Verdict.CONDITIONAL_PASS
    assert decide(109.0, BAND, None, rule="guarded") is Verdict.MARGINAL  # no U: w = 0


def test_monte_carlo_true_value_at_the_limit() -> None:
    """True peak dI/dt placed exactly at the upper limit; the chain's gain errors drawn from
    the reference instruments' own distributions, the record noise from the simulated world.

    ILAC-G8 4.2.2: with w = U (k = 2) at most about 2.5 % of such devices are accepted;
    simple acceptance accepts about half.
    """
    bench = load_bench(ROOT / "benches" / "sim.toml")
    refs = bench.references
    world = world_from_bench(bench)
    world.set_intensity(60.0)
    world.arm()
    event = world.fire()
    world.disarm()
    assert event is not None
    dt_s, n = 10e-9, 60_000  # 100 MS/s, 600 µs
    t = -20e-6 + dt_s * np.arange(n)
    sig = event.signals(t)
    true_didt = float(np.max(event.signals(np.linspace(0, 20e-6, 200_001))["didt"]))
    limits = Limits(low=0.5 * true_didt, high=true_didt)  # the true value at the upper limit

    rng = np.random.default_rng(17)
    trials = 600
    monitor, scope = refs.type_b("current_monitor"), refs.type_b("scope")
    assert monitor is not None and scope is not None
    a_cm, a_sc = monitor.gain_percent / 100, scope.gain_percent / 100  # rectangular half-widths
    gain = (1 + rng.uniform(-a_cm, a_cm, trials)) * (1 + rng.uniform(-a_sc, a_sc, trials))
    peak = float(np.max(np.abs(sig["current"])))
    noise = rng.normal(0.0, world.noise_fraction * peak, (trials, n))
    records = sig["current"][None, :] * gain[:, None] + noise * gain[:, None]
    res = analyze_pulses(records, dt_s, t0_s=float(t[0]))
    guarded = simple = 0
    for didt, se in zip(res.peak_didt_A_per_us, res.peak_didt_se_A_per_us, strict=True):
        big_u = budget("didt", float(didt), sensor=monitor, scope=scope, type_a=float(se)).U
        guarded += decide(float(didt), limits, big_u, rule="guarded") is Verdict.PASS
        simple += decide(float(didt), limits, big_u, rule="simple") is Verdict.PASS
    assert guarded / trials <= 0.025
    assert 0.42 <= simple / trials <= 0.58
