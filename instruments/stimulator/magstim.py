"""Magstim 200², BiStim² and Rapid² over serial (protocol: :mod:`.magstim_codec`).

Remote control lapses (and the unit disarms) after 1 s without a command while armed
(10 s while disarmed: Magstim's protocol documents); :meth:`MagstimStimulator.keep_alive`
pokes the unit (``Q@``, or ``x@`` on a Rapid² with software v9+) and the safety layer calls
it every :attr:`~MagstimStimulator.keepalive_interval_s` while armed. Between commands
the driver reclaims remote control when it has been idle long enough for it to have
lapsed. A Rapid² reports its software version (``ND``) at connect; that version, not
the bench file's, sets the frame widths. Facts and sources: ``magstim_facts.md``.

Waiting: arming, power changes and recharge are waited on the device's own
armed/ready status bits (polled), never a blind sleep. Documented device
figures (~1 s arming, ~10 ms per %MSO up and ~100 ms per %MSO down) only size
the deadlines.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from instruments.settings import Topology
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator.base import (
    DeviceRejected,
    Identity,
    MalformedReply,
    NotReady,
    ReplyTimeout,
    ShortReply,
    Status,
    Stimulator,
    StimulatorError,
    Train,
)
from instruments.stimulator.settings import StimulatorSettings
from instruments.stimulator.transport import Transport

log = logging.getLogger(__name__)

BAUD_RATE = 9600
ARMING_S = 1.0  # documented arming time (device s)
SETTLE_UP_S_PER_PERCENT = 0.010
SETTLE_DOWN_S_PER_PERCENT = 0.100
WAVEFORM = {"200-2": "monophasic", "bistim2": "monophasic", "rapid2": "biphasic"}


class MagstimStimulator(Stimulator):
    """One Magstim unit; ``config.model`` is ``200-2``, ``bistim2`` or ``rapid2``."""

    keepalive_interval_s = 0.3  # < 1/3 of the ~1 s lapse: two missed pokes are survivable

    def __init__(
        self,
        config: StimulatorSettings,
        transport: Transport,
        *,
        clock_speed: float = 1.0,
        resync_quiet_s: float = 0.1,
    ) -> None:
        super().__init__(config, clock_speed=clock_speed)
        if config.model not in mc.MODELS:
            raise ValueError(f"{self.name}: unknown Magstim model (one of {mc.MODELS})")
        self.transport = transport
        self.model = config.model
        self.version = config.software_version
        self.timeout_s = config.timeout_ms / 1000.0
        self.channels = ("A", "B") if self.model == "bistim2" else ("A",)
        self._resync_quiet_s = resync_quiet_s
        self._lock = threading.RLock()
        self._dirty = False
        self._last_exchange = 0.0  # monotonic time of the last completed exchange
        self._train_setup: tuple[float, int] | None = None  # (rate, pulses) last sent
        self._train_pulses: int | None = None  # pulses per train the device holds (Rapid)
        self._pending_settle_s = 0.0  # device s of power settling the last change needs
        self.round_trip_s = 0.0  # wall s per exchange: moving average, sizes pre-fire work
        self.version_text: str | None = None  # what the unit answered to ND
        self._single_pulse_mode: bool | None = None  # Rapid: None until set by us
        code = self._unlock_code(config)
        self._remote_on = mc.remote_on(code)  # holds the code: never logged (see _fail)
        self._poke = mc.SYSTEM_STATUS if code is not None else mc.REMOTE_ON

    def _unlock_code(self, config: StimulatorSettings) -> str | None:
        """The unlock code from the environment variable the settings name (or None)."""
        name = config.unlock_code_env
        if name is None:
            return None
        code = os.environ.get(name)
        if not code:
            raise ValueError(f"{self.name}: environment variable {name} (unlock_code_env) is unset")
        if len(code) != mc.UNLOCK_CODE_LENGTH or not code.isascii():
            raise ValueError(
                f"{self.name}: the unlock code in {name} must have "
                f"{mc.UNLOCK_CODE_LENGTH} ASCII characters (xxxx-xxxxxxxx-xx)"
            )
        return code

    # ------------------------------------------------------------- link
    def _fail(self, err: StimulatorError, sent: bytes, received: bytes) -> StimulatorError:
        return err.with_context(
            device=self.name, resource=self.resource, sent=self._shown(sent), received=received
        )

    def _shown(self, command: bytes) -> bytes:
        """``command`` as errors and logs may show it: an unlock code is masked."""
        if command[:1] == b"Q" and len(command) > 3:
            return b"Q" + b"*" * (len(command) - 2) + command[-1:]
        return command

    def _resync(self) -> None:
        """Drop bytes of an earlier, broken exchange: read until the line is quiet."""
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            got = self.transport.read(64, time.monotonic() + self._resync_quiet_s)
            if not got:
                break
            log.debug("%s: dropped %d stale bytes", self.name, len(got))

    def exchange(self, command: bytes) -> mc.Reply:
        """Send one frame, read and decode its reply (typed errors carry full context)."""
        with self._lock:
            if self._dirty:
                self._resync()
            else:
                self.transport.read_available()
            self._dirty = True  # until the reply is complete: a break leaves stale bytes
            try:
                self.transport.write(command)
            except StimulatorError as err:
                raise self._fail(err, command, b"") from None
            started = time.monotonic()
            deadline = started + self.timeout_s
            buf = b""
            try:
                while True:
                    need = mc.expected_length(command, buf, self.version)
                    if len(buf) >= need:
                        break
                    chunk = self.transport.read(need - len(buf), deadline)
                    if not chunk:
                        break
                    buf += chunk
                    if buf[:1] not in (command[:1], b"?"):
                        raise MalformedReply(f"reply does not echo the command {chr(command[0])!r}")
            except StimulatorError as err:
                raise self._fail(err, command, buf) from None
            if not buf:
                raise ReplyTimeout(
                    f"no reply within {self.timeout_s * 1000:.0f} ms",
                    device=self.name,
                    resource=self.resource,
                    sent=self._shown(command),
                )
            if len(buf) < need:
                raise ShortReply(
                    f"reply stopped after {len(buf)} of {need} bytes",
                    device=self.name,
                    resource=self.resource,
                    sent=self._shown(command),
                    received=buf,
                )
            try:
                reply = mc.parse_reply(command, buf, self.version)
            except DeviceRejected as err:
                self._dirty = False  # a complete error frame: the line is in step
                self._last_exchange = time.monotonic()
                raise self._fail(err, command, buf) from None
            except StimulatorError as err:
                raise self._fail(err, command, buf) from None
            self._dirty = False
            now = time.monotonic()
            self._last_exchange = now
            took = now - started
            avg = self.round_trip_s
            self.round_trip_s = took if not avg else 0.8 * avg + 0.2 * took
            return reply

    def _command(self, command: bytes) -> mc.Reply:
        """A state-changing command: reclaim remote control first if it may have lapsed."""
        with self._lock:
            idle = time.monotonic() - self._last_exchange
            if idle > self.wall(self.keepalive_interval_s * 1.5):
                self.exchange(self._remote_on)
            try:
                return self.exchange(command)
            except DeviceRejected as err:
                # read-only queries keep the line busy without holding remote control: if
                # it lapsed, the device refuses state changes; take it back and retry once
                if err.kind != "state_conflict" or self.exchange(mc.PARAMETERS).status & mc.REMOTE:
                    raise  # a real conflict: remote control was held
                self.exchange(self._remote_on)
                return self.exchange(command)

    def _need(self, models: tuple[str, ...], what: str) -> None:
        if self.model not in models:
            raise ValueError(f"{self.name}: {what} needs a {' or '.join(models)}")

    # ------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Take remote control, read a Rapid²'s software version, check the device answers."""
        self.exchange(self._remote_on)
        if self.model == "rapid2":
            self._read_version()
        self.exchange(mc.PARAMETERS)

    def _read_version(self) -> None:
        """``ND``: the unit's software version sets the frame widths from now on."""
        try:
            r = self.exchange(mc.VERSION)
        except DeviceRejected:
            log.warning(
                "%s: the unit does not answer ND; using software_version %d from the settings",
                self.name,
                self.version,
            )
            return
        self.version_text = r.text
        parts = mc.parse_version(r.text)
        if not parts:
            raise MalformedReply(
                f"version reply {r.text!r} has no number", device=self.name, sent=mc.VERSION
            )
        if parts[0] != self.version:
            log.warning(
                "%s: the unit reports software %s; the settings say %d: using the unit's",
                self.name,
                r.text,
                self.version,
            )
            self.version = parts[0]
        if self.version >= 9:
            # v9+: "Get System Status" holds the link (Magstim TDb 087 5.4; MAGIC on v9+)
            self._poke = mc.SYSTEM_STATUS

    def keep_alive(self) -> None:
        """Poke the unit to hold remote control (``Q@``; ``x@`` on software v9+)."""
        self.exchange(self._poke)

    def close(self) -> None:
        try:
            self.exchange(mc.REMOTE_OFF)
        except StimulatorError as err:
            log.warning("%s: releasing remote control failed: %s", self.name, err)
        finally:
            self.transport.close()

    # ------------------------------------------------------------- queries
    def identify(self) -> Identity:
        r = self.exchange(mc.PARAMETERS)
        a, b, ipi = r.fields
        return Identity(
            driver="magstim",
            model=self.model,
            serial=self.config.serial,
            software_version=self.version,
            reported={"status": r.status, "power_a": a, "power_b": b, "interval_ms": ipi},
        )

    def _status_from(self, status: int, rapid: int | None, raw: bytes) -> Status:
        return Status(
            armed=bool(status & mc.ARMED),
            ready=bool(status & mc.READY),
            coil_present=bool(status & mc.COIL_PRESENT),
            remote=bool(status & mc.REMOTE),
            errors=mc.status_errors(status),
            train_running=None if rapid is None else bool(rapid & (mc.RAPID_TRAIN | mc.RAPID_WAIT)),
            raw=raw,
        )

    def status(self) -> Status:
        cmd = mc.RAPID_PARAMETERS if self.model == "rapid2" else mc.PARAMETERS
        r = self.exchange(cmd)
        raw = bytes([r.status]) + (b"" if r.rapid_status is None else bytes([r.rapid_status]))
        return self._status_from(r.status, r.rapid_status, raw)

    def coil_temperatures(self) -> tuple[float, float]:
        """Both coil temperature readings (°C)."""
        r = self.exchange(mc.TEMPERATURE)
        return r.fields[0] / 10.0, r.fields[1] / 10.0

    def coil_temperature(self) -> float:
        """The hotter of the two coil readings (°C)."""
        return max(self.coil_temperatures())

    # ------------------------------------------------------------- settings
    def _wait_ready(self, what: str, device_s: float, expected_s: float = 0.0) -> None:
        """Poll the status until armed and ready. ``expected_s`` (device s) is the documented
        time: it is slept first (less a margin), then the status is polled finely, so the
        wait ends within a few ms of the device reporting ready.

        The caller holds the link lock, so the keep-alive thread cannot poke the
        device meanwhile: the first part of the wait is sliced at the keep-alive
        interval with a ``Q@`` (which also reads the status) between slices. A
        single blind sleep of ~1 s would let remote control lapse on any link
        slower than ~100 ms per reply.
        """

        def ready() -> bool:
            st = self.exchange(self._poke).status
            if not st & mc.ARMED:
                raise DeviceRejected(
                    f"device disarmed while waiting for {what} (remote-control lapse, "
                    "armed time-out or coil over-temperature)",
                    kind="state_conflict",
                    device=self.name,
                    resource=self.resource,
                    sent=self._poke,
                    received=self._poke[:1] + bytes([st]),
                )
            return bool(st & mc.READY)

        end = time.monotonic() + self.wall(expected_s * 0.9)
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, self.wall(self.keepalive_interval_s)))
            if ready():
                return
        self.wait_for(what, ready, device_s=device_s, poll_device_s=0.003)

    def set_intensity(self, percent: float, channel: str = "A") -> None:
        if channel not in self.channels:
            raise ValueError(f"{self.name}: no channel {channel!r} (has {self.channels})")
        whole = round(percent)
        if abs(percent - whole) > 1e-9 or not 0 <= whole <= 100:
            raise ValueError(f"{self.name}: power is whole %MSO 0..100, got {percent}")
        cmd = mc.power_a(whole) if channel == "A" else mc.power_b(whole)
        with self._lock:
            before = self._current_power(channel)
            r = self._command(cmd)
            delta = whole - before
            rate = SETTLE_UP_S_PER_PERCENT if delta >= 0 else SETTLE_DOWN_S_PER_PERCENT
            self._pending_settle_s = abs(delta) * rate
            if r.status & mc.ARMED:
                self._wait_ready(
                    f"power settled at {whole} %",
                    self._pending_settle_s + 2.0,
                    expected_s=self._pending_settle_s,
                )

    def _current_power(self, channel: str) -> int:
        r = self.exchange(mc.PARAMETERS)
        return r.fields[0] if channel == "A" else r.fields[1]

    def set_waveform(self, topology: Topology) -> None:
        fixed = WAVEFORM[self.model]
        if topology != fixed:
            raise ValueError(f"{self.name}: the {self.model} only delivers {fixed} pulses")

    # ------------------------------------------------------------- arming
    def arm(self) -> None:
        with self._lock:
            self._command(mc.ARM)
            self._wait_ready(
                "armed and ready", ARMING_S + self._pending_settle_s + 3.0, expected_s=ARMING_S
            )
            self._pending_settle_s = 0.0

    def disarm(self) -> None:
        with self._lock:
            r = self._command(mc.DISARM)
            if r.status & mc.ARMED:  # a stale reply or a slow device: trust only the status
                self.wait_for(
                    "disarmed",
                    lambda: not self.exchange(mc.PARAMETERS).status & mc.ARMED,
                    device_s=2.0,
                )

    # ------------------------------------------------------------- firing
    def _to_single_pulse_mode(self) -> None:
        """Rapid²: ``[0000`` (duration 0) selects single-pulse mode (MagPy ``rTMSMode``)."""
        if self._single_pulse_mode is not True:
            if self.version >= 9:
                self._command(mc.SINGLE_PULSE_MODE)
            else:
                self._command(mc.duration(0, self.version))
            self._single_pulse_mode = True
            self._train_setup = None

    def prepare_external_trigger(self) -> None:
        """Rapid²: single-pulse mode, so each trigger-input edge is one pulse (see
        magstim_facts.md, "Trigger input"); then wait for the ready bit."""
        with self._lock:
            if self.model == "rapid2":
                self._to_single_pulse_mode()
            st = self.exchange(self._poke).status
            if st & mc.ARMED and not st & mc.READY:
                self._wait_ready("ready for the trigger input", 2.0)

    def fire(self) -> float | None:
        with self._lock:
            if self.model == "rapid2":
                self._to_single_pulse_mode()
            st = self.exchange(self._poke).status
            if st & mc.ARMED and not st & mc.READY:
                self._wait_ready("ready to fire (recharged)", 2.0)
            self._command(mc.FIRE)
        return None

    def paired_pulse(self, interval_ms: float, intensity_b_percent: float | None = None) -> None:
        """BiStim: B fires ``interval_ms`` after A. Rapid: a 2-pulse train at 1000/interval Hz.

        The Rapid sets its rate in 0.1 Hz steps, so the interval is the nearest one
        that step allows; it has one channel (``intensity_b_percent`` must be None).
        """
        if self.model == "bistim2":
            ms = round(interval_ms)
            if abs(ms - interval_ms) > 1e-9:
                raise ValueError(f"{self.name}: BiStim interval is whole ms, got {interval_ms}")
            with self._lock:
                if intensity_b_percent is not None:
                    self.set_intensity(intensity_b_percent, "B")
                self._command(mc.interval(ms))
                self.fire()
                self.sleep(ms / 1000.0)
            return
        self._need(("rapid2",), "paired pulses")
        if intensity_b_percent is not None:
            raise ValueError(f"{self.name}: one channel: the pair shares the A intensity")
        rate = round(10000.0 / interval_ms) / 10.0
        self._deliver(rate, 2, None, 0.25)

    # ------------------------------------------------------------- trains
    def _train_running(self) -> bool:
        r = self.exchange(mc.RAPID_PARAMETERS)
        return bool((r.rapid_status or 0) & (mc.RAPID_TRAIN | mc.RAPID_WAIT))

    def _deliver(
        self,
        rate_hz: float,
        pulses: int,
        poll: Callable[[], None] | None,
        poll_device_s: float,
        not_before: float | None = None,
    ) -> float:
        """One Rapid train: set rate and pulses, fire, wait until the device says it is over.

        ``not_before``: monotonic time before which ``EH`` must not be sent (inter-train
        timing). Returns the monotonic time ``EH`` was sent (≈ the first pulse).
        """
        with self._lock:
            if self._train_setup != (rate_hz, pulses) or self._single_pulse_mode is not False:
                self._command(mc.frequency(rate_hz))
                self._command(mc.duration(pulses / rate_hz, self.version))
                self._command(mc.pulses(pulses, self.version))
                self._single_pulse_mode = False
                self._train_pulses = pulses
                self._train_setup = (rate_hz, pulses)
            st = self.exchange(self._poke).status
            if not st & mc.ARMED:
                raise NotReady(
                    f"device disarmed itself before a train of {pulses} pulses "
                    f"(status 0x{st:02X}: remote lapse, armed time-out or coil temperature)",
                    device=self.name,
                    resource=self.resource,
                )
            if not st & mc.READY:
                self._wait_ready("ready for the train", 2.0)
            if not_before is not None:
                while (left := not_before - time.monotonic()) > 0:
                    time.sleep(left if left > 0.002 else 0)  # last 2 ms: spin for precision
            sent_at = time.monotonic()
            self._command(mc.FIRE)
        budget = (pulses - 1) / rate_hz + 2.0
        deadline = time.monotonic() + self.wall(budget) + 1.0
        next_poll = 0.0
        while self._train_running():
            now = time.monotonic()
            if poll is not None and now >= next_poll:
                poll()
                next_poll = now + self.wall(poll_device_s)
            if now > deadline:
                raise ReplyTimeout(
                    f"train of {pulses} pulses at {rate_hz:g} Hz still running after "
                    f"{budget:g} s of device time",
                    device=self.name,
                    resource=self.resource,
                    sent=mc.RAPID_PARAMETERS,
                )
            time.sleep(max(self.wall(0.05), 0.003))
        return sent_at

    def run_train(
        self,
        train: Train,
        *,
        poll: Callable[[], None] | None = None,
        poll_device_s: float = 0.25,
    ) -> None:
        """Rapid: each train on the device, the inter-train pause timed here (device time)."""
        self._need(("rapid2",), "trains")
        # The inter-train interval runs from the last pulse of a train to the first of
        # the next: the next EH is due at (first pulse + train length + ITI).
        next_fire: float | None = None
        poll_cost = 0.0  # wall s the slowest poll + keep-alive took
        for _ in range(train.trains):
            if next_fire is not None:
                # leave time for the ready check before EH: 50 ms of device time, or three
                # round trips on a slow link (a USB adapter, a long cable), whichever is longer
                ready_by = next_fire - max(self.wall(0.05), 3 * self.round_trip_s)
                while (left := ready_by - time.monotonic()) > 0:
                    # a poke or poll now must not run past ready_by: sleep instead. The
                    # caller's poll (a DAQ read) costs what it cost last time, at least.
                    if left > 3 * self.round_trip_s + poll_cost:
                        started = time.monotonic()
                        if poll is not None:
                            poll()
                        self.keep_alive()
                        poll_cost = max(poll_cost, time.monotonic() - started)
                    left = ready_by - time.monotonic()
                    time.sleep(min(max(left, 0), self.wall(poll_device_s)))
            sent = self._deliver(train.rate_hz, train.pulses, poll, poll_device_s, next_fire)
            next_fire = sent + self.wall(train.train_duration_s + train.iti_s)
