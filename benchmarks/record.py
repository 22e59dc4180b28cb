"""Benchmark: journal append rate and forwarding throughput to a local InfluxDB.

Run: ``.venv/bin/python benchmarks/record.py`` (starts its own influxd in a temp dir).

Figures, each with a baseline measured in the same run:

* journal: Measurements/s appended in durable batches (``synchronous=FULL``,
  each batch one fsynced commit) — target ≥ 100,000/s; baselines: one
  Measurement per commit, and the same batches with the hash chain off
  (the chain may cost at most 25 %).
* forwarding: points/s from the journal into InfluxDB (read, encode, POST,
  mark sent) — target ≥ 80 % of plain HTTP ``/write`` of the same line
  protocol in the same batch size to the same server (baseline).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "integration")]

from servers import InfluxDB1  # noqa: E402

from harness.limits import Limits, Measurement  # noqa: E402
from harness.record.encode import LineEncoder  # noqa: E402
from harness.record.forwarder import Forwarder  # noqa: E402
from harness.record.journal import Journal  # noqa: E402
from harness.record.outbox import Outbox  # noqa: E402
from harness.record.sinks import InfluxTarget  # noqa: E402

CONTEXT = {
    "station": "lab-3",
    "stimulator_model": "MagPro R30",
    "stimulator_serial": "SN12345",
    "coil_model": "C-B60",
    "coil_serial": "C0042",
    "waveform": "biphasic",
}
T0 = 1_790_000_000_000_000_000


def measurements(n: int, offset: int = 0) -> list[Measurement]:
    """``n`` realistic Measurements (a few characteristics, parametrised test ids)."""
    lim = Limits.around(93.2, relative=0.05, marginal=0.8)
    names = ("peak_didt", "rise_time", "pulse_width", "peak_current")
    return [
        Measurement.check(
            names[i % 4],
            90.0 + (i % 97) * 0.07,
            "A/us",
            lim,
            tags=CONTEXT,
            run_id="run-20261125-1a2b3c",
            test_id=f"tests/bench/test_pulse.py::test_x[{i % 10}]",
            time_ns=T0 + offset + i * 1000,
        )
        for i in range(n)
    ]


class _NoChain:
    """A stand-in for :class:`harness.record.chain.Chainer` that hashes nothing."""

    @staticmethod
    def digest(*_: object) -> bytes:
        return b""


class UnchainedJournal(Journal):
    """The journal with the hash chain switched off: the baseline of the chain's cost."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._chainer = _NoChain()  # type: ignore[assignment]


def bench_journal(
    tmp: Path, n: int, batch: int, rounds: int, journal: type[Journal] = Journal
) -> tuple[float, float]:
    """(batched points/s, one-per-commit points/s), best of ``rounds``, fresh files."""
    ms = measurements(n)
    batched = single = 0.0
    for r in range(rounds):
        with journal(tmp / f"bench-journal-{journal.__name__}-{r}.sqlite") as j:
            t = time.perf_counter()
            for i in range(0, n, batch):
                j.append_measurements(ms[i : i + batch])
            batched = max(batched, n / (time.perf_counter() - t))
            single_n = min(1000, n)
            t = time.perf_counter()
            for m in measurements(single_n, offset=n * 1000):
                j.append_measurement(m)
            single = max(single, single_n / (time.perf_counter() - t))
    return batched, single


def bench_forwarding(
    srv: InfluxDB1, tmp: Path, n: int, batch: int, rounds: int
) -> tuple[float, float]:
    """(forwarder points/s, plain /write points/s), best of ``rounds`` each, interleaved.

    Best-of is reported because the machine is shared: other load only ever
    makes a round slower, never faster.
    """
    path = tmp / "bench-forward.sqlite"
    with Journal(path) as j:
        j.append_measurements(measurements(n))
    # The exact bytes the forwarder sends, prepared up front for the baseline.
    with Outbox(path, "baseline") as ob:
        enc = LineEncoder(ob.tagset_json)
        lines = [enc.encode(r) for r in ob.read_after(0, n)]
    bodies = ["\n".join(lines[i : i + batch]).encode() for i in range(0, n, batch)]
    http = urllib3.PoolManager()

    def plain(db: str) -> float:
        url = f"{srv.url}/write?db={db}&precision=ns"
        t = time.perf_counter()
        for body in bodies:
            resp = http.request("POST", url, body=body)
            assert resp.status == 204, resp.data
        return n / (time.perf_counter() - t)

    def forward(db: str) -> float:
        fwd = Forwarder(path, InfluxTarget(url=srv.url, api="v1", database=db, batch_size=batch))
        t = time.perf_counter()
        res = fwd.sync(timeout_s=300)
        dt = time.perf_counter() - t
        fwd.close()
        assert res.ok and res.sent == n, res
        assert srv.count("tms_measurement", "value", db=db) == n
        return n / dt

    best_fwd = best_plain = 0.0
    for r in range(rounds):  # interleaved, alternating order; fresh databases each time
        for name in ("plain", "fwd") if r % 2 == 0 else ("fwd", "plain"):
            db = f"{name}{r}"
            srv.create_database(db)
            if name == "plain":
                rate = plain(db)
                best_plain = max(best_plain, rate)
            else:
                rate = forward(db)
                best_fwd = max(best_fwd, rate)
            print(f"  round {r} {name:5s} {rate:12,.0f} points/s", flush=True)
    return best_fwd, best_plain


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000, help="points per measurement")
    ap.add_argument("--batch", type=int, default=5000, help="points per commit / per write")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per figure (best is kept)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tms-bench-record-") as d:
        tmp = Path(d)
        # interleaved rounds, so that other load on the machine hits both alike
        batched = single = unchained = 0.0
        for _ in range(args.rounds):
            b, s = bench_journal(tmp, args.points, args.batch, 1)
            u, _s = bench_journal(tmp, args.points, args.batch, 1, UnchainedJournal)
            batched, single, unchained = max(batched, b), max(single, s), max(unchained, u)
        cost = (1.0 - batched / unchained) * 100.0
        print(f"journal, durable batches of {args.batch} (synchronous=FULL):")
        print(
            f"  ours     {batched:12,.0f} points/s   target >= 100,000  "
            f"{'OK' if batched >= 100_000 else 'BELOW TARGET'}"
        )
        print(f"  baseline {single:12,.0f} points/s   (one point per commit)")
        print(
            f"  unchained{unchained:12,.0f} points/s   (same batches, hash chain off): "
            f"the chain costs {cost:.1f} % (target <= 25 %) "
            f"{'OK' if cost <= 25.0 else 'ABOVE TARGET'}"
        )
        srv = InfluxDB1.start(tmp / "influxdb")
        try:
            fwd, plain = bench_forwarding(srv, tmp, args.points, args.batch, args.rounds)
        finally:
            srv.stop()
        ratio = fwd / plain
        print(f"forwarding to local influxd {args.points:,} points, batches of {args.batch}:")
        print(f"  ours     {fwd:12,.0f} points/s   (journal read + encode + /write + mark sent)")
        print(f"  baseline {plain:12,.0f} points/s   (plain HTTP /write of the same bytes)")
        print(
            f"  ratio    {ratio:12.0%}            target >= 80 %  "
            f"{'OK' if ratio >= 0.8 else 'BELOW TARGET'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
