"""The hand-encoded ReadAnalogF64 response is byte-for-byte what protobuf would send."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nidaqmx._stubs import nidaqmx_pb2 as pb

from instruments.sim.daq_device import interleave
from instruments.sim.daq_server import _varint, encode_read_f64


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
