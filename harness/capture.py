"""Fire-and-capture and train capture: stimulator + scope + DAQ + analysis.

:class:`BenchRig` is what the ``fire_and_capture``, ``train`` and
``paired_pulse`` fixtures call. It arms lazily through the safety layer
(:func:`harness.safety.armed`) and stays armed for the rest of the test, so a
sweep pays the device's arming time once; :meth:`BenchRig.close` disarms.
Every analysed pulse is committed to the journal before the call returns.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.analysis.batch import analyze_pulses
from harness.analysis.pulse import analyze_pulse
from harness.analysis.reference_shape import template_efield, template_monophasic
from harness.analysis.results import PulseBatch, PulseResult
from harness.analysis.template import TemplateMatch, compare_to_template
from harness.analysis.train import (
    BurstResult,
    TrainResult,
    analyze_bursts,
    analyze_train,
    burst_times,
)
from harness.config import ShapeSpec, SpecConfig, Tolerance
from harness.report import plots
from harness.safety import (
    ArmedStimulator,
    armed,
    check_intensity,
    check_interval,
    check_pattern,
    check_train,
)
from instruments.scope.autorange import capture_autoranged, volts_per_div
from instruments.scope.errors import TriggerTimeout
from instruments.scope.waveform import Waveform
from instruments.stimulator.base import Stimulator, Train

if TYPE_CHECKING:  # the session module imports this one at run time
    from harness.session import BenchSession
    from instruments.daq import Daq
    from instruments.scope import Scope

RECORD_S = 1.0e-3  # scope record: 1 ms, 10 % before the trigger, 10,000 points
PRETRIGGER = 0.1
POINTS = 10_000
TRIGGER_FRACTION = 0.1  # trigger at 10 % of the expected peak current
# The trigger comes a few µs after the pulse onset (E steps to its peak at onset),
# so the baseline is taken well before the trigger.
BASELINE_END_S = -20e-6
SHAPE_NOT_RECOGNISED = "pulse shape not recognised"


def analysis_shape(topology: str) -> str:
    """Topology name as the analysis module spells it."""
    return "half_sine" if topology == "halfsine" else topology


def _quantum(w: Waveform) -> float | None:
    """One ADC code of ``w`` in its physical unit (None when the scope did not say): a
    noise-free record's flat peak is then judged against it, not taken for clipping."""
    return abs(w.y_increment) / w.volts_per_unit if w.y_increment else None


