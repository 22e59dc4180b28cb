"""The safety layer: every fixture and command that arms a stimulator goes through here.

``with armed(stim, spec.limits, intensity_percent=60) as s: s.fire()``

- Intensity, rate, train and interval values outside the spec's
  :class:`~harness.config.SafetyLimits` are refused *before* anything is sent
  (:class:`LimitExceeded`, naming the value and the limit).
- The stimulator is disarmed on every way out of the block: normal exit,
  exception, KeyboardInterrupt, SIGTERM (a handler raising :class:`Terminated`
  is installed in the main thread for the block and the previous one restored)
  and a lost link. Ctrl-C and SIGTERM arriving *during* the disarm are held
  back until it is done. If disarming over the link fails, that is logged as
  critical and :class:`DisarmFailed` is raised (the original error chained).
- Remote control is kept alive from a background thread while armed, for
  protocols that need it (Magstim ``Q@`` every ~0.5 s of device time).
- Coil temperature is read during trains; above the limit the stimulator is
  disarmed at once and :class:`CoilOverTemperature` raised with the reading.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from harness.config import SafetyLimits
from instruments import activity
from instruments.stimulator.base import Status, Stimulator, StimulatorError, Train

log = logging.getLogger(__name__)

# ------------------------------------------------------------------- errors


class SafetyError(Exception):
    """The safety layer refused or stopped something."""


class LimitExceeded(SafetyError, ValueError):
    """A requested value is outside the spec's limits; nothing was sent."""

    def __init__(self, what: str, value: float, limit: float, unit: str, side: str) -> None:
        self.what, self.value, self.limit, self.unit = what, value, limit, unit
        word = "above the maximum" if side == "max" else "below the minimum"
        super().__init__(f"{what} {value:g} {unit} is {word} {limit:g} {unit} allowed by the spec")


class CoilOverTemperature(SafetyError):
    """The coil got hotter than the spec allows; the stimulator was disarmed."""

    def __init__(self, reading_C: float, limit_C: float, device: str) -> None:
        self.reading_C, self.limit_C = reading_C, limit_C
        super().__init__(
            f"{device}: coil temperature {reading_C:.1f} °C above the limit {limit_C:.1f} °C; "
            "stimulator disarmed"
        )


class WatchdogTripped(SafetyError):
    """The test thread made no progress while armed; the watchdog disarmed the stimulator."""


class DisarmFailed(SafetyError):
    """Disarming over the link failed: the stimulator may still be ARMED."""


class Terminated(SystemExit):
    """SIGTERM (or, in a bench session, SIGINT) arrived: the run stops, disarming first.

    Exit status 128 + signal number; a pytest run stopped by SIGINT exits with pytest's
    own status for an interrupt (2).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by signal {signal.Signals(self.signum).name}"


class _Stop:
    """The first stop signal of a process; later ones only say the stop is under way."""

    first: Terminated | None = None
    later: int = 0


def stop_requested() -> Terminated | None:
    """The stop signal that arrived first (``None``: none yet)."""
    return _Stop.first


def reset_stop() -> None:
    """Forget earlier stop signals (a new session starts)."""
    _Stop.first, _Stop.later = None, 0


# ------------------------------------------------------------------- limit checks


def _over(what: str, value: float, limit: float, unit: str) -> None:
    if value > limit + 1e-9:
        raise LimitExceeded(what, value, limit, unit, "max")


def _under(what: str, value: float, limit: float, unit: str) -> None:
    if value < limit - 1e-9:
        raise LimitExceeded(what, value, limit, unit, "min")


def check_intensity(limits: SafetyLimits, percent: float, what: str = "intensity") -> None:
    """``percent`` (%MSO) within the spec's intensity range."""
    _under(what, percent, limits.intensity_min_percent, "%MSO")
    _over(what, percent, limits.intensity_max_percent, "%MSO")


def check_rate(limits: SafetyLimits, percent: float, rate_hz: float) -> None:
    """``rate_hz`` within the rate limit at ``percent`` and the minimum pulse interval."""
    top = limits.max_rate_hz(percent)
    if top is not None:
        _over(f"rate at {percent:g} %MSO", rate_hz, top, "Hz")
    if rate_hz > 0:
        _under("pulse interval", 1000.0 / rate_hz, limits.min_pulse_interval_ms, "ms")


def check_interval(limits: SafetyLimits, percent: float, interval_ms: float) -> None:
    """A paired-pulse interval (ms): the minimum pulse interval and the rate limit."""
    _under("pulse interval", interval_ms, limits.min_pulse_interval_ms, "ms")
    top = limits.max_rate_hz(percent)
    if top is not None and top > 0:
        _under(f"pulse interval at {percent:g} %MSO", interval_ms, 1000.0 / top, "ms")


