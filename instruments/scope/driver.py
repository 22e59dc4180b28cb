"""The scope driver: one class over a :class:`~instruments.scope.dialects.Dialect`.

Talks SCPI through pyvisa (pyvisa-py ``TCPIP::host::port::SOCKET`` on a LAN
bench and on the simulated bench). Errors are typed (:mod:`.errors`) and name the
scope, the resource and the command. After a timeout, a truncated block or a
lost connection the socket is reopened before the error is raised, so the same
:class:`Scope` object can be used again.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import pyvisa
from pyvisa import constants, errors

from instruments import activity
from instruments.closeable import Closeable
from instruments.scope.block import BlockFormatError, IncompleteBlock, read_block
from instruments.scope.dialects import DIALECTS, Dialect, parse_error_pairs
from instruments.scope.errors import (
    ScopeConnectionLost,
    ScopeError,
    ScopeTimeout,
    ScpiError,
    TriggerTimeout,
    TruncatedBlock,
)
from instruments.scope.settings import ScopeChannel, ScopeSettings
from instruments.scope.waveform import Preamble, Waveform

log = logging.getLogger(__name__)

T = TypeVar("T")
Slope = Literal["rising", "falling"]

_LOST = {
    constants.StatusCode.error_connection_lost,
    constants.StatusCode.error_io,
    constants.StatusCode.error_invalid_object,
}
POLL_S = 0.002  # status poll interval while waiting for an acquisition (wall s)


class _EofSocket:
    """A pyvisa-py session socket whose ``recv`` raises when the instrument has closed.

    pyvisa-py 0.8 treats an empty ``recv`` (the peer's FIN) like "no data yet" and
    loops until the VISA timeout, so a scope that drops the link mid-exchange cost a
    whole timeout (5 s) before the loss was seen. With this wrapper the read fails at
    once with :class:`ConnectionResetError`, which the driver maps to
    :class:`~instruments.scope.errors.ScopeConnectionLost`. Everything else is the
    socket's own.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = self.sock.recv(size, flags)
        if not data and size > 0:
            raise ConnectionResetError("connection closed by the instrument")
        return data

    def fileno(self) -> int:
        return self.sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Scope(Closeable):
    """An oscilloscope with named probe channels (from the bench file).

    Channel arguments are the bench names (``"current"``) or input numbers (1–8).
    Voltages are at the scope input with the probe factor applied (V), times in s.
    """

    def __init__(
        self,
        config: ScopeSettings,
        dialect: Dialect,
        rm: pyvisa.ResourceManager,
        *,
        chunk_size: int = 4 << 20,
    ) -> None:
        self.config = config
        self.dialect = dialect
        self.rm = rm
        self.chunk_size = chunk_size
        self.idn = ""
        self.last_command = ""
        self._inst: Any = None
        self._segments = 0  # N of the armed segmented acquisition, 0 = single
        # what this driver last set (per channel, timebase, trigger, acquisition): the
        # settings a captured waveform was taken with (FDA asks for them with waveforms)
        self._settings: dict[str, Any] = {"channels": {}}

    def settings(self) -> dict[str, Any]:
        """The settings this driver last sent: vertical per channel (V/div, offset V,
        probe factor, coupling), timebase (record s, pre-trigger fraction, points),
        trigger (source, level V, slope) and acquisition (single or N segments).

        A copy; what the scope reports with each record (sample interval, time of
        the first sample, V per code) travels with the :class:`Waveform` itself.
        """
        return {
            **{k: v for k, v in self._settings.items() if k != "channels"},
            "channels": {k: dict(v) for k, v in self._settings["channels"].items()},
        }

    # ------------------------------------------------------------ lifecycle
    @property
    def name(self) -> str:
        """IDN when known, else the driver name (for error messages)."""
        return self.idn or self.dialect.name

    def connect(self) -> None:
        """Open the VISA resource (closing an old session first)."""
        self._close_resource()
        try:
            inst = self.rm.open_resource(
                self.config.resource,
                timeout=self.config.timeout_ms,
                read_termination="\n",
                write_termination="\n",
            )
        except errors.VisaIOError as exc:
            raise self._err(ScopeConnectionLost, f"cannot open: {exc}", "") from exc
        except Exception as exc:  # pyvisa-py raises a bare Exception when the connect fails
            raise self._err(ScopeConnectionLost, f"cannot open: {exc}", "") from exc
        inst.chunk_size = self.chunk_size  # type: ignore[attr-defined]  # a MessageBasedResource
        self._tune_socket(inst)
        self._inst = inst

    def open(self) -> Scope:
        """Connect, identify and put the scope in the transfer formats the driver reads."""
        self.connect()
        self.identify()
        for cmd in self.dialect.init:
            self.write(cmd)
        self.check_errors()
        return self

    def close(self) -> None:
        """Close the VISA session."""
        self._close_resource()

    def reconnect(self) -> None:
        """Drop the socket and open a new one (instrument state is kept by the scope)."""
        self.connect()

    def _close_resource(self) -> None:
        inst, self._inst = self._inst, None
        if inst is not None:
            try:
                inst.close()
            except Exception:  # closing a dead socket must not hide the real error
                log.debug("closing %s failed", self.config.resource, exc_info=True)

    def _tune_socket(self, inst: Any) -> None:
        """Disable Nagle (TCP_NODELAY) and, on pyvisa-py, receive in 1 MiB pieces.

        Without TCP_NODELAY a write that follows a write without reply waits for
        the delayed ACK (~40 ms per command on Linux). pyvisa-py 0.8 registers
        the VISA attribute without a working setter, so the socket is set directly.
        """
        try:
            inst.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, True)
        except Exception:  # pyvisa-py: UnknownAttribute / not supported
            sock = getattr(self._session(inst), "interface", None)
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sess = self._session(inst)
        if sess is not None and hasattr(sess, "max_recv_size"):
            sess.max_recv_size = max(sess.max_recv_size, 1 << 20)
        if sess is not None and isinstance(getattr(sess, "interface", None), socket.socket):
            sess.interface = _EofSocket(sess.interface)

    def _session(self, inst: Any) -> Any:
        sessions = getattr(inst.visalib, "sessions", None)
        return sessions.get(inst.session) if isinstance(sessions, dict) else None

    def _peer_closed(self) -> bool:
        """pyvisa-py SOCKET only: True when the instrument has closed its end."""
        if self._inst is None:
            return True
        sess = self._session(self._inst)
        sock = getattr(sess, "interface", None)
        if isinstance(sock, _EofSocket):
            sock = sock.sock
        if not isinstance(sock, socket.socket) or getattr(sess, "_pending_buffer", None):
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # ------------------------------------------------------------ transport
    def _err(self, cls: type[ScopeError], message: str, command: str, **kw: Any) -> ScopeError:
        return cls(message, scope=self.name, resource=self.config.resource, command=command, **kw)

    def _io(self, command: str, fn: Callable[[], T]) -> T:
        """Run one exchange; map transport failures to typed errors and recover."""
        self.last_command = command
        if self._inst is None:
            self.connect()
        if self._peer_closed():
            self._recover()
            raise self._err(ScopeConnectionLost, "connection closed by the instrument", command)
        try:
            result = fn()
            activity.beat()
            return result
        except IncompleteBlock as exc:
            self._recover()
            raise self._err(
                TruncatedBlock,
                "binary block stopped early",
                command,
                expected=exc.expected,
                received=exc.received,
            ) from exc
        except BlockFormatError as exc:
            self._recover()
            raise self._err(ScopeError, str(exc), command) from exc
        except errors.VisaIOError as exc:
            closed = self._peer_closed()
            self._recover()
            if closed or exc.error_code in _LOST:
                raise self._err(ScopeConnectionLost, f"connection lost ({exc})", command) from exc
            if exc.error_code == constants.StatusCode.error_timeout:
                ms = self.config.timeout_ms
                raise self._err(ScopeTimeout, f"no reply within {ms} ms", command) from exc
            raise self._err(ScopeError, f"VISA error {exc}", command) from exc
        except OSError as exc:  # broken pipe / reset while writing
            self._recover()
            raise self._err(ScopeConnectionLost, f"connection lost ({exc})", command) from exc

    def _recover(self) -> None:
        """Reopen the socket so stale or half-sent replies cannot answer the next query."""
        try:
            self.connect()
        except ScopeConnectionLost:
            log.warning("reconnecting to %s failed; will retry on next use", self.config.resource)

    def write(self, command: str) -> None:
        """Send one command (no reply)."""
        self._io(command, lambda: self._inst.write(command))

    def query(self, command: str) -> str:
        """Send a query; return the reply line without its terminator."""
        return self._io(command, lambda: str(self._inst.query(command)).strip())

    def query_block(self, command: str) -> bytes:
        """Send a query answered by an IEEE 488.2 block; return the payload bytes."""

        def exchange() -> bytes:
            self._inst.write(command)
            return read_block(self._inst, chunk_size=self.chunk_size)

        return self._io(command, exchange)

    # ------------------------------------------------------------ status
    def identify(self) -> str:
        """``*IDN?``; remembered for error messages and waveforms."""
        self.idn = self.query("*IDN?")
        return self.idn

    def reset(self) -> None:
        """``*RST`` and restore the driver's transfer formats."""
        self.write("*RST")
        for cmd in self.dialect.init:
            self.write(cmd)
        self.query("*OPC?")
        self._segments = 0

    def status_byte(self) -> int:
        """``*STB?`` (IEEE 488.2): the status byte; bit 5 ESB, bit 4 MAV, bit 6 MSS."""
        return int(float(self.query("*STB?")))

    def event_status(self) -> int:
        """``*ESR?``: read and clear the standard event status register (32 = command error)."""
        return int(float(self.query("*ESR?")))

    def self_test(self) -> int:
        """``*TST?``: 0 when the instrument's self-test passed."""
        return int(float(self.query("*TST?")))

    def force_trigger(self) -> None:
        """Trigger the armed acquisition now, without its trigger condition."""
        self.write(self.dialect.force_trigger)

    def errors(self) -> list[tuple[int, str]]:
        """Drain the instrument's error queue: [(code, text), ...], empty when clean."""
        d = self.dialect
        if d.error_status_query is not None and int(float(self.query(d.error_status_query))) == 0:
            return []
        if d.errors_all_at_once:
            return parse_error_pairs(self.query(d.error_query))
        found: list[tuple[int, str]] = []
        for _ in range(64):  # a queue is finite; never loop forever on a confused reply
            pairs = parse_error_pairs(self.query(d.error_query))
            if not pairs:
                break
            found.extend(pairs)
        return found

    def check_errors(self, command: str = "") -> None:
        """Raise :class:`ScpiError` if the error queue is not empty.

        The error names ``command``, else the last command sent before the queue was read
        (a real Keysight answers ``-113,"Undefined header"`` without naming the command).
        """
        culprit = command or self.last_command
        found = self.errors()
        if found:
            raise ScpiError(
                found,
                scope=self.name,
                resource=self.config.resource,
                command=culprit,
            )

    def _batch(self, commands: Sequence[str]) -> None:
        for cmd in commands:
            self.write(cmd)
        self.check_errors(" ; ".join(commands))

    # ------------------------------------------------------------ setup
    def channel(self, channel: str | int) -> tuple[str, ScopeChannel]:
        """(bench name, probe description) of a channel name or input number."""
        chans = self.config.channels
        if isinstance(channel, str):
            if channel not in chans:
                raise KeyError(f"scope has no channel {channel!r} (bench: {sorted(chans)})")
            return channel, chans[channel]
        for name, ch in chans.items():
            if ch.channel == channel:
                return name, ch
        return f"CH{channel}", ScopeChannel(channel=channel, quantity="current", volts_per_unit=1)

    def configure_channel(
        self,
        channel: str | int,
        *,
        volts_per_div: float,
        offset_V: float = 0.0,
        probe: float = 1.0,
        coupling: Literal["DC", "AC"] = "DC",
    ) -> None:
        """Vertical setup: scale (V/div), offset (V), probe factor, coupling; display on."""
        name, ch = self.channel(channel)
        t = self.dialect.channel
        n = ch.channel
        self._settings["channels"][name] = {
            "input": n,
            "volts_per_div": volts_per_div,
            "offset_V": offset_V,
            "probe": probe,
            "coupling": coupling,
        }
        self._batch(
            [
                t["display"].format(ch=n, value="ON"),
                t["probe"].format(ch=n, value=probe),
                t["coupling"].format(ch=n, value=coupling),
                t["scale"].format(ch=n, value=volts_per_div),
                t["offset"].format(ch=n, value=offset_V),
            ]
        )

    def set_timebase(
        self, record_s: float, *, pretrigger: float = 0.1, points: int = 10_000
    ) -> None:
        """Record of ``record_s`` s, ``points`` samples, ``pretrigger`` (0..1) before trigger."""
        if not 0 <= pretrigger <= 1:
            raise ValueError(f"pretrigger {pretrigger} is a fraction 0..1")
        self._settings["timebase"] = {
            "record_s": record_s,
            "pretrigger": pretrigger,
            "points": points,
        }
        self._batch(self.dialect.timebase(record_s, pretrigger, points))

    def set_trigger(self, source: str | int, level_V: float, slope: Slope = "rising") -> None:
        """Edge trigger on a channel at ``level_V`` (V at the scope input)."""
        name, ch = self.channel(source)
        self._settings["trigger"] = {"source": name, "level_V": level_V, "slope": slope}
        src = self.dialect.source.format(ch=ch.channel)
        d = self.dialect
        self._batch([c.format(src=src, level=level_V, slope=d.slopes[slope]) for c in d.trigger])

    # ------------------------------------------------------------ acquisition
    def arm(self) -> None:
        """Start one single acquisition; returns once the scope is armed."""
        self._start(self.dialect.single, 0)

    def arm_segmented(self, count: int) -> None:
        """Arm segmented memory / FastFrame for ``count`` triggers (2–1000)."""
        if not 2 <= count <= 1000:
            raise ValueError(f"segment count {count} outside 2..1000")
        self._start([c.format(n=count) for c in self.dialect.segmented], count)

    def _start(self, setup: Sequence[str], segments: int) -> None:
        self._settings["acquisition"] = f"{segments} segments" if segments else "single"
        self._batch(setup)
        self.write(self.dialect.start)
        self.query("*OPC?")  # the start command has been parsed: the scope is armed
        self._segments = segments

    def busy(self) -> bool:
        """True while the armed acquisition has not completed."""
        return self.dialect.busy(self.query(self.dialect.busy_query))

    def wait(self, timeout_s: float = 5.0) -> None:
        """Wait for the acquisition to complete (polls the scope's own status).

        Raises :class:`TriggerTimeout` (after stopping the acquisition) when it
        has not completed within ``timeout_s`` (wall s).
        """
        deadline = time.monotonic() + timeout_s
        while self.busy():
            if time.monotonic() > deadline:
                got = self.acquired() if self._segments else 0
                self.write(self.dialect.stop)
                what = f"{got} of {self._segments} segments" if self._segments else "no trigger"
                raise self._err(
                    TriggerTimeout,
                    f"acquisition not complete after {timeout_s} s ({what})",
                    self.dialect.busy_query,
                )
            time.sleep(POLL_S)

    def acquired(self) -> int:
        """Segments / frames acquired so far in segmented mode."""
        return int(float(self.query(self.dialect.acquired_query)))

    def stop(self) -> None:
        """Stop the acquisition."""
        self.write(self.dialect.stop)

    # ------------------------------------------------------------ data
    def _transfer(self, channel: str | int, select: Sequence[str]) -> tuple[Preamble, np.ndarray]:
        _, ch = self.channel(channel)
        cmds = [self.dialect.select_source.format(src=self.dialect.source.format(ch=ch.channel))]
        for cmd in [*cmds, *select]:
            self.write(cmd)
        text = self.query(self.dialect.preamble_query)
        try:
            pre = self.dialect.parse_preamble(text)
        except ValueError as exc:
            self.check_errors(self.dialect.preamble_query)
            raise self._err(ScopeError, str(exc), self.dialect.preamble_query) from exc
        d = self.dialect
        if pre.ascii:  # a scope left in ASCii (the driver itself asks for binary)
            if d.ascii_in_block:
                raw = self.query_block(d.data_query)
            else:
                raw = self.query(d.data_query).encode("ascii")
            codes = d.parse_ascii(raw, pre)
        else:
            payload = self.query_block(d.data_query)
            codes = np.frombuffer(payload, dtype=np.dtype(pre.dtype))
        if codes.size == 0:
            self.check_errors(self.dialect.data_query)
            raise self._err(
                ScopeError, "no waveform data (nothing acquired?)", self.dialect.data_query
            )
        return pre, codes

    def _make(
        self, channel: str | int, pre: Preamble, codes: np.ndarray, segment: int, tag: float
    ) -> Waveform:
        name, ch = self.channel(channel)
        volts = (codes.astype(np.float64) - pre.y_reference) * pre.y_increment + pre.y_origin
        if pre.hole is not None:
            volts[codes == pre.hole] = np.nan
        n_clipped = int(np.count_nonzero((codes == pre.rail_low) | (codes == pre.rail_high)))
        return Waveform(
            channel=name,
            source=ch.channel,
            t0_s=pre.t0_s,
            dt_s=pre.dt_s,
            volts=volts,
            raw=codes,
            rail_low=pre.rail_low,
            rail_high=pre.rail_high,
            n_clipped=n_clipped,
            segment=segment,
            time_tag_s=tag,
            y_increment=pre.y_increment,
            y_origin=pre.y_origin,
            quantity=ch.quantity,
            volts_per_unit=ch.volts_per_unit,
            scope=self.name,
        )

    def read_waveform(self, channel: str | int, segment: int | None = None) -> Waveform:
        """The last acquisition of ``channel`` (or one segment, 1-based) in volts."""
        select: list[str] = []
        tag = 0.0
        if segment is not None:
            select = [c.format(i=segment) for c in self.dialect.select_segment]
            if self.dialect.tags_all_at_once:
                tag = self.time_tags()[segment - 1]
            else:
                for cmd in select:
                    self.write(cmd)
                tag = float(self.query(self.dialect.time_tag_query))
        pre, codes = self._transfer(channel, select)
        return self._make(channel, pre, codes, segment or 1, tag)

    def time_tags(self) -> list[float]:
        """Trigger time of each acquired segment, s since the first trigger (device clock)."""
        d = self.dialect
        if d.tags_all_at_once:
            text = self.query(d.time_tag_query)
            return [float(x) for x in text.split(",") if x.strip()]
        tags = []
        for i in range(1, self.acquired() + 1):
            for c in d.select_segment:
                self.write(c.format(i=i))
            tags.append(float(self.query(d.time_tag_query)))
        return tags

    def read_segments(self, channel: str | int) -> list[Waveform]:
        """Every acquired segment of ``channel`` with its time tag, in volts."""
        d = self.dialect
        tags = self.time_tags()
        n = len(tags)
        if d.select_all_segments is not None:  # one transfer, frames back to back
            pre, codes = self._transfer(channel, [c.format(n=n) for c in d.select_all_segments])
            per = pre.points
            if codes.size != per * n:
                raise self._err(
                    ScopeError,
                    f"{codes.size} samples for {n} frames of {per}",
                    d.data_query,
                )
            return [
                self._make(channel, pre, codes[k * per : (k + 1) * per], k + 1, tags[k])
                for k in range(n)
            ]
        out = []
        for k in range(n):
            pre, codes = self._transfer(channel, [c.format(i=k + 1) for c in d.select_segment])
            out.append(self._make(channel, pre, codes, k + 1, tags[k]))
        return out


def open_scope(config: ScopeSettings, rm: pyvisa.ResourceManager | None = None) -> Scope:
    """Connect to the scope ``config`` describes and prepare it for transfers.

    ``rm`` defaults to a pyvisa-py resource manager (``@py``).
    """
    dialect = DIALECTS[config.driver]
    scope = Scope(config, dialect, rm or pyvisa.ResourceManager("@py"))
    try:
        return scope.open()
    except BaseException:
        scope.close()
        raise