@dataclass(frozen=True)
class PulseCapture:
    """One analysed pulse: metrics from the current and E-field channels, raw records attached."""

    percent: float
    waveform: str
    current: PulseResult
    efield_peak_V_per_m: float
    efield_shape: TemplateMatch
    waveforms: dict[str, Waveform]
    template: np.ndarray | None = None
    device_didt_A_per_us: float | None = None
    delivered_waveform: str = ""  # what the current record looks like (may differ on a misfire)
    # the current record's analysis as computed: ``current`` is this, or (when the RLC
    # model does not describe the pulse) this marked invalid with the model's reason
    analysis: PulseResult | None = None
    expected_efield_V_per_m: float = math.nan  # the spec's E-field at this %MSO
    efield_tolerance: Tolerance | None = None  # the spec's band around it
    # the scope settings the records were taken with (see :meth:`settings_line`)
    scope_settings: dict[str, Any] = field(default_factory=dict)

    def settings_line(self) -> str:
        """The scope settings in one line, for a figure's caption."""
        st = self.scope_settings
        parts = []
        for name, ch in st.get("channels", {}).items():
            rec = st.get("records", {}).get(name)
            if rec is None:
                continue
            parts.append(
                f"{name} CH{ch['input']} {ch['volts_per_div']:.3g} V/div, offset "
                f"{ch['offset_V']:g} V, probe {ch['probe']:g}x {ch['coupling']}"
            )
        rec = next(iter(st.get("records", {}).values()), None)
        if rec is not None:
            parts.append(f"{rec['points']} points at {rec['dt_s'] * 1e9:.4g} ns")
        if tb := st.get("timebase"):
            parts.append(
                f"record {tb['record_s'] * 1e3:g} ms, {tb['pretrigger'] * 100:g} % pre-trigger"
            )
        if tr := st.get("trigger"):
            parts.append(f"trigger {tr['source']} {tr['slope']} at {tr['level_V']:.3g} V")
        if acq := st.get("acquisition"):
            parts.append(str(acq))
        return "scope: " + "; ".join(parts) if parts else ""

    @property
    def invalid_reason(self) -> str:
        """Why this pulse gives no valid reading ("" when it does).

        Either the current record could not be measured, or the device delivered
        another waveform than the one set (a biphasic pulse cut to a half-sine by a
        thyristor misfire has the same peak dI/dt at onset, so an amplitude alone
        would pass it: the pulse is not what a clinic's protocol asked for).
        """
        return self.current.invalid_reason or self.waveform_reason

    @property
    def waveform_reason(self) -> str:
        """Why the delivered waveform is not the one set ("" when it is)."""
        got = self.delivered_waveform
        if not got or got == self.waveform:
            return ""
        return f"delivered a {got} pulse, not the {self.waveform} pulse set (misfire?)"

    def figure(self) -> bytes:
        """The E-field (or current) record over the spec's expected pulse, as PNG.

        The expected pulse is the template at the spec's *expected* E-field for
        this %MSO (not scaled to the measured peak), and the envelope is the
        spec's E-field tolerance applied to that amplitude: a pulse 15 % low
        shows below its envelope. Without an E-field channel or template the
        record is drawn alone.
        """
        name = "efield" if "efield" in self.waveforms else "current"
        w = self.waveforms[name]
        y = w.volts / w.volts_per_unit
        unit = "V/m" if name == "efield" else "A"
        tpl = env = None
        title = f"{self.delivered_waveform or self.waveform} pulse at {self.percent:g} %MSO"
        expected = self.expected_efield_V_per_m
        if name == "efield" and self.template is not None and math.isfinite(expected):
            tol = self.efield_tolerance
            half = max(tol.absolute, tol.relative * abs(expected)) if tol else 0.0
            tpl = self.template * expected
            a, b = self.template * (expected - half), self.template * (expected + half)
            env = (np.minimum(a, b), np.maximum(a, b))
            title += f": expected {expected:.4g} ± {half:.2g} V/m"
            if math.isfinite(self.efield_peak_V_per_m):
                dev = (self.efield_peak_V_per_m - expected) / expected * 100.0
                pct = f"{dev:+.1f}".replace("-", "−")
                title += f", measured {self.efield_peak_V_per_m:.4g} V/m ({pct} %)"
        else:
            title += f" ({name})"
        return plots.pulse_plot(w.t * 1e6, y, unit=unit, template=tpl, envelope=env, title=title)


@dataclass(frozen=True)
class TrainCapture:
    """A captured train: scope time tags and records, DAQ count, temperatures, timing."""

    rate_hz: float
    expected_pulses: int
    times_s: np.ndarray  # scope trigger time tags, device clock
    n_scope: int
    n_valid: int
    n_daq: int | None
    pulses: PulseBatch | None
    metrics: TrainResult
    bursts: BurstResult | None
    temperature_before: float | None
    temperature_after: float | None
    max_coil_temperature_C: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def intervals_ms(self) -> list[float]:
        """Intervals between consecutive pulses (ms, device clock)."""
        return [float(x) * 1e3 for x in np.diff(self.times_s)]

    def figure(self, jitter_limit_us: float | None = None) -> bytes:
        """Inter-pulse intervals' deviation from nominal (µs: 1/rate, and the gap between
        bursts for a burst pattern), with the jitter limit, as PNG."""
        bursts = self.bursts is not None and "iti_s" in self.extra
        return plots.train_plot(
            self.times_s,
            rate_hz=self.rate_hz,
            title=f"{self.expected_pulses} pulses at {self.rate_hz:g} Hz"
            + (f" in bursts of {self.extra['pulses']}" if bursts else ""),
            jitter_limit_us=jitter_limit_us,
            between_s=float(self.extra["iti_s"]) if bursts else None,
        )


