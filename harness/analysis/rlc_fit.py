"""Least-squares fit of the series-RLC current response to pulse records (row-vectorised).

The coil current of a series-RLC discharge (DESIGN.md, physics) from its onset t0 is

    i(τ) = A·e^(−ατ)·sin(ωτ),  τ = t − t0,  A = V0/(ωL),  so  di/dt(0+) = A·ω = V0/L

until the switch stops conducting: at τ = 2π/ω (biphasic) or π/ω (half-sine), after
which i = 0; monophasic: at τ_s = (π − atan(ω/α))/ω (capacitor voltage zero), after
which a freewheel diode carries i(τ_s)·e^(−k(τ − τ_s)), k = (R + Rd)/L.

Parameters (A, α, ω, t0[, k]) are fitted by Gauss-Newton, vectorised across rows,
from the model-free estimates of :mod:`harness.analysis.batch`. The dI/dt at onset
A·ω and the phase ratio e^(−α(π−2φ)/ω), φ = atan(α/ω), come with standard errors
from the Jacobian-based covariance s²·(JᵀJ)⁻¹, s² = RSS/(N − p) (a Type A figure).

Offset: a residual offset c of the record (the pre-trigger baseline is an estimate)
projects onto the biphasic dI/dt; with the pre-trigger mean alone it was the larger
part of the scatter on a Rapid² pulse. So c is the mean of all the record where the
model has no current (before the onset, after the end: ~2/3 of a 1 ms record), it is
removed before the fit, and its own uncertainty (s²/blocks) is carried into the
standard errors through the fit's sensitivity to it.

Speed and exactness: the record is cut into blocks of K = 16·q samples (q per row,
~24 blocks across the conduction time), and the fit runs on the block means, whose
model is exact: the mean of e^(s·τ) over K consecutive samples around a centre τc is
e^(s·τc)·sinh(Ks/2)/(K·sinh(s/2)), s = −α + iω, and successive blocks differ by the
factor e^(sK) (a running product: no transcendental function per point). Only blocks
wholly inside a smooth piece of the model are fitted (a margin of 0.6 % of the
conduction time, at least 16 samples, keeps them off the onset, the end and the
monophasic switch-over wherever the starting values put those; a row whose fitted
kinks moved into its blocks is laid out again and refitted). The Jacobian neglects
the averaging factor's own derivative (~1e-4 relative on the covariance, nothing on
the fitted values); block means lose ~(K·ω·dt)²/12 of the information (< 1 %).

Model check: ``resid`` is the residual rms over the fitted blocks and the zero-current
blocks up to 0.1 (before) and 0.25 (after) conduction times beside the pulse; a record
the model does not describe (e.g. a biphasic pulse cut to a half-sine by a thyristor
misfire, fitted as biphasic) leaves a residual far above the noise, ``noise``: the
scatter of the block means before the onset (about their own mean), measured, so
correlated noise counts.
Mind the model's reach: a misfit the residual barely shows still moves the fitted
dI/dt, ~10x the residual for a reverse half-cycle of the wrong size (2 % weaker: +0.9 %
on the dI/dt at 0.08 % residual), so a described record must leave no more than the
noise.

Times are in samples from the record start, α, ω, k per sample, A and c in raw units
(pre-trigger baseline removed, polarity corrected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.analysis import _fit as F
from harness.analysis.results import Shape

NAN = np.nan
POINTS = 24  # target fit blocks across the conduction time (monophasic: onset to switch-over)
MARGIN = 0.006  # fitted blocks stay this fraction of the conduction time off the kinks
MAX_ITER = 12
TOL = 1e-4  # converged: every step below this fraction of its parameter's scale
TAIL_TAUS = 10.0  # monophasic tail fitted up to 10 decay times (e^−10) or the record end
PRE, POST = 0.1, 0.25  # model-check stretches before onset / after the end (x conduction)

# status per row
OK, NOT_FITTED, TOO_FEW, NO_CONVERGENCE = 0, 1, 2, 3


@dataclass(frozen=True)
class CurrentFit:
    """Per-row fit results (NaN where not fitted); units as in the module docstring."""

    amp: np.ndarray
    alpha: np.ndarray
    omega: np.ndarray
    t0: np.ndarray
    k: np.ndarray  # monophasic tail rate (NaN otherwise)
    offset: np.ndarray
    didt0: np.ndarray  # A·ω, raw units per sample
    didt0_se: np.ndarray
    ratio: np.ndarray  # second/first dI/dt phase peak (NaN for monophasic)
    ratio_se: np.ndarray
    resid: np.ndarray  # rms residual of block means over the pulse and beside it (raw)
    noise: np.ndarray  # rms scatter of the block means before the onset (raw)
    block: np.ndarray  # samples per fit block K
    status: np.ndarray  # OK, NOT_FITTED, TOO_FEW, NO_CONVERGENCE


def _switch(alpha: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Monophasic switch-over time τ_s = (π − atan(ω/α))/ω (samples)."""
    return np.asarray((math.pi - np.arctan2(omega, alpha)) / omega)


