"""The coil cooling check on a bench: temperature window, heating train, temperature window.

The procedure (device times, from the spec's ``[thermal]`` table):

1. record the coil thermocouple for ``window_s`` at ``sample_rate_hz``;
2. fire ``heating_pulses`` at ``heating_percent`` %MSO and ``heating_rate_hz``
   (a captured train, so its pulses are counted and journaled like any other),
   and more such trains until the coil has risen ``target_rise_K`` (a low-loss
   coil heats less per pulse), at most ``max_heating_trains``, never closer than
   :data:`CUTOFF_MARGIN_K` to the spec's coil temperature limit;
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

CUTOFF_MARGIN_K = 3.0  # heating stops this far below limits.coil_temperature_max_C (K)


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
    heating: list[TrainCapture]  # the heating trains, in order
    result: CoolingResult

    @property
    def heating_pulses(self) -> int:
        """Pulses delivered by all heating trains."""
        return sum(h.n_valid for h in self.heating)

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


def _heat(rig: BenchRig, spec: ThermalSpec, start_C: float, max_C: float) -> list[TrainCapture]:
    """Heating trains until the coil is ``target_rise_K`` above ``start_C`` (°C)."""
    trains: list[TrainCapture] = []
    while True:
        trains.append(
            rig.train(
                rate_hz=spec.heating_rate_hz,
                pulses=spec.heating_pulses,
                percent=spec.heating_percent,
            )
        )
        # disarmed between trains: the analysis of 120 records must not race the
        # armed unit's keep-alive (a Rapid² disarms itself after 1 s without one)
        rig.close()
        now = rig.temperature()
        if now is None or len(trains) >= spec.max_heating_trains:
            return trains
        rise = now - start_C
        per_train = rise / len(trains)
        if rise >= spec.target_rise_K or now + per_train > max_C - CUTOFF_MARGIN_K:
            return trains
        rig.stimulator.sleep(rig.spec.limits.min_intertrain_interval_s)


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
    heating = _heat(rig, spec, float(np.mean(y1)), rig.spec.limits.coil_temperature_max_C)
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
