"""IEEE 488.2 binary blocks read by hand over a pyvisa message-based resource.

Why by hand: pyvisa's ``query_binary_values`` over a SOCKET resource reads with
the termination character enabled, so every 0x0A byte inside the binary data
ends a low-level read; 10M int16 samples take ~1 s that way vs ~0.05 s when the
length is read from the header and the payload with ``read_bytes`` and no
termination (tmsbench design notes, "Real transports"). The payload goes
straight into one preallocated buffer through ``visalib.read`` (the call
``read_bytes`` loops over), which saves ``read_bytes``' two extra copies: on
loopback that is the difference between ~45 % and ~100 % of a raw socket.

Block forms:

* definite ``#<d><len><data>`` + LF: ``d`` (1–9) digits of length, then exactly
  ``len`` bytes, then the message terminator LF.
* indefinite ``#0<data>`` + LF: IEEE 488.2 ends the data with NL *and* EOI. A raw
  socket has no EOI, so an LF inside the data cannot be told from the final one
  by looking at the bytes. Here the block ends at an LF after which the
  instrument sends nothing more for ``quiet_s``; every earlier LF is data. The
  payload is everything between ``#0`` and that final LF. A sender that stalls
  for longer than ``quiet_s`` right after a data LF would be cut there, so
  drivers ask for definite blocks and only accept ``#0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyvisa import constants, errors

LF = 0x0A
_QUIET = (
    constants.StatusCode.success_max_count_read,
    constants.StatusCode.success_device_not_present,
)


class BlockFormatError(ValueError):
    """The reply is not an IEEE 488.2 block (``got`` holds what came instead)."""

    def __init__(self, message: str, got: bytes) -> None:
        self.got = got
        super().__init__(f"{message}: {got[:80]!r}")


class IncompleteBlock(Exception):
    """The block stopped before its announced length (the read timed out)."""

    def __init__(self, expected: int, received: int) -> None:
        self.expected = expected
        self.received = received
        super().__init__(f"block incomplete: {received} of {expected} bytes")


@contextmanager
def no_read_termination(inst: Any) -> Iterator[None]:
    """Disable the read termination character; restored even when the read fails.

    (pyvisa's own ``read_termination_context`` does not restore it on an exception.)
    """
    saved = inst.read_termination
    inst.read_termination = None
    try:
        yield
    finally:
        inst.read_termination = saved


@contextmanager
def _timeout(inst: Any, ms: float) -> Iterator[None]:
    saved = inst.timeout
    inst.timeout = ms
    try:
        yield
    finally:
        inst.timeout = saved


def _is_timeout(exc: errors.VisaIOError) -> bool:
    return exc.error_code == constants.StatusCode.error_timeout


def read_block(inst: Any, *, chunk_size: int = 4 << 20, quiet_s: float = 0.05) -> bytes:
    """Read one block reply (after the query was written); return its payload.

    Raises :class:`BlockFormatError` when the reply is not a block (the rest of
    that line is consumed), :class:`IncompleteBlock` when the data stops before
    its announced length; other VISA errors propagate.
    """
    with no_read_termination(inst):
        head = inst.read_bytes(2)
        if head[:1] != b"#" or not head[1:2].isdigit():
            rest = b"" if head.endswith(b"\n") else _read_line(inst)
            raise BlockFormatError("expected an IEEE 488.2 block '#'", head + rest)
        ndigits = int(head[1:2])
        if ndigits == 0:
            return _read_indefinite(inst, quiet_s)
        digits = inst.read_bytes(ndigits)
        if not digits.isdigit():
            raise BlockFormatError(f"block length is not {ndigits} digits", head + digits)
        length = int(digits)
        buf = bytearray(length + 1)  # payload and the LF terminator
        view = memoryview(buf)
        pos = 0
        try:
            with inst.ignore_warning(*_QUIET):
                while pos < len(buf):
                    # read_bytes' own loop, minus its two extra copies of the data
                    data, _ = inst.visalib.read(inst.session, min(chunk_size, len(buf) - pos))
                    view[pos : pos + len(data)] = data
                    pos += len(data)
        except errors.VisaIOError as exc:
            if _is_timeout(exc):
                raise IncompleteBlock(length, min(pos, length)) from exc
            raise
        finally:
            view.release()
        if buf[-1] != LF:
            raise BlockFormatError(f"block of {length} bytes not followed by LF", bytes(buf[-1:]))
        del buf[-1]
        return bytes(buf)


def _read_line(inst: Any) -> bytes:
    """Consume the rest of a text reply up to its LF (resynchronise after a surprise)."""
    saved = inst.read_termination
    inst.read_termination = "\n"
    try:
        return bytes(inst.read_bytes(1 << 16, break_on_termchar=True))
    except errors.VisaIOError:
        return b""
    finally:
        inst.read_termination = saved


def _read_indefinite(inst: Any, quiet_s: float) -> bytes:
    """``#0`` data up to the LF after which the line goes quiet (see module doc)."""
    saved = inst.read_termination
    buf = bytearray()
    inst.read_termination = "\n"
    try:
        buf += inst.read_bytes(1 << 30, break_on_termchar=True)
        while True:
            try:
                with _timeout(inst, max(quiet_s * 1000.0, 1.0)):
                    buf += inst.read_bytes(1 << 30, break_on_termchar=True)
            except errors.VisaIOError as exc:
                if _is_timeout(exc):
                    break
                raise
    finally:
        inst.read_termination = saved
    if not buf.endswith(b"\n"):
        raise IncompleteBlock(-1, len(buf))
    return bytes(buf[:-1])


def encode_block(payload: bytes | bytearray | memoryview, ndigits: int | None = None) -> bytes:
    """The ``#<d><len>`` header of a definite block (``ndigits`` fixed, e.g. 8 for Keysight)."""
    n = len(payload)
    d = ndigits if ndigits is not None else len(str(n))
    text = str(n).zfill(d)
    if len(text) != d or not 1 <= d <= 9:
        raise ValueError(f"length {n} does not fit a #{d} block header")
    return f"#{d}{text}".encode()
