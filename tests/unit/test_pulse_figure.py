"""The pulse figure draws the spec's expected pulse, not the measured one rescaled."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness import capture
from harness.capture import PulseCapture
from harness.config import Tolerance
from instruments.scope.waveform import Waveform


def _efield_record(peak_V_per_m: float) -> tuple[Waveform, np.ndarray]:
    t = np.arange(-100e-6, 900e-6, 1e-6)
    tpl = np.where((t >= 0) & (t < 345e-6), np.cos(2 * np.pi * t / 345e-6), 0.0)  # unit peak
    volts = 0.01 * peak_V_per_m * tpl  # a probe of 10 mV per V/m
    w = Waveform(
        "efield", 2, float(t[0]), 1e-6, volts, np.zeros(t.size, dtype=np.int16), -32768, 32767,
        0, quantity="efield", volts_per_unit=0.01,
    )
    return w, tpl


def test_a_pulse_15_percent_low_lies_below_its_envelope(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_plot(t_us: Any, y: Any, **kw: Any) -> bytes:
        seen.update(kw, y=np.asarray(y))
        return b"png"

    monkeypatch.setattr(capture.plots, "pulse_plot", fake_plot)
    w, tpl = _efield_record(85.0)  # 15 % below the 100 V/m the spec expects
    cap = PulseCapture(
        60.0, "biphasic", None, 85.0, None, {"efield": w}, tpl,  # type: ignore[arg-type]
        expected_efield_V_per_m=100.0, efield_tolerance=Tolerance(relative=0.05),
    )
    assert cap.figure() == b"png"
    lo, hi = seen["envelope"]
    i = int(np.argmax(tpl))  # the first-phase peak
    # worked by hand: 100 V/m ± 5 % → 95 … 105 V/m at the peak; template at 100 V/m
    assert lo[i] == pytest.approx(95.0)
    assert hi[i] == pytest.approx(105.0)
    assert seen["template"][i] == pytest.approx(100.0)
    assert seen["y"][i] == pytest.approx(85.0)  # drawn where it was measured: below 95
    assert "expected 100 ± 5 V/m" in seen["title"]
    assert "(−15.0 %)" in seen["title"]
    # the negative phase: the envelope still brackets the expected curve
    j = int(np.argmin(tpl))
    assert lo[j] <= seen["template"][j] <= hi[j]
