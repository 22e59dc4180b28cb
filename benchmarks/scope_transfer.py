"""Scope transfer benchmark: 10M int16 samples over loopback from the simulated scope.

Three readers of the same ``:WAVeform:DATA?`` block (20 MB, WORD, LSBFirst) in one run:

* ours: :meth:`instruments.scope.driver.Scope.query_block` (pyvisa-py SOCKET,
  header then ``read_bytes`` with the termination character off);
* baseline 1: a raw ``socket`` reading the same reply into a preallocated buffer;
* baseline 2: pyvisa ``query_binary_values`` (termination character on).

Targets (tmsbench design notes, "Performance targets"): ≥ 50 % of the raw
socket, ≥ 10x ``query_binary_values``. Run: ``.venv/bin/python benchmarks/scope_transfer.py``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyvisa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import load_bench  # noqa: E402
from instruments.scope import open_scope  # noqa: E402
from instruments.sim.scope_server import SimScopeServer  # noqa: E402
from instruments.sim.world import World  # noqa: E402

QUERY = ":WAVeform:DATA?"


def raw_socket_read(host: str, port: int) -> bytes:
    """Baseline: plain socket, header parsed by hand, recv_into a preallocated buffer."""
    with socket.create_connection((host, port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(QUERY.encode() + b"\n")
        head = b""
        while len(head) < 2:
            head += s.recv(2 - len(head))
        nd = int(head[1:2])
        digits = b""
        while len(digits) < nd:
            digits += s.recv(nd - len(digits))
        total = int(digits) + 1  # payload + LF
        buf = bytearray(total)
        view = memoryview(buf)
        pos = 0
        while pos < total:
            got = s.recv_into(view[pos:], total - pos)
            if not got:
                raise ConnectionError("closed mid-block")
            pos += got
        return bytes(buf[:-1])


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--qbv-repeat", type=int, default=1)
    args = ap.parse_args()

    bench = load_bench(ROOT / "benches" / "sim.toml")
    world = World(bench)
    server = SimScopeServer(world, bench.scope)
    resource = server.start()
    rm = pyvisa.ResourceManager("@py")
    try:
        live = bench.scope.model_copy(update={"resource": resource, "timeout_ms": 60_000})
        scope = open_scope(live, rm)
        scope.set_timebase(1e-3, pretrigger=0.1, points=args.points)
        scope.configure_channel("current", volts_per_div=1.5)
        scope.set_trigger("current", 0.2)
        world.arm()
        world.set_intensity(60)
        scope.arm()
        t = time.perf_counter()
        world.fire(at=world.clock.now() + 0.2)
        scope.wait(60)
        print(f"capture of {args.points:,} points x 4 inputs: {time.perf_counter() - t:.2f} s")
        scope.write(":WAVeform:SOURce CHAN1")
        scope.query_block(QUERY)  # warm-up; the simulator caches the encoded block

        host, port = resource.split("::")[1], int(resource.split("::")[2])
        payload = scope.query_block(QUERY)
        nbytes = len(payload)
        assert raw_socket_read(host, port) == payload, "raw socket and driver read different bytes"
        # interleaved rounds: the readers share whatever load the machine has
        times: dict[str, list[float]] = {"ours": [], "wave": [], "raw": []}
        for _ in range(args.repeat):
            times["ours"].append(timed(lambda: scope.query_block(QUERY), 1)[0])
            times["wave"].append(timed(lambda: scope.read_waveform("current"), 1)[0])
            times["raw"].append(timed(lambda: raw_socket_read(host, port), 1)[0])
        inst = rm.open_resource(
            resource, timeout=600_000, read_termination="\n", write_termination="\n"
        )
        t_qbv, values = timed(
            lambda: inst.query_binary_values(
                QUERY, datatype="H", is_big_endian=False, container=np.array
            ),
            args.qbv_repeat,
        )
        inst.close()
        ours_codes = np.frombuffer(payload, dtype="<u2")
        assert np.array_equal(values, ours_codes), "query_binary_values read different values"
        scope.close()
    finally:
        rm.close()
        server.stop()

    mb = nbytes / 1e6
    t_ours, t_raw = min(times["ours"]), min(times["raw"])
    print(f"block: {nbytes:,} bytes ({nbytes // 2:,} int16 samples); best of {args.repeat}")
    rows = [
        ("ours: Scope.query_block", times["ours"]),
        ("ours: read_waveform (+preamble, volts)", times["wave"]),
        ("raw socket recv_into", times["raw"]),
        ("pyvisa query_binary_values", [t_qbv]),
    ]
    for name, ts in rows:
        best, med = min(ts), statistics.median(ts)
        print(f"  {name:40s} best {best:7.4f} s {mb / best:7.1f} MB/s   median {med:7.4f} s")
    print(f"ours / raw socket speed:           {t_raw / t_ours:6.2f}  (target >= 0.50)")
    print(f"ours vs query_binary_values:       {t_qbv / t_ours:6.1f}x (target >= 10x)")
    ok = t_raw / t_ours >= 0.5 and t_qbv / t_ours >= 10
    print("PASS" if ok else "BELOW TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
