"""A simulated Magstim (200², BiStim², Rapid²) speaking the serial protocol.

Protocol as in :mod:`instruments.stimulator.magstim_codec`; every fact and every choice
of ours is in ``instruments/stimulator/magstim_facts.md``. Device behaviour where the
sources are silent (assumptions, listed there): a command with a bad CRC or an unknown
command character is answered with a lone ``?``; state-changing commands need remote
control, queries (``J@``, ``F@``, ``\\@``, ``ND``, ``x@``, ``I@``, ``o@``) do not; remote
control lapses after ``remote_timeout_s`` of world time without a command while armed
(``remote_timeout_disarmed_s`` while disarmed) and the unit then disarms; a unit with an
unlock code refuses ``Q@`` (``S``) and a wrong code (``?``). The Rapid starts in
single-pulse mode (``[0000``). A reply carries the status from before the command (Q@/R@:
the remote bit already changed); a non-zero duration selects repetitive mode, where ``EH``
runs the train; its train bit is set while the train runs and its wait bit through the
enforced inter-train wait.
"""

from __future__ import annotations

from collections.abc import Callable

from instruments.sim.stim_common import DeviceCore, LinkFaults
from instruments.sim.world import World
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator.settings import StimulatorSettings

PARTIAL_FRAME_TIMEOUT_S = 0.2  # wall s: an incomplete command is dropped after this


