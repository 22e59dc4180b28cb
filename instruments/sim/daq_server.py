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
``RpcError``; its name is kept in :attr:`SimDaqServer.unsupported`.

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
from nidaqmx._stubs import nidaqmx_pb2 as pb
from session_pb2 import Session

from instruments.daq.settings import DaqSettings
from instruments.sim.daq_device import (
    ATTR_NOT_SUPPORTED,
    DRIVER_VERSION,
    FUNCTION_NOT_SUPPORTED_FOR_DEVICE,
    NiError,
    SimDaqDevice,
    SimTask,
    interleave,
)
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

SAMPLE_CLOCK, ON_DEMAND = 10388, 10390  # SampleTimingType


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


def _serialize(msg: Any) -> bytes:
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


class SimDaqServer:
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
                handlers[m.name] = grpc.unary_stream_rpc_method_handler(
                    self._unsupported_stream(m.name),
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
            except Exception as exc:  # a bug here must still reach the client as a DAQmx error
                log.exception("simulated DAQ: %s failed", name)
                self._abort(context, NiError(-200099, f"simulated device internal error: {exc}"))

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
        if task.rate_hz is not None and task.running and task.t0 is not None:
            end = task.t0 + task.samps_per_chan / task.rate_hz
            deadline = None if r.time_to_wait < 0 else time.monotonic() + r.time_to_wait
            if not self.device._wait(end, deadline):
                raise NiError(
                    -200560,
                    "Wait Until Done did not indicate all samples were acquired in the time "
                    f"allowed. Task Name: {task.name}",
                )
        return pb.WaitUntilTaskDoneResponse()

    def _done(self, task: SimTask) -> bool:
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
        )
        return pb.CreateCICountEdgesChanResponse()

    def rpc_CreateDIChan(self, r: Any) -> Any:
        self.device.add_lines(self._task(r), r.lines, r.name_to_assign_to_lines, output=False)
        return pb.CreateDIChanResponse()

    def rpc_CreateDOChan(self, r: Any) -> Any:
        self.device.add_lines(self._task(r), r.lines, r.name_to_assign_to_lines, output=True)
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

    # ------------------------------------------------------------ reads / writes
    def rpc_ReadAnalogF64(self, r: Any) -> Any:
        task = self._task(r)
        data, n = self.device.acquire(task, r.num_samps_per_chan, r.timeout)
        flat = interleave(data, r.fill_mode_raw or r.fill_mode)
        if flat.size > r.array_size_in_samps:
            raise NiError(
                -200229,
                f"Buffer is too small to fit read data: {flat.size} > {r.array_size_in_samps}",
            )
        if self.fast_encoding:
            return encode_read_f64(flat, n)
        return pb.ReadAnalogF64Response(read_array=flat.tolist(), samps_per_chan_read=n)

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
        lines = self.device.read_lines(self._task(r))
        return pb.ReadDigitalLinesResponse(
            read_array=bytes(lines), samps_per_chan_read=1, num_bytes_per_samp=1
        )

    def rpc_ReadDigitalScalarU32(self, r: Any) -> Any:
        lines = self.device.read_lines(self._task(r))
        return pb.ReadDigitalScalarU32Response(value=sum(int(b) << i for i, b in enumerate(lines)))

    def rpc_WriteDigitalLines(self, r: Any) -> Any:
        task = self._task(r)
        self.device.write_lines(task, [b != 0 for b in r.write_array])
        return pb.WriteDigitalLinesResponse(samps_per_chan_written=1)

    def rpc_WriteDigitalScalarU32(self, r: Any) -> Any:
        task = self._task(r)
        self.device.write_lines(task, [bool(r.value >> i & 1) for i in range(len(task.channels))])
        return pb.WriteDigitalScalarU32Response()

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

    def _chan(self, r: Any) -> Any:
        task = self._task(r)
        # A list names channels of one type; their common attributes are the first one's.
        name = r.channel.split(",")[0].strip() or (task.channels[0].name if task.channels else "")
        for ch in task.channels:
            if name in (ch.name, ch.physical, "/" + ch.physical):
                return ch
        raise NiError(-200486, f"Channel {name!r} is not in task {task.name}.")

    def rpc_GetChanAttributeInt32(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if attr == CHAN_TYPE:
            return pb.GetChanAttributeInt32Response(value_raw=ch.chan_type.value)
        if attr in (CHAN_MEAS_TYPE, CI_MEAS_TYPE) and ch.meas_type:
            return pb.GetChanAttributeInt32Response(value_raw=ch.meas_type)
        raise self._no_attr("channel", attr)

    def rpc_GetChanAttributeDouble(self, r: Any) -> Any:
        ch, attr = self._chan(r), self._attr(r)
        if attr == AI_MIN:
            return pb.GetChanAttributeDoubleResponse(value=ch.min_val)
        if attr == AI_MAX:
            return pb.GetChanAttributeDoubleResponse(value=ch.max_val)
        raise self._no_attr("channel", attr)

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
        if attr == READ_DI_BOOLEANS:
            return pb.GetReadAttributeUInt32Response(value=1)
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
            return pb.GetWriteAttributeUInt32Response(value=1)
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