def _span_text(seconds: float) -> str:
    """``seconds`` as a person reads a wait: ``26 s``, ``36 min``, ``1.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def train_progress_line(
    k: int,
    of: int,
    *,
    rate_hz: float,
    pulses: int,
    trains: int,
    iti_s: float,
    rest_after_s: float,
    n_valid: int,
    wall_per_device_s: float = 1.0,
) -> str:
    """One progress line after call ``k`` of ``of`` of a multi-train protocol.

    Durations are device seconds from the protocol (first to last pulse; ``iti_s`` between
    the ``trains`` of one call); the time left is the protocol's remaining device time
    (trains and rests) in wall seconds, ``wall_per_device_s`` being the wall seconds one
    device second takes (below 1 on a fast simulated clock).
    """
    span_s = trains * (pulses - 1) / rate_hz + (trains - 1) * iti_s
    shape = f"{trains} × {pulses}" if trains > 1 else f"{pulses}"
    head = f"train {k}/{of} at {rate_hz:g} Hz: {shape} pulses in {span_s:.3g} s, {n_valid} valid"
    if k >= of:
        rest = f"; last, {_span_text(rest_after_s)} rest" if rest_after_s > 0 else "; last"
        return head + rest
    left_s = rest_after_s + (of - k) * (span_s + rest_after_s)
    return (
        f"{head}; next in {_span_text(rest_after_s)}, "
        f"about {_span_text(left_s * wall_per_device_s)} left"
    )


class TriggerNotWired(RuntimeError):
    """The bench has no DAQ counter output wired to the stimulator's trigger input."""


class PulseNotSeen(AssertionError):
    """The stimulator was told to fire but the scope saw no pulse (a device failure)."""


class CaptureListener(Protocol):
    """Who hears of each capture as it happens (the station's event file)."""

    def pulse(self, cap: PulseCapture) -> None: ...

    def record(self, w: Waveform, percent: float, waveform: str) -> None: ...

    def temperature(self, celsius: float, phase: str) -> None: ...


