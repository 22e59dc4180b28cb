"""Pulse shape per waveform the device offers: template, zero crossings, period, phase ratio."""

from __future__ import annotations

from harness.limits import Limits


def test_pulse_shape(waveform, spec, fire_and_capture, measure) -> None:
    shape = spec.shape.get(waveform)
    pct = spec.output.reference_percent
    cap = fire_and_capture(pct, waveform=waveform)
    e = cap.efield_shape
    measure.figure(f"{waveform} E-field at {pct:g} %MSO over the expected pulse", cap.figure)
    measure(
        f"delivered waveform is {waveform}",
        float(cap.delivered_waveform == waveform),
        "",
        Limits(low=1.0, high=1.0),
        waveform=waveform,
        delivered=cap.delivered_waveform,
    )
    corr_min = shape.template_correlation_min if shape else 0.99
    measure("template correlation", e.correlation, "", Limits(low=corr_min), waveform=waveform)
    if shape is None:
        return
    measure("normalised RMS error", e.nrmse, "", Limits(high=shape.nrmse_max), waveform=waveform)
    tt = shape.time_tolerance
    for label, value, nominal in (
        (
            "first zero crossing",
            cap.current.zero_crossing1_us - cap.current.onset_us,
            shape.first_zero_us,
        ),
        (
            "second zero crossing",
            cap.current.zero_crossing2_us - cap.current.onset_us,
            shape.second_zero_us,
        ),
        ("period", cap.current.period_us, shape.period_us),
    ):
        if nominal is not None:
            measure(label, value, "µs", nominal=nominal, tolerance=tt, waveform=waveform)
    if shape.phase_ratio is not None:
        measure(
            "phase ratio (2nd/1st)",
            cap.current.phase_ratio,
            "",
            nominal=shape.phase_ratio,
            tolerance=shape.ratio_tolerance,
            waveform=waveform,
        )