def _duration(shape: Shape, alpha: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Conduction time of the sine part (samples)."""
    if shape is Shape.BIPHASIC:
        return np.asarray(2.0 * math.pi / omega)
    if shape is Shape.HALF_SINE:
        return np.asarray(math.pi / omega)
    return _switch(alpha, omega)


def _avg_factor(s: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Mean of e^(s·j) over K samples centred on j = 0: sinh(Ks/2)/(K·sinh(s/2))."""
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.sinh(K * s / 2.0) / (K * np.sinh(s / 2.0))
    return np.asarray(np.where(s == 0, 1.0, f))


def _powers(z: np.ndarray, count: int) -> np.ndarray:
    """z^j, j = 0..count−1, per row (a running product)."""
    out = np.empty((z.shape[0], count), dtype=z.dtype)
    out[:, 0] = 1.0
    out[:, 1:] = z[:, None]
    return np.cumprod(out, axis=1, out=out)


@dataclass(frozen=True)
class _Grid:
    """Blocks of each row, laid out from one set of parameters.

    The record is cut into blocks of q 16-sample blocks (K samples) from 16-block
    ``g0`` (< q) on (a last partial block is dropped); the fitted blocks are grid
    columns ``j0 + i``, i < M, the first starting at 16-block ``b0`` with centre ``c0``
    (samples). ``fit`` (n, M) marks those wholly inside a smooth piece of the model
    (``tail``: monophasic, after the switch-over); ``zero`` (n, grid) the blocks wholly
    in a zero-current stretch, ``check`` those of them next to the pulse (the model
    check).
    """

    q: np.ndarray
    K: np.ndarray  # samples per block (float)
    g0: np.ndarray
    j0: np.ndarray
    b0: np.ndarray
    c0: np.ndarray
    fit: np.ndarray
    tail: np.ndarray
    zero: np.ndarray
    check: np.ndarray
    pre: np.ndarray  # (n, grid) zero-current blocks before the onset


def _take(g: _Grid, rows: np.ndarray) -> _Grid:
    """The grid of some rows."""
    return _Grid(*(getattr(g, f.name)[rows] for f in fields(_Grid)))


def _layout(shape: Shape, th: np.ndarray, m: int, nb: int) -> _Grid:
    k16 = F.BLOCK
    a, w = th[:, 1], th[:, 2]
    D = np.nan_to_num(_duration(shape, a, w), nan=0.0)
    t0 = np.nan_to_num(th[:, 3], nan=0.0)
    q = np.maximum(np.floor(D / (k16 * POINTS)), 1.0).astype(np.int64)
    K = q * k16
    mg = np.maximum(MARGIN * D, k16)
    if shape is Shape.MONOPHASIC:
        hi = np.minimum(np.nan_to_num(t0 + D + TAIL_TAUS / th[:, 4], nan=0.0), m)
        end = np.full(t0.shape, np.inf)  # the tail runs to the record's end
    else:
        hi = t0 + D - mg
        end = t0 + D
    b0 = np.clip(np.ceil((t0 + mg) / k16), 0, nb).astype(np.int64)
    g0 = b0 % q
    j0 = b0 // q
    total = _whole(nb, q)  # blocks of the grid
    count = np.clip(np.floor((hi - b0 * k16) / K), 0, None).astype(np.int64)
    count = np.minimum(count, total - j0)
    i = np.arange(max(int(count.max(initial=1)), 1))
    start = (b0 * k16)[:, None] + i[None, :] * K[:, None]  # first sample of each block
    fit = i[None, :] < count[:, None]
    tail = np.zeros_like(fit)
    if shape is Shape.MONOPHASIC:
        ts = (t0 + D)[:, None]
        tail = fit & (start >= ts + mg[:, None])
        fit &= tail | (start + K[:, None] <= ts - mg[:, None])
    jj = np.arange(max(int(total.max(initial=1)), 1))[None, :]
    gs = (g0 * k16)[:, None] + jj * K[:, None]  # grid block starts
    ge = gs + K[:, None]
    inside = jj < total[:, None]
    before = inside & (ge <= (t0 - mg)[:, None])
    after = inside & (gs >= (end + mg)[:, None])
    near = (ge > (t0 - PRE * D)[:, None]) & (gs < (end + POST * D)[:, None])
    return _Grid(
        q,
        K.astype(np.float64),
        g0,
        j0,
        b0,
        b0 * k16 + (K - 1) / 2.0,
        fit,
        tail,
        before | after,
        (before | after) & near,
        before,
    )


def _block_values(yb: np.ndarray, g0: np.ndarray, q: np.ndarray, width: int) -> np.ndarray:
    """Means of groups of q 16-sample block means from 16-block ``g0`` (< q) on, per row:
    (n, width), the first :func:`_whole` groups filled (the rest 0); one strided window
    per value of q."""
    n, nb = yb.shape
    out = np.zeros((n, width))
    for qv in np.unique(q):
        rows = np.flatnonzero(q == qv)
        qi = int(qv)
        cnt = min(width, int(_whole(nb, qv)))
        v = sliding_window_view(yb, cnt * qi, axis=1)[rows, g0[rows]]
        s = (v.reshape(rows.size * cnt, qi) @ np.ones(qi, yb.dtype)).reshape(rows.size, cnt)
        out[rows, :cnt] = s / qi
    return out


def _whole(nb: int, q: np.ndarray) -> np.ndarray:
    """Groups of q blocks that fit in nb blocks from any start g0 < q."""
    return np.asarray((nb - q + 1) // q)


Vec = list[np.ndarray]


def _normal(J: np.ndarray, res: np.ndarray) -> tuple[list[Vec], Vec]:
    """JᵀJ (lower triangle) and Jᵀr per row from J (p, n, M), r (n, M), as lists of (n,)."""
    p = J.shape[0]
    g = [[np.einsum("nm,nm->n", J[i], J[j]) for j in range(i + 1)] for i in range(p)]
    return g, [np.einsum("nm,nm->n", J[i], res) for i in range(p)]


def _chol(g: list[Vec]) -> tuple[list[Vec], Vec, np.ndarray]:
    """Cholesky factor of the symmetric positive definite JᵀJ (lower triangle ``g`` of
    (n,) arrays) scaled to unit diagonal: (factor, scale, ok). Written out element by
    element, each step one vector operation across the rows (a stacked LAPACK solve is
    slower for 4 x 4 and raises for the whole batch on one singular row); a row that
    is not positive definite gets ok = False."""
    p = len(g)
    d = [np.sqrt(np.abs(g[i][i])) for i in range(p)]
    ok = np.logical_and.reduce([np.isfinite(x) for row in g for x in row])
    ok &= np.logical_and.reduce([x > 0 for x in d])
    d = [np.where(ok, x, 1.0) for x in d]
    low: list[Vec] = []
    for i in range(p):
        row: Vec = []
        for j in range(i + 1):
            v = g[i][j] / (d[i] * d[j])
            other = row if j == i else low[j]
            for k in range(j):
                v = v - row[k] * other[k]
            if j < i:
                row.append(v / low[j][j])
            else:
                ok &= v > 1e-12
                row.append(np.sqrt(np.where(ok, v, 1.0)))
        low.append(row)
    return low, d, ok


def _chol_apply(low: list[Vec], d: Vec, b: Vec) -> Vec:
    """Solve JᵀJ·x = b with a factor from :func:`_chol`; b: p arrays (n,) or (n, r)."""
    p = len(low)
    col = b[0].ndim > 1

    def e(x: np.ndarray) -> np.ndarray:
        return x[:, None] if col else x

    z: Vec = []
    for i in range(p):  # forward: L z = b/d
        v = b[i] / e(d[i])
        for k in range(i):
            v = v - e(low[i][k]) * z[k]
        z.append(v / e(low[i][i]))
    x: Vec = [z[0]] * p
    for i in range(p - 1, -1, -1):  # back: Lᵀ x = z
        v = z[i]
        for k in range(i + 1, p):
            v = v - e(low[k][i]) * x[k]
        x[i] = v / e(low[i][i])
    return [x[i] / e(d[i]) for i in range(p)]


def _model(
    th: np.ndarray, g: _Grid, mk: np.ndarray, shape: Shape, jac: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Block-mean model (n, M) on the fitted blocks of ``g`` and, if ``jac``, its Jacobian
    (p, n, M), both zero outside them (``mk``: 1.0 on a fitted block, else 0.0)."""
    n, p = th.shape
    M = mk.shape[1]
    A, a, w, t0 = th[:, 0], th[:, 1], th[:, 2], th[:, 3]
    A_ = A[:, None]
    s = -a + 1j * w
    f = _powers(np.exp(s * g.K), M)
    f *= (_avg_factor(s, g.K) * np.exp(s * (g.c0 - t0)))[:, None]
    J = np.empty((p, n, M)) if jac else np.empty((1, n, M))
    fi = np.multiply(f.imag, mk, out=J[0])
    m = A_ * fi
    if jac:
        afr = np.multiply(f.real, mk * A_, out=J[3])  # A·Re f, turned into ∂/∂t0 below
        tau = g.K[:, None] * np.arange(M) + (g.c0 - t0)[:, None]
        np.multiply(afr, tau, out=J[2])
        np.multiply(m, tau, out=J[1])
        np.negative(J[1], out=J[1])
        afr *= -w[:, None]
        afr += a[:, None] * m
    if shape is Shape.MONOPHASIC:
        k = th[:, 4]
        ts = _switch(a, w)
        h = np.exp(-a * ts) * np.sin(w * ts)  # unit-amplitude current at the switch-over
        d0 = g.c0 - t0 - ts  # first block centre from the switch-over
        gt = _powers(np.exp(-k * g.K), M)
        gt *= (h * _avg_factor(-k, g.K) * np.exp(-k * d0))[:, None]
        tail = g.tail
        gt *= tail
        mt = A_ * gt
        m = np.where(tail, mt, m)
        if jac:
            # ∂/∂(α, ω) through i(τ_s) and τ_s; at the switch-over cot(ωτ_s) = −α/ω
            den = a * a + w * w
            dts_a = 1.0 / den
            dts_w = -a / (w * den) - ts / w
            dlh_a = -ts - 2.0 * a * dts_a
            dlh_w = -(a / w) * ts - 2.0 * a * dts_w
            d = d0[:, None] + g.K[:, None] * np.arange(M)
            J[0] = np.where(tail, gt, J[0])
            J[1] = np.where(tail, mt * (dlh_a + k * dts_a)[:, None], J[1])
            J[2] = np.where(tail, mt * (dlh_w + k * dts_w)[:, None], J[2])
            J[3] = np.where(tail, mt * k[:, None], J[3])
            J[4] = -mt * d
    return m, (J if jac else None)


def start_values(shape: Shape, mf: dict[str, np.ndarray]) -> np.ndarray:
    """Starting (A, α, ω, t0[, k]) per row from the model-free raw metrics ``mf``
    (the keys :func:`harness.analysis.batch._current_metrics` fills); NaN where missing.

    ω from the period (biphasic, half-sine); α from the current lobes (biphasic) or
    the peak time, tan(ω·tp) = ω/α (half-sine). Monophasic has no period: θ = ω·tp
    solves sin θ·e^(−θ·cot θ)/θ = I_pk/(tp·di/dt(0)) (peak time and value of the
    rise), α = ω/tan θ; the tail rate k from the 10 %-of-peak fall time.
    """
    t0, didt0 = mf["onset"], mf["didt0"]
    tp = mf["t_peak"] - t0
    with np.errstate(invalid="ignore", divide="ignore"):
        if shape is Shape.MONOPHASIC:
            rho = mf["peak"] / (tp * didt0)
            lo, hi = np.full(t0.shape, 1e-3), np.full(t0.shape, math.pi / 2 - 1e-9)
            for _ in range(40):  # bisection: g(θ) rises from 1/e (θ → 0) to 2/π (θ = π/2)
                mid = 0.5 * (lo + hi)
                below = np.sin(mid) * np.exp(-mid / np.tan(mid)) / mid < rho
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            theta = 0.5 * (lo + hi)
            w = theta / tp
            a = w / np.tan(theta)
            ts = _switch(a, w)
            i_s = didt0 / w * np.exp(-a * ts) * np.sin(w * ts)
            t_fall = t0 + 0.1 * mf["peak"] / didt0 + mf["width"]  # the 10 % rise is ~linear
            k = np.log(i_s / (0.1 * mf["peak"])) / (t_fall - t0 - ts)
            k = np.where(np.isfinite(k) & (k > 0), k, 3.0 / ts)
            return np.stack([didt0 / w, a, w, t0, k], axis=1)
        w = 2.0 * math.pi / mf["period"]
        a = mf["alpha_lobes"] if shape is Shape.BIPHASIC else w / np.tan(w * tp)
        a = np.where(np.isfinite(a) & (a > 0), a, 1e-3 * w)
        return np.stack([didt0 / w, a, w, t0], axis=1)


@dataclass
class _Round:
    """Result of one fitting round over a set of rows."""

    th: np.ndarray  # (n, p) parameters
    offset: np.ndarray
    var: np.ndarray  # (n, 3, 3) covariance of A, α, ω (with the offset's share)
    resid: np.ndarray
    noise: np.ndarray
    block: np.ndarray
    status: np.ndarray
    moved: np.ndarray  # a fitted block now reaches across a fitted kink: lay out again


def _fit_round(yb: np.ndarray, shape: Shape, th0: np.ndarray, m: int) -> _Round:
    """Lay out the blocks from ``th0``, remove the offset, fit by Gauss-Newton."""
    n, p = th0.shape
    th = th0.copy()
    g = _layout(shape, th, m, yb.shape[1])
    y_all = _block_values(yb, g.g0, g.q, g.zero.shape[1])
    nz = g.zero.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(g.zero, y_all, 0.0).sum(axis=1) / nz
    M = g.fit.shape[1]
    cols = np.minimum(g.j0[:, None] + np.arange(M), y_all.shape[1] - 1)
    mk = g.fit.astype(np.float64)
    y = (np.take_along_axis(y_all, cols, axis=1) - off[:, None]) * mk
    zc = y_all - off[:, None]
    # the noise of a block mean, from the blocks before the onset (those after the end
    # carry current when the model is the wrong one)
    npre = g.pre.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        zp = y_all - (np.where(g.pre, y_all, 0.0).sum(axis=1) / npre)[:, None]
        zp[~g.pre] = 0.0
        noise = np.sqrt(np.einsum("nm,nm->n", zp, zp) / (npre - 1))
    zc[~g.check] = 0.0
    chk = np.einsum("nm,nm->n", zc, zc)
    n_chk = g.check.sum(axis=1)
    npts = g.fit.sum(axis=1)
    r = _Round(
        th,
        off,
        np.full((n, 3, 3), NAN),
        np.full(n, NAN),
        noise,
        g.K,
        np.where((npts < p + 8) | (nz < 2), TOO_FEW, NO_CONVERGENCE),
        np.zeros(n, bool),
    )
    act = np.flatnonzero(r.status != TOO_FEW)
    prev: tuple[np.ndarray, list[Vec], Vec, np.ndarray, np.ndarray] | None = None
    for it in range(MAX_ITER):
        if act.size == 0:
            break
        every = act.size == n  # (the first iteration: no copies)
        ga, mka, ya = (g, mk, y) if every else (_take(g, act), mk[act], y[act])
        if it == 1 and prev is not None:
            # a chord step: the first iteration's Jacobian and factor with the new
            # residual. From the model-free start the first step leaves ~1e-3 of a
            # parameter's scale, so the Jacobian is that close: this step converges
            # (to ~1e-6), and covariances from it are off by ~1e-3 of themselves
            J, low, dsc, ok, rows_p = prev
            if rows_p.size != act.size:
                sel = np.searchsorted(rows_p, act)
                J = J[:, sel]
                low = [[x[sel] for x in row] for row in low]
                dsc, ok = [x[sel] for x in dsc], ok[sel]
            mdl, _ = _model(th[act], ga, mka, shape, jac=False)
            res = np.subtract(ya, mdl, out=mdl)
            jtr = [np.einsum("nm,nm->n", J[i], res) for i in range(p)]
        else:
            mdl, J_ = _model(th[act], ga, mka, shape, jac=True)
            assert J_ is not None
            J = J_
            res = np.subtract(ya, mdl, out=mdl)
            jtj, jtr = _normal(J, res)
            low, dsc, ok = _chol(jtj)
            prev = (J, low, dsc, ok, act)
        step = np.where(ok[:, None], np.stack(_chol_apply(low, dsc, jtr), axis=1), 0.0)
        w = th[act, 2]
        D = 2.0 * math.pi / w
        # clamp wild steps from a poor start: a tenth of ω (for α and ω), a twentieth of
        # T. Converged when every step is below TOL of its scale: each step here is
        # ≲ 1e-2 of the one before, so what is left is ≲ 1e-6, far below the errors
        inf = np.full(act.size, np.inf)
        scale = [np.abs(th[act, 0]), w, w, D]
        lim = [inf, 0.1 * w, 0.1 * w, 0.05 * D]
        if shape is Shape.MONOPHASIC:
            scale.append(np.abs(th[act, 4]))
            lim.append(0.5 * np.abs(th[act, 4]))
        lim_a = np.stack(lim, axis=1)
        step = np.clip(step, -lim_a, lim_a)
        th[act] += step
        done = ok & np.all(np.abs(step) <= TOL * np.stack(scale, axis=1), axis=1)
        # this iteration's residual and Jacobian stand for the fitted values (the step
        # just taken changes them to second order)
        dn = act[done]
        r2 = np.einsum("nm,nm->n", res[done], res[done])
        r.resid[dn] = np.sqrt((r2 + chk[dn]) / (npts[dn] + n_chk[dn]))
        s2 = r2 / np.maximum(npts[dn] - p, 1)
        # covariance columns of A, α, ω, and h = (JᵀJ)⁻¹Jᵀ·1: the fit moves by −h·c
        # with the offset, whose variance is s²/(zero blocks)
        rhs = np.zeros((p, dn.size, 4))
        rhs[:, :, 0] = J.sum(axis=2)[:, done]
        rhs[0, :, 1] = rhs[1, :, 2] = rhs[2, :, 3] = 1.0
        low_d = [[x[done] for x in row] for row in low]
        sol = np.stack(_chol_apply(low_d, [x[done] for x in dsc], list(rhs)), axis=1)
        h = sol[:, :3, 0]
        cov = sol[:, :3, 1:] + h[:, :, None] * h[:, None, :] / nz[dn, None, None]
        r.var[dn] = cov * s2[:, None, None]
        r.status[dn] = OK
        act = act[~done]
    r.moved = (r.status == OK) & _moved(shape, th, g)
    return r


def _moved(shape: Shape, th: np.ndarray, g: _Grid) -> np.ndarray:
    """Rows where a fitted block now reaches across the fitted onset, end or switch-over."""
    a, w, t0 = th[:, 1], th[:, 2], th[:, 3]
    D = _duration(shape, a, w)
    count = g.fit.shape[1] - np.argmax(g.fit[:, ::-1], axis=1)  # one past the last fitted
    bad = g.b0 * F.BLOCK < t0
    if shape is Shape.MONOPHASIC:  # the sine blocks end before τ_s, the tail starts after
        n_sine = np.argmax(g.tail | ~g.fit, axis=1)  # the fitted sine blocks come first
        first_tail = np.argmax(g.tail, axis=1)
        ts = t0 + D
        bad |= g.b0 * F.BLOCK + n_sine * g.K > ts
        bad |= g.tail.any(axis=1) & (g.b0 * F.BLOCK + first_tail * g.K < ts)
    else:
        bad |= g.b0 * F.BLOCK + count * g.K > t0 + D
    return np.asarray(bad & g.fit.any(axis=1))


def fit_current(sig: F.Sig, shape: Shape, init: np.ndarray, rows: np.ndarray) -> CurrentFit:
    """Fit rows ``rows`` of ``sig`` from starting values ``init`` (len(rows), p)
    (:func:`start_values`)."""
    n = sig.n
    p = 5 if shape is Shape.MONOPHASIC else 4
    out = {f.name: np.full(n, NAN) for f in fields(CurrentFit)}
    out["status"] = np.full(n, NOT_FITTED, dtype=np.int64)
    if rows.size == 0:
        return CurrentFit(**out)
    yb = sig.yb[rows]
    r = _fit_round(yb, shape, np.asarray(init, np.float64).reshape(rows.size, p), sig.m)
    again = np.flatnonzero(r.moved)
    if again.size:  # laid out again from the fit; still moving after that: not converged
        r2 = _fit_round(yb[again], shape, r.th[again], sig.m)
        r2.status[r2.moved] = NO_CONVERGENCE
        for name in ("th", "offset", "var", "resid", "noise", "block", "status"):
            getattr(r, name)[again] = getattr(r2, name)
    th, var, good = r.th, r.var, r.status == OK
    A, a, w = th[:, 0], th[:, 1], th[:, 2]
    var_d = w * w * var[:, 0, 0] + 2 * A * w * var[:, 0, 2] + A * A * var[:, 2, 2]
    vals = {
        "amp": A,
        "alpha": a,
        "omega": w,
        "t0": th[:, 3],
        "offset": r.offset,
        "didt0": A * w,
        "didt0_se": np.sqrt(var_d),
        "resid": r.resid,
        "noise": r.noise,
    }
    if shape is Shape.MONOPHASIC:
        vals["k"] = th[:, 4]
    else:
        x = a / w
        ratio = np.exp(-x * (math.pi - 2 * np.arctan(x)))
        dl_dx = -(math.pi - 2 * np.arctan(x)) + 2 * x / (1 + x * x)
        gx = np.stack([1.0 / w, -a / (w * w)], axis=1)
        var_x = np.einsum("ni,nij,nj->n", gx, var[:, 1:3, 1:3], gx)
        vals["ratio"] = ratio
        vals["ratio_se"] = ratio * np.abs(dl_dx) * np.sqrt(var_x)
    for name, v in vals.items():
        out[name][rows] = np.where(good, v, NAN)
    out["block"][rows] = r.block
    out["status"][rows] = r.status
    return CurrentFit(**out)
