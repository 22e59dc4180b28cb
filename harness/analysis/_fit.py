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
on the full-rate samples around the block found.
"""

from __future__ import annotations

import numpy as np

NAN = np.nan
BLOCK = 16  # samples per block of the block-mean signal
MIN_BLOCKS = 16  # windows at least this many blocks long are fitted on block means


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
    ) -> None:
        n, m = raw.shape
        self.raw = raw
        self.n, self.m, self.k = n, m, k
        self.base = np.zeros(n) if base is None else np.asarray(base, np.float64)
        self.pol = np.ones(n) if pol is None else np.asarray(pol, np.float64)
        mb = m // k
        ones = np.full(k, 1.0 / k, dtype=np.float32)
        yb = raw[:, : mb * k].reshape(n, mb, k) @ ones
        yb = yb.astype(np.float32, copy=False)
        yb -= self.base.astype(np.float32)[:, None]
        yb *= self.pol.astype(np.float32)[:, None]
        self.yb = yb

    def take(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Full-rate values (float64) at ``cols`` (2-D, one row of columns per row)."""
        v = self.raw[rows[:, None], cols].astype(np.float64)
        v -= self.base[rows, None]
        v *= self.pol[rows, None]
        return v


def _gather_full(
    sig: Sig, rows: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Full-rate windows [start, start+length) of the given rows: (values, cols, mask)."""
    m = sig.m
    w = max(int(length.max(initial=1)), 1)
    cols = start[:, None] + np.arange(w)
    mask = (np.arange(w) < length[:, None]) & (cols >= 0) & (cols < m)
    cols = np.clip(cols, 0, m - 1)
    return sig.take(rows, cols), cols, mask


def _gather_blocks(
    yb: np.ndarray, rows: np.ndarray, start: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Block-mean windows (block indices) of the given rows: (values, block cols, mask)."""
    mb = yb.shape[1]
    w = max(int(length.max(initial=1)), 1)
    cols = start[:, None] + np.arange(w)
    mask = (np.arange(w) < length[:, None]) & (cols >= 0) & (cols < mb)
    cols = np.clip(cols, 0, max(mb - 1, 0))
    return yb[rows[:, None], cols].astype(np.float64), cols, mask


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
        vals, cols, mask = _gather_full(sig, rows[sel], start[sel], length[sel])
        coef[sel] = polyfit_masked(vals, cols, mask, centre[sel], half[sel], deg)
    sel = np.flatnonzero(long)
    if sel.size:
        s0, ln = start[sel], length[sel]
        b0 = -(-s0 // k)
        b1 = (s0 + ln) // k
        vals, bcols, mask = _gather_blocks(sig.yb, rows[sel], b0, b1 - b0)
        pos = bcols * k + (k - 1) / 2.0
        coef[sel] = polyfit_masked(vals, pos, mask, centre[sel], half[sel], deg)
    return coef, centre, half


def polyfit_masked(
    vals: np.ndarray,
    cols: np.ndarray,
    mask: np.ndarray,
    centre: np.ndarray,
    half: np.ndarray,
    deg: int,
) -> np.ndarray:
    """Per-row least squares of ``vals`` on u = (cols − centre)/half over ``mask``."""
    npts = mask.sum(axis=1)
    u = (cols - centre[:, None]) / half[:, None]
    um = np.where(mask, u, 0.0)
    ym = np.where(mask, vals, 0.0)
    powers = [mask.astype(np.float64)]
    for _ in range(2 * deg):
        powers.append(powers[-1] * um)
    moments = np.stack([p.sum(axis=1) for p in powers], axis=1)  # (n, 2deg+1)
    k = np.arange(deg + 1)
    mat = moments[:, k[:, None] + k[None, :]]
    rhs = np.stack([(powers[j] * ym).sum(axis=1) for j in range(deg + 1)], axis=1)
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
    """First/last i in [start, stop) with sign·a[i] >= level, per row; -1 if none."""
    n = a.shape[0]
    lo = int(max(start.min(initial=0), 0))
    hi = int(min(stop.max(initial=0), a.shape[1]))
    if hi <= lo:
        return np.full(n, -1)
    seg = a[:, lo:hi]
    idx = np.arange(lo, hi)
    hit = _hits(seg, level, sign) & (idx >= start[:, None]) & (idx < stop[:, None])
    pos = hi - 1 - hit[:, ::-1].argmax(axis=1) if last else hit.argmax(axis=1) + lo
    found = hit[np.arange(n), pos - lo]
    return np.where(found, pos, -1)


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
    rows = np.arange(sig.n)
    vals, cols, mask = _gather_full(sig, rows, np.where(found, w0, 0), length)
    hit = _hits(vals, level, sign) & mask
    j = hit.shape[1] - 1 - hit[:, ::-1].argmax(axis=1) if last else hit.argmax(axis=1)
    ok = found & hit[rows, j]
    return np.where(ok, cols[rows, j], -1)


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
