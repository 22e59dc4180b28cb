"""A simulated MagVenture MagPro speaking the serial protocol.

Protocol as in :mod:`instruments.stimulator.magventure_codec`; facts and our choices
in ``instruments/stimulator/magventure_facts.md``. Each command is answered with the
frames magicpy reads after it (id and length): 00 a status frame, 05 status 2, 04 the
MEP frame, 09 the mode frame, 03 a di/dt frame, enable on three 8-byte frames
(amplitude, temperature and coil, amplitude). Where the sources are silent (our
choices, in the fact sheet): amplitude answers an amplitude frame; enable off one;
train settings, page and delays a page frame (id 08). Frames it cannot use (bad CRC
or end marker, unknown id, wrong data length, values out of range) get no answer; a
fire before the unit is ready gives no pulse and a dI/dt reading of 0; a train
started during the minimum inter-train pause starts when the pause ends. It
volunteers a status frame after amplitude and mode changes, when a
train ends and when it disarms itself, and a temperature frame whenever the
coil temperature crosses a whole °C.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from instruments.sim.stim_common import DeviceCore, LinkFaults
from instruments.sim.world import World
from instruments.stimulator import magventure_codec as mv
from instruments.stimulator.settings import StimulatorSettings

PARTIAL_FRAME_TIMEOUT_S = 0.2  # wall s


def serial_number(serial: str) -> int:
    """The 24-bit serial number the simulated device reports: the digits of ``serial``."""
    digits = re.sub(r"\D", "", serial)
    return int(digits or "0") % (1 << 24)


def model_code(model: str) -> int:
    """The status byte's model bits for ``model`` (0, the R30, if not in the table)."""
    try:
        return mv.model_code(model)
    except ValueError:
        return 0


