"""Drift figures as PNG bytes: per device, and all devices on one page.

Times on the x axis are matplotlib date numbers, which are days since the
Unix epoch: the analysis' ``t_days`` plot directly as dates.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # benches and CI have no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.drift.assess import DeviceDrift, Status
from harness.drift.source import CalibrationHistory

STATUS_COLOR = {
    Status.OK: "tab:green",
    Status.DRIFTING: "tab:orange",
    Status.ALARM: "tab:purple",
    Status.OUT_OF_TOLERANCE: "tab:red",
}


def _png(fig: Figure, dpi: int = 96) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _date_axis(ax: Axes) -> None:
    loc = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _horizon(d: DeviceDrift) -> float:
    """Right end of the time axis: the crossing if it is near, else the last check."""
    span = max(d.last_day - d.first_day, 1.0)
    end = d.last_day + 0.1 * span
    c = d.crossing
    if c is not None and d.last_day < c.day < d.last_day + span:
        end = max(end, min(c.late_day, d.last_day + 1.5 * span) + 0.05 * span)
    return end


def _trend_end(d: DeviceDrift, x_max: float) -> float:
    """Draw a trend to its predicted crossing when that is ahead, else to the last check."""
    c = d.crossing
    if c is not None and d.last_day < c.day <= x_max:
        return c.day
    return d.last_day


def _crossing(ax: Axes, d: DeviceDrift, scale: float, color: str, x_max: float) -> None:
    c = d.crossing
    if c is None or not (d.last_day < c.day <= x_max):
        return
    y = c.bound * scale
    late = min(c.late_day, x_max)
    ax.plot([c.early_day, late], [y, y], color=color, lw=4, alpha=0.35, solid_capstyle="butt")
    ax.plot([c.day], [y], marker="v" if c.side == "low" else "^", color=color, ms=8, zorder=5)


def device_plot(h: CalibrationHistory, d: DeviceDrift) -> bytes:
    """Output vs date with band, trend and predicted crossing; the EWMA chart below."""
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(8.0, 6.0), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    t, y = h.t_days, h.output_A_per_us
    x_max = _horizon(d)
    ax.axhspan(d.low_A_per_us, d.high_A_per_us, color="tab:green", alpha=0.10,
               label="tolerance band")
    ax.axhline(d.expected_A_per_us, color="tab:green", lw=0.8, ls="--", label="expected")
    inside = (y >= d.low_A_per_us) & (y <= d.high_A_per_us)
    ax.plot(t[inside], y[inside], "o", color="tab:blue", ms=4, label="calibration check")
    ax.plot(t[~inside], y[~inside], "o", color="tab:red", ms=4, label="out of tolerance")
    xs = np.array([t[0], x_max])
    rate = d.rate_pct_per_month
    ax.plot(xs, d.output_trend.at(xs), color="0.25", lw=1.0,
            label=f"Theil–Sen trend {rate:+.2f} %/month "
            f"[{d.rate_low_pct_per_month:+.2f}, {d.rate_high_pct_per_month:+.2f}]")
    _crossing(ax, d, 1.0, STATUS_COLOR[d.status], x_max)
    ax.set_ylabel("output at reference intensity (A/µs)")
    ax.set_title(f"#{d.serial}: {d.status.value}", fontsize=10,
                 color=STATUS_COLOR[d.status])
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    ch = d.chart
    if ch is not None:
        ax2.fill_between(t, ch.lower, ch.upper, color="0.85", step="mid", label="control limits")
        ax2.axhline(ch.center, color="0.4", lw=0.8, ls="--")
        ax2.plot(t, ch.ewma, "-", color="tab:blue", lw=1.0, marker=".", label="EWMA")
        sig = ch.signals
        ax2.plot(t[sig], ch.ewma[sig], "o", color="tab:red", ms=4, label="signal")
        if ch.baseline_checks:
            ax2.axvspan(t[0], t[ch.baseline_checks - 1], color="tab:green", alpha=0.08,
                        label="baseline")
        ax2.legend(fontsize=7, loc="lower left", ncols=4)
    ax2.set_ylabel(f"EWMA λ={ch.lam:g} (A/µs)" if ch else "EWMA")
    ax2.grid(alpha=0.3)
    ax2.set_xlim(t[0] - 0.02 * (x_max - t[0]), x_max)
    _date_axis(ax2)
    return _png(fig)


def overview_plot(
    histories: Sequence[CalibrationHistory], drifts: Sequence[DeviceDrift], *, title: str = ""
) -> bytes:
    """All devices: output as % of expected with the band, trends and crossings; EWMA below
    in units of its control limit (±1 = limit)."""
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(8.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    x_max = max(_horizon(d) for d in drifts)
    x_min = min(d.first_day for d in drifts)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (h, d) in enumerate(zip(histories, drifts, strict=True)):
        scale = 100.0 / d.expected_A_per_us
        color = colors[i % len(colors)]
        t = h.t_days
        ax.plot(t, h.output_A_per_us * scale, "o", ms=3, color=color, alpha=0.8)
        xs = np.array([t[0], _trend_end(d, x_max)])
        label = f"#{d.serial} {d.status.value}: {d.rate_pct_per_month:+.2f} %/month"
        c = d.crossing
        if c is not None and d.last_day < c.day <= x_max:
            label += f", crosses {mdates.num2date(c.day):%Y-%m-%d}"
        ax.plot(xs, d.output_trend.at(xs) * scale, "-", lw=1.0, color=color, label=label)
        _crossing(ax, d, scale, color, x_max)
        ch = d.chart
        if ch is not None:
            half = ch.upper - ch.center
            ax2.plot(t, (ch.ewma - ch.center) / half, "-", lw=1.0, color=color, marker=".")
    d0 = drifts[0]
    lo = d0.low_A_per_us * 100.0 / d0.expected_A_per_us
    hi = d0.high_A_per_us * 100.0 / d0.expected_A_per_us
    if math.isfinite(lo) and math.isfinite(hi):
        ax.axhspan(lo, hi, color="tab:green", alpha=0.08, label="tolerance band")
    ax.axhline(100.0, color="tab:green", lw=0.8, ls="--")
    ax.set_ylabel("output at reference intensity (% of expected)")
    ax.set_title(title or "calibration drift per device", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    ax2.axhspan(-1, 1, color="0.9")
    ax2.axhline(0, color="0.4", lw=0.8, ls="--")
    ax2.set_ylabel("EWMA / control limit")
    ax2.grid(alpha=0.3)
    ax2.set_xlim(x_min - 0.02 * (x_max - x_min), x_max)
    _date_axis(ax2)
    return _png(fig)
