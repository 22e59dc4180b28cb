"""A simulated NI gRPC Device Server for NI-DAQmx, fed by the shared world.

The real ``nidaqmx`` package talks to it unchanged::

    channel = grpc.insecure_channel(addr, options=[("grpc.max_receive_message_length", -1)])
    task = nidaqmx.Task(grpc_options=nidaqmx.GrpcSessionOptions(channel, ""))

It is built on the message and service descriptors nidaqmx ships in its
private ``nidaqmx._stubs`` (hence the exact ``nidaqmx==1.7.0`` pin). The device
model lives in :mod:`instruments.sim.daq_device`.

NI gRPC conventions honoured (facts from the tmsbench design notes, "Real transports"):
``session_name`` is "" or the task name; ``CreateTask`` answers
``new_session_initialized=True`` for a new task; errors abort the call with
``StatusCode.UNKNOWN``, details = message and trailing metadata
``ni-error=<code>`` (plus ``ni-samps-per-chan-read`` for reads), which the
client raises as ``DaqError``/``DaqReadError``. Every RPC of the service
that is not implemented here answers ``ni-error=-209876`` ("not supported by
the simulated device"), so clients see a ``DaqError``, never a bare
``RpcError``; its name is kept in :attr:`SimDaqServer.unsupported`. A method
that is not in the service at all gets gRPC's own ``UNIMPLEMENTED``, as from
the real server. Server-streaming ``RegisterEveryNSamplesEvent`` sends its
initial metadata once registered (errors come before it, as grpc-device >= 2.2
does) and one response per N samples acquired into the buffer.

Speed: ``ReadAnalogF64`` responses are hand-encoded (protobuf wire format:
tag, varint length, raw little-endian float64, then ``samps_per_chan_read``),
because building the message from numpy through protobuf costs ~126 ms per
1M values (design notes). ``fast_encoding=False`` builds the message the naive
way (the baseline of ``benchmarks/daq_read.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from ni.protobuf.types.precision_timestamp_pb2 import PrecisionTimestamp
from ni.protobuf.types.waveform_pb2 import DoubleAnalogWaveform, WaveformAttributeValue
from nidaqmx._stubs import nidaqmx_pb2 as pb
from session_pb2 import Session

from instruments.daq.settings import DaqSettings
from instruments.sim.daq_device import (
    AI_VOLTAGE_RANGES,
    ATTR_NOT_SUPPORTED,
    DRIVER_VERSION,
    EVERY_N_ALREADY_REGISTERED,
    EVERY_N_INTERVAL_ZERO,
    EVERY_N_TRANSFERRED_NOT_FOR_INPUT,
    FUNCTION_NOT_SUPPORTED_FOR_DEVICE,
    INVALID_ATTRIBUTE_VALUE,
    MAX_AI_RATE_HZ,
    READ_BUFFER_TOO_SMALL,
    WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE,
    NiError,
    SimChannel,
    SimDaqDevice,
    SimTask,
    interleave,
)
from instruments.sim.daq_server_co import IMPLICIT, CounterOutputRpcs
from instruments.sim.world import World

log = logging.getLogger(__name__)

SERVICE = "nidaqmx_grpc.NiDAQmx"
_SERVICE_DESC = pb.DESCRIPTOR.services_by_name["NiDAQmx"]

# Session initialization behaviour (nidaqmx.SessionInitializationBehavior).
_INIT_NEW, _ATTACH = 1, 2

# Attribute ids (from the nidaqmx 1.7.0 property accessors).
SYS_MAJOR, SYS_MINOR, SYS_UPDATE = 0x1272, 0x1923, 0x2F22
SYS_DEVICES = 0x193B
TASK_NAME, TASK_CHANNELS, TASK_NUM_CHANS, TASK_COMPLETE = 0x1276, 0x1273, 0x2181, 0x1274
TASK_DEVICES, TASK_NUM_DEVICES = 0x230E, 0x29BA
CHAN_TYPE, CHAN_MEAS_TYPE, CI_MEAS_TYPE = 0x187F, 0x0695, 0x18A0
AI_MAX, AI_MIN = 0x17DD, 0x17DE
READ_CHANNELS, READ_AVAIL, READ_TOTAL = 0x1823, 0x1223, 0x192A
READ_NUM_CHANS, READ_DI_BOOLEANS = 0x217B, 0x217C
READ_OPEN_TC_EXIST, READ_OPEN_TC_CHANS = 0x2A96, 0x2A97
READ_RAW_SIZE, READ_ALL_AVAIL, READ_DEFAULT_N = 0x217A, 0x1215, 0x31E8
WRITE_NUM_CHANS, WRITE_DO_BOOLEANS = 0x217E, 0x217F
TIM_SAMP_MODE, TIM_SAMP_PER_CHAN, TIM_RATE, TIM_TYPE = 0x1300, 0x1310, 0x1344, 0x1347
TIM_RATE_MAX = 0x22C8
TIM_FIRST_TS_ENABLE, TIM_FIRST_TS_VAL = 0x3139, 0x313A
AI_RNG_HIGH, AI_RNG_LOW = 0x1815, 0x1816
PHYSICAL_CHAN_NAME, CHAN_DESCR = 0x18F5, 0x1926
CI_COUNT_EDGES_TERM, CI_COUNT_EDGES_ACTIVE_EDGE = 0x18C7, 0x0697
CI_COUNT_EDGES_DIR, CI_COUNT_EDGES_INITIAL_CNT = 0x0696, 0x0698
DI_NUM_LINES, DO_NUM_LINES = 0x2178, 0x2179
REF_TRIG_TYPE, REF_TRIG_PRETRIG, REF_TRIG_DIG_SRC, REF_TRIG_DIG_EDGE = (
    0x1419,
    0x1445,
    0x1434,
    0x1430,
)
START_TRIG_TYPE, START_TRIG_DIG_SRC = 0x1393, 0x1407
# Device attributes (nidaqmx.system.Device / PhysicalChannelCollection).
DEV_PRODUCT_TYPE, DEV_PRODUCT_CATEGORY, DEV_SERIAL, DEV_IS_SIMULATED = (
    0x0631,
    0x29A9,
    0x0632,
    0x22CA,
)
DEV_AI_CHANS, DEV_AO_CHANS, DEV_CI_CHANS, DEV_CO_CHANS = 0x231E, 0x231F, 0x2324, 0x2325
DEV_DI_LINES, DEV_DI_PORTS, DEV_DO_LINES, DEV_DO_PORTS = 0x2320, 0x2321, 0x2322, 0x2323
DEV_TERMINALS = 0x2A40
DEV_AI_MAX_SINGLE, DEV_AI_MAX_MULTI, DEV_AI_MIN_RATE = 0x298C, 0x298D, 0x298E
DEV_AI_SIMULTANEOUS, DEV_AI_VOLTAGE_RNGS = 0x298F, 0x2990

SAMPLE_CLOCK, ON_DEMAND = 10388, 10390  # SampleTimingType
TRIG_NONE, TRIG_DIGITAL_EDGE = 10230, 10150  # TriggerType
X_SERIES_DAQ = 15858  # ProductCategory
PRODUCT_TYPE = "PCIe-6351"  # the X Series card the simulated device is modelled on
EVERY_N_ACQUIRED_INTO_BUFFER, EVERY_N_TRANSFERRED_FROM_BUFFER = 1, 2
WFM_TIMING, WFM_EXTENDED_PROPERTIES = 1, 2  # WaveformAttributeMode flags
BTF_EPOCH_OFFSET_S = 2_082_844_800  # NI-BTF counts seconds from 1904-01-01 UTC


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_read_f64(values: np.ndarray, samps_per_chan_read: int) -> bytes:
    """``ReadAnalogF64Response`` in protobuf wire format (status 0 is omitted).

    Field 2 ``read_array`` (packed double): tag 0x12, varint byte length, raw
    little-endian float64; field 3 ``samps_per_chan_read`` (int32): tag 0x18, varint.
    """
    raw = np.ascontiguousarray(values, dtype="<f8")
    parts: list[bytes | memoryview] = [b"\x12", _varint(raw.nbytes), raw.data]
    if samps_per_chan_read:
        parts += [b"\x18", _varint(samps_per_chan_read)]
    return b"".join(parts)


class GrpcStatus(Exception):
    """A call the server refuses with a gRPC status of its own (not a DAQmx error)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


