"""Clipping detection for digitised records (row-vectorised, raw ADC units).

A record is clipped when

1. any sample sits at (or beyond) a given ADC rail code, or
2. its maximum (or minimum) value occurs >= ``min_run`` times and cuts the
   waveform off: a quadratic fitted to the samples on both sides of the flat
   stretch (first to last occurrence) rises above its level by more than
   3 quanta + 4 noise rms (one-sided line when the stretch begins at a step).
   A natural peak of a smooth, finely quantised waveform is also flat over
   several samples, but its flanks extrapolate to (within ~1 quantum of) the
   flat level; a clipped top's flanks extrapolate well above it.
"""

from __future__ import annotations

import numpy as np

from harness.analysis._fit import polyfit_masked, polyval

MAX_RUN = 4096  # longest flat run examined (samples); longer runs count as clipped
PROBE = 32  # samples after the first occurrence of an extreme screened for copies of it


def _flank_excess(
    x: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    level: np.ndarray,
    sign: int,
    baseline: np.ndarray,
) -> np.ndarray:
    """How far (raw units, sign-corrected) the flanks extrapolate beyond the flat level.

    Normally a quadratic is fitted to both flanks and evaluated at the middle
    of the flat stretch [first, last]. When the flat stretch starts (or ends)
    with a step from near the baseline — the dI/dt waveform's initial step —
    only the other flank is used: a line, extrapolated to the step.
    """
    n, m = x.shape
    run = last - first + 1
    k = np.clip(run, 8, MAX_RUN)
    start = first - k
    total = 2 * k + run
    w = int(total.max())
    cols = start[:, None] + np.arange(w)
    rel = np.arange(w)[None, :]
    inside = (rel < total[:, None]) & (cols >= 0) & (cols < m)
    cols = np.clip(cols, 0, m - 1)
    vals = (np.take_along_axis(x, cols, axis=1).astype(np.float64) - baseline[:, None]) * sign
    lvl = (level.astype(np.float64) - baseline) * sign
    rows = np.arange(n)
    before = vals[rows, np.clip(k - 1, 0, w - 1)]
    after = vals[rows, np.clip(k + run, 0, w - 1)]
    step_left = (before < 0.5 * lvl) | (first == 0)
    step_right = (after < 0.5 * lvl) | (last == m - 1)
    left = rel < k[:, None]
    right = rel >= (k + run)[:, None]
    centre = first + (run - 1) / 2.0
    half = np.maximum(total / 2.0, 1.0)
    both = polyfit_masked(vals, cols, inside & (left | right), centre, half, 2)
    excess = polyval(both, np.zeros(n)) - lvl
    one_r = polyfit_masked(vals, cols, inside & right, centre, half, 1)
    one_l = polyfit_masked(vals, cols, inside & left, centre, half, 1)
    u_first = (first - centre) / half
    u_last = (last - centre) / half
    excess = np.where(step_left & ~step_right, polyval(one_r, u_first) - lvl, excess)
    excess = np.where(step_right & ~step_left, polyval(one_l, u_last) - lvl, excess)
    return np.asarray(excess)


def _row_quantum(x: np.ndarray) -> np.ndarray:
    """Step size of each row when none is given: its smallest non-zero change between
    neighbouring samples (one ADC code for a digitised record scaled to floats; ~0 for
    a noisy or unquantised one, which keeps the noise-only threshold)."""
    d = np.abs(np.diff(x.astype(np.float64), axis=1))
    d[d == 0] = np.inf
    q = d.min(axis=1, initial=np.inf)
    return np.asarray(np.where(np.isfinite(q), q, 0.0))


def detect_clipping(
    x: np.ndarray,
    x_max: np.ndarray,
    x_min: np.ndarray,
    i_max: np.ndarray,
    i_min: np.ndarray,
    baseline: np.ndarray,
    noise_rms: np.ndarray,
    quantum: float,
    *,
    rail_low: float | None = None,
    rail_high: float | None = None,
    min_run: int = 3,
) -> list[str]:
    """Per-row reason string ("" when not clipped); all arguments in raw units.

    ``x_max``/``x_min`` are the row extremes, ``i_max``/``i_min`` the first
    indices where they occur, ``quantum`` the raw step size (1 for ADC codes; 0 when
    unknown: then each examined row's own smallest step, so a noise-free digitised
    record scaled to floats is judged as its codes would be).
    A flat extreme is examined only when it lies well away from the baseline
    (more than 10 noise rms + 3 quanta and 5 % of the larger excursion): the
    flat baseline of a unipolar pulse is not a clipped top.
    """
    n = x.shape[0]
    reasons = [""] * n
    if rail_high is not None:
        for r in np.flatnonzero(x_max >= rail_high):
            reasons[r] = f"clipped: samples at the upper ADC rail ({rail_high:g})"
    if rail_low is not None:
        for r in np.flatnonzero(x_min <= rail_low):
            reasons[r] = reasons[r] or f"clipped: samples at the lower ADC rail ({rail_low:g})"
    thr = 3.0 * quantum + 4.0 * noise_rms
    up = x_max.astype(np.float64) - baseline
    down = baseline - x_min.astype(np.float64)
    big = np.maximum(up, down)
    far_lim = np.maximum(10.0 * noise_rms + 3.0 * quantum, 0.05 * big)
    first_idx = {1: i_max, -1: i_min}
    extremes = ((1, x_max, "maximum", up), (-1, x_min, "minimum", down))
    for sign, level, name, excursion in extremes:
        # cheap screen: >= min_run copies of the extreme within PROBE samples of its
        # first occurrence (a flat top is reached within a few samples of it)
        probe = first_idx[sign][:, None] + np.arange(PROBE)
        inside = probe < x.shape[1]
        probe = np.minimum(probe, x.shape[1] - 1)
        same = np.take_along_axis(x, probe, axis=1) == level[:, None]
        near = np.count_nonzero(same & inside, axis=1)
        cand = np.flatnonzero((near >= min_run) & (excursion > far_lim))
        if cand.size == 0:
            continue
        at_c = x[cand] == level[cand, None]
        count = np.zeros(n, np.int64)
        count[cand] = np.count_nonzero(at_c, axis=1)
        first = at_c.argmax(axis=1)
        last = x.shape[1] - 1 - at_c[:, ::-1].argmax(axis=1)
        excess = _flank_excess(x[cand], first, last, level[cand], sign, baseline[cand])
        lim = thr[cand] if quantum > 0 else 3.0 * _row_quantum(x[cand]) + 4.0 * noise_rms[cand]
        for j, r in enumerate(cand):
            if (excess[j] > lim[j] or last[j] - first[j] >= MAX_RUN) and not reasons[r]:
                reasons[r] = (
                    f"clipped: flat {name}, {int(count[r])} samples at {level[r]:g} "
                    f"(flanks extrapolate {excess[j]:.3g} raw units beyond it)"
                )
    return reasons