class MagVentureDevice:
    """Protocol front of one simulated MagPro (driven by the pty server thread)."""

    crc_index = -2

    def __init__(
        self, world: World, config: StimulatorSettings, send: Callable[[bytes, bool], None]
    ) -> None:
        self.core = DeviceCore(world, config)
        self.core.on_disarm = lambda reason: self._volunteer(self._status_frame())
        self.core.on_train_end = lambda: self._volunteer(self._status_frame())
        self.world = world
        self.config = config
        self.send = send
        self.faults = LinkFaults(world, world.sim.seed)
        self.buffer = bytearray()
        self.buffer_since = 0.0
        self.mode = "standard"
        self.ipi_ms = 0.0
        self.ratio = 1.0
        self.train = (1.0, 1, 1, 0.0)  # rate Hz, pulses, trains, ITI s
        self.reported_temperature = round(world.coil_temperature_C())
        self.coil_type = mv.coil_type_code(world.bench.coil.model)
        self.direction = 0
        self.burst_pulses = 2
        self.page = 1  # main

    # ------------------------------------------------------------ link
    def _volunteer(self, frame: bytes) -> None:
        if not self.faults.dropped:
            self.send(frame, False)

    def _reply(self, frame: bytes) -> None:
        self.send(self.faults.corrupt(frame, self.crc_index), True)

    def receive(self, data: bytes, wall_now: float) -> None:
        if not self.buffer:
            self.buffer_since = wall_now
        self.buffer.extend(data)
        while self.buffer:
            if self.buffer[0] != mv.START:
                del self.buffer[0]
                continue
            if len(self.buffer) < 2:
                return
            n = self.buffer[1]
            if not 1 <= n <= mv.MAX_LEN:
                del self.buffer[0]
                continue
            if len(self.buffer) < n + 4:
                return
            raw = bytes(self.buffer[: n + 4])
            del self.buffer[: n + 4]
            self.buffer_since = wall_now
            if not self.faults.accept_command():
                continue
            try:
                frame = mv.parse_frame(raw)
            except Exception:
                continue  # silent on frames it cannot use
            reply, extra = self.handle(frame)
            if reply is not None:
                self._reply(reply)
            for f in extra:
                self._volunteer(f)

    def tick(self, wall_now: float) -> None:
        if self.buffer and wall_now - self.buffer_since > PARTIAL_FRAME_TIMEOUT_S:
            self.buffer.clear()
        self.core.tick(self.core.now())
        t = round(self.world.coil_temperature_C())
        if t != self.reported_temperature:
            self.reported_temperature = t
            self._volunteer(mv.encode_short(mv.R_TEMPERATURE, t, 0, self._status_byte()))

    def next_deadline(self) -> float | None:
        return self.core.next_deadline()

    # ------------------------------------------------------------ replies
    def _status_byte(self) -> int:
        wf = self.world.state.waveform
        return mv.status_byte(self.mode, wf, self.core.armed, model_code(self.config.model))

    def _status_frame(self) -> bytes:
        return mv.encode_status(self._status())

    def _status(self) -> mv.DeviceStatus:
        return mv.DeviceStatus(
            mode=self.mode,
            waveform=self.world.state.waveform,
            enabled=self.core.armed,
            model_code=model_code(self.config.model),
            serial=serial_number(self.config.serial),
            temperature_C=round(self.world.coil_temperature_C()),
            coil_type=self.coil_type,
            amplitude_a=round(self.core.power("A")),
            amplitude_b=round(self.core.power("B")),
        )

    def _short(self, ident: int, x: int, y: int) -> bytes:
        return mv.encode_short(ident, x, y, self._status_byte())

    # ------------------------------------------------------------ commands
    def handle(self, frame: mv.Frame) -> tuple[bytes | None, list[bytes]]:
        """(reply or None for silence, frames volunteered after it)."""
        now = self.core.now()
        self.core.catch_up(now)
        i, d = frame.ident, frame.data
        if i == mv.STATUS:
            return self._status_frame(), []
        if i == mv.STATUS2:
            if d:
                return None, []
            running = self.core.train_running()
            return mv.encode_status2(self._status(), page=self.page, running=running), []
        if i == mv.AMPLITUDE:
            if len(d) not in (1, 2) or any(v > 100 for v in d) or self.core.schedule:
                return None, []
            self.core.set_power(float(d[0]), "A")
            if len(d) == 2:
                self.core.set_power(float(d[1]), "B")
            a, b = round(self.core.power("A")), round(self.core.power("B"))
            reply = mv.encode_short(mv.R_AMPLITUDE, a, b, self._status_byte())
            return reply, [self._status_frame()]
        if i == mv.ENABLE:
            if len(d) != 1 or d[0] > 1:
                return None, []
            a, b = round(self.core.power("A")), round(self.core.power("B"))
            if d[0]:
                self.core.arm()
                t = max(0, min(255, round(self.world.coil_temperature_C())))
                amp = self._short(mv.R_AMPLITUDE, a, b)
                return amp, [self._short(mv.R_TEMPERATURE, t, self.coil_type), amp]
            self.core.disarm("command")
            return self._short(mv.R_AMPLITUDE, a, b), []
        if i == mv.FIRE:
            if len(d) != 1:
                return None, []
            return self._fire(now), []
        if i == mv.TRAIN:
            if len(d) != 8:
                return None, []
            r10, pulses, trains, iti10 = struct.unpack(">4H", d)
            if r10 == 0 or pulses == 0 or trains == 0:
                return None, []
            self.train = (r10 / 10.0, pulses, trains, iti10 / 10.0)
            return self._page_frame(), []
        if i == mv.START_TRAIN:
            if d:
                return None, []
            rate, pulses, trains, iti = self.train
            ok = (
                self.core.armed
                and self.core.rate_allowed(rate, self.core.power("A"))
                and pulses <= self.core.limits.max_train_pulses
                and (trains == 1 or iti >= self.core.limits.min_intertrain_interval_s)
            )
            if ok:
                t0 = self.core.earliest_start(now)
                self.core.start_train(rate, pulses, trains, iti, t0=t0)
            return mv.encode(mv.R_MEP, bytes(12)), []  # MEP max/min/time: no MEP input
        if i == mv.MODE:
            return self._mode(d)
        if i == mv.PAGE:
            if len(d) != 2 or d[0] not in mv.PAGES.values():
                return None, []
            self.page = d[0]
            return self._page_frame(), []
        if i == mv.DELAYS:
            if len(d) != 8:
                return None, []
            return self._page_frame(), []
        return None, []

    def _page_frame(self) -> bytes:
        """The 8-byte id-08 frame: page shown, train or protocol running (0/1)."""
        return self._short(mv.R_PAGE, self.page, 1 if self.core.train_running() else 0)

    def _fire(self, now: float) -> bytes:
        before = len(self.world.pulses)
        if self.core.ready(now):
            pair = None
            if self.mode == "twin":
                b = min(100.0, round(self.core.power("A") * self.ratio))
                self.core.set_power(b, "B")
                pair = (self.ipi_ms / 1000.0, "B")
            self.core.fire_now(pair)
        didt = 0
        if len(self.world.pulses) > before:
            ev = self.world.pulses[before]
            didt = round(ev.v0_V / ev.circuit.inductance_H * 1e-6) if ev.discharged else 0
        return mv.encode_short(mv.R_DIDT, didt, 0, self._status_byte())

    def _mode(self, d: bytes) -> tuple[bytes | None, list[bytes]]:
        """``09``: 10 data bytes (set flag, model, mode, direction, waveform, burst index,
        IPI×10 MSB/LSB, B/A×100 MSB/LSB); the reply is the 14-byte ``09`` frame."""
        if len(d) != 10:
            return None, []
        if d[0] == 1:
            mode_i, direction, wave_i, burst_i = d[2], d[3], d[4], d[5]
            ipi10, ratio100 = struct.unpack(">2H", d[6:])
            if (
                mode_i >= len(mv.MODES)
                or wave_i >= len(mv.WAVEFORMS)
                or burst_i >= len(mv.BURST_PULSES)
                or direction > 1
            ):
                return None, []
            wave = mv.WAVEFORMS[wave_i]
            if wave not in self.world.sim.stimulator.waveforms:
                return None, []
            self.world.set_waveform(wave)
            self.mode = mv.MODES[mode_i]
            self.direction = direction
            self.burst_pulses = mv.BURST_PULSES[burst_i]
            self.ipi_ms = ipi10 / 10.0
            self.ratio = ratio100 / 100.0
            extra = [self._status_frame()]
        elif d[0] == 0:
            extra = []
        else:
            return None, []
        reply = mv.ModeReply(
            model_code=model_code(self.config.model),
            mode=self.mode,
            direction=self.direction,
            waveform=self.world.state.waveform,
            burst_pulses=self.burst_pulses,
            ipi_index=mv.twin_ipi_index(self.ipi_ms) if self.ipi_ms else 0,
            ratio_index=max(0, min(255, round((5.0 - self.ratio) / 0.05))),
        )
        return mv.encode_mode(reply), extra
