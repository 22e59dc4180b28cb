"""The staircase of a motor-threshold hunt as a PNG: intensity per pulse, MEP, hit or miss."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # benches and CI have no display
import matplotlib.pyplot as plt

from harness.analysis.threshold import CRITERION_UV, ThresholdResult
from harness.report.plots import _png


def staircase_plot(result: ThresholdResult, true_pct: float | None = None) -> bytes:
    """Top: %MSO of each pulse (filled: MEP ≥ criterion, open: miss), the estimate and its
    interval; bottom: each MEP's peak-to-peak (µV, log scale) against the criterion."""
    steps = result.steps
    n = [s.pulse for s in steps]
    fig, (top, bot) = plt.subplots(
        2, 1, figsize=(7.0, 4.8), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    hits = [s for s in steps if s.hit]
    misses = [s for s in steps if not s.hit]
    top.plot(n, [s.intensity_pct for s in steps], color="0.6", lw=0.8, drawstyle="steps-mid")
    top.scatter(
        [s.pulse for s in hits],
        [s.intensity_pct for s in hits],
        color="tab:green",
        s=22,
        zorder=3,
        label=f"MEP ≥ {CRITERION_UV:g} µV",
    )
    top.scatter(
        [s.pulse for s in misses],
        [s.intensity_pct for s in misses],
        facecolors="white",
        edgecolors="tab:red",
        s=22,
        zorder=3,
        label="no MEP",
    )
    if result.ci_pct is not None:
        top.axhspan(*result.ci_pct, color="tab:blue", alpha=0.12, label="95 % interval")
    if math.isfinite(result.estimate_pct):
        top.axhline(
            result.estimate_pct,
            color="tab:blue",
            lw=1.2,
            label=f"estimate {result.estimate_pct:.1f} %MSO",
        )
    if true_pct is not None:
        top.axhline(true_pct, color="k", lw=1.0, ls="--", label=f"true {true_pct:.1f} %MSO")
    top.set_ylabel("intensity (%MSO)")
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.set_title(f"{result.method}: {result.pulses} pulses", fontsize=10)
    amps = [max(s.amplitude_uV, 1.0) for s in steps]
    bot.scatter(n, amps, c=["tab:green" if s.hit else "tab:red" for s in steps], s=14)
    bot.axhline(CRITERION_UV, color="0.3", lw=0.8, ls=":")
    bot.set_yscale("log")
    bot.set_ylabel("MEP (µV p-p)")
    bot.set_xlabel("pulse")
    return _png(fig)
