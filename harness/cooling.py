"""The coil cooling check on a bench: temperature window, heating train, temperature window.

The procedure (device times, from the spec's ``[thermal]`` table):

1. record the coil thermocouple for ``window_s`` at ``sample_rate_hz``;
2. fire ``heating_pulses`` at ``heating_percent`` %MSO and ``heating_rate_hz``
   (a captured train, so its pulses are counted and journaled like any other);
3. disarm, wait ``settle_s`` for the thermocouple to follow the winding;
4. record a second window, and take the time constant from both
   (:func:`harness.analysis.thermal.cooling_time_constant`).

The stimulator is disarmed for both windows: it is never left armed while
nothing is being fired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis.thermal import CoolingResult, cooling_time_constant, fit_window
from harness.capture import BenchRig, TrainCapture
from harness.config import ThermalSpec
from harness.report import plots


class NoTemperatureChannel(LookupError):
    """The bench has no DAQ thermocouple on the coil."""


@dataclass
class TemperatureWindow:
    """One thermocouple record: sample times (s, from its first sample) and °C."""

    t_s: np.ndarray
    temp_C: np.ndarray
    start_s: float  # device seconds from the start of the first window


@dataclass
class CoolingCapture:
    """A cooling measurement: both windows, the heating train and the result."""

    before: TemperatureWindow
    after: TemperatureWindow
    heating: TrainCapture
    result: CoolingResult

    def figure(self) -> bytes:
        """Both windows with their fitted lines, on one time axis, as PNG."""
        r = self.result
        return plots.cooling_plot(
            [(w.t_s + w.start_s, w.temp_C) for w in (self.before, self.after)],
            [
                (
                    self.before.start_s + self.before.t_s.mean(),
                    r.before.mean_C,
                    r.before.slope_K_per_s,
                ),
                (self.after.start_s + self.after.t_s.mean(), r.after.mean_C, r.after.slope_K_per_s),
            ],
            title=(
                f"coil cooling: tau = {r.tau_s:.0f} ± {r.tau_se_s:.0f} s"
                if r.valid
                else f"coil cooling: no verdict ({r.invalid_reason})"
            ),
        )


def _window(rig: BenchRig, channel: str, spec: ThermalSpec) -> tuple[np.ndarray, np.ndarray]:
    n = max(3, round(spec.window_s * spec.sample_rate_hz))
    if rig.daq is None:  # callers check first; a bench without a DAQ never gets here
        raise ValueError("coil temperature window: the bench has no DAQ")
    rec = rig.daq.acquire(
        [channel],
        n,
        rate_hz=spec.sample_rate_hz,
        timeout_s=rig.stimulator.wall(spec.window_s) + 10.0,
    )
    return rec.times(), np.asarray(rec[channel], dtype=float)


def measure_cooling(rig: BenchRig, spec: ThermalSpec) -> CoolingCapture:
    """Run the cooling procedure on ``rig``; journal the window temperatures.

    Raises :class:`NoTemperatureChannel` when the bench has no coil
    thermocouple, and whatever the DAQ raises (e.g. an open thermocouple).
    """
    if rig.daq is None or rig.temp_channel is None:
        raise NoTemperatureChannel("the bench has no DAQ thermocouple channel on the coil")
    channel = rig.temp_channel
    origin = rig.session.now_ns()
    rig.close()  # disarmed while the coil is only watched
    t1, y1 = _window(rig, channel, spec)
    heating = rig.train(
        rate_hz=spec.heating_rate_hz, pulses=spec.heating_pulses, percent=spec.heating_percent
    )
    rig.close()
    rig.stimulator.sleep(spec.settle_s)
    start2 = (rig.session.now_ns() - origin) * 1e-9
    t2, y2 = _window(rig, channel, spec)
    before, after = fit_window(t1, y1), fit_window(t2, y2)
    result = cooling_time_constant(before, after, min_rise_K=spec.min_rise_K)
    rig.record_temperature(before.mean_C, "cooling_before")
    rig.record_temperature(after.mean_C, "cooling_after")
    return CoolingCapture(
        TemperatureWindow(t1, y1, 0.0), TemperatureWindow(t2, y2, start2), heating, result
    )
