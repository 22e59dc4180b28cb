"""Pulse-analysis throughput: batch analysis vs a typical per-pulse bench script.

Run: ``.venv/bin/python benchmarks/analysis.py [--records N] [--repeat R]``

Both sides analyse the same 10,000-sample int16 records (Magstim Rapid² + D70
biphasic pulse, 20 MS/s, 25 µs pre-trigger, intensity 40-100 %, 0.3 % noise) on
one core. The baseline is written the way a bench script usually is: a Python
loop over records, scale to float64, scipy.signal.find_peaks for the lobes,
np.gradient for dI/dt, sign changes for zero crossings, np.trapezoid for the
energy. Target (design notes): >= 20,000 pulses/s and >= 10x the baseline.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, set before numpy is imported

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import find_peaks  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.analysis import analyze_pulses  # noqa: E402

# Rapid² + D70 component values (design notes; reproduce Drakaki et al. 2022).
L_H, C_F, R_OHM, V0_V = 16e-6, 187.8e-6, 34.6e-3, 1835.0
FS_HZ, N_SAMPLES, PRE_S = 20e6, 10_000, 25e-6


def make_records(n: int, channel: str, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """n int16 records of the closed-form biphasic pulse; returns (codes, dt_s, scale)."""
    rng = np.random.default_rng(seed)
    a = R_OHM / (2 * L_H)
    wd = math.sqrt(1 / (L_H * C_F) - a * a)
    dt = 1 / FS_HZ
    t = -PRE_S + dt * np.arange(N_SAMPLES)
    on = (t >= 0) & (t < 2 * math.pi / wd)
    if channel == "current":
        shape = np.where(on, np.exp(-a * t) * np.sin(wd * t) / (wd * L_H), 0.0)
    else:
        shape = np.where(on, np.exp(-a * t) * (np.cos(wd * t) - a / wd * np.sin(wd * t)) / L_H, 0.0)
    full = np.abs(shape).max() * V0_V
    scale = full / 30000
    codes = np.empty((n, N_SAMPLES), dtype=np.int16)
    for i in range(0, n, 256):
        k = min(256, n - i)
        v0 = V0_V * rng.uniform(0.4, 1.0, size=(k, 1))
        y = shape * v0 / scale + rng.normal(0, 0.003 * 30000, size=(k, N_SAMPLES))
        codes[i : i + k] = np.round(y)
    return codes, dt, scale


def baseline_script(codes: np.ndarray, dt: float, scale: float) -> list[dict[str, float]]:
    """Per-pulse analysis as a typical bench script does it."""
    out = []
    npre = int(PRE_S / dt)
    for rec in codes:
        i = rec.astype(np.float64) * scale
        i -= i[:npre].mean()
        t = np.arange(i.size) * dt - PRE_S
        pk, _ = find_peaks(i, height=0.5 * i.max(), distance=1000)
        tr, _ = find_peaks(-i, height=0.3 * i.max(), distance=1000)
        didt = np.gradient(i, dt)
        sign = np.signbit(i[npre:])
        zc = np.flatnonzero(sign[1:] != sign[:-1]) + npre
        out.append(
            {
                "peak_current_A": float(i[pk[0]]),
                "t_peak_us": float(t[pk[0]] * 1e6),
                "period_us": float(2 * (t[tr[0]] - t[pk[0]]) * 1e6),
                "peak_didt_A_per_us": float(didt.max() * 1e-6),
                "zero_crossings": float(len(zc)),
                "energy_J": float(R_OHM * np.trapezoid(i * i, t)),
            }
        )
    return out


def best_rate(fn, n: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=8192)
    ap.add_argument("--baseline-records", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"numpy {np.__version__}, one core (OMP/OPENBLAS threads = 1), "
        f"{N_SAMPLES} int16 samples per record, best of {args.repeat}"
    )
    for channel in ("current", "didt"):
        codes, dt, scale = make_records(args.records, channel)
        kw = dict(
            channel=channel,
            shape="biphasic",
            t0_s=-PRE_S,
            scale=scale,
            adc_rails=(-32768, 32767),
            resistance_ohm=R_OHM,
        )
        res = analyze_pulses(codes, dt, **kw)
        ours = best_rate(
            lambda c=codes, d=dt, k=kw: analyze_pulses(c, d, **k), args.records, args.repeat
        )
        sub = codes[: args.baseline_records]
        base = best_rate(
            lambda c=sub, d=dt, s=scale: baseline_script(c, d, s),
            len(sub),
            max(1, args.repeat // 2),
        )
        print(
            f"[{channel:7s}] batch analysis : {ours:10,.0f} pulses/s "
            f"({ours * N_SAMPLES / 1e6:,.0f} Msamples/s), valid {res.valid.mean():.0%}"
        )
        print(f"[{channel:7s}] per-pulse loop : {base:10,.0f} pulses/s (scipy find_peaks baseline)")
        print(
            f"[{channel:7s}] ratio          : {ours / base:10.1f}x   "
            f"targets: >= 20,000 pulses/s {'met' if ours >= 20_000 else 'NOT met'}, "
            f">= 10x {'met' if ours >= 10 * base else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
