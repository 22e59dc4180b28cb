"""Waveform, calibration and train plots as PNG bytes (matplotlib, no display)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # benches and CI have no display
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from harness.formatting import number

ArrayLike = npt.ArrayLike


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pulse_plot(
    t_us: ArrayLike,
    measured: ArrayLike,
    *,
    unit: str,
    title: str,
    template: ArrayLike | None = None,
    envelope: tuple[ArrayLike, ArrayLike] | None = None,
    markers_us: Sequence[float] = (),
) -> bytes:
    """A captured pulse (``unit`` vs µs) over its template and tolerance envelope."""
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    t = np.asarray(t_us, dtype=float)
    if envelope is not None:
        ax.fill_between(
            t, envelope[0], envelope[1], color="tab:green", alpha=0.18, label="tolerance envelope"
        )
    if template is not None:
        ax.plot(
            t,
            np.asarray(template, dtype=float),
            color="tab:green",
            lw=1.2,
            ls="--",
            label="expected (template)",
        )
    ax.plot(t, np.asarray(measured, dtype=float), color="tab:blue", lw=1.0, label="captured")
    for m in markers_us:
        ax.axvline(m, color="0.5", lw=0.6, ls=":")
    ax.axhline(0, color="0.3", lw=0.5)
    ax.set_xlabel("time after trigger (µs)")
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    return _png(fig)


def calibration_plot(
    percent: ArrayLike,
    output: ArrayLike,
    *,
    slope: float,
    offset: float,
    expected: ArrayLike,
    band: tuple[ArrayLike, ArrayLike],
    levels: ArrayLike,
    unit: str,
    title: str,
) -> bytes:
    """Output vs %MSO: measured points, the fitted line, the spec curve and band."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    lv = np.asarray(levels, dtype=float)
    ax.fill_between(lv, band[0], band[1], color="tab:green", alpha=0.18, label="tolerance")
    ax.plot(lv, np.asarray(expected, dtype=float), color="tab:green", ls="--", label="spec")
    x = np.asarray(percent, dtype=float)
    ax.plot(x, np.asarray(output, dtype=float), "o", ms=4, color="tab:blue", label="measured")
    xx = np.linspace(0, max(100.0, float(x.max())), 50)
    ax.plot(
        xx,
        slope * xx + offset,
        color="tab:blue",
        lw=0.8,
        label=f"fit: {slope:.4g} {unit.split('(')[-1].rstrip(')')}/% {offset:+.3g}",
    )
    ax.set_xlabel("intensity (%MSO)")
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def train_plot(
    times_s: ArrayLike,
    *,
    rate_hz: float,
    title: str,
    jitter_limit_us: float | None = None,
    between_s: float | None = None,
) -> bytes:
    """Each inter-pulse interval's deviation from its nominal, in µs.

    The nominal is 1/rate; with ``between_s`` (bursts: the gap from a burst's last pulse
    to the next burst's first, s) an interval nearer that gap than 1/rate is judged
    against the gap. Plotting the deviation (not the interval in ms with an offset) keeps
    float noise from looking like jitter; ``jitter_limit_us`` (the spec's limit on the
    interval standard deviation) is drawn as ±limit for scale.
    """
    t = np.asarray(times_s, dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    nominal_s = 1.0 / rate_hz
    if t.size > 1:
        gaps = np.diff(t)
        nominal = np.full(gaps.shape, nominal_s)
        if between_s is not None:
            nominal[np.abs(gaps - between_s) < np.abs(gaps - nominal_s)] = between_s
        dev_us = (gaps - nominal) * 1e6
        sd = float(np.std(dev_us, ddof=1)) if dev_us.size > 1 else 0.0
        what = f"{nominal_s * 1e3:g} ms"
        if between_s is not None:
            what = f"{what} in a burst, {between_s * 1e3:g} ms between"
        ax.plot(
            np.arange(1, t.size),
            dev_us,
            ".-",
            ms=3,
            lw=0.7,
            label=f"interval − {what} (sd {number(sd, jitter_limit_us)} µs)",
        )
    ax.axhline(0.0, color="tab:green", ls="--", lw=1, label=f"nominal {rate_hz:g} Hz")
    if jitter_limit_us is not None:
        for sign in (-1.0, 1.0):
            ax.axhline(
                sign * jitter_limit_us,
                color="tab:red",
                ls=":",
                lw=1,
                label=f"jitter limit ±{jitter_limit_us:g} µs (sd)" if sign > 0 else None,
            )
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.set_xlabel("interval #")
    ax.set_ylabel("deviation from nominal (µs)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def series_plot(
    t_s: ArrayLike, y: ArrayLike, *, unit: str, title: str, limit: float | None = None
) -> bytes:
    """A slow signal over time (coil temperature, capacitor voltage)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.plot(np.asarray(t_s, dtype=float), np.asarray(y, dtype=float), lw=1)
    if limit is not None:
        ax.axhline(limit, color="tab:red", ls="--", lw=1, label=f"limit {limit:g} {unit}")
        ax.legend(fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


def cooling_plot(
    windows: Sequence[tuple[ArrayLike, ArrayLike]],
    lines: Sequence[tuple[float, float, float]],
    *,
    title: str,
) -> bytes:
    """Coil temperature windows (t in s, °C) with their fitted lines.

    ``lines`` holds (centre time s, value °C at the centre, slope K/s) per window.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    for i, ((t, y), (tc, yc, slope)) in enumerate(zip(windows, lines, strict=True)):
        t = np.asarray(t, dtype=float)
        ax.plot(
            t,
            np.asarray(y, dtype=float),
            lw=0.5,
            alpha=0.6,
            color="tab:blue",
            label="thermocouple" if i == 0 else None,
        )
        ends = np.array([t[0], t[-1]])
        ax.plot(
            ends,
            yc + slope * (ends - tc),
            color="tab:red",
            lw=1.5,
            label=f"{('before', 'after')[min(i, 1)]}: {slope * 60:+.3f} K/min",
        )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("coil temperature (°C)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)