class MagstimDevice:
    """Protocol front of one simulated Magstim unit (driven by the pty server thread)."""

    crc_index = -1

    def __init__(
        self, world: World, config: StimulatorSettings, send: Callable[[bytes, bool], None]
    ) -> None:
        self.core = DeviceCore(world, config)
        self.world = world
        self.model = config.model if config.model in mc.MODELS else "rapid2"
        self.version = config.software_version
        self.send = send
        self.faults = LinkFaults(world, world.sim.seed)
        self.buffer = bytearray()
        self.buffer_since = 0.0
        self.remote = False
        self.last_command = 0.0
        self.rate_hz = 1.0
        self.pulses = 1
        self.duration_s = 1.0
        self.interval_ms = 0
        self.single_pulse_mode = True
        self.enhanced = False
        self.charge_delay_ms = 0
        self._before: tuple[int, int] | None = None  # (status, Rapid status) before a command
        self.unlock_code = self.core.params.unlock_code
        self.version_text = self.core.params.version_text or f"{self.version}.0.0"
        # The unit is what its version text says (the driver's settings may be wrong).
        self.version = (mc.parse_version(self.version_text) or (self.version,))[0]
        self.core.trigger_gate = self._trigger_gate

    def _trigger_gate(self) -> str:
        """A Rapid² fires single pulses on its trigger input in single-pulse mode; what it
        does in repetitive mode is not modelled (assumption: no pulse)."""
        if self.model == "rapid2" and not self.single_pulse_mode:
            return "in repetitive (train) mode"
        return ""

    # ------------------------------------------------------------ link
    def receive(self, data: bytes, wall_now: float) -> None:
        if not self.buffer:
            self.buffer_since = wall_now
        self.buffer.extend(data)
        while self.buffer:
            n = mc.parse_command_length(bytes(self.buffer[:2]), self.version)
            if n == 0:
                return  # the next byte decides the frame length
            if n is None:
                self.buffer.clear()
                if self.faults.accept_command():
                    self._reply(b"?")
                return
            if len(self.buffer) < n:
                return
            frame = bytes(self.buffer[:n])
            del self.buffer[:n]
            self.buffer_since = wall_now
            if self.faults.accept_command():
                self._reply(self.handle(frame))

    def _reply(self, data: bytes) -> None:
        self.send(self.faults.corrupt(data, self.crc_index), True)

    def tick(self, wall_now: float) -> None:
        if self.buffer and wall_now - self.buffer_since > PARTIAL_FRAME_TIMEOUT_S:
            self.buffer.clear()
        now = self.core.now()
        self.core.tick(now)
        p = self.core.params
        lapse = (
            p.remote_timeout_s
            if self.core.armed
            else max(p.remote_timeout_s, p.remote_timeout_disarmed_s)
        )
        if self.remote and now - self.last_command > lapse:
            self.remote = False
            self.world.state.remote = False
            if self.core.armed:
                self.core.disarm("remote control lapsed")

    def next_deadline(self) -> float | None:
        return self.core.next_deadline()

    # ------------------------------------------------------------ replies
    def status(self) -> int:
        now = self.core.now()
        armed = self.core.armed
        s = mc.ARMED if armed else mc.STANDBY
        if self.core.ready(now):
            s |= mc.READY
        s |= mc.COIL_PRESENT
        if self.core.over_temperature():
            s |= mc.REPLACE_COIL
        if self.remote:
            s |= mc.REMOTE
        return s

    def rapid_status(self) -> int:
        now = self.core.now()
        s = mc.RAPID_HVPSU | mc.RAPID_COIL_READY
        if self.enhanced:
            s |= mc.RAPID_ENHANCED
        if self.single_pulse_mode:
            s |= mc.RAPID_SINGLE_PULSE
        if self.core.train_running():
            s |= mc.RAPID_TRAIN
        elif self.core.in_intertrain_wait(now):
            s |= mc.RAPID_WAIT
        return s

    def extended_status(self) -> bytes:
        """The extended status word of an ``x@`` reply: most significant byte first, then
        the least (bit 0 Plus1 module, 1 special trigger mode, 2 charge delay set)."""
        ext = mc.EXT_CHARGE_DELAY_SET if self.charge_delay_ms else 0
        return bytes([0, ext])

    def _ok(
        self, c: str, *fields: tuple[int, int], rapid: bool = False, extended: bool = False
    ) -> bytes:
        # the status as it was before the command (MagPy's virtual unit: "this is Magstim
        # behaviour"), except Q@/R@, whose remote bit already shows the change
        before = self._before
        st, rs0 = before if before is not None and c not in "QR" else (None, None)
        status = self.status() if st is None else st
        rs = (self.rapid_status() if rs0 is None else rs0) if rapid or extended else None
        extra = self.extended_status() if extended else b""
        return mc.encode_reply(c, status, rapid_status=rs, extra=extra, fields=tuple(fields))

    # ------------------------------------------------------------ commands
    def handle(self, frame: bytes) -> bytes:
        if frame[-1] != mc.crc(frame[:-1]):
            return b"?"
        now = self.core.now()
        self.core.catch_up(now)
        c = chr(frame[0])
        data = frame[1:-1].decode("latin-1")
        self._before = (self.status(), self.rapid_status())
        rapid9 = "xIon^_b"  # Rapid² commands of software version 9+ (MagPy)
        if (
            (c in "ACYZ" and self.model != "bistim2")
            or (c in "BD[\\N" + rapid9 and self.model != "rapid2")
            or (c in rapid9 and self.version < 9)
        ):
            return b"?"
        if self.remote:
            self.last_command = now
        if c == "Q":
            return self._remote_on(data, now)
        if c == "N":
            return mc.encode_version(self.version_text) if data == "D" else b"?"
        if c in "JF\\RxIo^_bYZ" and data != "@":
            return mc.encode_error(c, mc.INVALID)
        if c == "x":
            return self._ok("x", extended=True)
        if c == "I":  # source letter + two digits; "no error" as E00 is our assumption
            body = b"I" + bytes([self.status()]) + b"E00"
            return body + bytes([mc.crc(body)])
        if c == "o":
            return self._ok("o", (self.charge_delay_ms, 5 if self.version >= 10 else 4))
        if c == "J":
            a = round(self.core.power("A"))
            b = round(self.core.power("B"))
            return self._ok("J", (a, 3), (b, 3), (self.interval_ms, 3))
        if c == "F":
            t = round(self.world.coil_temperature_C() * 10)
            return self._ok("F", (t, 3), (t, 3))
        if c == "\\":
            w = mc.rapid_field_widths(self.version)
            vals = (
                round(self.core.power("A")),
                round(self.rate_hz * 10),
                self.pulses,
                round(self.duration_s * 10),
                round(self.core.limits.min_intertrain_interval_s * 10),
            )
            return self._ok("\\", *zip(vals, w, strict=True), rapid=True)
        if c == "R":
            self.remote = False
            self.world.state.remote = False
            self.core.disarm("remote control released")
            return self._ok("R")
        if not self.remote:
            return mc.encode_error(c, mc.CONFLICT)
        if c == "E":
            return self._e(data)
        if c in "^_":
            if c == "^" and not self.single_pulse_mode:
                return mc.encode_error(c, mc.CONFLICT)  # enhanced power: single pulses only
            self.enhanced = c == "^"
            return self._ok(c, rapid=True)
        if c in "bYZ":  # ignore coil safety switch; BiStim high-resolution mode on/off
            return self._ok(c)
        if not data.isdigit():
            return mc.encode_error(c, mc.INVALID)
        value = int(data)
        if c in "@A":
            if value > 100:
                return mc.encode_error(c, mc.INVALID)
            if self.core.schedule:
                return mc.encode_error(c, mc.CONFLICT)
            self.core.set_power(float(value), "A" if c == "@" else "B")
            return self._ok(c)
        if c == "C":
            self.interval_ms = value
            return self._ok(c)
        if self.core.train_running():
            return mc.encode_error(c, mc.CONFLICT)
        if c == "B":
            rate = value / 10.0
            if not self.core.rate_allowed(rate, self.core.power("A")):
                return mc.encode_error(c, mc.INVALID)
            self.rate_hz = rate
            self.duration_s = self.pulses / rate
            return self._ok(c, rapid=True)
        if c == "D":
            if not 1 <= value <= self.core.limits.max_train_pulses:
                return mc.encode_error(c, mc.INVALID)
            self.pulses = value
            self.duration_s = value / self.rate_hz
            return self._ok(c, rapid=True)
        if c == "n":
            self.charge_delay_ms = value
            return self._ok(c, extended=self.version >= 10, rapid=True)
        # "[": duration in 0.1 s; 0 = single-pulse mode; the pulse count follows
        if value == 0:
            self.single_pulse_mode = True
            return self._ok(c, rapid=True)
        self.single_pulse_mode = False
        self.enhanced = False
        self.duration_s = value / 10.0
        self.pulses = max(
            1, min(round(self.duration_s * self.rate_hz), self.core.limits.max_train_pulses)
        )
        return self._ok(c, rapid=True)

    def _remote_on(self, data: str, now: float) -> bytes:
        """``Q@``, or ``Q`` + unlock code on a unit that needs one."""
        if self.unlock_code is not None and data != self.unlock_code:
            # Q@ on a locked unit: a conflict; a wrong code: invalid data (assumptions)
            return mc.encode_error("Q", mc.CONFLICT if data == "@" else mc.INVALID)
        if self.unlock_code is None and data != "@":
            return mc.encode_error("Q", mc.INVALID)
        self.remote = True
        self.world.state.remote = True
        self.last_command = now
        return self._ok("Q")

    def _e(self, what: str) -> bytes:
        now = self.core.now()
        if what == "B":
            if not self.core.arm():
                return mc.encode_error("E", mc.CONFLICT)
            return self._ok("E")
        if what == "A":
            self.core.disarm("command")
            return self._ok("E")
        if what != "H":
            return mc.encode_error("E", mc.INVALID)
        if not self.core.ready(now):
            return mc.encode_error("E", mc.CONFLICT)
        if self.model == "rapid2" and not self.single_pulse_mode and self.pulses > 1:
            if not self.core.rate_allowed(self.rate_hz, self.core.power("A")):
                return mc.encode_error("E", mc.CONFLICT)
            self.core.start_train(self.rate_hz, self.pulses)
            return self._ok("E")
        pair = None
        if self.model == "bistim2" and self.core.power("B") > 0:
            pair = (self.interval_ms / 1000.0, "B")
        self.core.fire_now(pair)
        return self._ok("E")
