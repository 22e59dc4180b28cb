"""Byte transports for stimulator drivers: pyvisa serial, and a scripted fake for tests.

Serial over a pseudo-terminal (the simulated bench) rejects some termios
settings: only the baud rate is set here, never parity, data bits or flow
control (8N1 without flow control is the pyserial default and what both
protocols use). A pty does not pace bytes by baud.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Protocol

from instruments import activity
from instruments.stimulator.base import ConnectionLost, hexdump


class Transport(Protocol):
    """A byte pipe to one device."""

    resource: str

    def write(self, data: bytes) -> None:
        """Send ``data``."""
        ...

    def read(self, n: int, deadline: float) -> bytes:
        """Up to ``n`` bytes; fewer (maybe none) when ``time.monotonic()`` passes ``deadline``."""
        ...

    def read_available(self) -> bytes:
        """Whatever has already arrived, without waiting."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


class VisaTransport:
    """A pyvisa serial resource (``ASRL...::INSTR``, pyvisa-py ``@py`` backend)."""

    def __init__(self, resource: str, *, baud_rate: int, rm: Any | None = None) -> None:
        import pyvisa
        from pyvisa import constants

        self.resource = resource
        self._owns_rm = rm is None
        self._rm = rm if rm is not None else pyvisa.ResourceManager("@py")
        self._timeout_error = constants.StatusCode.error_timeout
        try:
            inst: Any = self._rm.open_resource(resource, baud_rate=baud_rate)
            # binary frames: never stop a read at a termination character
            inst.read_termination = None
            inst.write_termination = None
            inst.end_input = constants.SerialTermination.none
        except Exception as exc:
            if self._owns_rm:
                self._rm.close()
            raise ConnectionLost(f"cannot open serial port: {exc}", resource=resource) from exc
        self._inst = inst  # a pyvisa SerialInstrument
        self._timeout_ms: float | None = None

    def _set_timeout(self, seconds: float) -> None:
        ms = max(1.0, round(seconds * 1000.0))
        if ms != self._timeout_ms:
            self._inst.timeout = ms
            self._timeout_ms = ms

    def write(self, data: bytes) -> None:
        try:
            self._inst.write_raw(data)
        except Exception as exc:
            raise ConnectionLost(f"write failed: {exc}", resource=self.resource, sent=data) from exc

    def read(self, n: int, deadline: float) -> bytes:
        import pyvisa

        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                avail = self._inst.bytes_in_buffer
                self._set_timeout(left)
                chunk = self._inst.read_bytes(min(max(avail, 1), n - len(buf)))
            except pyvisa.VisaIOError as exc:
                if exc.error_code == self._timeout_error:
                    break
                raise ConnectionLost(
                    f"read failed: {exc}", resource=self.resource, received=bytes(buf)
                ) from exc
            except Exception as exc:  # pyserial/OS errors surface unwrapped from pyvisa-py
                raise ConnectionLost(
                    f"read failed: {exc}", resource=self.resource, received=bytes(buf)
                ) from exc
            buf.extend(chunk)
        if len(buf) == n:
            activity.beat()
        return bytes(buf)

    def read_available(self) -> bytes:
        try:
            avail = self._inst.bytes_in_buffer
            return bytes(self._inst.read_bytes(avail)) if avail else b""
        except Exception as exc:
            raise ConnectionLost(f"read failed: {exc}", resource=self.resource) from exc

    def close(self) -> None:
        try:
            self._inst.close()
        finally:
            if self._owns_rm:
                self._rm.close()


class ExpectedProtocol:
    """A fake transport that asserts each written frame and answers canned bytes.

    ``exchanges`` is a list of ``(expected_write, reply)``; ``reply`` may be
    ``b""`` (silence: reads time out at once). Extra bytes that arrive
    unprompted are queued with :meth:`push`. :meth:`assert_done` fails when
    some exchange was never used.
    """

    def __init__(
        self, exchanges: list[tuple[bytes, bytes]], resource: str = "ASRL/dev/fake::INSTR"
    ) -> None:
        self.resource = resource
        self._script: deque[tuple[bytes, bytes]] = deque(exchanges)
        self._rx = bytearray()
        self.written: list[bytes] = []
        self.closed = False

    def push(self, data: bytes) -> None:
        """Bytes the device sends without being asked."""
        self._rx.extend(data)

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        if not self._script:
            raise AssertionError(f"unexpected write {hexdump(data)}: no exchange left")
        expected, reply = self._script.popleft()
        if data != expected:
            raise AssertionError(f"wrote {hexdump(data)}, expected {hexdump(expected)}")
        self._rx.extend(reply)

    def read(self, n: int, deadline: float) -> bytes:
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def read_available(self) -> bytes:
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def close(self) -> None:
        self.closed = True

    def assert_done(self) -> None:
        """Every scripted exchange happened."""
        if self._script:
            left = ", ".join(hexdump(w) for w, _ in self._script)
            raise AssertionError(f"exchanges never sent: {left}")
