"""The DAQ driver on ``nidaqmx``: local NI-DAQmx driver or NI gRPC device server.

One code path for both: with ``DaqSettings.grpc = "host:port"`` every task is
created as ``nidaqmx.Task(grpc_options=GrpcSessionOptions(channel, ""))`` on
one gRPC channel (``grpc.max_receive_message_length = -1``, so large reads
fit); otherwise ``nidaqmx.Task()`` uses the local driver.

Choices (documented here because a bench engineer will ask):

- **Scale**: the HV-divider ratio (``DaqChannel.scale``, physical units per
  volt) is applied in this driver (``volts * scale``), not as a DAQmx custom
  scale: ``min_val``/``max_val`` then stay the card's input range in volts,
  and the driver behaves the same on every device and server.
- **Thermocouple range**: unless the bench file sets ``min_val``/``max_val``,
  thermocouple channels use 0..150 °C (the volt defaults of ``DaqChannel``
  make no sense as temperatures).
- **Open thermocouple**: a reading outside the channel range is checked
  against the device's "open thermocouple channels" read property; an open
  circuit (or a reading at or above the top of the thermocouple type's range,
  where NI modules with open-thermocouple detection rail) raises
  :class:`ThermocoupleOpen`, anything else :class:`DaqOutOfRange`.
- **Time stamps**: the first-sample time stamp (``Timing.FirstSampTimestamp``)
  is enabled when the device supports it; the record's ``t0_epoch_ns`` is then
  the device's time of sample 0, else ``None``.
- **Errors**: every ``nidaqmx.errors.Error`` (``DaqNotFoundError`` and
  ``RpcError`` are not ``DaqError`` subclasses) becomes a typed
  :class:`~instruments.daq.errors.DaqError` naming device, channel, action
  and NI code.
- **Deadlines** (gRPC): nidaqmx sets no gRPC deadline, so a server that keeps
  the connection but never answers would hang the bench. Every unary call on
  the driver's channel gets one: the call's own expected duration (a read of
  ``n`` samples at ``rate``: ``n / rate + timeout_s``; any call carrying a
  DAQmx ``timeout``/``time_to_wait``: that) plus ``DaqSettings.call_margin_s``.
  A missed deadline raises :class:`~instruments.daq.errors.DaqNoReply` naming
  the device, the server, the action and the gRPC method. (Event streams,
  which this driver does not open, are long-lived and get no deadline.)
"""

from __future__ import annotations

import collections
import datetime as _dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
import nidaqmx
import nidaqmx.errors as nierr
import nidaqmx.system
import numpy as np
from nidaqmx.constants import (
    READ_ALL_AVAILABLE,
    AcquisitionType,
    CJCSource,
    Edge,
    Level,
    LineGrouping,
    TemperatureUnits,
    ThermocoupleType,
)
from nidaqmx.stream_readers import (
    AnalogMultiChannelReader,
    AnalogSingleChannelReader,
    CounterReader,
    DigitalSingleChannelReader,
)
from nidaqmx.stream_writers import DigitalSingleChannelWriter
from nidaqmx.types import CtrTime

from instruments.daq.base import (
    TRIGGER_HIGH_S,
    Acquisition,
    AnalogRecord,
    Daq,
    EdgeCounter,
    EdgeKind,
    PulseOutput,
    pulse_pattern,
)
from instruments.daq.errors import (
    ERROR_TYPES,
    DaqError,
    DaqNoReply,
    DaqOutOfRange,
    DaqReadTimeout,
    DaqUnavailable,
    DaqUnsupported,
    ThermocoupleOpen,
)
from instruments.daq.settings import DaqChannel, DaqSettings

TC_DEFAULT_RANGE_C = (0.0, 150.0)
# Top of each thermocouple type's range (°C, NIST ITS-90 tables): open-circuit rail.
TC_TOP_C = {
    "B": 1820.0,
    "E": 1000.0,
    "J": 1200.0,
    "K": 1372.0,
    "N": 1300.0,
    "R": 1768.0,
    "S": 1768.0,
    "T": 400.0,
}
CONTINUOUS_BUFFER_S = 2.0  # continuous acquisitions buffer this much device time
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    """``grpc.ClientCallDetails`` with a replaced timeout."""