def check_train(limits: SafetyLimits, percent: float, train: Train) -> None:
    """Rate, pulses per train and inter-train interval of ``train`` at ``percent`` %MSO."""
    check_intensity(limits, percent)
    check_rate(limits, percent, train.rate_hz)
    _over("pulses per train", train.pulses, limits.max_train_pulses, "pulses")
    if train.trains > 1:
        _under("inter-train interval", train.iti_s, limits.min_intertrain_interval_s, "s")


def check_pattern(limits: SafetyLimits, percent: float, times_s: Sequence[float]) -> None:
    """A card-timed pattern of single pulses at ``percent`` %MSO (times in s, rising).

    The unit sees each trigger as a single pulse, so the pattern is judged pulse by
    pulse: its shortest interval against the minimum pulse interval and against the
    rate limit at ``percent`` (the device's power limit), and its length against the
    pulses a train may have. Intervals are taken to the nanosecond (a 20 ms gap is not
    refused for a float's last bit).
    """
    check_intensity(limits, percent)
    t = sorted(float(x) for x in times_s)
    _over("pulses in the pattern", len(t), limits.max_train_pulses, "pulses")
    if len(t) < 2:
        return
    shortest_ms = round(min(b - a for a, b in itertools.pairwise(t)) * 1e9) / 1e6
    _under("shortest pulse interval", shortest_ms, limits.min_pulse_interval_ms, "ms")
    top = limits.max_rate_hz(percent)
    if top is not None and shortest_ms > 0:
        _over(f"pulse rate at {percent:g} %MSO", round(1000.0 / shortest_ms, 6), top, "Hz")


# ------------------------------------------------------------------- keep-alive


class _KeepAlive:
    """Calls ``stimulator.keep_alive()`` every ``interval_s`` (wall) from a daemon thread.

    A failed poke is logged; after ``max_failures`` in a row it gives up, so a
    dead link lets the device drop remote control and disarm itself.
    """

    def __init__(self, stimulator: Stimulator, interval_s: float, max_failures: int = 3) -> None:
        self.stimulator = stimulator
        self.interval_s = interval_s
        self.max_failures = max_failures
        self.error: StimulatorError | None = None
        self.gave_up = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stimulator-keepalive", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(self.interval_s):
            try:
                self.stimulator.keep_alive()
                failures = 0
            except StimulatorError as err:
                failures += 1
                self.error = err
                log.error("keep-alive failed (%d/%d): %s", failures, self.max_failures, err)
                if failures >= self.max_failures:
                    self.gave_up = True
                    log.critical(
                        "%s: keep-alive gave up; the device will lose remote control and disarm",
                        self.stimulator.name,
                    )
                    return
            except Exception:  # never let the thread die silently
                log.exception("keep-alive crashed")
                self.gave_up = True
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


# ------------------------------------------------------------------- watchdog

WATCHDOG_S = 10.0  # wall s without progress while armed before the watchdog disarms
_OWN_CODE = (f"{os.sep}instruments{os.sep}", f"{os.sep}harness{os.sep}", f"{os.sep}tests{os.sep}")


def _where(thread_id: int) -> str:
    """Where thread ``thread_id`` is: its innermost frame in this project's code."""
    frame = sys._current_frames().get(thread_id)
    innermost = None
    while frame is not None:
        name = frame.f_code.co_filename
        if any(part in name for part in _OWN_CODE) and not name.endswith("safety.py"):
            innermost = frame
            break
        frame = frame.f_back
    if innermost is None:
        return "outside tmsbench code"
    path = Path(innermost.f_code.co_filename)
    rel = "/".join(path.parts[-3:])
    return f"blocked in {innermost.f_code.co_qualname} ({rel}:{innermost.f_lineno})"


