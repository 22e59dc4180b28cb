"""A simulated Magstim (200², BiStim², Rapid²) speaking the serial protocol.

Protocol as in :mod:`instruments.stimulator.magstim_codec`. Device behaviour
of this simulator (our choices where the protocol facts are silent): a command
with a bad CRC or an unknown command character is answered with a lone ``?``;
state-changing commands need remote control (``Q@``), queries (``J@``, ``F@``,
``\\@``) do not; remote control lapses after ``remote_timeout_s`` of world
time without a command and the unit then disarms; the Rapid runs a train when
fired with more than one pulse set, and keeps its "train running" bit (and
not-ready) through the spec's minimum inter-train interval.
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

    # ------------------------------------------------------------ link
    def receive(self, data: bytes, wall_now: float) -> None:
        if not self.buffer:
            self.buffer_since = wall_now
        self.buffer.extend(data)
        while self.buffer:
            n = mc.parse_command_length(bytes(self.buffer[:1]), self.version)
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
        if self.remote and now - self.last_command > self.core.params.remote_timeout_s:
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
        s = mc.RAPID_TRAIN_MODE if self.pulses > 1 else 0
        if self.core.train_running() or self.core.in_intertrain_wait(now):
            s |= mc.RAPID_TRAIN_RUNNING
        return s

    def _ok(self, c: str, *fields: tuple[int, int], rapid: bool = False) -> bytes:
        rs = self.rapid_status() if rapid else None
        return mc.encode_reply(c, self.status(), rapid_status=rs, fields=tuple(fields))

    # ------------------------------------------------------------ commands
    def handle(self, frame: bytes) -> bytes:
        if frame[-1] != mc.crc(frame[:-1]):
            return b"?"
        now = self.core.now()
        self.core.catch_up(now)
        c = chr(frame[0])
        data = frame[1:-1].decode("latin-1")
        if (c in "AC" and self.model != "bistim2") or (c in "BD[\\" and self.model != "rapid2"):
            return b"?"
        if self.remote:
            self.last_command = now
        if c in "JF\\QR" and data != "@":
            return mc.encode_error(c, mc.INVALID)
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
        if c == "Q":
            self.remote = True
            self.world.state.remote = True
            self.last_command = now
            return self._ok("Q")
        if c == "R":
            self.remote = False
            self.world.state.remote = False
            self.core.disarm("remote control released")
            return self._ok("R")
        if not self.remote:
            return mc.encode_error(c, mc.CONFLICT)
        if c == "E":
            return self._e(data)
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
        # "[": duration in 0.1 s; the pulse count follows
        if value == 0:
            return mc.encode_error(c, mc.INVALID)
        self.duration_s = value / 10.0
        self.pulses = max(
            1, min(round(self.duration_s * self.rate_hz), self.core.limits.max_train_pulses)
        )
        return self._ok(c, rapid=True)

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
        if self.model == "rapid2" and self.pulses > 1:
            if not self.core.rate_allowed(self.rate_hz, self.core.power("A")):
                return mc.encode_error("E", mc.CONFLICT)
            self.core.start_train(self.rate_hz, self.pulses)
            return self._ok("E")
        pair = None
        if self.model == "bistim2" and self.core.power("B") > 0:
            pair = (self.interval_ms / 1000.0, "B")
        self.core.fire_now(pair)
        return self._ok("E")