class BenchRig:
    """The instruments of one test, armed lazily and disarmed on :meth:`close`."""

    def __init__(
        self,
        session: BenchSession,
        stimulator: Stimulator,
        scope: Scope,
        daq: Daq | None,
        spec: SpecConfig,
        test_id: str = "",
        progress: Callable[[str], None] | None = None,
        listener: CaptureListener | None = None,
    ) -> None:
        self.session = session
        #: Told of every pulse captured and coil temperature journalled (the station page).
        self.listener = listener
        #: Gets one line per :meth:`train` call that gives ``of`` (None: say nothing).
        self.progress = progress
        self._protocol_done = 0  # train() calls of the current ``of`` protocol
        self.stimulator = stimulator
        self.scope = scope
        self.daq = daq
        self.spec = spec
        self.test_id = test_id
        self._stack = ExitStack()
        self._armed: ArmedStimulator | None = None
        self._waveform: str | None = None
        self._scope_ready = False
        # the last pulse captured at each (waveform, %MSO), for the report's figures
        self.captures: dict[tuple[str, float], PulseCapture] = {}
        bench = session.bench
        self.resistance_ohm = bench.coil.resistance_mohm * 1e-3
        self.channels = dict(bench.scope.channels) if bench.scope else {}
        self.temp_channel = next(
            (
                n
                for n, c in (bench.daq.channels.items() if bench.daq else [])
                if c.kind == "thermocouple"
            ),
            None,
        )
        self.counter_channel = next(
            (
                n
                for n, c in (bench.daq.channels.items() if bench.daq else [])
                if c.kind == "counter"
            ),
            None,
        )

    # ------------------------------------------------------------ arming
    def close(self) -> None:
        """Disarm (through the safety layer) and forget the armed state."""
        self._armed = None
        self._stack.close()

    def arm(self, percent: float, waveform: str | None = None) -> None:
        """Arm at ``percent`` %MSO now (through the safety layer), before a timed schedule."""
        self._ensure_armed(percent, waveform)

    def _ensure_armed(self, percent: float, waveform: str | None) -> ArmedStimulator:
        wave = waveform or self._waveform or self.spec.waveforms[0]
        if wave != self._waveform:
            self.close()  # the waveform is changed while disarmed
            self.stimulator.set_waveform(wave)  # type: ignore[arg-type]
            self._waveform = wave
        if self._armed is None:
            self._armed = self._stack.enter_context(
                armed(self.stimulator, self.spec.limits, intensity_percent=percent)
            )
        elif self._armed.intensity_percent != percent:
            self._armed.set_intensity(percent)
        return self._armed

    # ------------------------------------------------------------ scope
    def _expected_peaks(self, percent: float) -> dict[str, float]:
        out = self.spec.output
        didt = out.expected_didt(percent)  # A/µs
        shape = self.spec.shape.get("biphasic") or next(iter(self.spec.shape.values()), None)
        period_us = shape.period_us if shape and shape.period_us else 350.0
        peaks: dict[str, float] = {}
        for name, ch in self.channels.items():
            if ch.quantity == "current":
                peaks[name] = didt * period_us / (2 * math.pi)  # ≥ peak current (A)
            elif ch.quantity == "efield":
                peaks[name] = out.expected_efield(percent)
            else:
                peaks[name] = didt
        return peaks

    def _current_channel(self) -> str:
        for name, ch in self.channels.items():
            if ch.quantity == "current":
                return name
        raise ValueError('the bench\'s scope has no channel with quantity = "current"')

    def _setup_scope(self, percent: float) -> dict[str, float]:
        peaks = self._expected_peaks(percent)
        cur = self._current_channel()
        if not self._scope_ready:
            self.scope.set_timebase(RECORD_S, pretrigger=PRETRIGGER, points=POINTS)
            self._scope_ready = True
        level = TRIGGER_FRACTION * peaks[cur] * self.channels[cur].volts_per_unit
        self.scope.set_trigger(cur, level, "rising")
        return peaks

    # ------------------------------------------------------------ single pulse
    def fire_and_capture(self, percent: float, waveform: str | None = None) -> PulseCapture:
        """Set ``percent`` %MSO, arm (once), fire one pulse, capture, analyse and record it."""
        stim = self._ensure_armed(percent, waveform)
        wfs, didt, waited = self._acquire(stim, percent)
        return self._finish(percent, wfs, didt, waited)

    @contextlib.contextmanager
    def _scope_held(self) -> Iterator[float | None]:
        """Hold the scope for one capture (set-up, arm, fire, read); yields the wait (ms).

        A scope shared with another bench is locked (:mod:`harness.instrument_lock`) and
        set up again inside the lock (the other bench may have changed it); the wait is
        kept per test. A private scope: nothing to wait for, yields ``None``.
        """
        lock = self.session.scope_lock
        if lock is None:
            yield None
            return
        with lock.hold() as waited:
            self._scope_ready = False
            self.session.note_lock_wait(self.test_id, waited)
            yield waited

    def sweep(self, levels: list[float], waveform: str | None = None) -> list[PulseCapture]:
        """One pulse per entry of ``levels`` (%MSO, in that order), each analysed and recorded.

        The device's power settling for the next level overlaps the analysis of the
        last pulse and the scope set-up, so a sweep costs little more than the
        device's own waits.
        """
        out: list[PulseCapture] = []
        pending: tuple[float, dict[str, Waveform], float | None, float | None] | None = None
        shared = self.session.scope_lock is not None  # set up only while holding it
        for p in levels:
            stim = self._armed
            wave = waveform or self._waveform or self.spec.waveforms[0]
            if stim is None or wave != self._waveform or stim.intensity_percent == p:
                if pending is not None:
                    out.append(self._finish(*pending))
                    pending = None
                stim = self._ensure_armed(p, waveform)
            else:
                check_intensity(self.spec.limits, p)
                errors: list[BaseException] = []

                def settle(
                    s: ArmedStimulator = stim, level: float = p, errors: list = errors
                ) -> None:
                    try:
                        s.set_intensity(level)
                    except BaseException as exc:  # re-raised in the caller's thread
                        errors.append(exc)

                worker = threading.Thread(target=settle, name="tms-settle")
                worker.start()
                try:
                    if pending is not None:
                        out.append(self._finish(*pending))
                        pending = None
                    if not shared:
                        self._setup_scope(p)
                finally:
                    worker.join()
                if errors:
                    raise errors[0]
            wfs, didt, waited = self._acquire(stim, p)
            pending = (p, wfs, didt, waited)
        if pending is not None:
            out.append(self._finish(*pending))
        return out

    def _acquire(
        self, stim: ArmedStimulator, percent: float
    ) -> tuple[dict[str, Waveform], float | None, float | None]:
        """Scope armed, one pulse fired, unclipped waveforms read (auto-ranged); the
        waveforms, the device's dI/dt and the wait for a shared scope (ms, or None)."""
        didt_box: list[float | None] = []

        def acquire() -> None:
            self.scope.arm()
            didt_box.append(stim.fire())
            self.scope.wait(timeout_s=5.0)

        with self._scope_held() as waited:
            peaks = self._setup_scope(percent)
            try:
                ranged = capture_autoranged(self.scope, peaks, acquire)
            except TriggerTimeout as err:
                raise PulseNotSeen(
                    f"pulse at {percent:g} %MSO: fired, but no pulse reached the scope "
                    f"(missing pulse, or no trigger on {self._current_channel()!r}): {err}"
                ) from err
        return ranged.waveforms, didt_box[-1] if didt_box else None, waited

    def _finish(
        self,
        percent: float,
        wfs: dict[str, Waveform],
        device_didt: float | None,
        lock_wait_ms: float | None = None,
    ) -> PulseCapture:
        wave = self._waveform or self.spec.waveforms[0]
        cap = self._analyse(percent, wave, wfs, device_didt)
        self._record_pulse(cap, lock_wait_ms)
        self.captures[(wave, percent)] = cap
        if self.listener is not None:
            self.listener.pulse(cap)
        return cap

    def _analyse(
        self, percent: float, wave: str, wfs: dict[str, Waveform], device_didt: float | None
    ) -> PulseCapture:
        cur = wfs[self._current_channel()]
        current_a = cur.values()  # raises ClippedCapture: a clipped record is never measured
        delivered = wave
        res = self._analyse_current(current_a, cur, wave)
        if res.model_reason or res.invalid_reason.startswith(SHAPE_NOT_RECOGNISED):
            # the device may have delivered another waveform (e.g. a misfired biphasic
            # pulse cut to a half-sine): measure what was delivered, report the mismatch
            for other in ("biphasic", "halfsine", "monophasic"):
                alt = self._analyse_current(current_a, cur, other) if other != wave else res
                if alt.described:
                    res, delivered = alt, other
                    break
        analysis = res
        if res.valid and res.model_reason:  # measured, but not by a model that fits it
            res = res.invalidated(res.model_reason)
        e_name = next((n for n, c in self.channels.items() if c.quantity == "efield"), None)
        e_peak, tpl = math.nan, None
        match = TemplateMatch(False, "no E-field channel", math.nan, math.nan, math.nan, 0)
        if e_name is not None and e_name in wfs:
            w = wfs[e_name]
            e = w.values()  # V/m
            # the dI/dt path of the analysis gives the first-phase peak of any ∝ dI/dt signal
            e_res = analyze_pulse(
                e * 1e6,
                w.dt_s,
                channel="didt",
                shape=analysis_shape(delivered),
                t0_s=w.t0_s,
                baseline_window_s=(w.t0_s, BASELINE_END_S),
                quantum=None if (q := _quantum(w)) is None else q * 1e6,
            )
            e_peak = e_res.peak_didt_A_per_us
            tpl = self._template(wave, w.t - e_res.onset_us * 1e-6)  # on the record's axis
            ref = self._template(wave, np.arange(0.0, RECORD_S, w.dt_s))  # from its onset
            if ref is not None and e_res.valid:
                match = compare_to_template(
                    e * 1e6,
                    w.dt_s,
                    ref[: int(np.nonzero(ref)[0][-1]) + 1],
                    w.dt_s,
                    channel="didt",
                    shape=analysis_shape(delivered),
                    t0_s=w.t0_s,
                    baseline_window_s=(w.t0_s, BASELINE_END_S),
                )
        return PulseCapture(
            percent,
            wave,
            res,
            e_peak,
            match,
            dict(wfs),
            tpl,
            device_didt,
            delivered,
            analysis,
            expected_efield_V_per_m=self.spec.output.expected_efield(percent),
            efield_tolerance=self.spec.output.efield_tolerance,
            scope_settings=self._scope_settings(wfs),
        )

    def _scope_settings(self, wfs: dict[str, Waveform]) -> dict[str, Any]:
        """What the scope was set to (as sent) and what it reported with each record."""
        read = getattr(self.scope, "settings", None)
        out: dict[str, Any] = read() if callable(read) else {}
        out["records"] = {
            name: {
                "dt_s": w.dt_s,
                "t0_s": w.t0_s,
                "y_increment_V": w.y_increment,
                "points": int(w.volts.size),
                "scope": w.scope,
            }
            for name, w in wfs.items()
        }
        return out

    def _analyse_current(self, current_a: np.ndarray, w: Waveform, wave: str) -> PulseResult:
        return analyze_pulse(
            current_a,
            w.dt_s,
            channel="current",
            shape=analysis_shape(wave),
            t0_s=w.t0_s,
            resistance_ohm=self.resistance_ohm,
            baseline_window_s=(w.t0_s, BASELINE_END_S),
            quantum=_quantum(w),
        )

    def _template(self, wave: str, t_rel: np.ndarray) -> np.ndarray | None:
        own: ShapeSpec | None = self.spec.shape.get(wave)
        ref = self.spec.shape.get("biphasic") or own
        period = (own.period_us if own and own.period_us else None) or (
            ref.period_us if ref else None
        )
        ratio = (own.phase_ratio if own and own.phase_ratio else None) or (
            ref.phase_ratio if ref else None
        )
        tau = own.decay_tau_us * 1e-6 if own and own.decay_tau_us else None
        if period is None or ratio is None:
            if wave == "monophasic" and own and own.rise_time_us and tau is not None:
                return template_monophasic(
                    t_rel, rise_time_s=own.rise_time_us * 1e-6, decay_tau_s=tau
                )
            return None
        if wave == "monophasic" and tau is None:
            return None
        return template_efield(
            t_rel, period_s=period * 1e-6, phase_ratio=ratio, topology=wave, decay_tau_s=tau
        )

    def _record_pulse(self, cap: PulseCapture, lock_wait_ms: float | None = None) -> None:
        s = self.session
        r = cap.current
        a = cap.analysis or r  # the cross-checks are kept for a pulse the model does not fit
        metrics: dict[str, Any] = {
            "percent": cap.percent,
            "valid": r.valid,
            "peak_current_A": r.peak_current_A,
            "peak_didt_A_per_us": r.peak_didt_A_per_us,  # from the RLC fit
            "peak_didt_se_A_per_us": r.peak_didt_se_A_per_us,
            "peak_didt_model_free_A_per_us": a.peak_didt_model_free_A_per_us,
            "efield_V_per_m": cap.efield_peak_V_per_m,
            "period_us": r.period_us,
            "phase_ratio": r.phase_ratio,
            "phase_ratio_model_free": a.phase_ratio_model_free,
            "model_residual": a.model_residual,
            "template_correlation": cap.efield_shape.correlation,
            "energy_J": r.energy_J,
            # the scope settings of this capture (FDA: waveforms with the scope's settings)
            "scope_settings": json.dumps(cap.scope_settings, sort_keys=True, default=str),
        }
        if lock_wait_ms is not None:  # how long this capture waited for the shared scope
            metrics["scope_lock_wait_ms"] = lock_wait_ms
        s.record_pulse(
            {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))},
            tags=s.tags(waveform=cap.waveform),
            run_id=s.context.run_id,
            test_id=self.test_id,
            time_ns=s.now_ns(),
        )

    # ------------------------------------------------------------ trains
    def temperature(self) -> float | None:
        """The coil thermocouple now (°C), ``None`` when the bench has none."""
        if self.daq is not None and self.temp_channel is not None:
            return float(self.daq.read_temperature(self.temp_channel))
        return None

    def train(
        self,
        *,
        rate_hz: float,
        pulses: int,
        percent: float,
        trains: int = 1,
        iti_s: float = 0.0,
        waveform: str | None = None,
        rest_after_s: float = 0.0,
        of: int | None = None,
    ) -> TrainCapture:
        """Run ``trains`` trains of ``pulses`` at ``rate_hz``; capture every pulse.

        Limits are checked before anything is sent. The scope records one
        segment per pulse; the DAQ counts the trigger-out independently.
        ``rest_after_s``: device seconds to wait after the train. ``of``: this call
        is one of ``of`` calls of a long protocol (counted by the rig); each then
        sends a progress line to :attr:`progress`.
        """
        spec_train = Train(rate_hz=rate_hz, pulses=pulses, trains=trains, iti_s=iti_s)
        check_train(self.spec.limits, percent, spec_train)
        return self._capture_train(
            rate_hz=rate_hz,
            pulses=pulses,
            percent=percent,
            trains=trains,
            iti_s=iti_s,
            waveform=waveform,
            rest_after_s=rest_after_s,
            of=of,
            deliver=lambda stim: stim.train(spec_train),
        )

    def triggered_train(
        self,
        *,
        rate_hz: float,
        pulses: int,
        percent: float,
        trains: int = 1,
        iti_s: float = 0.0,
        waveform: str | None = None,
        rest_after_s: float = 0.0,
        of: int | None = None,
    ) -> TrainCapture:
        """:meth:`train` (same arguments and meaning), every pulse timed by the DAQ card.

        The whole pattern (``trains`` bursts of ``pulses`` at ``rate_hz``, ``iti_s`` from
        a burst's last pulse to the next burst's first) is one buffered counter output
        task on the bench's ``[daq] trigger_out``, wired to the stimulator's trigger
        input; the host only arms the unit and waits. The pattern is checked against the
        spec's limits (:func:`~harness.safety.check_pattern`) before anything is sent.
        The scope still records every pulse and the DAQ counter counts the trigger-out.
        :class:`TriggerNotWired` when the bench has no such line.
        """
        bench_daq = self.session.bench.daq
        if self.daq is None or bench_daq is None or bench_daq.trigger_out is None:
            raise TriggerNotWired(
                "no card-timed trigger: the bench's [daq] table names no trigger_out "
                "counter wired to the stimulator's trigger input"
            )
        pattern = burst_times(rate_hz=rate_hz, pulses=pulses, trains=trains, iti_s=iti_s)
        times = [float(x) for x in pattern]
        check_pattern(self.spec.limits, percent, times)
        daq = self.daq

        def deliver(stim: ArmedStimulator) -> None:
            wall = stim.stimulator.wall

            def generate(poll: Callable[[], None]) -> None:
                daq.emit_pulses(
                    times, timeout_s=wall(times[-1]) + 5.0, poll=poll, poll_s=wall(0.25)
                )

            stim.triggered(times, generate)

        return self._capture_train(
            rate_hz=rate_hz,
            pulses=pulses,
            percent=percent,
            trains=trains,
            iti_s=iti_s,
            waveform=waveform,
            rest_after_s=rest_after_s,
            of=of,
            deliver=deliver,
        )

    def _capture_train(
        self,
        *,
        rate_hz: float,
        pulses: int,
        percent: float,
        trains: int,
        iti_s: float,
        waveform: str | None,
        rest_after_s: float,
        of: int | None,
        deliver: Callable[[ArmedStimulator], None],
    ) -> TrainCapture:
        """Arm, set the scope up, ``deliver`` the pulses while the scope records each and the
        DAQ counts them, then analyse, record and report (limits already checked)."""
        if of is not None and of < 1:
            raise ValueError(f"of={of}: a protocol has at least one train")
        total = pulses * trains
        if total > 1000:
            raise ValueError(f"{total} pulses exceed the scope's 1000 segments: split the train")
        stim = self._ensure_armed(percent, waveform)
        t_before = self.temperature()
        cur = self._current_channel()

        def act() -> None:
            if total >= 2:
                self.scope.arm_segmented(total)
            else:
                self.scope.arm()
            deliver(stim)
            # fewer pulses than fired: what was captured is counted and judged
            with contextlib.suppress(TriggerTimeout):
                self.scope.wait(timeout_s=5.0 + stim.stimulator.wall(0.5))

        with self._scope_held() as waited:
            self._setup_scope(percent)
            peaks = self._expected_peaks(percent)
            self.scope.configure_channel(
                cur, volts_per_div=volts_per_div(peaks[cur] * self.channels[cur].volts_per_unit)
            )
            n_daq = self._counted(act)
            segs = self.scope.read_segments(cur) if total >= 2 else [self.scope.read_waveform(cur)]
        t_after = self.temperature()
        if self.listener is not None and segs:  # the train's last pulse, as recorded
            self.listener.record(segs[-1], percent, self._waveform or self.spec.waveforms[0])
        times, batch, n_valid = self._analyse_segments(segs)
        metrics = analyze_train(times, rate_hz)
        bursts = None
        if trains > 1 and pulses > 1:
            burst_period = (pulses - 1) / rate_hz + iti_s
            bursts = analyze_bursts(
                times,
                intra_rate_hz=rate_hz,
                burst_rate_hz=1.0 / burst_period,
                pulses_per_burst=pulses,
            )
        cap = TrainCapture(
            rate_hz,
            total,
            times,
            len(segs),
            n_valid,
            n_daq,
            batch,
            metrics,
            bursts,
            t_before,
            t_after,
            stim.max_coil_temperature_C,
            extra={"pulses": pulses, "trains": trains, "iti_s": iti_s,
                   **({} if waited is None else {"scope_lock_wait_ms": waited})},
        )
        self._record_train(cap, percent)
        if of is not None:
            self._protocol_done += 1
            k = self._protocol_done
            if k >= of:
                self._protocol_done = 0  # the next ``of`` call starts a new protocol
            if self.progress is not None:
                self.progress(
                    train_progress_line(
                        k,
                        of,
                        rate_hz=rate_hz,
                        pulses=pulses,
                        trains=trains,
                        iti_s=iti_s,
                        rest_after_s=rest_after_s,
                        n_valid=n_valid,
                        wall_per_device_s=stim.stimulator.wall(1.0),
                    )
                )
        if rest_after_s > 0:
            stim.stimulator.sleep(rest_after_s)
        return cap

    def paired_pulse(self, *, interval_ms: float, percent: float) -> TrainCapture:
        """Two pulses ``interval_ms`` apart, both captured (segmented memory)."""
        check_interval(self.spec.limits, percent, interval_ms)
        stim = self._ensure_armed(percent, None)
        cur = self._current_channel()

        def act() -> None:
            self.scope.arm_segmented(2)
            stim.paired_pulse(interval_ms)
            with contextlib.suppress(TriggerTimeout):  # judged by the pulse count
                self.scope.wait(timeout_s=5.0)

        with self._scope_held():
            self._setup_scope(percent)
            n_daq = self._counted(act)
            segs = self.scope.read_segments(cur)
        times, batch, n_valid = self._analyse_segments(segs)
        metrics = analyze_train(times, 1e3 / interval_ms)
        return TrainCapture(
            1e3 / interval_ms, 2, times, len(segs), n_valid, n_daq, batch, metrics, None, None, None
        )

    def _counted(self, act: Callable[[], None]) -> int | None:
        """Run ``act`` while the DAQ counts trigger-out edges; the count (None without a DAQ)."""
        if self.daq is None or self.counter_channel is None:
            act()
            return None
        counter = self.daq.count_edges(self.counter_channel)
        try:
            act()
            return int(counter.count())
        finally:
            counter.close()

    def _analyse_segments(self, segs: list[Waveform]) -> tuple[np.ndarray, PulseBatch | None, int]:
        """Time tags, batch analysis and the count of valid, unclipped records."""
        times = np.array([w.time_tag_s for w in segs])
        if not segs:
            return times, None, 0
        data = np.stack([w.volts / w.volts_per_unit for w in segs])
        batch = analyze_pulses(
            data,
            segs[0].dt_s,
            channel="current",
            shape=analysis_shape(self._waveform or "biphasic"),
            t0_s=segs[0].t0_s,
            baseline_window_s=(segs[0].t0_s, BASELINE_END_S),
            quantum=_quantum(segs[0]),
        )
        clipped = np.array([w.clipped for w in segs])  # a clipped record is never measured
        # valid: measured, and described by the RLC model (a misfire is not a valid pulse)
        return times, batch, int(np.count_nonzero(batch.described & ~clipped))

    def _record_train(self, cap: TrainCapture, percent: float) -> None:
        s = self.session
        m = cap.metrics
        data: dict[str, Any] = {
            "percent": percent,
            "rate_hz": cap.rate_hz,
            "expected_pulses": cap.expected_pulses,
            "scope_pulses": cap.n_scope,
            "valid_pulses": cap.n_valid,
            "mean_rate_hz": m.mean_rate_hz,
            "rate_error_pct": m.rate_error_pct,
            "jitter_us": m.jitter_us,
            "missing_pulses": m.missing_pulses,
        }
        if cap.n_daq is not None:
            data["daq_pulses"] = cap.n_daq
        data.update(cap.extra)  # the pattern; scope_lock_wait_ms: the wait for a shared scope
        tags = s.tags()
        s.record_train(
            {k: v for k, v in data.items() if not (isinstance(v, float) and math.isnan(v))},
            tags=tags,
            run_id=s.context.run_id,
            test_id=self.test_id,
            time_ns=s.now_ns(),
        )
        for label, value in (("before", cap.temperature_before), ("after", cap.temperature_after)):
            if value is not None:
                self.record_temperature(value, label)

    def record_temperature(self, celsius: float, phase: str) -> None:
        """Journal one coil temperature (°C), tagged with the ``phase`` it was taken in."""
        s = self.session
        if self.listener is not None:
            self.listener.temperature(celsius, phase)
        s.journal.append_temperature(
            celsius,
            tags=s.tags(phase=phase),
            run_id=s.context.run_id,
            test_id=self.test_id,
            time_ns=s.now_ns(),
        )
