"""MagVenture MagPro over serial (protocol: :mod:`.magventure_codec`, facts with
their sources in ``magventure_facts.md``).

Commands whose reply is known (status 00 and 05, start train 04, mode 09, fire 03:
see :data:`~.magventure_codec.REPLY_ID`) are exchanged: the driver waits for that
frame. The rest (amplitude, enable, train settings) are sent, and their effect is
confirmed from the next status frame, so the driver does not depend on which 8-byte
frames the unit answers them with. The device sends frames unprompted when its
settings change: the driver reads them off the line before each command and while
waiting for a reply, keeps the latest values (status, temperature, dI/dt) and skips
them.

Waiting: the status frame reports "enabled" but no ready/charged state, so
after enabling and after amplitude changes while enabled the driver waits the
documented device time (``arming_time_s``, settling per %MSO), and a train
for its own length; all converted from device to wall time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from instruments.settings import Topology
from instruments.stimulator import magventure_codec as mv
from instruments.stimulator.base import (
    BadCrc,
    DeviceRejected,
    Identity,
    MalformedReply,
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

BAUD_RATE = 38400
MAX_SKIPPED_FRAMES = 16


class MagVentureStimulator(Stimulator):
    """One MagPro stimulator."""

    keepalive_interval_s = None
    channels = ("A", "B")

    def __init__(
        self,
        config: StimulatorSettings,
        transport: Transport,
        *,
        clock_speed: float = 1.0,
        arming_time_s: float = 1.0,
        settle_up_s_per_percent: float = 0.010,
        settle_down_s_per_percent: float = 0.100,
        min_fire_interval_s: float = 0.1,
        resync_quiet_s: float = 0.1,
    ) -> None:
        super().__init__(config, clock_speed=clock_speed)
        self.transport = transport
        self.timeout_s = config.timeout_ms / 1000.0
        self.arming_time_s = arming_time_s
        self.settle_up_s_per_percent = settle_up_s_per_percent
        self.settle_down_s_per_percent = settle_down_s_per_percent
        self.min_fire_interval_s = min_fire_interval_s
        self._resync_quiet_s = resync_quiet_s
        self._lock = threading.RLock()
        self._dirty = False
        self._last_status: mv.DeviceStatus | None = None
        self._last_temperature: float | None = None
        self._last_didt: float | None = None
        self._last_fire_wall: float | None = None
        self._mode = "standard"
        self._waveform: str | None = None
        self._model_code = 1
        self.unprompted: deque[mv.Frame] = deque(maxlen=64)  # frames the device volunteered

    # ------------------------------------------------------------- link
    def _fail(self, err: StimulatorError, sent: bytes, received: bytes) -> StimulatorError:
        return err.with_context(
            device=self.name, resource=self.resource, sent=sent, received=received
        )

    def _rejected(self, message: str, sent: bytes, received: bytes) -> DeviceRejected:
        """The device did not take a setting: what it reports against what was asked."""
        return DeviceRejected(
            message,
            kind="invalid_data",
            device=self.name,
            resource=self.resource,
            sent=sent,
            received=received,
        )

    def _absorb(self, frame: mv.Frame) -> None:
        """Keep what an unprompted frame says."""
        self.unprompted.append(frame)
        try:
            if frame.ident == mv.R_STATUS:
                self._last_status = mv.decode_status(frame)
                self._last_temperature = float(self._last_status.temperature_C)
            elif frame.ident == mv.R_TEMPERATURE:
                self._last_temperature = float(mv.decode_short(frame).x)
            elif frame.ident == mv.R_DIDT:
                self._last_didt = float(mv.decode_short(frame).x)
        except StimulatorError as err:
            log.debug("%s: unprompted frame not understood: %s", self.name, err)

    def _drain(self) -> None:
        """Read unprompted frames already on the line (completing one that is half there)."""
        buf = self.transport.read_available()
        if not buf:
            return
        frames, noise, tail = mv.split_frames(buf)
        if tail:
            deadline = time.monotonic() + min(self.timeout_s, 0.2)
            while len(tail) < mv.expected_length(tail):
                more = self.transport.read(mv.expected_length(tail) - len(tail), deadline)
                if not more:
                    break
                tail += more
            more_frames, more_noise, _ = mv.split_frames(tail)
            frames += more_frames
            noise += more_noise
        if noise:
            log.debug("%s: dropped %d noise bytes", self.name, len(noise))
        for raw in frames:
            try:
                self._absorb(mv.parse_frame(raw))
            except StimulatorError as err:
                log.debug("%s: dropped a broken unprompted frame: %s", self.name, err)

    def _resync(self) -> None:
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            if not self.transport.read(64, time.monotonic() + self._resync_quiet_s):
                break

    def _read_frame(self, command: bytes, deadline: float) -> mv.Frame:
        buf = b""
        try:
            while True:
                need = mv.expected_length(buf)
                if len(buf) >= need and len(buf) >= 2:
                    break
                chunk = self.transport.read(need - len(buf), deadline)
                if not chunk:
                    break
                buf += chunk
                if buf[0] != mv.START:
                    raise MalformedReply(f"reply starts with {buf[0]:02X}, not FE")
                if len(buf) >= 2 and not 1 <= buf[1] <= mv.MAX_LEN:
                    raise MalformedReply(f"frame length byte {buf[1]} out of range")
        except StimulatorError as err:
            raise self._fail(err, command, buf) from None
        if not buf:
            raise ReplyTimeout(
                f"no reply within {self.timeout_s * 1000:.0f} ms",
                device=self.name,
                resource=self.resource,
                sent=command,
            )
        if len(buf) < mv.expected_length(buf):
            raise ShortReply(
                f"reply stopped after {len(buf)} of {mv.expected_length(buf)} bytes",
                device=self.name,
                resource=self.resource,
                sent=command,
                received=buf,
            )
        try:
            return mv.parse_frame(buf)
        except StimulatorError as err:
            raise self._fail(err, command, buf) from None

    def send(self, command: bytes) -> None:
        """Send one frame whose answer is not waited for (confirm its effect from a status)."""
        with self._lock:
            if self._dirty:
                self._resync()
            else:
                self._drain()
            try:
                self.transport.write(command)
            except StimulatorError as err:
                raise self._fail(err, command, b"") from None

    def exchange(self, command: bytes) -> mv.Frame:
        """Send one frame and return the device's answer to it (unprompted frames skipped)."""
        want = mv.REPLY_ID[command[2]]
        with self._lock:
            if self._dirty:
                self._resync()
            else:
                self._drain()
            self._dirty = True
            try:
                self.transport.write(command)
            except StimulatorError as err:
                raise self._fail(err, command, b"") from None
            deadline = time.monotonic() + self.timeout_s
            for _ in range(MAX_SKIPPED_FRAMES):
                frame = self._read_frame(command, deadline)
                if frame.ident == want:
                    self._dirty = False
                    return frame
                self._absorb(frame)
            raise MalformedReply(
                f"no frame with id {want:02X} among {MAX_SKIPPED_FRAMES} frames",
                device=self.name,
                resource=self.resource,
                sent=command,
            )

    def _status_exchange(self, command: bytes) -> mv.DeviceStatus:
        frame = self.exchange(command)
        try:
            st = mv.decode_status(frame)
        except StimulatorError as err:
            raise self._fail(err, command, mv.encode(frame.ident, frame.data)) from None
        self._last_status = st
        self._last_temperature = float(st.temperature_C)
        return st

    # ------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        """Check the device answers; learn its settings."""
        st = self.device_status()
        self._waveform = st.waveform
        self._mode = st.mode
        self._model_code = st.model_code

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------- queries
    def device_status(self) -> mv.DeviceStatus:
        """The full decoded status frame."""
        return self._status_exchange(mv.status())

    def identify(self) -> Identity:
        st = self.device_status()
        return Identity(
            driver="magventure",
            model=st.model,
            serial=str(st.serial),
            reported={"model_code": st.model_code, "coil_type": st.coil_type, "mode": st.mode},
        )

    def status(self) -> Status:
        st = self.device_status()
        return Status(
            armed=st.enabled,
            ready=None,
            coil_present=st.coil_type != 0,
            remote=None,
            errors=(),
            train_running=None,
            raw=st.raw,
        )

    def coil_temperature(self) -> float:
        return float(self.device_status().temperature_C)

    def didt(self) -> float | None:
        return self._last_didt

    # ------------------------------------------------------------- settings
    def set_intensity(self, percent: float, channel: str = "A") -> None:
        if channel not in self.channels:
            raise ValueError(f"{self.name}: no channel {channel!r} (has {self.channels})")
        whole = round(percent)
        if abs(percent - whole) > 1e-9 or not 0 <= whole <= 100:
            raise ValueError(f"{self.name}: amplitude is whole %MSO 0..100, got {percent}")
        with self._lock:
            st = self.device_status()
            a, b = st.amplitude_a, st.amplitude_b
            before = a if channel == "A" else b
            if channel == "A":
                a = whole
            else:
                b = whole
            both = b != 0 or channel == "B"
            cmd = mv.amplitude(a, b) if both else mv.amplitude(a)
            self.send(cmd)
            got = self.device_status()
            if got.amplitude_a != a or (both and got.amplitude_b != b):
                raise self._rejected(
                    f"device reports amplitude {got.amplitude_a}/{got.amplitude_b} %, "
                    f"asked {a}/{b} %",
                    cmd,
                    got.raw,
                )
            if st.enabled:
                delta = whole - before
                per = self.settle_up_s_per_percent if delta >= 0 else self.settle_down_s_per_percent
                self.sleep(abs(delta) * per)

    def _confirm(self, check: Callable[[mv.DeviceStatus], bool], what: str) -> None:
        """Poll the status frame until ``check`` holds (:class:`NotReady` after 1 s).

        A corrupted status reply (bad CRC, garbage, cut short) is asked again: the
        command being confirmed (a disarm above all) must not fail on a bad reply to
        the question that follows it. If every reply was corrupted, the last error is
        raised.
        """
        last: StimulatorError | None = None

        def done() -> bool:
            nonlocal last
            try:
                return check(self.device_status())
            except (BadCrc, MalformedReply, ShortReply) as err:
                last = err
                return False

        try:
            self.wait_for(what, done, device_s=1.0)
        except StimulatorError:
            if last is not None:
                raise last from None
            raise

    def _set_mode(
        self, mode_name: str, waveform: str, *, ipi_ms: float = 10.0, ratio_b_a: float = 1.0
    ) -> None:
        """``09`` with the set flag; the 14-byte mode reply must show what was asked."""
        cmd = mv.mode(
            mode_name, waveform, model=self._model_code, ipi_ms=ipi_ms, ratio_b_a=ratio_b_a
        )
        frame = self.exchange(cmd)
        try:
            got = mv.decode_mode(frame)
        except StimulatorError as err:
            raise self._fail(err, cmd, mv.encode(frame.ident, frame.data)) from None
        if (got.mode, got.waveform) != (mode_name, waveform):
            raise self._rejected(
                f"device reports {got.mode} mode, {got.waveform} waveform; "
                f"asked {mode_name}, {waveform}",
                cmd,
                mv.encode(frame.ident, frame.data),
            )
        self._mode, self._waveform = mode_name, waveform

    def set_waveform(self, topology: Topology) -> None:
        with self._lock:
            self._set_mode(self._mode, topology)

    # ------------------------------------------------------------- arming
    def arm(self) -> None:
        with self._lock:
            self.send(mv.enable(True))
            self._confirm(lambda st: st.enabled, "enabled")
            self.sleep(self.arming_time_s)  # no ready bit: the documented arming time

    def disarm(self) -> None:
        with self._lock:
            self.send(mv.enable(False))
            self._confirm(lambda st: not st.enabled, "disabled")

    # ------------------------------------------------------------- firing
    def fire(self) -> float | None:
        with self._lock:
            if self._last_fire_wall is not None:
                wait = self._last_fire_wall + self.wall(self.min_fire_interval_s) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            cmd = mv.fire()
            frame = self.exchange(cmd)
            self._last_fire_wall = time.monotonic()
            try:
                didt = mv.decode_short(frame).x
            except StimulatorError as err:
                raise self._fail(err, cmd, mv.encode(frame.ident, frame.data)) from None
            self._last_didt = float(didt)
            return self._last_didt

    def paired_pulse(self, interval_ms: float, intensity_b_percent: float | None = None) -> None:
        """Twin mode: B fires ``interval_ms`` after A at B = ratio × A (0.1 ms, 1 % steps)."""
        with self._lock:
            a = self.device_status().amplitude_a
            if a <= 0:
                raise ValueError(f"{self.name}: set amplitude A before a paired pulse")
            b = a if intensity_b_percent is None else intensity_b_percent
            waveform = self._waveform or "biphasic"
            self._set_mode("twin", waveform, ipi_ms=interval_ms, ratio_b_a=b / a)
            try:
                self.fire()
                self.sleep(interval_ms / 1000.0)
            finally:
                self._set_mode("standard", waveform)

    def run_train(
        self,
        train: Train,
        *,
        poll: Callable[[], None] | None = None,
        poll_device_s: float = 0.25,
    ) -> None:
        """The device runs all trains; the driver waits their length, then until status 2
        no longer reports a train running."""
        with self._lock:
            self.send(mv.train(train.rate_hz, train.pulses, train.trains, train.iti_s))
            self.exchange(mv.start_train())
        end = time.monotonic() + self.wall(train.duration_s + 0.05)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            if poll is not None:
                poll()
            time.sleep(min(left, max(self.wall(poll_device_s), 0.002)))
        self.wait_for("the train over", lambda: not self.status2().running, device_s=2.0)

    def status2(self) -> mv.Status2:
        """The decoded status-2 frame (page shown, train or protocol running)."""
        cmd = mv.status2()
        frame = self.exchange(cmd)
        try:
            return mv.decode_status2(frame)
        except StimulatorError as err:
            raise self._fail(err, cmd, mv.encode(frame.ident, frame.data)) from None
