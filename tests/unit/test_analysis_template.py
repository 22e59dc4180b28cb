"""Template comparison: same shape → r≈1, nrmse≈0; other shape or device → worse."""

from __future__ import annotations

import pytest
from waveforms import MAGPRO_X100_MCB70, RAPID2_D70, synth

from harness.analysis import compare_to_template


def _template(rlc, shape: str, channel: str = "didt"):
    rec = synth(rlc, shape, channel, fs_hz=5e6, n=2000, pre_s=0.0, onset_s=0.0)
    return rec.samples, rec.dt_s


def test_same_shape_matches_regardless_of_amplitude_and_onset() -> None:
    tpl, tdt = _template(RAPID2_D70, "biphasic")
    rec = synth(RAPID2_D70, "biphasic", "didt", onset_s=3.21e-6, noise_frac=0.005, int16=True)
    m = compare_to_template(
        rec.samples * 1, rec.dt_s, tpl * 0.3, tdt, channel="didt", t0_s=rec.t0_s, scale=rec.scale
    )
    assert m.valid
    assert m.correlation > 0.999
    assert m.nrmse < 0.02  # 0.5 % noise + sub-sample step positions
    assert m.onset_us == pytest.approx(3.21, abs=0.1)


def test_other_device_or_shape_scores_worse() -> None:
    tpl, tdt = _template(RAPID2_D70, "biphasic")
    rec = synth(MAGPRO_X100_MCB70, "biphasic", "didt")
    other = compare_to_template(rec.samples, rec.dt_s, tpl, tdt, channel="didt", t0_s=rec.t0_s)
    assert other.valid and other.nrmse > 0.05
    rec = synth(RAPID2_D70, "half_sine", "didt")
    half = compare_to_template(
        rec.samples, rec.dt_s, tpl, tdt, channel="didt", shape="half_sine", t0_s=rec.t0_s
    )
    assert half.valid and half.correlation < 0.9


def test_invalid_record_gives_no_numbers() -> None:
    tpl, tdt = _template(RAPID2_D70, "biphasic")
    rec = synth(RAPID2_D70, "biphasic", "didt", int16=True, full_scale_frac=1.5)
    m = compare_to_template(
        rec.samples,
        rec.dt_s,
        tpl,
        tdt,
        channel="didt",
        t0_s=rec.t0_s,
        scale=rec.scale,
        adc_rails=(-32768, 32767),
    )
    assert not m.valid and "clipped" in m.invalid_reason
    assert m.correlation != m.correlation  # NaN
