"""IEEE 488.2 block reads over a real pyvisa-py SOCKET session to a canned server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import pyvisa
from pyvisa import errors

from instruments.scope.block import (
    BlockFormatError,
    IncompleteBlock,
    encode_block,
    read_block,
)


class CannedServer:
    """Answers the k-th received line with ``replies[k]`` (raw bytes, sent as is)."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            buf = b""
            for reply in self.replies:
                while b"\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                buf = buf.split(b"\n", 1)[1]
                conn.sendall(reply)
            while conn.recv(4096):  # hold the connection until the client closes
                pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


def open_canned(rm: pyvisa.ResourceManager, replies: list[bytes], timeout_ms: int = 1000) -> Any:
    server = CannedServer(replies)
    inst = rm.open_resource(
        f"TCPIP::127.0.0.1::{server.port}::SOCKET",
        timeout=timeout_ms,
        read_termination="\n",
        write_termination="\n",
    )
    inst._canned = server  # keep the server alive as long as the session
    return inst


def definite(payload: bytes, ndigits: int | None = None) -> bytes:
    return encode_block(payload, ndigits) + payload + b"\n"


def test_payload_full_of_line_feeds_is_read_whole(rm: pyvisa.ResourceManager) -> None:
    payload = bytes([0x0A, 0x0A, 0x23, 0x0A]) * 1000 + b"\n"
    inst = open_canned(rm, [definite(payload, 8), b"1\n"])
    inst.write(":WAVeform:DATA?")
    assert read_block(inst) == payload
    assert inst.query("*OPC?") == "1"  # the LF terminator was consumed, nothing left over
    assert inst.read_termination == "\n"
    inst.close()


def test_payload_is_read_with_the_termination_character_off(
    rm: pyvisa.ResourceManager,
) -> None:
    """With it on, each 0x0A would end a low-level read: correct bytes, 15-20x slower."""
    inst = open_canned(rm, [definite(b"\n" * 5000)])
    seen: list[str | None] = []
    real = inst.read_bytes

    def spy(count: int, *args: Any, **kw: Any) -> bytes:
        seen.append(inst.read_termination)
        return real(count, *args, **kw)

    inst.read_bytes = spy
    inst.write("CURVe?")
    assert read_block(inst) == b"\n" * 5000
    assert seen and all(term is None for term in seen)
    inst.close()


def test_multi_megabyte_block_in_small_chunks(rm: pyvisa.ResourceManager) -> None:
    payload = np.random.default_rng(1).integers(0, 256, 6_000_001, dtype=np.uint8).tobytes()
    inst = open_canned(rm, [definite(payload), b"1\n"])
    inst.write("CURVe?")
    assert read_block(inst, chunk_size=1 << 16) == payload
    assert inst.query("*OPC?") == "1"
    inst.close()


def test_empty_definite_block(rm: pyvisa.ResourceManager) -> None:
    inst = open_canned(rm, [b"#800000000\n"])
    inst.write(":WAVeform:DATA?")
    assert read_block(inst) == b""
    inst.close()


def test_indefinite_block_ends_at_the_last_line_feed(rm: pyvisa.ResourceManager) -> None:
    payload = b"ab\ncd\n\nef"
    inst = open_canned(rm, [b"#0" + payload + b"\n", b"1\n"])
    inst.write("CURVe?")
    assert read_block(inst, quiet_s=0.05) == payload
    assert inst.query("*OPC?") == "1"
    inst.close()


def test_truncated_block_times_out_as_incomplete(rm: pyvisa.ResourceManager) -> None:
    inst = open_canned(rm, [b"#41000" + b"\x0a" * 400], timeout_ms=200)
    inst.write(":WAVeform:DATA?")
    with pytest.raises(IncompleteBlock) as info:
        read_block(inst, chunk_size=100)
    assert info.value.expected == 1000 and 0 < info.value.received < 1000
    assert inst.read_termination == "\n"  # restored despite the error
    inst.close()


def test_text_instead_of_a_block_is_rejected_and_consumed(rm: pyvisa.ResourceManager) -> None:
    inst = open_canned(rm, [b'-222,"Data out of range"\n', b"1\n"])
    inst.write(":WAVeform:DATA?")
    with pytest.raises(BlockFormatError, match="Data out of range"):
        read_block(inst)
    assert inst.query("*OPC?") == "1"
    inst.close()


def test_block_without_terminator_is_rejected(rm: pyvisa.ResourceManager) -> None:
    inst = open_canned(rm, [b"#13abcX"])
    inst.write("CURVe?")
    with pytest.raises(BlockFormatError, match="not followed by LF"):
        read_block(inst)
    inst.close()


def test_query_binary_values_would_agree(rm: pyvisa.ResourceManager) -> None:
    """Same bytes through pyvisa's own reader: our reader is a faster equal, not a variant."""
    codes = np.arange(0, 5000, dtype="<u2") * 13  # many 0x0A bytes
    payload = codes.tobytes()
    inst = open_canned(rm, [definite(payload, 8), definite(payload, 8)])
    inst.write("CURVe?")
    ours = np.frombuffer(read_block(inst), dtype="<u2")
    theirs = inst.query_binary_values("CURVe?", datatype="H", container=np.array)
    assert np.array_equal(ours, codes) and np.array_equal(theirs, codes)
    inst.close()


def test_encode_block_header() -> None:
    assert encode_block(b"x" * 12) == b"#212"
    assert encode_block(b"", 8) == b"#800000000"
    with pytest.raises(ValueError):
        encode_block(b"x" * 10, 1)


def test_timeouts_other_than_blocks_propagate(rm: pyvisa.ResourceManager) -> None:
    inst = open_canned(rm, [], timeout_ms=100)
    inst.write("CURVe?")
    with pytest.raises(errors.VisaIOError):
        read_block(inst)
    inst.close()
