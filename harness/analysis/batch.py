"""Vectorised pulse analysis of many records at once (e.g. segmented scope memory).

:func:`analyze_pulses` takes a 2-D array (one record per row, int16 ADC codes or
floats) and returns a :class:`~harness.analysis.results.PulseBatch`. Records are
processed in chunks of rows (~40 MiB of raw samples, to spread the fixed cost of
each numpy call over many rows); the only full-length pass over the raw samples
(extremes, block means) runs in cache-sized slabs of rows. Every step is a
whole-chunk numpy operation, and the per-row windows (onset rise, peak, zero
crossings, end of conduction) are gathered into small masked arrays so that a
row's numbers never depend on the other rows of the batch.

Method, per record (raw units, then scaled at the end):

1. baseline mean and rms over the baseline window (default: before the trigger);
2. clipping check (:mod:`harness.analysis.clipping`) and "no pulse" check
   (largest excursion < ``min_snr`` × max(noise rms, quantum/√12));
3. polarity from the larger of the two excursions; the pulse is flipped positive;
4. current channel: onset and initial dI/dt from a quartic fitted to the rise
   between max(5 % of peak, 6 noise rms) and 90 % of peak, extrapolated to
   zero; peak/trough by quadratic fits around the extremes (the current's
   extremes are the dI/dt zero crossings); end of conduction by a quadratic on the
   last descent to zero; second-phase dI/dt peak as the extreme slope of a
   cubic around the current's steepest falling point;
   then the RLC current response is fitted to the whole record by least squares
   (:mod:`harness.analysis.rlc_fit`, from these values): its dI/dt at onset V0/L and
   phase ratio, with standard errors, are the reported ones; the model-free ones stay
   as ``*_model_free`` cross-checks, and a record the fit does not describe (residual
   far above the noise, or a dI/dt far from the model-free one) gets a
   ``model_reason``;
5. dI/dt channel: onset at 50 % of the initial step; initial dI/dt from a
   quadratic on the first ~10 % of the first phase extrapolated to the onset;
   zero crossings by hysteresis (±10 %) then a line fit; second-phase peak by a
   quadratic fit; end at 50 % of the final step; current by integration;
6. energy R·Σi²·dt from the onset on, summed over 16-sample block means (noise
   inside a block adds nothing; the signal's within-block variation ~1e-5).

Monophasic, current channel: the peak is fitted on its rising side only (the
diode takes over 2φ/ωd after it). Accuracy of dI/dt-channel integrals (current,
energy, monophasic width) needs >= ~10 MS/s for Rapid²-like pulses (the step
edges are integrated at sample resolution); at 5 MS/s the monophasic width is
off by ~0.7 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis import _fit as F
from harness.analysis import rlc_fit
from harness.analysis.clipping import detect_clipping
from harness.analysis.results import NUMERIC_FIELDS, Channel, PulseBatch, Shape

NAN = np.nan
CHUNK_BYTES = 40 << 20  # raw bytes per chunk of rows (~2048 records of 10,000 int16)
RESID_NOISE_FACTOR = 2.0  # a described record's residual is the noise: flag above 2x it
# fitted vs model-free dI/dt: flag a difference beyond 2 % + 40 x the relative noise (the
# model-free value scatters ~5x the relative noise per pulse, up to ~20x in 200 pulses)
AGREE_FLOOR, AGREE_NOISE = 0.02, 40.0


@dataclass(frozen=True)
class _Ctx:
    channel: Channel
    shape: Shape
    dt_s: float
    t0_s: float
    scale: float
    offset: float
    rail_low: float | None
    rail_high: float | None
    resistance_ohm: float | None
    base_lo: int
    base_hi: int
    min_snr: float
    quantum: float
    max_model_residual: float


def _round_i(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), np.rint(np.nan_to_num(a)), -1).astype(np.int64)


def _window_fit(
    y: F.Sig,
    lo: np.ndarray,
    hi: np.ndarray,
    deg: int,
    min_len: int,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit over sample indices [lo, hi] (inclusive) per row, at least ``min_len`` long."""
    bad = (lo < 0) | (hi < lo)
    lo = np.where(bad, 0, lo)
    length = np.where(bad, 0, np.maximum(hi - lo + 1, min_len))
    coef, centre, half = F.polyfit_window(y, lo, length, deg, rows)
    coef[bad] = NAN
    return coef, centre, half