class _Watchdog:
    """Disarms when the armed test thread makes no progress for ``bound_s`` wall seconds.

    Progress is any completed instrument exchange of that thread (the drivers count them,
    :mod:`instruments.activity`) or a :meth:`kick` from the safety layer; whatever the
    thread is blocked in (a DAQ read, a scope query, a hung link, a lock), the unit is
    disarmed from this thread, and the armed block then fails naming where it was.
    """

    def __init__(self, stimulator: Stimulator, bound_s: float, thread_id: int) -> None:
        self.stimulator = stimulator
        self.bound_s = bound_s
        self.thread_id = thread_id
        self.tripped: WatchdogTripped | None = None
        self._kicks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="safety-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        self._kicks += 1

    def _progress(self) -> int:
        return activity.beats(self.thread_id) + self._kicks

    def _run(self) -> None:
        seen, since = self._progress(), time.monotonic()
        while not self._stop.wait(min(0.2, self.bound_s / 5)):
            now = self._progress()
            if now != seen:
                seen, since = now, time.monotonic()
                continue
            idle = time.monotonic() - since
            if idle < self.bound_s:
                continue
            where = _where(self.thread_id)
            msg = (
                f"{self.stimulator.name}: no progress for {idle:.1f} s while armed ({where}); "
                "the safety watchdog disarmed the stimulator"
            )
            log.critical(msg)
            self.tripped = WatchdogTripped(msg)
            # a failed disarm is logged critical; the unit's own remote-control lapse is next
            with contextlib.suppress(DisarmFailed):
                safe_disarm(self.stimulator)
            return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


# ------------------------------------------------------------------- armed block


class ArmedStimulator:
    """What :func:`armed` yields: the stimulator's firing commands, checked against the spec."""

    def __init__(
        self,
        stimulator: Stimulator,
        limits: SafetyLimits,
        intensity_percent: float | None,
        keepalive: _KeepAlive | None,
        temperature_poll_s: float,
        watchdog: _Watchdog | None = None,
    ) -> None:
        self.stimulator = stimulator
        self.limits = limits
        self.intensity_percent = intensity_percent
        self._keepalive = keepalive
        self.temperature_poll_s = temperature_poll_s
        self.max_coil_temperature_C: float | None = None  # hottest reading seen in trains
        self._watchdog = watchdog

    def _link_ok(self) -> None:
        if self._watchdog is not None:
            if self._watchdog.tripped is not None:
                raise self._watchdog.tripped
            self._watchdog.kick()
        if self._keepalive is not None and self._keepalive.gave_up and self._keepalive.error:
            raise self._keepalive.error

    @property
    def _level(self) -> float:
        # unknown intensity: judge rates at the highest the spec allows
        p = self.intensity_percent
        return self.limits.intensity_max_percent if p is None else p

    def set_intensity(self, percent: float, channel: str = "A") -> None:
        """Change the output (%MSO) while armed."""
        check_intensity(self.limits, percent)
        self._link_ok()
        self.stimulator.set_intensity(percent, channel)
        if channel == "A":
            self.intensity_percent = percent

    def fire(self) -> float | None:
        """One pulse; the device's dI/dt reading (A/µs) where it reports one."""
        self._link_ok()
        return self.stimulator.fire()

    def paired_pulse(self, interval_ms: float, intensity_b_percent: float | None = None) -> None:
        """Two pulses ``interval_ms`` apart."""
        check_interval(self.limits, self._level, interval_ms)
        if intensity_b_percent is not None:
            check_intensity(self.limits, intensity_b_percent, "intensity B")
        self._link_ok()
        self.stimulator.paired_pulse(interval_ms, intensity_b_percent)

    def check_coil_temperature(self) -> float:
        """Read the coil temperature; above the limit disarm and raise."""
        t = self.stimulator.coil_temperature()
        hottest = self.max_coil_temperature_C
        self.max_coil_temperature_C = t if hottest is None else max(hottest, t)
        if t > self.limits.coil_temperature_max_C:
            log.critical("%s: coil at %.1f °C: disarming", self.stimulator.name, t)
            safe_disarm(self.stimulator)
            raise CoilOverTemperature(t, self.limits.coil_temperature_max_C, self.stimulator.name)
        return t

    def train(self, train: Train) -> None:
        """Deliver ``train`` while watching the coil temperature."""
        check_train(self.limits, self._level, train)
        self._link_ok()
        self.check_coil_temperature()

        def poll() -> None:
            self._link_ok()
            self.check_coil_temperature()

        self.stimulator.run_train(train, poll=poll, poll_device_s=self.temperature_poll_s)
        self.check_coil_temperature()

    def triggered(
        self, times_s: Sequence[float], generate: Callable[[Callable[[], None]], None]
    ) -> None:
        """Let an external source fire the unit at ``times_s`` through its trigger input.

        The whole pattern is checked (:func:`check_pattern`) before anything happens;
        the unit is then made ready for its trigger input and ``generate(poll)`` runs
        the source, calling ``poll()`` now and then (the link and coil temperature
        checks: an exception from it must stop the source).
        """
        check_pattern(self.limits, self._level, times_s)
        self._link_ok()
        self.check_coil_temperature()
        self.stimulator.prepare_external_trigger()

        def poll() -> None:
            self._link_ok()
            self.check_coil_temperature()

        generate(poll)
        self.check_coil_temperature()

    def status(self) -> Status:
        return self.stimulator.status()

    def coil_temperature(self) -> float:
        return self.stimulator.coil_temperature()


