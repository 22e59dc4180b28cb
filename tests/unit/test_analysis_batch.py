"""Batch (struct-of-arrays) analysis equals the per-record analysis, row by row."""

from __future__ import annotations

import math

import numpy as np
import pytest
from waveforms import MAGPRO_X100_MCB70, RAPID2_D70, SHAPES, synth

from harness.analysis import PulseBatch, analyze_pulse, analyze_pulses
from harness.analysis.results import NUMERIC_FIELDS


def _mixed_batch(shape: str, channel: str) -> tuple[np.ndarray, dict]:
    """int16 records of two devices at several intensities, onsets and noise levels,
    plus a clipped record and a noise-only record."""
    rng = np.random.default_rng(7)
    rows = []
    scale = None
    for i in range(12):
        rlc = (RAPID2_D70, MAGPRO_X100_MCB70)[i % 2]
        rec = synth(
            rlc, shape, channel, onset_s=(i % 5) * 0.013e-6, noise_frac=0.002 * (i % 3), rng=rng
        )
        scale = scale or rec.samples.max() / 20000 / (0.5 + 0.05 * 11)
        rows.append(rec.samples * (0.5 + 0.05 * i) / scale)
    rows.append(rows[3] * 3.0)  # clipped at the rails below
    rows.append(rng.normal(0.0, 30.0, size=rows[0].size))  # noise only
    codes = np.clip(np.round(rows), -32768, 32767).astype(np.int16)
    kw = dict(
        channel=channel,
        shape=shape,
        t0_s=rec.t0_s,
        scale=scale,
        adc_rails=(-32768, 32767),
        resistance_ohm=0.02,
    )
    return codes, {"dt_s": rec.dt_s, **kw}


def _same(a: float, b: float) -> bool:
    """Equal, or both NaN. Window padding changes numpy's summation grouping, so
    the last few bits may differ: 1e-9 relative is allowed, nothing more."""
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("channel", ["current", "didt"])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_equals_per_record(shape: str, channel: str) -> None:
    codes, kw = _mixed_batch(shape, channel)
    dt = kw.pop("dt_s")
    batch = analyze_pulses(codes, dt, **kw, chunk_rows=5)  # chunks cut across the mix
    assert isinstance(batch, PulseBatch) and len(batch) == codes.shape[0]
    for i in range(codes.shape[0]):
        single = analyze_pulse(codes[i], dt, **kw)
        row = batch.record(i)
        assert row.valid == single.valid and row.invalid_reason == single.invalid_reason
        for name in NUMERIC_FIELDS:
            assert _same(getattr(row, name), getattr(single, name)), (i, name)
    assert batch.valid[:12].all()
    assert "clipped" in batch.invalid_reason[12]
    assert "no pulse" in batch.invalid_reason[13]
    assert np.isnan(batch.peak_current_A[12:]).all()


def test_batch_columns_are_arrays_of_the_same_values() -> None:
    codes, kw = _mixed_batch("biphasic", "current")
    dt = kw.pop("dt_s")
    batch = analyze_pulses(codes, dt, **kw)
    for name in NUMERIC_FIELDS:
        col = getattr(batch, name)
        assert col.shape == (codes.shape[0],) and col.dtype == np.float64
    np.testing.assert_array_equal(
        batch.peak_current_A, [batch.record(i).peak_current_A for i in range(len(batch))]
    )


def test_empty_batch_and_bad_shape() -> None:
    batch = analyze_pulses(np.zeros((0, 1000), np.int16), 1e-7, t0_s=-1e-5)
    assert len(batch) == 0
    with pytest.raises(ValueError, match="2-D"):
        analyze_pulses(np.zeros(1000), 1e-7, t0_s=-1e-5)