def call_deadline_s(request: Any, expected_s: float, margin_s: float) -> float:
    """Deadline (s) of one gRPC call: its expected duration plus ``margin_s``.

    The expected duration is the larger of what the driver expects
    (``expected_s``, e.g. ``n / rate + timeout_s`` for a read) and the DAQmx
    wait the request itself carries (``timeout`` of reads and writes,
    ``time_to_wait`` of WaitUntilTaskDone; negative = wait forever, ignored).
    """
    budget = max(expected_s, 0.0)
    for field in ("timeout", "time_to_wait"):
        wait = getattr(request, field, None)
        if isinstance(wait, float) and wait >= 0:
            budget = max(budget, wait)
    return budget + margin_s


class _Deadlines(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Give every unary call on a channel a deadline (:func:`call_deadline_s`).

    ``expecting(seconds)`` sets the expected duration of the calls made
    inside it, in this thread; ``last`` is the last call's (method, deadline).
    """

    def __init__(self, margin_s: float) -> None:
        self.margin_s = margin_s
        self._local = threading.local()

    @contextmanager
    def expecting(self, seconds: float) -> Iterator[None]:
        before = getattr(self._local, "expected", 0.0)
        self._local.expected = seconds
        try:
            yield
        finally:
            self._local.expected = before

    @property
    def last(self) -> tuple[str, float]:
        last: tuple[str, float] = getattr(self._local, "last", ("", 0.0))
        return last

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        timeout = call_deadline_s(request, getattr(self._local, "expected", 0.0), self.margin_s)
        if details.timeout is not None:
            timeout = min(timeout, details.timeout)
        self._local.last = (str(details.method).rsplit("/", 1)[-1], timeout)
        new = _CallDetails(
            details.method,
            timeout,
            details.metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )
        return continuation(new, request)


def _ni_message(exc: BaseException) -> str:
    """The DAQmx message without the trailing status-code paragraph."""
    text = str(exc).split("\n\nStatus Code:")[0].strip()
    return text or type(exc).__name__


def _epoch_ns(stamp: Any) -> int:
    """Unix ns of a (hightime) datetime, keeping sub-µs precision when present."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.UTC)
    td = stamp - _EPOCH
    ns = ((td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds) * 1000
    return int(ns + getattr(td, "femtoseconds", 0) // 1_000_000)


class NidaqmxDaq(Daq):
    """:class:`Daq` on the ``nidaqmx`` package (local driver or gRPC)."""

    def __init__(self, config: DaqSettings, *, timestamps: bool = True) -> None:
        self.config = config
        self.device = config.device
        self.timestamps = timestamps
        self._grpc_channel: Any = None
        self._deadlines: _Deadlines | None = None
        self._open: set[Any] = set()
        if config.grpc:
            raw = grpc.insecure_channel(
                config.grpc, options=[("grpc.max_receive_message_length", -1)]
            )
            self._deadlines = _Deadlines(config.call_margin_s)
            self._grpc_channel = grpc.intercept_channel(raw, self._deadlines)

    # ------------------------------------------------------------ plumbing
    @contextmanager
    def _ni(self, action: str, channel: str | None = None, expect_s: float = 0.0) -> Iterator[None]:
        """Turn any nidaqmx error inside into a typed :class:`DaqError`.

        ``expect_s``: how long the calls inside may legitimately take (their
        gRPC deadline is that plus the margin).
        """
        kw: dict[str, Any] = {"device": self.device, "channel": channel, "action": action}
        try:
            if self._deadlines is None:
                yield
            else:
                with self._deadlines.expecting(expect_s):
                    yield
        except nierr.DaqReadError as exc:
            cls = ERROR_TYPES.get(exc.error_code, DaqError)
            if cls is DaqReadTimeout:
                raise DaqReadTimeout(
                    _ni_message(exc),
                    samples_read=exc.samps_per_chan_read,
                    code=exc.error_code,
                    **kw,
                ) from exc
            raise cls(_ni_message(exc), code=exc.error_code, **kw) from exc
        except nierr.DaqError as exc:
            cls = ERROR_TYPES.get(exc.error_code, DaqError)
            raise cls(_ni_message(exc), code=exc.error_code, **kw) from exc
        except nierr.DaqNotFoundError as exc:
            raise DaqUnavailable(f"no NI-DAQmx driver on this host: {exc}", **kw) from exc
        except (nierr.DaqNotSupportedError, nierr.DaqFunctionNotSupportedError) as exc:
            raise DaqUnsupported(_ni_message(exc), **kw) from exc
        except nierr.RpcError as exc:
            where = f"NI gRPC device server {self.config.grpc}"
            if exc.rpc_code == grpc.StatusCode.DEADLINE_EXCEEDED and self._deadlines is not None:
                call, deadline = self._deadlines.last
                raise DaqNoReply(
                    f"{where} did not answer {call or 'a call'} within {deadline:.3g} s "
                    f"(expected duration + {self._deadlines.margin_s:g} s margin): "
                    "connected but not answering",
                    call=call,
                    deadline_s=deadline,
                    **kw,
                ) from exc
            raise DaqUnavailable(f"{where}: {exc.rpc_code.name}: {exc}", **kw) from exc
        except nierr.Error as exc:
            raise DaqError(_ni_message(exc), **kw) from exc

    def _new_task(self, action: str, channel: str | None) -> Any:
        with self._ni(action, channel):
            if self._grpc_channel is not None:
                opts = nidaqmx.GrpcSessionOptions(grpc_channel=self._grpc_channel, session_name="")
                task = nidaqmx.Task(grpc_options=opts)
            else:
                task = nidaqmx.Task()
        self._open.add(task)
        return task

    def identify(self) -> tuple[str, str]:
        """(product type, serial number in hex as NI MAX shows it) of the device.

        DAQmx Device attributes ProductType 0x0631 and SerialNum 0x0632 (nidaqmx_facts.md);
        a simulated NI-DAQmx device reports serial 0.
        """
        with self._ni("reading the device identity"):
            opts = None
            if self._grpc_channel is not None:
                opts = nidaqmx.GrpcSessionOptions(grpc_channel=self._grpc_channel, session_name="")
            dev = nidaqmx.system.Device(self.device, grpc_options=opts)
            return str(dev.product_type), f"{int(dev.serial_num):X}"

    def _close_task(self, task: Any) -> None:
        self._open.discard(task)
        with self._ni("closing task"):
            task.close()

    def _chan(self, name: str) -> DaqChannel:
        try:
            return self.config.channels[name]
        except KeyError:
            known = ", ".join(self.config.channels) or "none"
            raise DaqError(
                f"no channel {name!r} in the bench file (known: {known})", device=self.device
            ) from None

    def _range(self, ch: DaqChannel) -> tuple[float, float]:
        if ch.kind == "thermocouple" and not {"min_val", "max_val"} & ch.model_fields_set:
            return TC_DEFAULT_RANGE_C
        return ch.min_val, ch.max_val

    def _add_analog(self, task: Any, name: str) -> DaqChannel:
        ch = self._chan(name)
        lo, hi = self._range(ch)
        with self._ni("creating channel", ch.physical):
            if ch.kind == "ai_voltage":
                task.ai_channels.add_ai_voltage_chan(
                    ch.physical, name_to_assign_to_channel=name, min_val=lo, max_val=hi
                )
            elif ch.kind == "thermocouple":
                task.ai_channels.add_ai_thrmcpl_chan(
                    ch.physical,
                    name_to_assign_to_channel=name,
                    min_val=lo,
                    max_val=hi,
                    units=TemperatureUnits.DEG_C,
                    thermocouple_type=ThermocoupleType[ch.thermocouple_type],
                    cjc_source=CJCSource.BUILT_IN,
                )
            else:
                raise DaqError(
                    f"{name!r} is a {ch.kind} channel, not analog input",
                    device=self.device,
                    channel=ch.physical,
                    action="creating channel",
                )
        return ch

    def _check_temperatures(self, task: Any, names: Sequence[str], values: np.ndarray) -> None:
        """Raise ThermocoupleOpen / DaqOutOfRange for thermocouple rows outside their range."""
        for row, name in zip(values, names, strict=True):
            ch = self._chan(name)
            if ch.kind != "thermocouple" or row.size == 0:
                continue
            lo, hi = self._range(ch)
            worst = float(np.max(row)) if np.max(row) > hi else float(np.min(row))
            if lo <= worst <= hi and np.all(np.isfinite(row)):
                continue
            open_chans: list[str] | None = None
            try:
                if task.in_stream.open_thrmcpl_chans_exist:
                    open_chans = list(task.in_stream.open_thrmcpl_chans)
                else:
                    open_chans = []
            except nierr.Error:
                open_chans = None  # the device cannot tell
            railed = worst >= TC_TOP_C[ch.thermocouple_type] or not np.isfinite(worst)
            kw: dict[str, Any] = {
                "device": self.device,
                "channel": ch.physical,
                "action": f"reading {name}",
            }
            if (open_chans and (name in open_chans or ch.physical in open_chans)) or (
                open_chans is None and railed
            ):
                raise ThermocoupleOpen(
                    f"open thermocouple (reads {worst:.6g} °C, range {lo:g}..{hi:g} °C)", **kw
                )
            raise DaqOutOfRange(f"reading {worst:.6g} °C outside {lo:g}..{hi:g} °C", **kw)

    # ------------------------------------------------------------ analog
    def start_acquisition(
        self,
        channels: Sequence[str],
        n: int | None = None,
        *,
        rate_hz: float | None = None,
        trigger: str | None = None,
        trigger_edge: EdgeKind = "rising",
    ) -> Acquisition:
        names = list(channels)
        if not names:
            raise DaqError("no channels to acquire", device=self.device)
        phys = ", ".join(self._chan(c).physical for c in names)
        rate = float(rate_hz or self.config.sample_rate_hz)
        task = self._new_task("creating task", phys)
        try:
            chans = [self._add_analog(task, c) for c in names]
            with self._ni("configuring the sample clock", phys):
                if n is None:
                    buf = max(int(rate * CONTINUOUS_BUFFER_S), 1000)
                    task.timing.cfg_samp_clk_timing(
                        rate, sample_mode=AcquisitionType.CONTINUOUS, samps_per_chan=buf
                    )
                else:
                    task.timing.cfg_samp_clk_timing(
                        rate, sample_mode=AcquisitionType.FINITE, samps_per_chan=int(n)
                    )
                if trigger:
                    edge = Edge.FALLING if trigger_edge == "falling" else Edge.RISING
                    task.triggers.start_trigger.cfg_dig_edge_start_trig(trigger, trigger_edge=edge)
            stamped = False
            if self.timestamps:
                try:
                    task.timing.first_samp_timestamp_enable = True
                    stamped = True
                except nierr.Error:
                    stamped = False  # this device cannot time-stamp
            try:
                with self._ni("starting acquisition", phys):
                    task.start()
            except DaqUnsupported:
                if not stamped:
                    raise
                # Some devices refuse the time stamp only at start: run without it.
                with self._ni("starting acquisition", phys):
                    task.timing.first_samp_timestamp_enable = False
                    stamped = False
                    task.start()
        except BaseException:
            self._close_task(task)
            raise
        return _NiAcquisition(self, task, names, chans, rate, n, phys, stamped)

    def _read_one(self, name: str, kind: str) -> float:
        ch = self._chan(name)
        if ch.kind != kind:
            raise DaqError(
                f"{name!r} is a {ch.kind} channel, not {kind}",
                device=self.device,
                channel=ch.physical,
            )
        task = self._new_task("creating task", ch.physical)
        try:
            self._add_analog(task, name)
            with self._ni(f"reading {name}", ch.physical):
                value = AnalogSingleChannelReader(task.in_stream).read_one_sample(timeout=10.0)
            if kind == "thermocouple":
                self._check_temperatures(task, [name], np.array([[value]]))
                return float(value)
            return float(value) * ch.scale
        finally:
            self._close_task(task)

    def read_temperature(self, channel: str) -> float:
        return self._read_one(channel, "thermocouple")

    def read_voltage(self, channel: str) -> float:
        return self._read_one(channel, "ai_voltage")

    # ------------------------------------------------------------ counter
    def count_edges(self, channel: str, edge: EdgeKind = "rising") -> EdgeCounter:
        ch = self._chan(channel)
        if ch.kind != "counter":
            raise DaqError(
                f"{channel!r} is a {ch.kind} channel, not a counter",
                device=self.device,
                channel=ch.physical,
            )
        task = self._new_task("creating task", ch.physical)
        try:
            with self._ni("creating channel", ch.physical):
                task.ci_channels.add_ci_count_edges_chan(
                    ch.physical,
                    name_to_assign_to_channel=channel,
                    edge=Edge.FALLING if edge == "falling" else Edge.RISING,
                )
            with self._ni("starting counter", ch.physical):
                task.start()
        except BaseException:
            self._close_task(task)
            raise
        return _NiCounter(self, task, channel, ch.physical)

    # ------------------------------------------------------------ counter output
    def start_pulses(
        self, times_s: Sequence[float], *, high_time_s: float = TRIGGER_HIGH_S
    ) -> PulseOutput:
        """One buffered, finite, implicitly timed pulse train (as nidaqmx-python's
        ``counter_out`` examples build one): a pulse-time channel on ``trigger_out``,
        routed to ``trigger_out_term``, one ``CtrTime`` per pulse."""
        ctr, term = self.config.trigger_out, self.config.trigger_terminal()
        if ctr is None or term is None:
            raise DaqError(
                "no trigger_out in the bench's [daq] table: no counter drives the "
                "stimulator's trigger input",
                device=self.device,
            )
        delay, pulses = pulse_pattern(times_s, high_time_s)
        task = self._new_task("creating task", ctr)
        try:
            with self._ni("creating pulse output channel", ctr):
                chan = task.co_channels.add_co_pulse_chan_time(
                    ctr,
                    idle_state=Level.LOW,
                    initial_delay=delay,
                    low_time=pulses[0][1],
                    high_time=pulses[0][0],
                )
                chan.co_pulse_term = term
                task.timing.cfg_implicit_timing(
                    sample_mode=AcquisitionType.FINITE, samps_per_chan=len(pulses)
                )
            with self._ni(f"writing {len(pulses)} pulses", ctr):
                data = [CtrTime(high_time=h, low_time=lo) for h, lo in pulses]
                # one sample goes as a scalar: nidaqmx wraps a lone sample in a list itself
                task.write(data if len(data) > 1 else data[0], auto_start=False)
            with self._ni("starting pulse output", ctr):
                task.start()
        except BaseException:
            self._close_task(task)
            raise
        return _NiPulseOutput(self, task, ctr)

    # ------------------------------------------------------------ digital
    def _line_task(self, channel: str, kind: str) -> tuple[Any, DaqChannel]:
        ch = self._chan(channel)
        if ch.kind != kind:
            raise DaqError(
                f"{channel!r} is a {ch.kind} channel, not {kind}",
                device=self.device,
                channel=ch.physical,
            )
        task = self._new_task("creating task", ch.physical)
        try:
            with self._ni("creating channel", ch.physical):
                coll = task.di_channels if kind == "di" else task.do_channels
                add = coll.add_di_chan if kind == "di" else coll.add_do_chan
                add(
                    ch.physical,
                    name_to_assign_to_lines=channel,
                    line_grouping=LineGrouping.CHAN_PER_LINE,
                )
        except BaseException:
            self._close_task(task)
            raise
        return task, ch

    def read_line(self, channel: str) -> bool:
        task, ch = self._line_task(channel, "di")
        try:
            with self._ni(f"reading {channel}", ch.physical):
                reader = DigitalSingleChannelReader(task.in_stream)
                return bool(reader.read_one_sample_one_line(timeout=10.0))
        finally:
            self._close_task(task)

    def write_line(self, channel: str, value: bool) -> None:
        task, ch = self._line_task(channel, "do")
        try:
            with self._ni(f"writing {channel}", ch.physical):
                writer = DigitalSingleChannelWriter(task.out_stream, auto_start=True)
                writer.write_one_sample_one_line(bool(value), timeout=10.0)
        finally:
            self._close_task(task)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        errors: list[BaseException] = []
        for task in list(self._open):
            try:
                self._close_task(task)
            except DaqError as exc:  # keep closing the others
                errors.append(exc)
        if self._grpc_channel is not None:
            self._grpc_channel.close()
            self._grpc_channel = None
        if errors:
            raise errors[0]


class _NiAcquisition(Acquisition):
    """A started nidaqmx AI task read through a stream reader into numpy."""

    def __init__(
        self,
        daq: NidaqmxDaq,
        task: Any,
        names: list[str],
        chans: list[DaqChannel],
        rate: float,
        n_total: int | None,
        phys: str,
        stamped: bool,
    ) -> None:
        self._daq, self._task, self._names, self._phys = daq, task, names, phys
        self._rate, self._left, self._stamped = rate, n_total, stamped
        self._units = tuple(c.units for c in chans)
        self._scale = np.array([c.scale if c.kind == "ai_voltage" else 1.0 for c in chans])
        self._reader = AnalogMultiChannelReader(task.in_stream)
        self._reader.verify_array_shape = False  # we shape the buffer; saves a round trip
        self._t0: int | None = None
        self._read_so_far = 0
        self._closed = False

    def read(self, n: int | None = None, timeout_s: float = 10.0) -> AnalogRecord:
        if self._closed:
            raise DaqError("acquisition closed", device=self._daq.device, channel=self._phys)
        if n is None:
            if self._left is None:
                with self._daq._ni("reading available samples", self._phys):
                    n = int(self._task.in_stream.avail_samp_per_chan)
            else:
                n = self._left
        buf = np.empty((len(self._names), n), dtype=np.float64)
        expect = n / self._rate + timeout_s  # the samples' own time, then DAQmx's timeout
        with self._daq._ni(f"reading {n} samples", self._phys, expect_s=expect):
            got = self._reader.read_many_sample(
                buf,
                number_of_samples_per_channel=n if n else READ_ALL_AVAILABLE,
                timeout=timeout_s,
            )
        data = buf[:, :got]
        data *= self._scale[:, None]
        self._daq._check_temperatures(self._task, self._names, data)
        if self._left is not None:
            self._left -= got
        t0 = self._first_sample_ns()
        start = self._read_so_far
        self._read_so_far += got
        t_first = None if t0 is None else t0 + round(start / self._rate * 1e9)
        return AnalogRecord(tuple(self._names), self._units, self._rate, data, t_first)

    def _first_sample_ns(self) -> int | None:
        if self._t0 is None and self._stamped:
            try:
                self._t0 = _epoch_ns(self._task.timing.first_samp_timestamp_val)
            except nierr.Error:
                self._stamped = False
        return self._t0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._daq._close_task(self._task)


class _NiPulseOutput(PulseOutput):
    def __init__(self, daq: NidaqmxDaq, task: Any, phys: str) -> None:
        self._daq, self._task, self._phys = daq, task, phys
        self._closed = False

    def done(self) -> bool:
        with self._daq._ni("polling pulse output", self._phys):
            return bool(self._task.is_task_done())

    def wait(self, timeout_s: float) -> None:
        with self._daq._ni("waiting for the pulse output", self._phys, expect_s=timeout_s):
            self._task.wait_until_done(timeout=timeout_s)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._daq._close_task(self._task)


class _NiCounter(EdgeCounter):
    def __init__(self, daq: NidaqmxDaq, task: Any, name: str, phys: str) -> None:
        self._daq, self._task, self._name, self._phys = daq, task, name, phys
        self._reader = CounterReader(task.in_stream)
        self._closed = False

    def count(self) -> int:
        with self._daq._ni(f"reading {self._name}", self._phys):
            return int(self._reader.read_one_sample_uint32(timeout=10.0))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._daq._close_task(self._task)
