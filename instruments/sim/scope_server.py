"""The simulated oscilloscope on TCP: raw-socket SCPI (``TCPIP::127.0.0.1::<port>::SOCKET``).

An asyncio server in a background thread, one port per scope; the SCPI engine
(:mod:`instruments.sim.scope_engine`) holds the state and speaks the dialect of
the bench's ``[scope] driver``. Program messages end with LF; the replies to
one message are joined with ';' and end with LF; a binary reply is an IEEE
488.2 definite-length block followed by LF.

Fault knobs (``world.faults``, read live at every command):

* ``scope_disconnect_after_n``: a connection answers n commands, then the
  scope closes it (each new connection gets n more).
* ``scope_reply_delay_ms``: every reply is sent that much later (wall ms).
* ``scope_truncated_block_every_n``: every nth binary block is cut to half its
  announced length, and the rest (and its LF) is never sent.
* ``scope_no_trigger``: the scope arms but never triggers.

A ``:DIGitize`` holds the rest of its message and every later message of the
same connection until the acquisition completes (or another connection sends
``:STOP``); other connections are served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

from instruments.scope.settings import ScopeSettings
from instruments.sim.scope_engine import Block, ScopeEngine
from instruments.sim.world import World

log = logging.getLogger(__name__)


class SimScopeServer:
    """Serve one simulated scope of ``world`` on 127.0.0.1 (``port`` 0 = any free port)."""

    def __init__(
        self, world: World, config: ScopeSettings, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.world = world
        self.config = config
        self.engine = ScopeEngine(world, config)
        self.host = host
        self.port = port
        self.blocks_sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def resource(self) -> str:
        """The VISA resource a driver opens."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def start(self) -> str:
        """Start serving in a background thread; return the VISA resource string."""
        if self._thread is not None:
            return self.resource
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, self.host, self.port)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(
            target=run, name=f"sim-scope-{self.config.driver}", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        self.world.subscribe(self.engine.on_pulse)
        log.info("simulated %s scope on %s", self.config.driver, self.resource)
        return self.resource

    def stop(self) -> None:
        """Stop serving: close the listening socket and every connection."""
        self.world.unsubscribe(self.engine.on_pulse)
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._thread = None
        self._loop = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count = 0
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                count += 1
                faults = self.world.faults
                limit = faults.scope_disconnect_after_n
                if limit and count > limit:
                    break
                replies, rest = self.engine.run(line)
                while rest is not None:
                    # this connection sent :DIGitize: its input waits for the acquisition
                    await asyncio.sleep(0.001)
                    if not self.engine.blocked:
                        if rest:
                            more, rest = self.engine.run(rest)
                            replies += more
                        else:
                            rest = None
                if replies:
                    if faults.scope_reply_delay_ms > 0:
                        await asyncio.sleep(faults.scope_reply_delay_ms / 1000.0)
                    await self._send(writer, replies)
                if limit and count >= limit:
                    break  # n commands answered: the scope drops the connection
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)

    async def _send(self, writer: asyncio.StreamWriter, replies: list[str | Block]) -> None:
        for i, item in enumerate(replies):
            if i:
                writer.write(b";")
            if isinstance(item, str):
                writer.write(item.encode("ascii"))
                continue
            payload = item.payload
            header = _block_header(len(payload), item.ndigits)
            self.blocks_sent += 1
            every = self.world.faults.scope_truncated_block_every_n
            if every and self.blocks_sent % every == 0:
                writer.write(header)
                writer.write(payload[: len(payload) // 2])
                await writer.drain()
                return  # the rest of this reply never comes
            writer.write(header)
            writer.write(payload)
        writer.write(b"\n")
        await writer.drain()


def _block_header(length: int, ndigits: int | None) -> bytes:
    text = str(length)
    if ndigits is not None:
        text = text.zfill(ndigits)
    return f"#{len(text)}{text}".encode()