def _serialize(msg: Any) -> bytes:
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


class SimDaqServer(CounterOutputRpcs):
    """NI gRPC device server for the simulated DAQ of ``config``, on 127.0.0.1.

    ``start()`` returns ``"127.0.0.1:<port>"``; ``device`` is the simulated
    card (tests look at its ``do_lines`` and ``tasks``).
    """

    def __init__(
        self,
        world: World,
        config: DaqSettings,
        *,
        fast_encoding: bool = True,
        max_workers: int = 8,
    ) -> None:
        self.world = world
        self.config = config
        self.device = SimDaqDevice(world, config)
        self.fast_encoding = fast_encoding
        self.max_workers = max_workers
        self.unsupported: list[str] = []  # RPC names (and attribute ids) asked for but missing
        self._server: grpc.Server | None = None
        self.address = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> str:
        """Serve on a free 127.0.0.1 port; return ``host:port``."""
        server = grpc.server(
            futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="sim-daq"),
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        server.add_generic_rpc_handlers((self._handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        if port == 0:
            raise OSError("simulated DAQ server: no free port on 127.0.0.1")
        self.device.stopping.clear()
        server.start()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        log.info("simulated NI DAQ %s serving on %s", self.config.device, self.address)
        return self.address

    def stop(self) -> None:
        """Stop serving; blocked reads end at once."""
        self.device.stopping.set()
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None

    def __enter__(self) -> SimDaqServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ plumbing
    def _handlers(self) -> grpc.GenericRpcHandler:
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for m in _SERVICE_DESC.methods:
            req_cls = getattr(pb, m.input_type.name)
            impl = getattr(self, f"rpc_{m.name}", None)
            if m.server_streaming:
                stream = self._wrap_stream(m.name, impl) if impl else None
                handlers[m.name] = grpc.unary_stream_rpc_method_handler(
                    stream or self._unsupported_stream(m.name),
                    request_deserializer=req_cls.FromString,
                    response_serializer=_serialize,
                )
                continue
            fn = self._wrap(m.name, impl) if impl else self._unsupported(m.name)
            handlers[m.name] = grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req_cls.FromString, response_serializer=_serialize
            )
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    @staticmethod
    def _abort(context: grpc.ServicerContext, err: NiError) -> None:
        md: list[tuple[str, str]] = [("ni-error", str(err.code))]
        if err.samps_read is not None:
            md.append(("ni-samps-per-chan-read", str(err.samps_read)))
        context.set_trailing_metadata(tuple(md))
        context.abort(grpc.StatusCode.UNKNOWN, err.message)

    def _wrap(self, name: str, impl: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return impl(request)
            except NiError as err:
                log.debug("%s -> NI error %d: %s", name, err.code, err.message)
                self._abort(context, err)
            except GrpcStatus as st:
                context.abort(st.code, st.details)
            except Exception as exc:  # a bug here must still reach the client as a DAQmx error
                log.exception("simulated DAQ: %s failed", name)
                self._abort(context, NiError(-200099, f"simulated device internal error: {exc}"))

        return handler

    def _wrap_stream(self, name: str, impl: Callable[..., Any]) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                yield from impl(request, context)
            except NiError as err:
                log.debug("%s -> NI error %d: %s", name, err.code, err.message)
                self._abort(context, err)

        return handler

    def _unsupported(self, name: str) -> Callable[[Any, Any], Any]:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            self.unsupported.append(name)
            log.warning("simulated DAQ: unsupported RPC %s", name)
            self._abort(
                context,
                NiError(
                    FUNCTION_NOT_SUPPORTED_FOR_DEVICE,
                    f"{name} is not supported by the simulated device {self.config.device}.",
                ),
            )

        return handler

    def _unsupported_stream(self, name: str) -> Callable[[Any, Any], Any]:
        unary = self._unsupported(name)

        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            unary(request, context)
            yield from ()

        return handler

    def _no_attr(self, kind: str, attr: int) -> NiError:
        self.unsupported.append(f"{kind}:0x{attr:04X}")
        log.warning("simulated DAQ: unsupported %s attribute 0x%04X", kind, attr)
        return NiError(
            ATTR_NOT_SUPPORTED,
            f"Specified property is not supported by the simulated device "
            f"{self.config.device}.\nProperty: 0x{attr:04X} ({kind})",
        )

    def _task(self, request: Any) -> SimTask:
        return self.device.task(request.task.name)

    @staticmethod
    def _attr(request: Any) -> int:
        return int(request.attribute_raw or request.attribute)

    # ------------------------------------------------------------ system / tasks
    def rpc_GetSystemInfoAttributeUInt32(self, r: Any) -> Any:
        versions = dict(zip((SYS_MAJOR, SYS_MINOR, SYS_UPDATE), DRIVER_VERSION, strict=True))
        attr = self._attr(r)
        if attr not in versions:
            raise self._no_attr("system", attr)
        return pb.GetSystemInfoAttributeUInt32Response(value=versions[attr])

    def rpc_GetSystemInfoAttributeString(self, r: Any) -> Any:
        if self._attr(r) != SYS_DEVICES:
            raise self._no_attr("system", self._attr(r))
        names = "" if self.world.faults.daq_device_missing else self.config.device
        return pb.GetSystemInfoAttributeStringResponse(value=names)

    def rpc_GetErrorString(self, r: Any) -> Any:
        return pb.GetErrorStringResponse(error_string=f"NI-DAQmx error {r.error_code} (simulated)")

    def rpc_CreateTask(self, r: Any) -> Any:
        task, new = self.device.create_task(
            r.session_name,
            must_be_new=r.initialization_behavior == _INIT_NEW,
            must_exist=r.initialization_behavior == _ATTACH,
        )
        return pb.CreateTaskResponse(task=Session(name=task.name), new_session_initialized=new)

    def rpc_ClearTask(self, r: Any) -> Any:
        self.device.clear_task(r.task.name)
        return pb.ClearTaskResponse()

    def rpc_StartTask(self, r: Any) -> Any:
        self.device.start(self._task(r))
        return pb.StartTaskResponse()

    def rpc_StopTask(self, r: Any) -> Any:
        self.device.stop(self._task(r))
        return pb.StopTaskResponse()

    def rpc_TaskControl(self, r: Any) -> Any:
        self._task(r)  # verify, commit, reserve, unreserve: nothing to do on the simulated card
        return pb.TaskControlResponse()

    def rpc_IsTaskDone(self, r: Any) -> Any:
        return pb.IsTaskDoneResponse(is_task_done=self._done(self._task(r)))

    def rpc_WaitUntilTaskDone(self, r: Any) -> Any:
        task = self._task(r)
        run = task.co.run
        if run is not None and task.running:  # a pulse generation: done after its last pulse
            deadline = None if r.time_to_wait < 0 else time.monotonic() + r.time_to_wait
            if not self.device._wait(run.end, deadline):
                raise NiError(
                    WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE,
                    "Wait Until Done did not indicate all samples were generated in the time "
                    f"allowed. Task Name: {task.name}",
                )
            return pb.WaitUntilTaskDoneResponse()
        if task.rate_hz is not None and task.running and task.t0 is not None:
            end = task.t0 + task.samps_per_chan / task.rate_hz
            deadline = None if r.time_to_wait < 0 else time.monotonic() + r.time_to_wait
            if not self.device._wait(end, deadline):
                raise NiError(
                    WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE,
                    "Wait Until Done did not indicate all samples were acquired in the time "
                    f"allowed. Task Name: {task.name}",
                )
        return pb.WaitUntilTaskDoneResponse()

    def _done(self, task: SimTask) -> bool:
        co = self.co_done(task)
        if co is not None:
            return co
        if not task.running or task.rate_hz is None or task.mode.value != 10178:
            return not task.running
        if task.t0 is None:
            return False
        return self.world.clock.now() >= task.t0 + task.samps_per_chan / task.rate_hz

    # ------------------------------------------------------------ channels
    def rpc_CreateAIVoltageChan(self, r: Any) -> Any:
        self.device.add_ai(
            self._task(r), r.physical_channel, r.name_to_assign_to_channel, r.min_val, r.max_val
        )
        return pb.CreateAIVoltageChanResponse()

    def rpc_CreateAIThrmcplChan(self, r: Any) -> Any:
        tc = r.thermocouple_type_raw or r.thermocouple_type
        self.device.add_ai(
            self._task(r),
            r.physical_channel,
            r.name_to_assign_to_channel,
            r.min_val,
            r.max_val,
            thermocouple_type=tc,
        )
        return pb.CreateAIThrmcplChanResponse()

    def rpc_CreateCICountEdgesChan(self, r: Any) -> Any:
        self.device.add_counter(
            self._task(r),
            r.counter,
            r.name_to_assign_to_channel,
            r.initial_count,
            r.count_direction_raw or r.count_direction,
            r.edge_raw or r.edge,
        )
        return pb.CreateCICountEdgesChanResponse()

    @staticmethod
    def _per_line(r: Any) -> bool:
        return int(r.line_grouping_raw or r.line_grouping) == 0  # CHAN_PER_LINE

    def rpc_CreateDIChan(self, r: Any) -> Any:
        self.device.add_lines(
            self._task(r), r.lines, r.name_to_assign_to_lines, False, self._per_line(r)
        )
        return pb.CreateDIChanResponse()

    def rpc_CreateDOChan(self, r: Any) -> Any:
        self.device.add_lines(
            self._task(r), r.lines, r.name_to_assign_to_lines, True, self._per_line(r)
        )
        return pb.CreateDOChanResponse()

    # ------------------------------------------------------------ timing / triggers
    def rpc_CfgSampClkTiming(self, r: Any) -> Any:
        mode = r.sample_mode_raw or r.sample_mode
        self.device.cfg_samp_clk(self._task(r), r.rate, mode, r.samps_per_chan)
        return pb.CfgSampClkTimingResponse()

    def rpc_CfgDigEdgeStartTrig(self, r: Any) -> Any:
        edge = r.trigger_edge_raw or r.trigger_edge
        self.device.cfg_start_trigger(self._task(r), r.trigger_source, edge)
        return pb.CfgDigEdgeStartTrigResponse()

    def rpc_DisableStartTrig(self, r: Any) -> Any:
        self._task(r).trigger = None
        return pb.DisableStartTrigResponse()

    def rpc_CfgDigEdgeRefTrig(self, r: Any) -> Any:
        edge = r.trigger_edge_raw or r.trigger_edge
        self.device.cfg_ref_trigger(self._task(r), r.trigger_source, edge, r.pretrigger_samples)
        return pb.CfgDigEdgeRefTrigResponse()

    def rpc_DisableRefTrig(self, r: Any) -> Any:
        self._task(r).ref_trigger = None
        return pb.DisableRefTrigResponse()

    def rpc_GetTrigAttributeInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == REF_TRIG_TYPE:
            kind = TRIG_NONE if task.ref_trigger is None else TRIG_DIGITAL_EDGE
            return pb.GetTrigAttributeInt32Response(value_raw=kind)
        if attr == START_TRIG_TYPE:
            kind = TRIG_NONE if task.trigger is None else TRIG_DIGITAL_EDGE
            return pb.GetTrigAttributeInt32Response(value_raw=kind)
        if attr == REF_TRIG_DIG_EDGE and task.ref_trigger is not None:
            return pb.GetTrigAttributeInt32Response(value_raw=task.ref_trigger[1])
        raise self._no_attr("trigger", attr)

    def rpc_GetTrigAttributeUInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == REF_TRIG_PRETRIG and task.ref_trigger is not None:
            return pb.GetTrigAttributeUInt32Response(value=task.ref_trigger[2])
        raise self._no_attr("trigger", attr)

    def rpc_GetTrigAttributeString(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == REF_TRIG_DIG_SRC and task.ref_trigger is not None:
            return pb.GetTrigAttributeStringResponse(value=task.ref_trigger[0])
        if attr == START_TRIG_DIG_SRC and task.trigger is not None:
            return pb.GetTrigAttributeStringResponse(value=task.trigger)
        raise self._no_attr("trigger", attr)

    # ------------------------------------------------------------ events
    def rpc_RegisterEveryNSamplesEvent(self, r: Any, context: grpc.ServicerContext) -> Any:
        """One response each time another ``n_samples`` per channel are in the buffer."""
        task = self._task(r)
        kind = r.every_n_samples_event_type_raw or r.every_n_samples_event_type
        n = int(r.n_samples)
        if kind == EVERY_N_TRANSFERRED_FROM_BUFFER:
            raise NiError(
                EVERY_N_TRANSFERRED_NOT_FOR_INPUT,
                "Every N Samples Transferred from Buffer event is not supported for input "
                f"tasks.\nTask Name: {task.name}",
            )
        if kind != EVERY_N_ACQUIRED_INTO_BUFFER:
            raise NiError(INVALID_ATTRIBUTE_VALUE, f"Invalid Every N Samples event type {kind}")
        if n == 0:
            raise NiError(
                EVERY_N_INTERVAL_ZERO,
                f"Every N Samples event interval of zero is not supported.\nTask Name: {task.name}",
            )
        with self.device.lock:
            if kind in task.every_n:
                raise NiError(
                    EVERY_N_ALREADY_REGISTERED,
                    "Every N Samples Acquired Into Buffer event is already registered for "
                    f"this task.\nTask Name: {task.name}",
                )
            task.every_n[kind] = n
        context.send_initial_metadata(())
        try:
            yield from self._every_n(task, kind, n, context)
        finally:
            with self.device.lock:
                if task.every_n.get(kind) == n:
                    del task.every_n[kind]

    def _every_n(self, task: SimTask, kind: int, n: int, context: grpc.ServicerContext) -> Any:
        run, k = -1, 0
        while context.is_active() and not self.device.stopping.is_set():
            if task.every_n.get(kind) != n or self.device.tasks.get(task.name) is not task:
                return  # unregistered, or the task was cleared
            if task.runs != run:  # (re)started: count from this start
                run, k = task.runs, 0
            t0 = self.device._first_sample_time(task) if task.running else None
            if t0 is None or task.rate_hz is None:
                self.device.stopping.wait(0.01)
                continue
            finite = task.mode.value == 10178
            if finite and (k + 1) * n > task.samps_per_chan:
                self.device.stopping.wait(0.01)  # no more events in this run
                continue
            if self.device._acquired(task, t0, self.world.clock.now()) >= (k + 1) * n:
                k += 1
                yield pb.RegisterEveryNSamplesEventResponse(
                    every_n_samples_event_type_raw=kind, n_samples=n
                )
                continue
            due = t0 + ((k + 1) * n - 1) / task.rate_hz
            wall = self.world.clock.wall_seconds(max(due - self.world.clock.now(), 0.0))
            self.device.stopping.wait(min(max(wall, 0.001), 0.05))

    def rpc_UnregisterEveryNSamplesEvent(self, r: Any) -> Any:
        task = self._task(r)
        kind = r.every_n_samples_event_type_raw or r.every_n_samples_event_type
        with self.device.lock:
            task.every_n.pop(kind, None)
        return pb.UnregisterEveryNSamplesEventResponse()

    # ------------------------------------------------------------ reads / writes
    def rpc_ReadAnalogF64(self, r: Any) -> Any:
        task = self._task(r)
        data, n = self.device.acquire(task, r.num_samps_per_chan, r.timeout)
        flat = interleave(data, r.fill_mode_raw or r.fill_mode)
        if flat.size > r.array_size_in_samps:
            raise NiError(
                READ_BUFFER_TOO_SMALL,
                f"Buffer is too small to fit read data: {flat.size} > {r.array_size_in_samps}",
            )
        if self.fast_encoding:
            return encode_read_f64(flat, n)
        return pb.ReadAnalogF64Response(read_array=flat.tolist(), samps_per_chan_read=n)

    def rpc_ReadAnalogWaveforms(self, r: Any) -> Any:
        """One ``DoubleAnalogWaveform`` per channel (grpc-device's ReadAnalogWaveforms).

        Timing (t0 = time of the first sample read, NI-BTF; dt = 1/rate) when
        the TIMING flag is set, ``NI_ChannelName``/``NI_UnitDescription`` when
        EXTENDED_PROPERTIES is; no mode at all, or no channels, is INVALID_ARGUMENT.
        """
        if r.WhichOneof("waveform_attribute_mode_enum") is None:
            raise GrpcStatus(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The value for waveform_attribute_mode was not specified or out of range",
            )
        task = self._task(r)
        if not task.channels:
            raise GrpcStatus(grpc.StatusCode.INVALID_ARGUMENT, "No channels to read")
        mode = int(r.waveform_attribute_mode_raw or r.waveform_attribute_mode)
        first = task.position
        data, n = self.device.acquire(task, r.num_samps_per_chan, r.timeout)
        resp = pb.ReadAnalogWaveformsResponse(samps_per_chan_read=n)
        t0 = self.device._first_sample_time(task)
        for ch, row in zip(task.channels, data, strict=True):
            wfm = DoubleAnalogWaveform(y_data=row.tolist())
            if mode & WFM_TIMING and task.rate_hz is not None and t0 is not None:
                ns = self.world.clock.epoch_ns(t0 + first / task.rate_hz)
                wfm.t0.CopyFrom(_btf(ns))
                wfm.dt = 1.0 / task.rate_hz
            if mode & WFM_EXTENDED_PROPERTIES:
                unit = "Deg C" if ch.signal == "coil_temp" else "Volts"
                wfm.attributes["NI_ChannelName"].CopyFrom(
                    WaveformAttributeValue(string_value=ch.name)
                )
                wfm.attributes["NI_UnitDescription"].CopyFrom(
                    WaveformAttributeValue(string_value=unit)
                )
            resp.waveforms.append(wfm)
        return resp

    def rpc_ReadAnalogScalarF64(self, r: Any) -> Any:
        data, _ = self.device.acquire(self._task(r), 1, r.timeout)
        return pb.ReadAnalogScalarF64Response(value=float(data[0, 0]))

    def rpc_ReadCounterScalarU32(self, r: Any) -> Any:
        return pb.ReadCounterScalarU32Response(value=self.device.read_counter(self._task(r)))

    def rpc_ReadCounterScalarF64(self, r: Any) -> Any:
        return pb.ReadCounterScalarF64Response(value=self.device.read_counter(self._task(r)))

    def rpc_ReadCounterU32(self, r: Any) -> Any:
        count = self.device.read_counter(self._task(r))
        return pb.ReadCounterU32Response(read_array=[count], samps_per_chan_read=1)

    def rpc_ReadCounterF64(self, r: Any) -> Any:
        count = self.device.read_counter(self._task(r))
        return pb.ReadCounterF64Response(read_array=[float(count)], samps_per_chan_read=1)

    def rpc_ReadCounterU32Ex(self, r: Any) -> Any:
        count = self.device.read_counter(self._task(r))
        return pb.ReadCounterU32ExResponse(read_array=[count], samps_per_chan_read=1)

    def rpc_ReadCounterF64Ex(self, r: Any) -> Any:
        count = self.device.read_counter(self._task(r))
        return pb.ReadCounterF64ExResponse(read_array=[float(count)], samps_per_chan_read=1)

    def rpc_ReadDigitalLines(self, r: Any) -> Any:
        states = self.device.read_lines(self._task(r))
        width = max((len(c) for c in states), default=1)
        raw = b"".join(bytes([int(b) for b in c] + [0] * (width - len(c))) for c in states)
        return pb.ReadDigitalLinesResponse(
            read_array=raw, samps_per_chan_read=1, num_bytes_per_samp=width
        )

    def _port_values(self, task: SimTask) -> list[int]:
        states = self.device.read_lines(task)
        return [
            sum(int(b) << bit for b, bit in zip(c, self.device.port_bits(ch), strict=True))
            for c, ch in zip(states, task.channels, strict=True)
        ]

    def rpc_ReadDigitalScalarU32(self, r: Any) -> Any:
        return pb.ReadDigitalScalarU32Response(value=self._port_values(self._task(r))[0])

    def rpc_ReadDigitalU32(self, r: Any) -> Any:
        values = self._port_values(self._task(r))
        return pb.ReadDigitalU32Response(read_array=values, samps_per_chan_read=1)

    def _write_ports(self, task: SimTask, values: list[int]) -> None:
        states = [
            [bool(v >> bit & 1) for bit in self.device.port_bits(ch)]
            for v, ch in zip(values, task.channels, strict=False)
        ]
        self.device.write_lines(task, states)

    def rpc_WriteDigitalLines(self, r: Any) -> Any:
        task = self._task(r)
        raw, pos, states = list(r.write_array), 0, []
        n = max(int(r.num_samps_per_chan), 1)
        for ch in task.channels:  # GROUP_BY_CHANNEL: each channel's samples, lines in order
            width = len(ch.lines)
            last = raw[pos + (n - 1) * width : pos + n * width]  # the line states stay at the last
            states.append([b != 0 for b in last])
            pos += n * width
        self.device.write_lines(task, states)
        return pb.WriteDigitalLinesResponse(samps_per_chan_written=n)

    def rpc_WriteDigitalScalarU32(self, r: Any) -> Any:
        self._write_ports(self._task(r), [int(r.value)])
        return pb.WriteDigitalScalarU32Response()

    def rpc_WriteDigitalU32(self, r: Any) -> Any:
        task = self._task(r)
        n = max(int(r.num_samps_per_chan), 1)
        data = list(r.write_array)
        self._write_ports(task, [data[i * n + n - 1] for i in range(len(task.channels))])
        return pb.WriteDigitalU32Response(samps_per_chan_written=n)

    # ------------------------------------------------------------ attributes
    def rpc_GetTaskAttributeString(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TASK_NAME:
            return pb.GetTaskAttributeStringResponse(value=task.name)
        if attr == TASK_CHANNELS:
            return pb.GetTaskAttributeStringResponse(value=", ".join(c.name for c in task.channels))
        if attr == TASK_DEVICES:
            return pb.GetTaskAttributeStringResponse(value=self.config.device)
        raise self._no_attr("task", attr)

    def rpc_GetTaskAttributeUInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TASK_NUM_CHANS:
            return pb.GetTaskAttributeUInt32Response(value=len(task.channels))
        if attr == TASK_NUM_DEVICES:
            return pb.GetTaskAttributeUInt32Response(value=1)
        raise self._no_attr("task", attr)

    def rpc_GetTaskAttributeBool(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TASK_COMPLETE:
            return pb.GetTaskAttributeBoolResponse(value=self._done(task))
        raise self._no_attr("task", attr)

    def _chans(self, r: Any) -> list[SimChannel]:
        return self.device.channels_of(self._task(r), r.channel)

    def _chan(self, r: Any) -> SimChannel:
        # A list names channels of one type; their common attributes are the first one's.
        chans = self._chans(r)
        if not chans:
            raise NiError(-200478, f"Task {self._task(r).name} contains no channels.")
        return chans[0]

    def rpc_GetChanAttributeInt32(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if attr == CHAN_TYPE:
            return pb.GetChanAttributeInt32Response(value_raw=ch.chan_type.value)
        if attr in (CHAN_MEAS_TYPE, CI_MEAS_TYPE) and ch.meas_type:
            return pb.GetChanAttributeInt32Response(value_raw=ch.meas_type)
        if (co := self.co_int32(ch, attr)) is not None:
            return pb.GetChanAttributeInt32Response(value_raw=co)
        if ch.signal == "trigger_count" and attr == CI_COUNT_EDGES_ACTIVE_EDGE:
            return pb.GetChanAttributeInt32Response(value_raw=ch.edge)
        if ch.signal == "trigger_count" and attr == CI_COUNT_EDGES_DIR:
            return pb.GetChanAttributeInt32Response(value_raw=10074 if ch.count_down else 10128)
        raise self._no_attr("channel", attr)

    def rpc_SetChanAttributeInt32(self, r: Any) -> Any:
        chans, attr = self._chans(r), self._attr(r)
        value = int(r.value_raw or r.value)
        if all(c.signal == "trigger_count" for c in chans):
            if attr == CI_COUNT_EDGES_ACTIVE_EDGE and value in (10171, 10280):
                for c in chans:
                    c.edge = value
                return pb.SetChanAttributeInt32Response()
            if attr == CI_COUNT_EDGES_DIR and value in (10074, 10128):
                for c in chans:
                    c.count_down = value == 10074
                return pb.SetChanAttributeInt32Response()
        raise self._no_attr("channel", attr)

    def rpc_GetChanAttributeUInt32(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if attr == CI_COUNT_EDGES_INITIAL_CNT and ch.signal == "trigger_count":
            return pb.GetChanAttributeUInt32Response(value=ch.initial_count)
        if attr in (DI_NUM_LINES, DO_NUM_LINES) and ch.lines:
            return pb.GetChanAttributeUInt32Response(value=len(ch.lines))
        raise self._no_attr("channel", attr)

    def rpc_SetChanAttributeUInt32(self, r: Any) -> Any:
        chans, attr = self._chans(r), self._attr(r)
        if attr == CI_COUNT_EDGES_INITIAL_CNT and all(c.signal == "trigger_count" for c in chans):
            for c in chans:
                c.initial_count = int(r.value)
            return pb.SetChanAttributeUInt32Response()
        raise self._no_attr("channel", attr)

    def rpc_GetChanAttributeDouble(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if (co := self.co_double(ch, attr)) is not None:
            return pb.GetChanAttributeDoubleResponse(value=co)
        if ch.chan_type.value == 10100:  # analog input
            if attr == AI_MIN:
                return pb.GetChanAttributeDoubleResponse(value=ch.min_val)
            if attr == AI_MAX:
                return pb.GetChanAttributeDoubleResponse(value=ch.max_val)
            if attr in (AI_RNG_HIGH, AI_RNG_LOW) and ch.signal != "coil_temp":
                lo, hi = _input_range(ch.min_val, ch.max_val)
                return pb.GetChanAttributeDoubleResponse(value=hi if attr == AI_RNG_HIGH else lo)
        raise self._no_attr("channel", attr)

    def rpc_SetChanAttributeDouble(self, r: Any) -> Any:
        chans, attr = self._chans(r), self._attr(r)
        if attr in (AI_MAX, AI_MIN) and all(c.chan_type.value == 10100 for c in chans):
            for c in chans:
                lo, hi = (c.min_val, r.value) if attr == AI_MAX else (r.value, c.max_val)
                if c.signal != "coil_temp" and not (-10.0 <= lo < hi <= 10.0):
                    name = "AI.Max" if attr == AI_MAX else "AI.Min"
                    raise NiError(
                        INVALID_ATTRIBUTE_VALUE,
                        "Requested value is not a supported value for this property.\n"
                        f"Property: {name}\nRequested Value: {r.value:g}\n"
                        f"Channel Name: {c.name}",
                    )
                c.min_val, c.max_val = lo, hi
            return pb.SetChanAttributeDoubleResponse()
        raise self._no_attr("channel", attr)

    def rpc_GetChanAttributeString(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if attr == PHYSICAL_CHAN_NAME:
            phys = ", ".join(ch.lines) if len(ch.lines) > 1 else ch.physical
            return pb.GetChanAttributeStringResponse(value=phys)
        if attr == CHAN_DESCR:
            return pb.GetChanAttributeStringResponse(value=ch.description)
        if attr == CI_COUNT_EDGES_TERM and ch.signal == "trigger_count":
            return pb.GetChanAttributeStringResponse(value=ch.count_term)
        if (term := self.co_term_get(ch, attr)) is not None:
            return pb.GetChanAttributeStringResponse(value=term)
        raise self._no_attr("channel", attr)

    def rpc_SetChanAttributeString(self, r: Any) -> Any:
        chans, attr = self._chans(r), self._attr(r)
        if attr == CI_COUNT_EDGES_TERM and all(c.signal == "trigger_count" for c in chans):
            term = self.device.terminal(r.value)  # every PFI sees the trigger-out
            for c in chans:
                c.count_term = term
            return pb.SetChanAttributeStringResponse()
        if attr == CHAN_DESCR:
            for c in chans:
                c.description = r.value
            return pb.SetChanAttributeStringResponse()
        if self.co_term_set(chans, attr, r.value):
            return pb.SetChanAttributeStringResponse()
        raise self._no_attr("channel", attr)

    # ------------------------------------------------------------ device attributes
    def _dev(self, r: Any) -> int:
        self.device._device(r.device_name.strip().lstrip("/"))
        return self._attr(r)

    def rpc_GetDeviceAttributeString(self, r: Any) -> Any:
        attr = self._dev(r)
        lists = {
            DEV_AI_CHANS: "ai",
            DEV_AO_CHANS: "ao",
            DEV_CI_CHANS: "ci",
            DEV_CO_CHANS: "co",
            DEV_DI_LINES: "lines",
            DEV_DO_LINES: "lines",
            DEV_DI_PORTS: "ports",
            DEV_DO_PORTS: "ports",
            DEV_TERMINALS: "terminals",
        }
        if attr == DEV_PRODUCT_TYPE:
            return pb.GetDeviceAttributeStringResponse(value=PRODUCT_TYPE)
        if attr in lists:
            names = ", ".join(self.device.physical_channels(lists[attr]))
            return pb.GetDeviceAttributeStringResponse(value=names)
        raise self._no_attr("device", attr)

    def rpc_GetDeviceAttributeInt32(self, r: Any) -> Any:
        attr = self._dev(r)
        if attr == DEV_PRODUCT_CATEGORY:
            return pb.GetDeviceAttributeInt32Response(value_raw=X_SERIES_DAQ)
        raise self._no_attr("device", attr)

    def rpc_GetDeviceAttributeUInt32(self, r: Any) -> Any:
        attr = self._dev(r)
        if attr == DEV_SERIAL:
            return pb.GetDeviceAttributeUInt32Response(value=0)  # simulated: no serial number
        raise self._no_attr("device", attr)

    def rpc_GetDeviceAttributeBool(self, r: Any) -> Any:
        attr = self._dev(r)
        if attr == DEV_IS_SIMULATED:
            return pb.GetDeviceAttributeBoolResponse(value=True)
        if attr == DEV_AI_SIMULTANEOUS:
            return pb.GetDeviceAttributeBoolResponse(value=False)
        raise self._no_attr("device", attr)

    def rpc_GetDeviceAttributeDouble(self, r: Any) -> Any:
        attr = self._dev(r)
        rates = {DEV_AI_MAX_SINGLE: MAX_AI_RATE_HZ, DEV_AI_MAX_MULTI: 1_000_000.0}
        if attr in rates:
            return pb.GetDeviceAttributeDoubleResponse(value=rates[attr])
        if attr == DEV_AI_MIN_RATE:
            return pb.GetDeviceAttributeDoubleResponse(value=0.0)
        raise self._no_attr("device", attr)

    def rpc_GetDeviceAttributeDoubleArray(self, r: Any) -> Any:
        attr = self._dev(r)
        if attr == DEV_AI_VOLTAGE_RNGS:
            flat = [v for rng in AI_VOLTAGE_RANGES for v in rng]
            return pb.GetDeviceAttributeDoubleArrayResponse(value=flat)
        raise self._no_attr("device", attr)

    def rpc_GetReadAttributeString(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == READ_CHANNELS:
            return pb.GetReadAttributeStringResponse(value=", ".join(c.name for c in task.channels))
        if attr == READ_OPEN_TC_CHANS:
            return pb.GetReadAttributeStringResponse(value=", ".join(task.open_tc_latched))
        raise self._no_attr("read", attr)

    def rpc_GetReadAttributeBool(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == READ_OPEN_TC_EXIST:
            return pb.GetReadAttributeBoolResponse(value=bool(task.open_tc_latched))
        if attr == READ_ALL_AVAIL:
            return pb.GetReadAttributeBoolResponse(value=False)
        raise self._no_attr("read", attr)

    def rpc_GetReadAttributeUInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == READ_NUM_CHANS:
            return pb.GetReadAttributeUInt32Response(value=len(task.channels))
        if attr == READ_DI_BOOLEANS:  # bytes (booleans) per channel: its most lines
            width = max((len(c.lines) for c in task.channels), default=1)
            return pb.GetReadAttributeUInt32Response(value=max(width, 1))
        if attr == READ_RAW_SIZE:
            return pb.GetReadAttributeUInt32Response(value=8)
        if attr == READ_AVAIL:
            return pb.GetReadAttributeUInt32Response(value=self._available(task))
        if attr == READ_DEFAULT_N:  # what READ_ALL_AVAILABLE reads (DAQmx >= 24.5 clients ask)
            finite = task.rate_hz is not None and task.mode.value == 10178
            n = task.samps_per_chan - task.position if finite else self._available(task)
            return pb.GetReadAttributeUInt32Response(value=max(n, 0) if task.rate_hz else 1)
        raise self._no_attr("read", attr)

    def rpc_GetWriteAttributeUInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == WRITE_DO_BOOLEANS:
            width = max((len(c.lines) for c in task.channels), default=1)
            return pb.GetWriteAttributeUInt32Response(value=max(width, 1))
        if attr == WRITE_NUM_CHANS:
            return pb.GetWriteAttributeUInt32Response(value=len(task.channels))
        raise self._no_attr("write", attr)

    def rpc_GetReadAttributeUInt64(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == READ_TOTAL:
            return pb.GetReadAttributeUInt64Response(value=self._available(task) + task.position)
        raise self._no_attr("read", attr)

    def _available(self, task: SimTask) -> int:
        t0 = self.device._first_sample_time(task) if task.running else None
        if task.rate_hz is None or t0 is None:
            return 0
        got = self.device._acquired(task, t0, self.world.clock.now())
        return max(0, got - task.position)

    def rpc_GetTimingAttributeInt32(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TIM_SAMP_MODE:
            return pb.GetTimingAttributeInt32Response(value_raw=task.mode.value)
        if attr == TIM_TYPE:
            timing = ON_DEMAND if task.rate_hz is None else SAMPLE_CLOCK
            if task.co.implicit:
                timing = IMPLICIT
            return pb.GetTimingAttributeInt32Response(value_raw=timing)
        raise self._no_attr("timing", attr)

    def rpc_GetTimingAttributeUInt64(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TIM_SAMP_PER_CHAN:
            return pb.GetTimingAttributeUInt64Response(value=task.samps_per_chan)
        raise self._no_attr("timing", attr)

    def rpc_GetTimingAttributeDouble(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TIM_RATE and task.rate_hz is not None:
            return pb.GetTimingAttributeDoubleResponse(value=task.rate_hz)
        raise self._no_attr("timing", attr)

    def rpc_GetTimingAttributeBool(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TIM_FIRST_TS_ENABLE:
            return pb.GetTimingAttributeBoolResponse(value=task.first_samp_timestamp)
        raise self._no_attr("timing", attr)

    def rpc_SetTimingAttributeBool(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr == TIM_FIRST_TS_ENABLE:
            task.first_samp_timestamp = r.value
            return pb.SetTimingAttributeBoolResponse()
        raise self._no_attr("timing", attr)

    def rpc_GetTimingAttributeTimestamp(self, r: Any) -> Any:
        task, attr = self._task(r), self._attr(r)
        if attr != TIM_FIRST_TS_VAL:
            raise self._no_attr("timing", attr)
        if not task.first_samp_timestamp:
            raise NiError(
                -201313,
                "First sample timestamp is not enabled for this task "
                f"(Timing.FirstSampTimestampEnable). Task Name: {task.name}",
            )
        t0 = self.device._first_sample_time(task) if task.running else None
        if t0 is None:
            raise NiError(-200983, f"The first sample has not been acquired yet. Task: {task.name}")
        resp = pb.GetTimingAttributeTimestampResponse()
        resp.value.FromNanoseconds(self.world.clock.epoch_ns(t0))
        return resp


def _btf(epoch_ns: int) -> PrecisionTimestamp:
    """Unix ns as an NI-BTF timestamp: seconds since 1904-01-01 UTC and 2**-64 fractions."""
    secs, ns = divmod(epoch_ns, 1_000_000_000)
    return PrecisionTimestamp(
        seconds=secs + BTF_EPOCH_OFFSET_S, fractional_seconds=(ns << 64) // 1_000_000_000
    )


def _input_range(lo: float, hi: float) -> tuple[float, float]:
    """The card's smallest input range that holds ``lo..hi`` (the widest if none does)."""
    fits = [r for r in AI_VOLTAGE_RANGES if r[0] <= lo and hi <= r[1]]
    return min(fits, key=lambda r: r[1] - r[0]) if fits else AI_VOLTAGE_RANGES[0]