def safe_disarm(stimulator: Stimulator, attempts: int = 3) -> None:
    """Disarm, retrying a failed exchange; :class:`DisarmFailed` if every attempt fails.

    Ctrl-C and SIGTERM arriving while it disarms are held back until it is done.
    """
    signals = _Signals(True)
    signals.hold()
    try:
        _disarm(stimulator, attempts)
    finally:
        signals.restore()
    signals.reraise_held()


def _disarm(stimulator: Stimulator, attempts: int) -> None:
    last: StimulatorError | None = None
    for i in range(attempts):
        try:
            stimulator.disarm()
            return
        except StimulatorError as err:
            last = err
            log.error("disarm attempt %d/%d failed: %s", i + 1, attempts, err)
    log.critical(
        "!!! %s at %s may still be ARMED: disarm failed %d times: %s",
        stimulator.name,
        stimulator.resource,
        attempts,
        last,
    )
    raise DisarmFailed(
        f"{stimulator.name} at {stimulator.resource} may still be ARMED: "
        f"disarm failed {attempts} times: {last}"
    ) from last


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """Signal handler: raise :class:`Terminated` in the main thread, once.

    A second signal while the first one's stop is under way (teardowns disarming) is
    reported and otherwise ignored, so it can never cut a disarm short.
    """
    if _Stop.first is not None:
        _Stop.later += 1
        print(
            f"tmsbench: {signal.Signals(signum).name} again: already stopping "
            "(disarming the stimulator first)",
            file=sys.stderr,
            flush=True,
        )
        return
    _Stop.first = Terminated(signum)
    raise _Stop.first


class _Signals:
    """SIGTERM -> :class:`Terminated` in the main thread; hold signals back while disarming."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._saved: dict[int, Any] = {}
        self.held: list[int] = []

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self.held.append(signum)

    def install(self) -> None:
        if self.enabled:
            self._saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, raise_terminated)

    def hold(self) -> None:
        if self.enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._saved.setdefault(sig, signal.getsignal(sig))
                signal.signal(sig, self._hold)

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._saved.clear()

    def reraise_held(self) -> None:
        """Act on the first signal held back, as its own handler would have."""
        if not self.held:
            return
        sig = self.held[0]
        self.held.clear()
        handler = signal.getsignal(sig)
        if callable(handler):  # raise_terminated, Python's Ctrl-C handler, an outer hold
            handler(sig, None)
        elif handler == signal.SIG_DFL:
            if sig == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(sig)


@contextmanager
def armed(
    stimulator: Stimulator,
    limits: SafetyLimits,
    *,
    intensity_percent: float | None = None,
    intensity_b_percent: float | None = None,
    keep_alive: bool = True,
    handle_signals: bool = True,
    temperature_poll_s: float = 0.25,
    disarm_attempts: int = 3,
    watchdog_s: float | None = WATCHDOG_S,
) -> Iterator[ArmedStimulator]:
    """Set the intensity, arm, yield, and disarm on every way out.

    ``temperature_poll_s`` is device seconds between coil temperature reads in trains;
    ``watchdog_s`` wall seconds without progress of this thread disarm the unit
    (``None``: no watchdog).
    """
    if intensity_percent is not None:
        check_intensity(limits, intensity_percent)
    if intensity_b_percent is not None:
        check_intensity(limits, intensity_b_percent, "intensity B")
    signals = _Signals(handle_signals)
    signals.install()
    keeper: _KeepAlive | None = None
    dog: _Watchdog | None = None
    try:
        if keep_alive and stimulator.keepalive_interval_s:
            keeper = _KeepAlive(stimulator, stimulator.wall(stimulator.keepalive_interval_s))
            keeper.start()
        if watchdog_s is not None:
            dog = _Watchdog(stimulator, watchdog_s, threading.get_ident())
            dog.start()
        if intensity_percent is not None:
            stimulator.set_intensity(intensity_percent, "A")
        if intensity_b_percent is not None:
            stimulator.set_intensity(intensity_b_percent, "B")
        stimulator.arm()
        yield ArmedStimulator(
            stimulator, limits, intensity_percent, keeper, temperature_poll_s, dog
        )
    finally:
        signals.hold()
        try:
            if dog is not None:
                dog.stop()
            if keeper is not None:
                keeper.stop()
            _disarm(stimulator, disarm_attempts)
        finally:
            signals.restore()
        signals.reraise_held()
    if dog is not None and dog.tripped is not None:
        raise dog.tripped