def _extremum(
    y: F.Sig,
    idx: np.ndarray,
    w: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    w_right: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Quadratic-fit vertex (index, value) near ``idx`` over [−w, +w_right], within [lo, hi].

    Rows whose vertex lies more than a quarter window from the window's centre
    are refitted centred on it (up to three fits; a vertex up to three
    half-widths outside the window is followed), so a noisy coarse ``idx``
    still converges; NaN if it does not.
    """
    wr = w if w_right is None else w_right
    pos = idx.astype(np.float64)
    val = np.full(idx.shape, NAN)
    todo = np.arange(idx.size)
    for it in range(3):
        c = _round_i(pos[todo])
        a = np.maximum(c - w[todo], lo[todo])
        b = np.minimum(c + wr[todo], hi[todo])
        coef, centre, half = _window_fit(y, a, b, 2, 5, rows=todo)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = -coef[:, 1] / (2 * coef[:, 2])
        lim = 1.25 if it == 2 else 3.0
        u = np.where(np.abs(u) <= lim, u, NAN)
        new = centre + half * u
        pos[todo] = np.where(np.isfinite(pos[todo]), new, NAN)
        val[todo] = F.polyval(coef, u)
        # refit only rows whose vertex is off-centre (beyond a quarter window)
        off = np.abs(new - (a + b) / 2.0) > np.maximum((b - a) / 8.0, 1.0)
        todo = todo[np.isfinite(new) & off]
        if todo.size == 0:
            break
    return pos, val


def _line_crossing(
    y: F.Sig, centre_idx: np.ndarray, w: np.ndarray, level: np.ndarray
) -> np.ndarray:
    """Index where a line fitted over centre ± w crosses ``level`` (NaN if not found).

    Rows whose crossing lies off-centre are refitted centred on it (up to three
    fits), so a coarse centre several window-widths off (noise at a slow
    crossing) still converges.
    """
    pos = centre_idx.astype(np.float64)
    todo = np.arange(pos.size)
    for it in range(3):
        c = _round_i(pos[todo])
        coef, centre, half = _window_fit(y, c - w[todo], c + w[todo], 1, 3, rows=todo)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (level[todo] - coef[:, 0]) / coef[:, 1]
        lim = 1.0 if it == 2 else 8.0
        new = np.where(np.abs(u) <= lim, centre + half * u, NAN)
        pos[todo] = new
        todo = todo[np.abs(u) > 0.25]
        if todo.size == 0:
            break
    return pos


def _cumsum_rows(a: np.ndarray, factor: float, group: int = 25) -> np.ndarray:
    """float32 ``factor``·cumsum(a, axis=1), accumulated in float64.

    Blocked: running sums inside groups of ``group`` columns advance all groups
    of all rows at once (a row-wise cumsum is a slow scalar loop), then each
    group gets the total of the groups before it.
    """
    n, w = a.shape
    ng = -(-w // group)
    out = np.empty((n, w), dtype=np.float32)
    step = max(1, (F.SLAB_ELEMS // 2) // max(ng * group, 1))  # slabs of rows stay in cache
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        c = np.zeros((r1 - r0, ng * group))
        c[:, :w] = a[r0:r1]
        c3 = c.reshape(r1 - r0, ng, group)
        for r in range(1, group):
            c3[:, :, r] += c3[:, :, r - 1]
        tot = np.cumsum(c3[:, :, -1], axis=1)
        c3[:, 1:, :] += tot[:, :-1, None]
        np.multiply(c[:, :w], factor, out=out[r0:r1], casting="unsafe")
    return out


def _alpha_from_ratio(ratio: np.ndarray, period_s: np.ndarray) -> np.ndarray:
    """α (1/s) from phase ratio r = e^(−x(π − 2·atan x)), x = α/ωd, ωd = 2π/period."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = -np.log(ratio)
        x = lr / math.pi
        for _ in range(8):
            f = x * (math.pi - 2 * np.arctan(x)) - lr
            df = math.pi - 2 * np.arctan(x) - 2 * x / (1 + x * x)
            x = x - f / df
        alpha = x * 2 * math.pi / period_s
    return np.where((ratio > 0) & (ratio <= 1), alpha, NAN)


def _current_metrics(
    y: F.Sig,
    amp: np.ndarray,
    floor: np.ndarray,
    i_pk: np.ndarray,
    i_opp: np.ndarray,
    ctx: _Ctx,
    out: dict[str, np.ndarray],
) -> None:
    """Metrics from a current(-like) channel ``y`` (raw, positive pulse)."""
    n, m = y.n, y.m
    shape = ctx.shape
    lo_lvl = np.maximum(0.05 * amp, 6.0 * floor)
    hi_lvl = 0.9 * amp
    i_lo = F.first_at_least(y, lo_lvl, np.zeros(n, np.int64), i_pk + 1)
    i_hi = F.first_at_least(y, hi_lvl, np.maximum(i_lo, 0), i_pk + 1)
    coef, centre, half = _window_fit(y, i_lo, i_hi, 4, 8)
    u_on = F.newton_root(coef, np.full(n, -1.0), np.zeros(n), iters=12)
    t_on = centre + half * u_on
    span = (i_hi - i_lo).astype(np.float64)
    t_on = np.where((t_on >= i_lo - 2 * span - 2) & (t_on <= i_lo + 1), t_on, NAN)
    didt0 = F.polyval(F.polyder(coef), u_on) / half  # raw per sample
    out["onset"] = t_on
    out["didt0"] = didt0

    rise = np.nan_to_num(i_pk - t_on, nan=0.0)
    w = np.maximum(_round_i(0.15 * rise), 2)
    if shape is Shape.MONOPHASIC:
        # the diode takes over only 2φ/ωd after the peak: fit the rising side
        t_pk, v_pk = _extremum(
            y, i_pk, 2 * w, np.zeros(n, np.int64), np.full(n, m - 1), w_right=np.full(n, 2)
        )
    else:
        t_pk, v_pk = _extremum(y, i_pk, w, np.zeros(n, np.int64), np.full(n, m - 1))
    out["t_peak"] = t_pk
    out["peak"] = v_pk
    out["zc1"] = t_pk

    if shape is Shape.MONOPHASIC:
        level = 0.1 * v_pk
        i_r = F.first_at_least(y, level, np.zeros(n, np.int64), i_pk + 1)
        wr = np.maximum(_round_i(0.05 * (i_pk - i_r)), 2)
        t_r = _line_crossing(y, i_r, wr, level)
        i_f = F.last_at_least(y, level, i_pk, np.full(n, m))
        i_f = np.where(i_f >= m - 2, -1, i_f)  # still above 10 % at the record's end
        wf = np.maximum(_round_i(0.08 * (i_f - i_pk)), 2)
        t_f = _line_crossing(y, i_f, wf, level)
        out["width"] = t_f - t_r
        return

    yneg = y
    if shape is Shape.BIPHASIC:
        ok = i_opp > i_pk
        t_tr, v_tr = _extremum(yneg, np.where(ok, i_opp, 0), w, i_pk, np.full(n, m - 1))
        t_tr = np.where(ok, t_tr, NAN)
        out["zc2"] = t_tr
        out["period"] = 2.0 * (t_tr - t_pk)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["alpha_lobes"] = -np.log(-v_tr / v_pk) / (t_tr - t_pk)  # per sample
        last_sign, last_idx, last_mag = -1, _round_i(t_tr), -v_tr
    else:
        last_sign, last_idx, last_mag = 1, i_pk, v_pk
    # end of conduction: quadratic on the final descent to zero, extrapolated to zero
    last_idx = np.maximum(last_idx, 0)
    mag = np.nan_to_num(last_mag, nan=np.inf)
    i_a = F.last_at_least(y, 0.3 * mag, last_idx, np.full(n, m), sign=last_sign)
    lo_e = np.maximum(0.05 * mag, 6.0 * floor)
    i_b = F.last_at_least(y, lo_e, np.maximum(i_a, 0), np.full(n, m), sign=last_sign)
    i_b = np.where(i_b >= m - 2, -1, i_b)
    coef, centre, half = _window_fit(y, i_a, i_b, 2, 6)
    u_end = F.newton_root(coef, np.ones(n), np.zeros(n), iters=12)
    t_end = centre + half * u_end
    span = (i_b - i_a).astype(np.float64)
    t_end = np.where((t_end >= i_b - 1) & (t_end <= i_b + 2 * span + 2), t_end, NAN)
    out["end"] = t_end
    out["width"] = t_end - t_on
    if shape is Shape.HALF_SINE:
        out["period"] = 2.0 * (t_end - t_on)

    # second dI/dt phase peak = steepest fall of the current (cubic around it)
    if shape is Shape.BIPHASIC:
        hw = 0.15 * (t_tr - t_pk)
        c = 0.5 * (t_pk + t_tr)
        a, b = _round_i(c - hw), _round_i(c + hw)
    else:
        a = _round_i(t_end - 0.3 * (t_end - t_pk))
        b = _round_i(t_end) - 2
    coef, centre, half = _window_fit(y, a, b, 3, 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        us = np.clip(-coef[:, 2] / (3 * coef[:, 3]), -1.0, 1.0)
    slope = F.polyval(F.polyder(coef), us) / half
    out["second"] = -slope


def _didt_metrics(
    g: F.Sig,
    amp: np.ndarray,
    neg_amp: np.ndarray,
    floor: np.ndarray,
    i_pk: np.ndarray,
    i_opp: np.ndarray,
    ctx: _Ctx,
    out: dict[str, np.ndarray],
) -> None:
    """Metrics from a dI/dt-like channel ``g`` (raw, positive first phase)."""
    n, m = g.n, g.m
    shape = ctx.shape
    rows = np.arange(n)
    zeros = np.zeros(n, np.int64)
    full = np.full(n, m)
    i_s = F.first_at_least(g, 0.5 * amp, zeros, i_pk + 1)
    ok = i_s >= 1
    i_sc = np.where(ok, i_s, 1)
    g1, g0 = g.take(rows, i_sc[:, None])[:, 0], g.take(rows, i_sc[:, None] - 1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_on = np.where(ok, i_sc - 1 + (0.5 * amp - g0) / (g1 - g0), NAN)
    out["onset"] = t_on

    h_p, h_n = 0.1 * amp, 0.1 * neg_amp
    has_neg = neg_amp > 6.0 * floor
    i_n = F.first_at_least(g, h_n, i_sc, full, sign=-1)
    i_p = F.last_at_least(g, h_p, i_sc, np.maximum(i_n, 0), sign=1)
    okz = has_neg & (i_n > 0) & (i_p > 0)
    c1 = F.first_at_least(g, np.zeros(n), np.maximum(i_p, 0), np.maximum(i_n, 0) + 1, sign=-1)
    c1 = np.where(okz & (c1 > 0), c1, NAN)
    w1 = np.maximum(_round_i(0.1 * np.nan_to_num(c1 - t_on)), 2)
    if shape is Shape.MONOPHASIC:  # stay clear of the diode hand-over step at i_n
        w1 = np.maximum(np.minimum(w1, _round_i((i_n - np.nan_to_num(c1)) / 2) - 1), 2)
    z1 = _line_crossing(g, c1, w1, np.zeros(n))
    out["zc1"] = z1

    # initial dI/dt: quadratic over the first ~10 % of phase 1, extrapolated to the onset
    q1 = np.maximum(_round_i(0.1 * np.nan_to_num(z1 - t_on)), 6)
    coef, centre, half = _window_fit(g, i_sc + 1, i_sc + q1, 2, 6)
    out["didt0"] = F.polyval(coef, (t_on - centre) / half)

    if shape is Shape.BIPHASIC:
        i_p3 = F.first_at_least(g, h_p, np.maximum(i_n, 0), full, sign=1)
        i_n2 = F.last_at_least(g, h_n, np.maximum(i_n, 0), np.maximum(i_p3, 0), sign=-1)
        okz2 = okz & (i_p3 > 0) & (i_n2 > 0)
        c2 = np.where(okz2, 0.5 * (i_n2 + i_p3), NAN)
        z2 = _line_crossing(g, c2, w1, np.zeros(n))
        out["zc2"] = z2
        out["period"] = 2.0 * (z2 - z1)
        # end: 50 % of the final step down from the third phase
        s2 = _round_i(z2)
        k = g.k
        lo3 = int(max(s2.min(initial=0), 0)) // k
        seg = g.yb[:, lo3:]
        mask3 = np.arange(lo3, g.yb.shape[1])[None, :] >= -(-s2[:, None] // k)
        g3 = np.where(mask3, seg, -np.inf).max(axis=1).astype(np.float64)
        i_e = F.last_at_least(g, 0.5 * g3, np.maximum(s2, 0), full, sign=1)
        lvl_end = 0.5 * g3
        m_lo, m_hi = _round_i(z1), _round_i(z2)
    elif shape is Shape.HALF_SINE:
        i_e = F.last_at_least(g, 0.5 * neg_amp, np.maximum(i_opp, 0), full, sign=-1)
        lvl_end = -0.5 * neg_amp
        m_lo, m_hi = _round_i(z1), np.maximum(i_e - 2, 0)
    else:
        i_e = None
    if i_e is not None:
        oke = (i_e > 0) & (i_e < m - 2)
        i_ec = np.where(oke, i_e, 0)
        e0 = g.take(rows, i_ec[:, None])[:, 0]
        e1 = g.take(rows, i_ec[:, None] + 1)[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_end = np.where(oke, i_ec + (lvl_end - e0) / (e1 - e0), NAN)
        out["end"] = t_end
        out["width"] = t_end - t_on
        if shape is Shape.HALF_SINE:
            out["period"] = 2.0 * (t_end - t_on)
        w2 = np.maximum(_round_i(0.15 * np.nan_to_num(z1 - t_on)), 2)
        _, v2 = _extremum(g, i_opp, w2, np.maximum(m_lo, 0), m_hi)
        out["second"] = -v2


def _analyze_chunk(x: np.ndarray, ctx: _Ctx) -> tuple[dict[str, np.ndarray], list[str]]:
    n, m = x.shape
    # one pass over the raw samples, in slabs of rows that stay in cache: extremes,
    # baseline statistics and block means (the rest only gathers small windows)
    k = F.BLOCK
    i_max, i_min = np.empty(n, np.intp), np.empty(n, np.intp)
    yb = np.empty((n, m // k), dtype=np.float32)
    step = max(1, F.SLAB_ELEMS // max(m, 1))
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        xs = x[r0:r1]
        i_max[r0:r1], i_min[r0:r1] = xs.argmax(axis=1), xs.argmin(axis=1)
        F.block_means(xs, k, out=yb[r0:r1])
    # baseline mean and rms, two passes written out (np.std makes ~4; 4x faster here)
    base = x[:, ctx.base_lo : ctx.base_hi].astype(np.float64)
    b = base.sum(axis=1) / base.shape[1]
    base -= b[:, None]
    sd = np.sqrt(np.einsum("ij,ij->i", base, base) / base.shape[1])
    rows = np.arange(n)
    x_max, x_min = x[rows, i_max], x[rows, i_min]
    reasons = detect_clipping(
        x,
        x_max,
        x_min,
        i_max,
        i_min,
        b,
        sd,
        ctx.quantum,
        rail_low=ctx.rail_low,
        rail_high=ctx.rail_high,
    )
    amp_pos = x_max.astype(np.float64) - b
    amp_neg = b - x_min.astype(np.float64)
    pol = np.where(amp_pos >= amp_neg, 1.0, -1.0)
    amp = np.maximum(amp_pos, amp_neg)
    neg_amp = np.minimum(amp_pos, amp_neg)
    floor = np.maximum(sd, ctx.quantum / math.sqrt(12.0))
    for r in np.flatnonzero(~(amp > ctx.min_snr * floor)):  # also catches NaN
        reasons[r] = reasons[r] or (
            f"no pulse: largest excursion is {amp[r] / max(floor[r], 1e-300):.3g}"
            f" x the baseline noise (< {ctx.min_snr:g})"
        )
    i_pk = np.where(pol > 0, i_max, i_min)
    i_opp = np.where(pol > 0, i_min, i_max)

    sig = F.Sig(x, b, pol, k, yb=yb)

    out: dict[str, np.ndarray] = {}
    if ctx.channel is Channel.CURRENT:
        _current_metrics(sig, amp, floor, i_pk, i_opp, ctx, out)
        init = rlc_fit.start_values(ctx.shape, out)
        todo = np.flatnonzero(np.array([not r for r in reasons]) & np.isfinite(init).all(axis=1))
        fit = rlc_fit.fit_current(sig, ctx.shape, init[todo], todo)
        out.update(
            didt_fit=fit.didt0,
            didt_fit_se=fit.didt0_se,
            ratio_fit=fit.ratio,
            ratio_fit_se=fit.ratio_se,
            fit_resid=fit.resid,
            fit_noise=fit.noise,
            fit_block=fit.block,
            fit_status=fit.status.astype(np.float64),
            fit_k=fit.k,
        )
        # energy from the block means (block centres at j·k + (k−1)/2): noise inside a
        # block does not add to it, the signal's own within-block variation is ~1e-6
        k = sig.k
        cur, pos0 = sig.yb, (k - 1) / 2.0
    else:
        _didt_metrics(sig, amp, neg_amp, floor, i_pk, i_opp, ctx, out)
        # current by integration at block resolution: cur[j] = k·Σ block means up to
        # block j ≈ ∫ g dt (in raw·samples) up to sample position (j+1)·k − ½
        k = sig.k
        cur = _cumsum_rows(sig.yb, float(k))
        pos0 = k - 0.5
        csig = F.Sig(cur)
        ci = cur.argmax(axis=1)
        cur_amp = cur.max(axis=1).astype(np.float64)
        rise = np.nan_to_num((pos0 + ci * k - out["onset"]) / k, nan=0.0)
        w = np.maximum(_round_i(0.15 * rise), 2)
        zero, last = np.zeros(n, np.int64), np.full(n, cur.shape[1] - 1)
        if ctx.shape is Shape.MONOPHASIC:
            _, v_pk = _extremum(csig, ci, 2 * w, zero, last, w_right=np.full(n, 1))
            t_pk = (out["zc1"] - pos0) / k  # dI/dt = 0 is the current's peak
            sub: dict[str, np.ndarray] = {}
            cfloor = floor * math.sqrt(m) * k
            _current_metrics(csig, cur_amp, cfloor, ci, ci, ctx, sub)
            out["width"] = sub["width"] * k
        else:
            t_pk, v_pk = _extremum(csig, ci, w, zero, last)
        out["t_peak"] = pos0 + t_pk * k
        out["peak"] = v_pk
    # energy from the onset on: Σ cur² · (samples per point)
    onset_pt = (np.nan_to_num(out["onset"], nan=0.0) - pos0) / k
    start = np.maximum(np.floor(onset_pt).astype(np.int64) - 1, 0)
    total = np.einsum("ij,ij->i", cur, cur).astype(np.float64)
    hi = int(start.max(initial=0))
    if hi > 0:
        pre = cur[:, :hi].astype(np.float64) ** 2
        pre[np.arange(hi)[None, :] >= start[:, None]] = 0.0
        total -= pre.sum(axis=1)
    total *= k
    out["sumsq"] = total
    out.update(b=b, sd=sd, pol=pol)
    return out, reasons


def _model_check(
    out: dict[str, np.ndarray], reasons: list[str], ctx: _Ctx, res: dict[str, np.ndarray]
) -> list[str]:
    """Fit failures invalidate a row; a fit the record does not bear out flags it."""
    n = len(reasons)
    model = [""] * n
    if "fit_status" not in out:
        return model
    status = out["fit_status"]
    shape = ctx.shape.value.replace("_", "-")
    for r in np.flatnonzero(status == rlc_fit.NO_CONVERGENCE):
        reasons[r] = reasons[r] or f"pulse shape not recognised: the {shape} model fit diverged"
    for r in np.flatnonzero(status == rlc_fit.TOO_FEW):
        reasons[r] = reasons[r] or (
            f"pulse shape not recognised: too few samples across the pulse for the {shape} fit"
        )
    floor = np.maximum(out["sd"], ctx.quantum / math.sqrt(12.0))
    peak = out["peak"]
    with np.errstate(invalid="ignore", divide="ignore"):
        # block-mean noise: as measured beside the pulse, at least white noise's
        noise = RESID_NOISE_FACTOR * np.fmax(out["fit_noise"], floor / np.sqrt(out["fit_block"]))
        rel = out["fit_resid"] / peak
        off = res["peak_didt_A_per_us"] / res["peak_didt_model_free_A_per_us"] - 1.0
        agree = AGREE_FLOOR + AGREE_NOISE * floor / peak
    bad_fit = (out["fit_resid"] > noise) & (rel > ctx.max_model_residual)
    for r in np.flatnonzero(bad_fit):
        model[r] = (
            f"the {shape} RLC model does not describe the pulse: fit residual "
            f"{rel[r]:.2%} of the peak rms (noise {floor[r] / peak[r]:.2%} per sample, "
            f"limit {ctx.max_model_residual:.2%})"
        )
    for r in np.flatnonzero(~bad_fit & (np.abs(off) > agree)):
        model[r] = (
            f"fitted dI/dt ({res['peak_didt_A_per_us'][r]:.4g} A/µs) differs from the "
            f"model-free one ({res['peak_didt_model_free_A_per_us'][r]:.4g} A/µs) by "
            f"{off[r]:+.1%} (limit ±{agree[r]:.1%})"
        )
    return model


def _finish(
    out: dict[str, np.ndarray], reasons: list[str], ctx: _Ctx, n: int
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Raw per-sample quantities -> physical result columns and the model reasons;
    invalidate incomplete rows."""
    dt, s = ctx.dt_s, abs(ctx.scale)
    nan = np.full(n, NAN)

    def t_us(key: str) -> np.ndarray:
        return (ctx.t0_s + out.get(key, nan) * dt) * 1e6 if key in out else nan

    res: dict[str, np.ndarray] = {}
    res["polarity"] = out["pol"] * math.copysign(1.0, ctx.scale)
    res["baseline"] = out["b"] * ctx.scale + ctx.offset
    res["noise_rms"] = out["sd"] * s
    res["onset_us"] = t_us("onset")
    res["t_peak_us"] = t_us("t_peak")
    res["zero_crossing1_us"] = t_us("zc1")
    res["zero_crossing2_us"] = t_us("zc2")
    res["end_us"] = t_us("end")
    res["period_us"] = out.get("period", nan) * dt * 1e6
    res["pulse_width_us"] = out.get("width", nan) * dt * 1e6
    if ctx.channel is Channel.CURRENT:
        res["peak_current_A"] = out["peak"] * s
        res["peak_didt_model_free_A_per_us"] = out["didt0"] * s / dt * 1e-6
        res["peak_didt_A_per_us"] = out["didt_fit"] * s / dt * 1e-6
        res["peak_didt_se_A_per_us"] = out["didt_fit_se"] * s / dt * 1e-6
        cur_scale = s
    else:
        res["peak_current_A"] = out["peak"] * s * dt
        res["peak_didt_model_free_A_per_us"] = out["didt0"] * s * 1e-6
        res["peak_didt_A_per_us"] = res["peak_didt_model_free_A_per_us"]
        res["peak_didt_se_A_per_us"] = nan
        cur_scale = s * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["second"] / out["didt0"] if "second" in out else nan
        res["model_residual"] = out["fit_resid"] / out["peak"] if "fit_resid" in out else nan
    res["phase_ratio_model_free"] = ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        tail_k = out.get("fit_k", nan)
        res["decay_tau_us"] = np.where(tail_k > 0, dt * 1e6 / tail_k, nan)
    if ctx.channel is Channel.CURRENT and ctx.shape is not Shape.MONOPHASIC:
        res["phase_ratio"] = out["ratio_fit"]
        res["phase_ratio_se"] = out["ratio_fit_se"]
    else:
        res["phase_ratio"] = ratio
        res["phase_ratio_se"] = nan
    if "alpha_lobes" in out:  # current lobes: |I2/I1| = e^(−απ/ωd), robust to noise
        res["alpha_per_s"] = out["alpha_lobes"] / dt
    else:
        res["alpha_per_s"] = _alpha_from_ratio(ratio, res["period_us"] * 1e-6)
    res["log_decrement"] = res["alpha_per_s"] * res["period_us"] * 1e-6
    if ctx.resistance_ohm is not None:
        res["energy_J"] = ctx.resistance_ohm * out["sumsq"] * cur_scale**2 * dt
    else:
        res["energy_J"] = nan.copy()

    required = [
        "onset_us",
        "peak_current_A",
        "t_peak_us",
        "peak_didt_model_free_A_per_us",
        "zero_crossing1_us",
        "pulse_width_us",
    ]
    if ctx.shape is not Shape.MONOPHASIC:
        required += ["period_us", "end_us", "phase_ratio_model_free", "alpha_per_s"]
    if ctx.shape is Shape.BIPHASIC:
        required += ["zero_crossing2_us"]
    if ctx.resistance_ohm is not None:
        required += ["energy_J"]
    required += ["peak_didt_A_per_us"]  # the fitted values last: a model-free gap comes first
    if ctx.shape is not Shape.MONOPHASIC:
        required += ["phase_ratio"]
    model = _model_check(out, reasons, ctx, res)
    valid = np.array([r == "" for r in reasons])
    for name in required:
        bad = valid & ~np.isfinite(res[name])
        for r in np.flatnonzero(bad):
            reasons[r] = f"pulse shape not recognised: could not measure {name}"
        valid &= ~bad
    for name in NUMERIC_FIELDS:
        res[name] = np.where(valid, res[name], NAN)
    res["valid"] = valid
    return res, [m if v else "" for m, v in zip(model, valid, strict=True)]


def analyze_pulses(
    samples: np.ndarray,
    dt_s: float,
    *,
    channel: Channel | str = Channel.CURRENT,
    shape: Shape | str = Shape.BIPHASIC,
    t0_s: float = 0.0,
    scale: float = 1.0,
    offset: float = 0.0,
    adc_rails: tuple[float, float] | None = None,
    resistance_ohm: float | None = None,
    baseline_window_s: tuple[float, float] | None = None,
    min_snr: float = 10.0,
    quantum: float | None = None,
    chunk_rows: int | None = None,
    max_model_residual: float = 0.001,
) -> PulseBatch:
    """Analyse a batch of pulse records, one per row of ``samples``.

    Args:
        samples: (n_records, n_samples) int16 ADC codes or floats (raw units).
        dt_s: sample interval (s).
        channel: ``"current"`` (coil current) or ``"didt"`` (∝ dI/dt: pickup
            coil, E-field probe; after scaling in A/s).
        shape: ``"biphasic"``, ``"half_sine"`` or ``"monophasic"``.
        t0_s: time of sample 0 relative to the trigger (s); negative with pre-trigger.
        scale, offset: physical value = raw·scale + offset (A, or A/s for dI/dt).
        adc_rails: (low, high) raw codes of the ADC rails; a sample at or
            beyond a rail makes the record invalid ("clipped").
        resistance_ohm: loop resistance R (Ω) for ``energy_J`` (NaN without it).
        baseline_window_s: (start, end) of the baseline on the record's time
            axis (s); default: everything before the trigger (t < 0).
        min_snr: a record whose largest excursion is below ``min_snr`` × the
            baseline noise rms is invalid ("no pulse").
        quantum: raw step size; default 1 for integer input, 0 (unknown) for floats,
            where the clipping check then takes each row's smallest step.
        chunk_rows: rows per chunk (default: about 40 MiB of raw samples).
        max_model_residual: current channel: a record whose RLC-fit residual rms
            exceeds twice the noise and this fraction of the peak gets a
            ``model_reason`` (see :class:`~harness.analysis.results.PulseResult`).
            The fraction allows for a probe or digitiser that is not quite the
            model (INL, droop); the fitted dI/dt can be off by ~10x the residual.

    Returns:
        :class:`PulseBatch`; invalid rows have NaN numbers and a reason.
    """
    x = np.asarray(samples)
    if x.ndim != 2:
        raise ValueError(f"samples must be 2-D (records x samples), got shape {x.shape}")
    n, m = x.shape
    if dt_s <= 0:
        raise ValueError("dt_s must be > 0")
    lo_s, hi_s = baseline_window_s if baseline_window_s is not None else (-math.inf, 0.0)
    base_lo = max(0, math.ceil((lo_s - t0_s) / dt_s - 1e-9)) if math.isfinite(lo_s) else 0
    base_hi = min(m, math.ceil((hi_s - t0_s) / dt_s - 1e-9))
    if base_hi - base_lo < 8:
        raise ValueError(
            f"baseline window holds {max(base_hi - base_lo, 0)} samples (< 8): record "
            "some pre-trigger samples or pass baseline_window_s"
        )
    is_int = np.issubdtype(x.dtype, np.integer)
    if quantum is None:
        quantum = 1.0 if is_int else 0.0
    if not is_int and x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    ctx = _Ctx(
        channel=Channel(channel),
        shape=Shape(shape),
        dt_s=float(dt_s),
        t0_s=float(t0_s),
        scale=float(scale),
        offset=float(offset),
        rail_low=None if adc_rails is None else float(adc_rails[0]),
        rail_high=None if adc_rails is None else float(adc_rails[1]),
        resistance_ohm=resistance_ohm,
        base_lo=base_lo,
        base_hi=base_hi,
        min_snr=float(min_snr),
        quantum=float(quantum),
        max_model_residual=float(max_model_residual),
    )
    rows = chunk_rows or max(1, CHUNK_BYTES // max(m * x.itemsize, 1))
    parts: list[dict[str, np.ndarray]] = []
    reasons_all: list[str] = []
    model_all: list[str] = []
    for r0 in range(0, n, rows):
        chunk = x[r0 : r0 + rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            out, reasons = _analyze_chunk(chunk, ctx)
            part, model = _finish(out, reasons, ctx, chunk.shape[0])
        parts.append(part)
        reasons_all.extend(reasons)
        model_all.extend(model)
    cols = {
        k: np.concatenate([p[k] for p in parts]) if parts else np.empty(0)
        for k in (*NUMERIC_FIELDS, "valid")
    }
    if not parts:
        cols["valid"] = np.empty(0, dtype=bool)
    return PulseBatch(invalid_reason=tuple(reasons_all), model_reason=tuple(model_all), **cols)


def reasons_summary(batch: PulseBatch) -> dict[str, int]:
    """Count of invalid records per reason (for logs and reports)."""
    counts: dict[str, int] = {}
    for r in batch.invalid_reason:
        if r:
            counts[r] = counts.get(r, 0) + 1
    return counts


__all__: Sequence[str] = ("analyze_pulses", "reasons_summary")
