"""Row-vectorised helpers: windowed least-squares polynomial fits and searches.

Every function works on n rows at once. A per-row window is given by its first
sample index and length (both int arrays); windows of different lengths share
one gathered (n, W) array with a mask, so each row's result depends only on
that row (a batch gives exactly the per-record numbers).
Positions are in samples (float), relative to the start of the record.

Speed: a :class:`Sig` keeps, beside the full-rate chunk, its means over blocks of
``k`` samples. Long fit windows (>= 16 blocks) are fitted on the block means
(same noise averaging, k× fewer points; bias ∝ curvature·k²/24, negligible at
that length) and level searches run on the block means first, then are refined
on the full-rate samples around the block found. Windows are gathered as one
strided copy per row (a sliding-window view indexed by row and start); level
searches scan each row from its own start in growing pieces and stop once found.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

NAN = np.nan
BLOCK = 16  # samples per block of the block-mean signal
MIN_BLOCKS = 16  # windows at least this many blocks long are fitted on block means
SLAB_ELEMS = 1 << 18  # raw samples per slab when computing block means
SEARCH_PIECE = 32  # blocks per row examined in the first step of a level search


def block_means(raw: np.ndarray, k: int = BLOCK, out: np.ndarray | None = None) -> np.ndarray:
    """Float32 means over blocks of ``k`` samples, (n, m // k); computed in row slabs
    of ~0.5 MiB so the int16 -> float32 cast stays in cache."""
    n, m = raw.shape
    mb = m // k
    ones = np.full(k, 1.0 / k, dtype=np.float32)
    yb = np.empty((n, mb), dtype=np.float32) if out is None else out
    step = max(1, SLAB_ELEMS // max(mb * k, 1))
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        np.matmul(raw[r0:r1, : mb * k].reshape(r1 - r0, mb, k), ones, out=yb[r0:r1])
    return yb


class Sig:
    """A chunk of records (n, m) plus its block means (n, m // k).

    ``raw`` is kept as given (e.g. int16 ADC codes: no full-size float copy);
    values are (raw − base)·pol, computed only where gathered. The block means
    are computed once with a small matrix product (int16 in, float32 out).
    """

    def __init__(
        self,
        raw: np.ndarray,
        base: np.ndarray | None = None,
        pol: np.ndarray | None = None,
        k: int = BLOCK,
        yb: np.ndarray | None = None,
    ) -> None:
        n, m = raw.shape
        self.raw = raw
        self.n, self.m, self.k = n, m, k
        self.base = np.zeros(n) if base is None else np.asarray(base, np.float64)
        self.pol = np.ones(n) if pol is None else np.asarray(pol, np.float64)
        if yb is None:  # else: float32 block means of ``raw`` computed by the caller
            yb = block_means(raw, k)
        yb -= self.base.astype(np.float32)[:, None]
        yb *= self.pol.astype(np.float32)[:, None]
        self.yb = yb
        # flat view for cheap gathers (np.take on flat indices beats 2-D fancy indexing)
        self._flat = raw.reshape(-1) if raw.flags.c_contiguous else None

    def take(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Full-rate values (float64) at ``cols`` (2-D, one row of columns per row)."""
        if self._flat is not None:
            v = np.take(self._flat, rows[:, None] * self.m + cols).astype(np.float64)
        else:
            v = self.raw[rows[:, None], cols].astype(np.float64)
        v -= self.base[rows, None]
        v *= self.pol[rows, None]
        return np.asarray(v)


def _windows(a: np.ndarray, rows: np.ndarray, start: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    """Contiguous windows of ``w`` columns of ``a`` per row: (values, cols).

    Window starts are clipped into the array, so a window covers [start, start+w)
    ∩ [0, a.shape[1]) whenever w <= a.shape[1]. One strided gather (a sliding-window
    view indexed by row and start) instead of a gather of every element.
    """
    w = max(min(w, a.shape[1]), 1)
    s = np.clip(start, 0, a.shape[1] - w)
    vals = sliding_window_view(a, w, axis=1)[rows, s]
    return vals, s[:, None] + np.arange(w)


def _gather_full(
    sig: Sig, rows: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Full-rate windows [start, start+length) of the given rows: (values, cols, mask)."""
    w = max(int(length.max(initial=1)), 1)
    raw, cols = _windows(sig.raw, rows, start, w)
    mask = (cols >= start[:, None]) & (cols < (start + length)[:, None])
    vals = raw.astype(np.float64)
    vals -= sig.base[rows, None]
    vals *= sig.pol[rows, None]
    return vals, cols, mask


def _gather_blocks(
    yb: np.ndarray, rows: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Block-mean windows (block indices) of the given rows: (values, block cols, mask)."""
    w = max(int(length.max(initial=1)), 1)
    vals, cols = _windows(yb, rows, start, w)
    mask = (cols >= start[:, None]) & (cols < (start + length)[:, None])
    return vals.astype(np.float64), cols, mask


def polyfit_window(
    sig: Sig, start: np.ndarray, length: np.ndarray, deg: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares polynomial of degree ``deg`` per row over [start, start+length).

    Windows of at least MIN_BLOCKS blocks are fitted on the block means lying
    wholly inside the window, each at its block's centre position. ``rows``
    restricts the fit to those rows (the arrays then describe those rows only).

    Returns (coef (n, deg+1) ascending powers of u, centre (n,), half (n,)),
    with u = (position − centre)/half. Rows with fewer than deg+2 points get NaN.
    """
    rows = np.arange(sig.n) if rows is None else rows
    k = sig.k
    length = np.maximum(length, 0)
    centre = start + (np.maximum(length, 1) - 1) / 2.0
    half = np.maximum((length - 1) / 2.0, 0.5)
    coef = np.full((rows.size, deg + 1), NAN)
    long = length >= MIN_BLOCKS * k
    sel = np.flatnonzero(~long)
    if sel.size:
        st, ln = start[sel], length[sel]
        vals, cols, mask = _gather_full(sig, rows[sel], st, ln)
        mom = _window_moments(cols, mask, st, ln, centre[sel], half[sel], deg)
        coef[sel] = polyfit_masked(vals, cols, mask, centre[sel], half[sel], deg, mom)
    sel = np.flatnonzero(long)
    if sel.size:
        s0, ln = start[sel], length[sel]
        b0 = -(-s0 // k)
        b1 = (s0 + ln) // k
        vals, bcols, mask = _gather_blocks(sig.yb, rows[sel], b0, b1 - b0)
        pos = bcols * k + (k - 1) / 2.0
        coef[sel] = polyfit_masked(vals, pos, mask, centre[sel], half[sel], deg)
    return coef, centre, half


def _window_moments(
    cols: np.ndarray,
    mask: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    centre: np.ndarray,
    half: np.ndarray,
    deg: int,
) -> np.ndarray:
    """Σ u^p over the mask (p = 0..2·deg) for full-rate windows from :func:`_gather_full`.

    A window lying wholly inside the record has cols = start + j and u =
    (j − (length−1)/2)/half exactly (integers and half-integers), so its moments
    depend only on its length: they are computed once per distinct length (same
    width, same summation, bit-identical) and rows clipped at an edge on their own.
    """
    w = cols.shape[1]
    plain = (cols[:, 0] == start) & (mask.sum(axis=1) == np.maximum(length, 0))
    mom = np.empty((cols.shape[0], 2 * deg + 1))
    lens, inv = np.unique(length[plain], return_inverse=True)
    if lens.size:
        j = np.arange(w)
        tmask = j < lens[:, None]
        tc = (np.maximum(lens, 1) - 1) / 2.0
        th = np.maximum((lens - 1) / 2.0, 0.5)
        mom[plain] = _moments((j - tc[:, None]) / th[:, None], tmask, deg)[inv.ravel()]
    other = np.flatnonzero(~plain)
    if other.size:
        u = (cols[other] - centre[other, None]) / half[other, None]
        mom[other] = _moments(u, mask[other], deg)
    return mom


def _moments(u: np.ndarray, mask: np.ndarray, deg: int) -> np.ndarray:
    um = np.where(mask, u, 0.0)
    p = mask.astype(np.float64)
    out = [p.sum(axis=1)]
    for _ in range(2 * deg):
        p = p * um
        out.append(p.sum(axis=1))
    return np.stack(out, axis=1)


def polyfit_masked(
    vals: np.ndarray,
    cols: np.ndarray,
    mask: np.ndarray,
    centre: np.ndarray,
    half: np.ndarray,
    deg: int,
    moments: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row least squares of ``vals`` on u = (cols − centre)/half over ``mask``.

    ``moments`` (n, 2·deg+1): Σ u^p over the mask, if already known.
    """
    npts = mask.sum(axis=1)
    u = (cols - centre[:, None]) / half[:, None]
    um = np.where(mask, u, 0.0)
    ym = np.where(mask, vals, 0.0)
    p = mask.astype(np.float64)
    rhs_l = [(p * ym).sum(axis=1)]
    mom_l = [p.sum(axis=1)] if moments is None else []
    for j in range(1, (2 * deg if moments is None else deg) + 1):
        p = p * um
        if j <= deg:
            rhs_l.append((p * ym).sum(axis=1))
        if moments is None:
            mom_l.append(p.sum(axis=1))
    if moments is None:
        moments = np.stack(mom_l, axis=1)  # (n, 2deg+1)
    k = np.arange(deg + 1)
    mat = moments[:, k[:, None] + k[None, :]]
    rhs = np.stack(rhs_l, axis=1)
    bad = (npts < deg + 2) | ~np.isfinite(mat).all(axis=(1, 2))
    mat[bad] = np.eye(deg + 1)
    rhs[bad] = 0.0
    coef = np.linalg.solve(mat, rhs[..., None])[..., 0]
    coef[bad] = NAN
    return coef


def polyval(coef: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Evaluate per-row ascending-power polynomials at u (n,)."""
    out = np.zeros_like(u, dtype=np.float64)
    for j in range(coef.shape[1] - 1, -1, -1):
        out = out * u + coef[:, j]
    return out


def polyder(coef: np.ndarray) -> np.ndarray:
    """Per-row derivative coefficients (with respect to u)."""
    d = coef.shape[1]
    if d == 1:
        return np.zeros_like(coef)
    return coef[:, 1:] * np.arange(1, d)


def newton_root(coef: np.ndarray, u0: np.ndarray, level: np.ndarray, iters: int = 8) -> np.ndarray:
    """Root of p(u) = level near u0, by Newton iterations (NaN if it diverges)."""
    dcoef = polyder(coef)
    u = u0.astype(np.float64).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iters):
            u = u - (polyval(coef, u) - level) / polyval(dcoef, u)
        ok = np.abs(polyval(coef, u) - level) <= 1e-6 * np.maximum(np.abs(level), 1e-300) + 1e-9 * (
            np.abs(coef).max(axis=1)
        )
    return np.where(ok, u, NAN)


def vertex(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex (u, value) of per-row quadratics; NaN when outside |u| <= 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = -coef[:, 1] / (2 * coef[:, 2])
    inside = np.abs(u) <= 1.0
    u = np.where(inside, u, NAN)
    return u, polyval(coef, u)


def _hits(seg: np.ndarray, level: np.ndarray, sign: int) -> np.ndarray:
    return seg >= level[:, None] if sign > 0 else seg <= -level[:, None]


def _search(
    a: np.ndarray, level: np.ndarray, start: np.ndarray, stop: np.ndarray, sign: int, last: bool
) -> np.ndarray:
    """First/last i in [start, stop) with sign·a[i] >= level, per row; -1 if none.

    Each row is scanned from its own start (or, for ``last``, its own stop) in
    pieces of growing length; rows drop out once found, so the cost follows the
    distance to the hit rather than the width of the whole search range.
    """
    n, w = a.shape
    s0 = np.clip(start, 0, w)
    s1 = np.clip(stop, 0, w)
    out = np.full(n, -1, dtype=np.int64)
    todo = np.flatnonzero(s1 > s0)
    if todo.size == 0:
        return out
    off, piece = 0, SEARCH_PIECE
    while todo.size:
        lo_r, hi_r = s0[todo], s1[todo]
        span_r = hi_r - lo_r
        p = min(piece, int(span_r.max()) - off)
        ws = np.clip(hi_r - off - p if last else lo_r + off, 0, w - p)
        hit = _hits(sliding_window_view(a, p, axis=1)[todo, ws], level[todo], sign)
        j = np.arange(p)
        hit &= j >= (lo_r - ws)[:, None]
        hit &= j < (hi_r - ws)[:, None]
        jj = p - 1 - hit[:, ::-1].argmax(axis=1) if last else hit.argmax(axis=1)
        found = hit[np.arange(todo.size), jj]
        out[todo[found]] = ws[found] + jj[found]
        todo = todo[~found & (span_r > off + p)]
        off += p
        piece *= 2
    return out


def _refine(
    sig: Sig,
    block: np.ndarray,
    level: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    sign: int,
    last: bool,
) -> np.ndarray:
    """Full-rate search within one block either side of the block found."""
    k = sig.k
    found = block >= 0
    w0 = np.maximum((block - 1) * k, start)
    w1 = np.minimum((block + 2) * k, stop)
    if last:  # the record's tail past the last whole block belongs to the last block
        w1 = np.where(block == sig.yb.shape[1] - 1, stop, w1)
    length = np.where(found, np.maximum(w1 - w0, 0), 0)
    st = np.where(found, w0, 0)
    rows = np.arange(sig.n)
    w = max(min(int(length.max(initial=1)), sig.m), 1)
    s = np.clip(st, 0, sig.m - w)  # window [s, s+w) covers [st, st+length)
    vals = sliding_window_view(sig.raw, w, axis=1)[rows, s].astype(np.float64)
    vals -= sig.base[:, None]
    vals *= sig.pol[:, None]
    hit = _hits(vals, level, sign)
    j = np.arange(w)
    hit &= j >= (st - s)[:, None]
    hit &= j < (st + length - s)[:, None]
    jj = w - 1 - hit[:, ::-1].argmax(axis=1) if last else hit.argmax(axis=1)
    ok = found & hit[rows, jj]
    return np.where(ok, s + jj, -1)


def first_at_least(
    sig: Sig, level: np.ndarray, start: np.ndarray, stop: np.ndarray, sign: int = 1
) -> np.ndarray:
    """First i in [start, stop) with sign·y[i] >= level, per row; -1 if none.

    Searched on block means, then refined at full rate within ±1 block: on noisy
    records this is the first crossing near where the block means cross.
    """
    k = sig.k  # block means smear a crossing over two blocks: search one block wider
    b = _search(sig.yb, level, np.maximum(start // k - 1, 0), -(-stop // k) + 1, sign, last=False)
    return _refine(sig, b, level, start, stop, sign, last=False)


def last_at_least(
    sig: Sig, level: np.ndarray, start: np.ndarray, stop: np.ndarray, sign: int = 1
) -> np.ndarray:
    """Last i in [start, stop) with sign·y[i] >= level, per row; -1 if none
    (block means first, then full rate, as :func:`first_at_least`)."""
    k = sig.k
    nb = sig.yb.shape[1]
    b = _search(
        sig.yb,
        level,
        np.maximum(start // k - 1, 0),
        np.minimum(-(-stop // k) + 1, nb),
        sign,
        last=True,
    )
    return _refine(sig, b, level, start, stop, sign, last=True)
