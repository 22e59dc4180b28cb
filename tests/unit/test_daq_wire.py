"""NI gRPC wire bytes: the hand-encoded ReadAnalogF64 reply, and request -> reply per call.

The request/reply rows are written from nidaqmx.proto's field numbers and the
facts in instruments/daq/nidaqmx_facts.md, not from running the server.
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nidaqmx._stubs import nidaqmx_pb2 as pb
from session_pb2 import Session

from instruments.sim.daq_device import interleave
from instruments.sim.daq_server import SimDaqServer, _varint, encode_read_f64
from instruments.sim.world import World


@given(st.integers(min_value=0, max_value=2**35))
def test_varint_matches_protobuf(n):
    # A uint64 field 1 is tag 0x08 + varint: the same bytes as ours after the tag.
    ref = pb.GetTimingAttributeUInt64Response(value=n).SerializeToString()
    assert (b"\x10" + _varint(n) if n else b"") == ref


@given(
    st.lists(st.floats(allow_nan=False, width=64), max_size=300),
    st.integers(min_value=0, max_value=10**6),
)
def test_encoded_response_equals_protobuf_serialization(values, n):
    arr = np.array(values, dtype=np.float64)
    ref = pb.ReadAnalogF64Response(read_array=values, samps_per_chan_read=n).SerializeToString()
    ours = encode_read_f64(arr, n)
    decoded = pb.ReadAnalogF64Response.FromString(ours)
    assert list(decoded.read_array) == values
    assert decoded.samps_per_chan_read == n
    if values:  # protobuf omits an empty packed field; we always send it
        assert ours == ref


def test_large_response_round_trips():
    arr = np.random.default_rng(1).standard_normal(200_000)
    decoded = pb.ReadAnalogF64Response.FromString(encode_read_f64(arr, arr.size))
    np.testing.assert_array_equal(np.array(decoded.read_array), arr)


@pytest.mark.parametrize(
    ("mode", "expected"), [(0, [1, 2, 3, 10, 20, 30]), (1, [1, 10, 2, 20, 3, 30])]
)
def test_fill_modes(mode, expected):
    data = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    assert interleave(data, mode).tolist() == expected


# ---------------------------------------------------------------- request bytes -> reply bytes
# Each row is one unary call of the NI gRPC device server, written by hand from
# the field numbers of nidaqmx.proto (grpc-device, as shipped in nidaqmx 1.7.0
# ``_stubs/nidaqmx_pb2``) and the DAQmx facts of instruments/daq/nidaqmx_facts.md:
# (method, request hex, the request as the nidaqmx client builds it, reply hex or
# the NI error code the server must put in the ``ni-error`` trailing metadata).
# Tasks: t = DO port0 (one channel for all lines), u = DI port0/line0:3 (a channel
# per line), w = DI port0 (all lines), v = AI ai0 (-1..1 V).
TASK_T = "0a030a0174"  # field 1 task: Session{name: "t"}
TASK_U = "0a030a0175"
TASK_V = "0a030a0176"
TASK_W = "0a030a0177"
PORT0 = "0d" + b"SimDev1/port0".hex()
LINES0_3 = "15" + b"SimDev1/port0/line0:3".hex()
AI0 = "0b" + b"SimDev1/ai0".hex()
DEV = "0a07" + b"SimDev1".hex()  # field 1 device_name
TEN_S = "110000000000002440"  # field 2 timeout = 10.0 (double, little-endian)


def _session(name: str) -> Any:
    return Session(name=name)


EXCHANGES: list[tuple[str, str, Any, str | int]] = [
    # A new task answers its name and new_session_initialized (field 3) = true.
    ("CreateTask", "0a0174", pb.CreateTaskRequest(session_name="t"), "12030a01741801"),
    ("CreateTask", "0a0175", pb.CreateTaskRequest(session_name="u"), "12030a01751801"),
    ("CreateTask", "0a0176", pb.CreateTaskRequest(session_name="v"), "12030a01761801"),
    ("CreateTask", "0a0177", pb.CreateTaskRequest(session_name="w"), "12030a01771801"),
    # Port-wide channel Dev/port0, CHAN_FOR_ALL_LINES (line_grouping_raw field 5 = 1): OK (status 0
    # is not sent, so the reply is empty) and one channel of 8 lines (DO.NumLines 0x2179 = 8).
    (
        "CreateDOChan",
        TASK_T + "12" + PORT0 + "2801",
        pb.CreateDOChanRequest(task=_session("t"), lines="SimDev1/port0", line_grouping_raw=1),
        "",
    ),
    (
        "GetChanAttributeUInt32",
        TASK_T + "12" + PORT0 + "20f942",
        pb.GetChanAttributeUInt32Request(
            task=_session("t"), channel="SimDev1/port0", attribute_raw=0x2179
        ),
        "1008",
    ),
    # A port the device does not have: -200170.
    (
        "CreateDOChan",
        TASK_T + "120d" + b"SimDev1/port9".hex() + "2801",
        pb.CreateDOChanRequest(task=_session("t"), lines="SimDev1/port9", line_grouping_raw=1),
        -200170,
    ),
    # A line range, CHAN_PER_LINE (0, not sent): four channels named after their lines.
    (
        "CreateDIChan",
        TASK_U + "12" + LINES0_3,
        pb.CreateDIChanRequest(task=_session("u"), lines="SimDev1/port0/line0:3"),
        "",
    ),
    # Channel type (0x187F) of one of them: DIGITAL_INPUT 10151 in value_raw (field 3) ...
    (
        "GetChanAttributeInt32",
        TASK_U + "1213" + b"SimDev1/port0/line2".hex() + "20ff30",
        pb.GetChanAttributeInt32Request(
            task=_session("u"), channel="SimDev1/port0/line2", attribute_raw=0x187F
        ),
        "18a74f",
    ),
    # ... of a range of them in the channel list (what nidaqmx passes for a collection) ...
    (
        "GetChanAttributeInt32",
        TASK_U + "12" + LINES0_3 + "20ff30",
        pb.GetChanAttributeInt32Request(
            task=_session("u"), channel="SimDev1/port0/line0:3", attribute_raw=0x187F
        ),
        "18a74f",
    ),
    # ... and of a line that is not in the task: -200486.
    (
        "GetChanAttributeInt32",
        TASK_U + "1213" + b"SimDev1/port0/line5".hex() + "20ff30",
        pb.GetChanAttributeInt32Request(
            task=_session("u"), channel="SimDev1/port0/line5", attribute_raw=0x187F
        ),
        -200486,
    ),
    # Device attributes: ProductCategory (0x29A9) = X_SERIES_DAQ 15858, ProductType (0x0631).
    (
        "GetDeviceAttributeInt32",
        DEV + "18a953",
        pb.GetDeviceAttributeInt32Request(device_name="SimDev1", attribute_raw=0x29A9),
        "18f27b",
    ),
    (
        "GetDeviceAttributeString",
        DEV + "18b10c",
        pb.GetDeviceAttributeStringRequest(device_name="SimDev1", attribute_raw=0x0631),
        "1209" + b"PCIe-6351".hex(),
    ),
    (
        "GetDeviceAttributeInt32",
        "0a05" + b"NoDev".hex() + "18a953",
        pb.GetDeviceAttributeInt32Request(device_name="NoDev", attribute_raw=0x29A9),
        -200220,
    ),
    # AI channel, then the channel attribute setter AI.Max (0x17DD) and its read-back.
    (
        "CreateAIVoltageChan",
        TASK_V + "12" + AI0 + "31000000000000f0bf39000000000000f03f",
        pb.CreateAIVoltageChanRequest(
            task=_session("v"), physical_channel="SimDev1/ai0", min_val=-1.0, max_val=1.0
        ),
        "",
    ),
    (
        "SetChanAttributeDouble",
        TASK_V + "12" + AI0 + "20dd2f" + "290000000000001440",
        pb.SetChanAttributeDoubleRequest(
            task=_session("v"), channel="SimDev1/ai0", attribute_raw=0x17DD, value=5.0
        ),
        "",
    ),
    (
        "GetChanAttributeDouble",
        TASK_V + "12" + AI0 + "20dd2f",
        pb.GetChanAttributeDoubleRequest(
            task=_session("v"), channel="SimDev1/ai0", attribute_raw=0x17DD
        ),
        "110000000000001440",
    ),
    # 20 V is above every input range of the card: -200077.
    (
        "SetChanAttributeDouble",
        TASK_V + "12" + AI0 + "20dd2f" + "290000000000003440",
        pb.SetChanAttributeDoubleRequest(
            task=_session("v"), channel="SimDev1/ai0", attribute_raw=0x17DD, value=20.0
        ),
        -200077,
    ),
    # A call of the service the simulated card cannot do: a DAQmx error, not a bare RpcError.
    (
        "CfgAnlgEdgeRefTrig",
        TASK_V + "12" + AI0,
        pb.CfgAnlgEdgeRefTrigRequest(task=_session("v"), trigger_source="SimDev1/ai0"),
        -209876,
    ),
    # Port writes and reads are unsigned port values: write 0xA5 to port0 (auto_start field 2,
    # timeout field 3, value field 4) ...
    (
        "WriteDigitalScalarU32",
        TASK_T + "1001" + "190000000000002440" + "20a501",
        pb.WriteDigitalScalarU32Request(
            task=_session("t"), auto_start=True, timeout=10.0, value=0xA5
        ),
        "",
    ),
    # ... and read port0: line0 is wired to the armed stimulator (armed: 1), lines 2, 5, 7 are the
    # latched outputs: 0xA5 again.
    (
        "CreateDIChan",
        TASK_W + "12" + PORT0 + "2801",
        pb.CreateDIChanRequest(task=_session("w"), lines="SimDev1/port0", line_grouping_raw=1),
        "",
    ),
    (
        "ReadDigitalScalarU32",
        TASK_W + TEN_S,
        pb.ReadDigitalScalarU32Request(task=_session("w"), timeout=10.0),
        "10a501",
    ),
    ("ClearTask", TASK_T, pb.ClearTaskRequest(task=_session("t")), ""),
]


@pytest.fixture
def raw_server(sim_bench):
    world = World(sim_bench)
    world.arm()
    assert sim_bench.daq is not None
    with SimDaqServer(world, sim_bench.daq) as srv:
        channel = grpc.insecure_channel(srv.address)
        yield channel
        channel.close()


def _call(channel: grpc.Channel, method: str, request: bytes) -> bytes:
    call = channel.unary_unary(f"/nidaqmx_grpc.NiDAQmx/{method}")  # bytes in, bytes out
    return bytes(call(request, timeout=10.0))


def test_exchanges_byte_for_byte(raw_server):
    for i, (method, req_hex, client_msg, expected) in enumerate(EXCHANGES):
        req = bytes.fromhex(req_hex)
        # The nidaqmx client sends exactly these bytes for this call ...
        assert client_msg.SerializeToString() == req, f"row {i} {method}: request bytes"
        # ... and the simulated server answers exactly these (or this DAQmx error).
        if isinstance(expected, str):
            assert _call(raw_server, method, req).hex() == expected, f"row {i} {method}: reply"
            continue
        with pytest.raises(grpc.RpcError) as err:
            _call(raw_server, method, req)
        assert err.value.code() == grpc.StatusCode.UNKNOWN, f"row {i} {method}"
        meta = dict(err.value.trailing_metadata() or ())
        assert meta.get("ni-error") == str(expected), f"row {i} {method}: {err.value.details()}"


def test_a_method_outside_the_service_is_unimplemented(raw_server):
    with pytest.raises(grpc.RpcError) as err:
        _call(raw_server, "NoSuchCall", b"")
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_every_n_samples_registration_errors_come_before_the_stream(raw_server):
    # RegisterEveryNSamplesEvent: task field 1, type_raw field 3, n_samples field 4.
    _call(raw_server, "CreateTask", bytes.fromhex("0a0178"))
    for req_hex, code in [
        ("0a030a0178" + "1801" + "2000", -200880),  # interval 0
        ("0a030a0178" + "1802" + "20e807", -200965),  # transferred-from-buffer on an input task
    ]:
        stream = raw_server.unary_stream("/nidaqmx_grpc.NiDAQmx/RegisterEveryNSamplesEvent")
        it = stream(bytes.fromhex(req_hex), timeout=10.0)
        with pytest.raises(grpc.RpcError) as err:
            next(it)
        assert dict(err.value.trailing_metadata() or ()).get("ni-error") == str(code)
