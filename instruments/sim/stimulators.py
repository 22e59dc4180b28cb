"""Simulated stimulators served on a pseudo-terminal.

:class:`SimStimulatorServer` opens a pty (``os.openpty``, slave in raw mode),
and runs one thread that reads command bytes from the master side, lets the
protocol device (:class:`~instruments.sim.magstim_sim.MagstimDevice` or
:class:`~instruments.sim.magventure_sim.MagVentureDevice`) act on the shared
:class:`~instruments.sim.world.World`, and writes the replies back. Drivers
open the slave as ``ASRL/dev/pts/N::INSTR`` exactly as a real serial port.

The thread also wakes for scheduled pulses (at their world time) and for the
device's watchdogs. Replies may be delayed by the ``reply_delay_ms`` fault
(wall ms) without stalling the device: they wait in an outgoing queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from collections import deque
from typing import Protocol

from instruments.sim.world import World
from instruments.stimulator.settings import StimulatorSettings

log = logging.getLogger(__name__)

TICK_S = 0.01  # wall s between watchdog checks when nothing else happens


class SimDevice(Protocol):
    """A protocol front driven by the server thread."""

    @property
    def faults(self) -> object: ...

    def receive(self, data: bytes, wall_now: float) -> None: ...

    def tick(self, wall_now: float) -> None: ...

    def next_deadline(self) -> float | None: ...


class SimStimulatorServer:
    """One simulated stimulator of ``config.driver`` on a pty; a SimBench front-end."""

    def __init__(self, world: World, config: StimulatorSettings) -> None:
        self.world = world
        self.config = config
        self._out: deque[tuple[float, bytes]] = deque()
        self._pending = b""  # bytes the pty would not take yet
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self.resource = ""
        self.device: SimDevice = self._make_device()

    def _make_device(self) -> SimDevice:
        if self.config.driver == "magstim":
            from instruments.sim.magstim_sim import MagstimDevice

            return MagstimDevice(self.world, self.config, self._send)
        from instruments.sim.magventure_sim import MagVentureDevice

        return MagVentureDevice(self.world, self.config, self._send)

    # ------------------------------------------------------------ FrontEnd
    def start(self) -> str:
        """Open the pty and serve; return ``ASRL/dev/pts/N::INSTR``."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass untouched
        os.set_blocking(self._master, False)
        path = os.ttyname(self._slave)
        self.resource = f"ASRL{path}::INSTR"
        self._thread = threading.Thread(
            target=self._run, name=f"sim-stimulator-{self.config.driver}", daemon=True
        )
        self._thread.start()
        return self.resource

    def stop(self) -> None:
        """Stop the thread and close the pty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    # ------------------------------------------------------------ output
    def _send(self, data: bytes, reply: bool) -> None:
        """Queue ``data`` for the wire; replies wait the ``reply_delay_ms`` fault."""
        delay = self.world.faults.reply_delay_ms / 1000.0 if reply else 0.0
        at = time.monotonic() + delay
        if self._out:
            at = max(at, self._out[-1][0])  # the wire keeps order
        self._out.append((at, data))

    def _flush(self, wall_now: float) -> None:
        while self._out and self._out[0][0] <= wall_now:
            self._pending += self._out.popleft()[1]
        if self._pending:
            try:
                n = os.write(self._master, self._pending)
                self._pending = self._pending[n:]
            except BlockingIOError:
                pass

    # ------------------------------------------------------------ loop
    def _timeout(self) -> float:
        timeout = TICK_S
        nxt = self.device.next_deadline()
        if nxt is not None:
            timeout = min(timeout, self.world.clock.wall_seconds(nxt - self.world.clock.now()))
        if self._out:
            timeout = min(timeout, self._out[0][0] - time.monotonic())
        return max(timeout, 0.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._master], [], [], self._timeout())
                wall = time.monotonic()
                if readable:
                    try:
                        data = os.read(self._master, 4096)
                    except (BlockingIOError, InterruptedError):
                        data = b""
                    if data:
                        self.device.receive(data, wall)
                self.device.tick(wall)
                self._flush(time.monotonic())
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("simulated stimulator pty: %s", exc)
                time.sleep(TICK_S)
            except Exception:  # the device must keep running whatever one frame did
                log.exception("simulated stimulator: error serving a frame")
