"""DAQ read throughput: 1M-sample reads through nidaqmx over gRPC from the simulated device.

Our server (hand-encoded packed-double response) beside the same server
building the response the naive way (a protobuf message from a list), in
one run, on one world with a fast clock so reads never wait on wall time.

    .venv/bin/python benchmarks/daq_read.py [--samples 1000000] [--repeat 5]

Prints samples/s end to end (client included), the server-side response
building time per read, and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import grpc
import nidaqmx
import numpy as np
from nidaqmx._stubs import nidaqmx_pb2 as pb
from nidaqmx.constants import AcquisitionType
from nidaqmx.stream_readers import AnalogSingleChannelReader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import load_bench  # noqa: E402
from instruments.sim.daq_server import SimDaqServer, encode_read_f64  # noqa: E402
from instruments.sim.world import World  # noqa: E402

RATE_HZ = 1_000_000.0  # below the simulated card's 1.25 MS/s


def read_rate(address: str, n: int, repeat: int) -> float:
    """Median samples/s of ``repeat`` finite reads of ``n`` samples through nidaqmx."""
    channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", -1)])
    opts = nidaqmx.GrpcSessionOptions(grpc_channel=channel, session_name="")
    times = []
    try:
        with nidaqmx.Task(grpc_options=opts) as task:
            task.ai_channels.add_ai_voltage_chan("SimDev1/ai0")
            task.timing.cfg_samp_clk_timing(
                RATE_HZ, sample_mode=AcquisitionType.FINITE, samps_per_chan=n
            )
            reader = AnalogSingleChannelReader(task.in_stream)
            reader.verify_array_shape = False
            buf = np.empty(n)
            for _ in range(repeat + 1):  # the first read warms up
                task.start()
                time.sleep(0.002)  # n samples at the fast world clock are acquired by now
                t = time.perf_counter()
                got = reader.read_many_sample(buf, n, timeout=10.0)
                times.append(time.perf_counter() - t)
                task.stop()
                assert got == n
    finally:
        channel.close()
    return n / statistics.median(times[1:])


def encode_time(n: int, repeat: int) -> tuple[float, float]:
    """Server-side response building (s per read): hand-encoded vs protobuf from a list."""
    values = np.random.default_rng(0).standard_normal(n)
    fast, naive = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        encode_read_f64(values, n)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        pb.ReadAnalogF64Response(
            read_array=values.tolist(), samps_per_chan_read=n
        ).SerializeToString()
        naive.append(time.perf_counter() - t)
    return statistics.median(fast), statistics.median(naive)


def world_trace_time(world: World, n: int, repeat: int) -> float:
    """The world's capacitor model for ``n`` sample times (s per read): not the server's code."""
    t = world.clock.now() - n / RATE_HZ + np.arange(n) / RATE_HZ
    times = []
    for _ in range(repeat):
        s = time.perf_counter()
        world.capacitor_trace(t)
        times.append(time.perf_counter() - s)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    bench = load_bench(ROOT / "benches" / "sim.toml")
    assert bench.sim is not None and bench.daq is not None
    bench = bench.model_copy(update={"sim": bench.sim.model_copy(update={"speed": 1e4})})
    world = World(bench)
    world.set_intensity(60)
    world.arm()

    with (
        SimDaqServer(world, bench.daq, fast_encoding=True) as ours,
        SimDaqServer(world, bench.daq, fast_encoding=False) as naive,
    ):
        ours_rate = read_rate(ours.address, args.samples, args.repeat)
        naive_rate = read_rate(naive.address, args.samples, args.repeat)
    enc_fast, enc_naive = encode_time(args.samples, args.repeat)
    trace = world_trace_time(world, args.samples, args.repeat)

    n = args.samples
    print(f"DAQ read via nidaqmx over gRPC, {n:,} samples per read, median of {args.repeat}")
    for label, rate in (("ours  (hand-encoded response)", ours_rate),
                        ("naive (protobuf from list)   ", naive_rate)):  # fmt: skip
        print(f"  {label}: {rate / 1e6:8.2f} MS/s  ({n / rate * 1e3:7.1f} ms/read)")
    print(f"  end-to-end ratio ours/naive  : {ours_rate / naive_rate:8.2f}x")
    print(
        f"  server response building     : {enc_fast * 1e3:.1f} ms vs {enc_naive * 1e3:.1f} ms "
        f"({enc_naive / enc_fast:.1f}x)"
    )
    print(f"  world.capacitor_trace (model): {trace * 1e3:.1f} ms per read (shared world code)")


if __name__ == "__main__":
    main()
