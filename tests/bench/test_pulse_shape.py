"""Pulse shape per waveform the device offers, each judged by its own metrics.

Damped sinusoids (biphasic, half-sine): template, zero crossings, period, phase ratio.
Monophasic: template, rise time to the current peak, width at 10 % of the peak current
(FDA 2011 rTMS guidance) and the freewheel decay constant; it does not ring, so no
period or phase ratio is asked of it.
"""

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
    cur = cap.current
    for label, value, nominal in (
        ("rise time to peak current", cur.t_peak_us - cur.onset_us, shape.rise_time_us),
        ("pulse width", cur.pulse_width_us, shape.pulse_width_us),
        ("freewheel decay time constant", cur.decay_tau_us, shape.decay_tau_us),
    ):
        if nominal is not None:
            measure(
                label,
                value,
                "µs",
                nominal=nominal,
                tolerance=tt,
                waveform=waveform,
                quantity="time",
            )
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
            measure(
                label,
                value,
                "µs",
                nominal=nominal,
                tolerance=tt,
                waveform=waveform,
                quantity="time",
            )
    if shape.phase_ratio is not None:
        measure(
            "phase ratio (2nd/1st)",
            cap.current.phase_ratio,
            "",
            nominal=shape.phase_ratio,
            tolerance=shape.ratio_tolerance,
            waveform=waveform,
            quantity="ratio",
            type_a=cap.current.phase_ratio_se,  # from the fit
        )
