"""One bench session: bench + spec + (simulated) instruments + journal + report.

Shared by the pytest plugin and the ``tmsbench calibrate`` command. Opening a
session on a bench file whose resources are ``"sim"`` (or on no bench file at
all) starts the simulated bench in this process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from harness import speccheck
from harness.config import (
    LIVE_HEADER,
    BenchConfig,
    ConfigError,
    SpecConfig,
    as_bench,
    load_bench,
    load_spec,
    write_bench,
)
from harness.context import RunContext
from harness.instrument_lock import InstrumentLock, shared_resource
from harness.limits import Measurement, Verdict
from harness.record import records
from harness.record.journal import Journal
from harness.record.records import RunInfo
from harness.report.html import TestResult
from harness.resources import bench_file
from instruments.closeable import Closeable

if TYPE_CHECKING:  # both are imported only when the run needs them
    from harness.record.forwarder import Forwarder
    from instruments.sim.bench import SimBench
    from instruments.sim.world import World

C = TypeVar("C", bound=Closeable)

log = logging.getLogger(__name__)

DEFAULT_BENCH = bench_file()  # the embedded default: benches/sim.toml


@dataclass
class SessionOptions:
    """What the user asked for on the command line."""

    bench: str | None = None
    spec: str | None = None
    station: str | None = None
    operator: str | None = None
    dut_serial: str | None = None
    results: str = "results"
    journal: str | None = None
    sim_speed: float | None = None
    #: run although a reference instrument is past its due date: the run is not traceable
    allow_expired_references: bool = False


@dataclass
class BenchSession:
    """Everything a run needs; start with :meth:`open`, end with :meth:`close`."""

    options: SessionOptions
    bench: BenchConfig = field(init=False)
    spec: SpecConfig = field(init=False)
    context: RunContext = field(init=False)
    journal: Journal = field(init=False)
    simulated: bool = False
    sim: SimBench | None = None  # when simulated
    forwarder: Forwarder | None = None
    pending: int | None = field(
        default=None, init=False
    )  # points left unsent at the end of the run (None: no sink)
    forward_error: str | None = field(default=None, init=False)  # the sink's last refusal
    _finished: bool = field(default=False, init=False)
    #: why results of this run are not traceable (expired references); [] when they are
    not_traceable: list[str] = field(default_factory=list, init=False)
    results_dir: Path = field(init=False)
    tests: list[TestResult] = field(default_factory=list)
    # files a run wrote besides the report and journal: (what, path), e.g. certificates
    artifacts: list[tuple[str, Path]] = field(default_factory=list)
    #: the lock of a scope this bench may share with another (None: a private scope)
    scope_lock: InstrumentLock | None = field(default=None, init=False)
    #: per test id: the waits for the shared scope's lock (ms), one per capture, until
    #: the plugin moves them into the test's report entry
    lock_waits: dict[str, list[float]] = field(default_factory=dict, init=False)
    _stack: ExitStack = field(default_factory=ExitStack)
    _instruments: dict[str, Closeable] = field(default_factory=dict)

    # ------------------------------------------------------------ lifecycle
    def open(self) -> BenchSession:
        """Load files, open the journal, start the simulator if needed.

        Whatever fails, what was already started (journal, simulator) is closed again.
        """
        try:
            return self._open()
        except BaseException:
            self._stack.close()
            raise

    def _open(self) -> BenchSession:
        opts = self.options
        path = Path(opts.bench) if opts.bench else DEFAULT_BENCH
        bench = load_bench(path)
        if opts.sim_speed is not None and bench.sim is not None:
            bench = bench.model_copy(
                update={"sim": bench.sim.model_copy(update={"speed": opts.sim_speed})}
            )
        self.not_traceable = self._check_references(bench, path)
        spec_path = Path(opts.spec) if opts.spec else bench.spec_path()
        if spec_path is None:
            raise ConfigError(path, ["spec: missing: give --spec or a spec key in the bench file"])
        self.spec = load_spec(spec_path)
        speccheck.check(self.spec, bench)  # no limit looser than the device's own
        self.context = RunContext.from_bench(
            bench,
            self.spec.name,
            station=opts.station,
            operator=opts.operator,
            dut_serial=opts.dut_serial,
            simulated=bench.sim is not None,
        )
        # The journal first: a journal that cannot be used stops the run before any instrument.
        journal_path = Path(opts.journal or bench.sinks.journal.path)
        self.journal = Journal(journal_path)
        self._stack.callback(self.journal.close)
        self.context = replace(
            self.context,
            spec_version=self.spec.version,
            spec_sha256=self.spec.content_sha256,
            engineering=tuple(self._engineering_reasons()),
            references=tuple(
                f"{role}: {ref.describe()}" for role, ref in bench.references.instruments.items()
            ),
            not_traceable=tuple(self.not_traceable),
        )
        self.results_dir = Path(opts.results) / self.context.run_id
        shared = shared_resource(bench.scope.resource if bench.scope else None)
        if shared is not None:  # named as in the bench file, before a simulator serves it
            self.scope_lock = InstrumentLock(shared)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        if bench.sim is not None and bench.sim.served:
            self.simulated = True  # a running `tmsbench sim` serves these instruments
        elif bench.sim is not None:
            from instruments.sim.bench import SimBench

            self.sim = SimBench(bench)
            self._stack.callback(self.sim.stop)
            bench = as_bench(self.sim.start())
            write_bench(bench, self.results_dir / "sim-live.toml", LIVE_HEADER)
            self.simulated = True
            self.context = replace(self.context, started_ns=self.now_ns())
        self.bench = bench
        self.journal.start_run(
            RunInfo(
                run_id=self.context.run_id,
                station=self.context.station,
                operator=self.context.operator,
                git_revision=self.context.git_revision,
                bench=Path(self.context.bench_file).name,
                started_ns=self.context.started_ns,
                tags=self.context.tags(),
                method={**self.context.method(), **_daq_settings(bench)},
            )
        )
        if bench.sinks.influxdb is not None:
            from harness.record.forwarder import Forwarder

            self.forwarder = Forwarder(journal_path, bench.sinks.influxdb)
            self.forwarder.start()
        return self

    def _check_references(self, bench: BenchConfig, path: Path) -> list[str]:
        """Refuse a run on an expired reference instrument (unless allowed); warn before.

        Judged on today's date (the wall clock: the run is being decided now, also when a
        simulated world's calendar starts in the past). Returns why the run is not
        traceable (``[]``: it is).
        """
        today = dt.date.today()
        refs = bench.references
        expired = refs.expired(today)
        if expired and not self.options.allow_expired_references:
            hint = "; --allow-expired-references runs anyway, not traceable"
            raise ConfigError(path, [*expired[:-1], expired[-1] + hint])
        for line in refs.due_soon(today):
            log.warning("%s: %s", path, line)
        return expired

    def _engineering_reasons(self) -> list[str]:
        """Why this run cannot release a device: the spec's own reasons, and a spec
        whose content differs from earlier runs of the same version (in this journal)."""
        spec = self.spec
        why = spec.engineering_reasons()
        if spec.version:
            seen = self.journal.spec_hashes(spec.name, spec.version)
            if seen and spec.content_sha256 not in seen:
                why.append(
                    f"spec {spec.name!r} version {spec.version} has other content than earlier"
                    f" runs of that version (sha256 {spec.content_sha256[:12]}…, before"
                    f" {', '.join(sorted(h[:12] + '…' for h in seen))}): give it a new version"
                )
        return why

    @property
    def world(self) -> World | None:
        """The simulated world, or ``None`` on a real bench."""
        return self.sim.world if self.sim is not None else None

    @property
    def journal_path(self) -> Path:
        """Where the journal file is."""
        return self.journal.path

    def instrument(self, name: str, opener: Callable[[], C]) -> C:
        """Open ``name`` once per session with ``opener()``; closed at the end."""
        if name not in self._instruments:
            inst = opener()
            self._instruments[name] = inst
            self._stack.callback(inst.close)
        return cast(C, self._instruments[name])  # one opener per name

    def finish(self, verdict: Verdict | str) -> int | None:
        """Record the run's verdict and flush forwarding; the points still pending.

        ``None`` when no InfluxDB sink is configured. Pending points stay in the journal;
        :meth:`sync_command` is the command that sends them.
        """
        if self._finished:
            return self.pending
        self._finished = True
        # the clock the start and every record used (the world's on the simulated bench)
        self.journal.finish_run(
            self.context.run_id, verdict, time_ns=self.now_ns(), counts=self.yields()
        )
        if self.forwarder is not None:
            self.pending = 0
            if not self.forwarder.stop(flush_timeout=5.0):  # read the outbox only if needed
                status = self.forwarder.status()
                self.pending, self.forward_error = status.pending, status.last_error
            if self.pending:
                log.warning(
                    "InfluxDB forwarding incomplete: %d points pending; `%s` sends them",
                    self.pending,
                    self.sync_command(),
                )
        return self.pending

    def sync_command(self) -> str:
        """The shell command that forwards this journal's pending points."""
        return f"tmsbench sync --bench {self.context.bench_file} --journal {self.journal.path}"

    def close(self, verdict: Verdict | str) -> None:
        """Finish the run record (if not done), stop instruments and simulator."""
        try:
            self.finish(verdict)
        finally:
            self._stack.close()

    # ------------------------------------------------------------ recording
    def tags(self, **extra: str) -> dict[str, str]:
        """The run's bounded tags plus ``extra`` (``traceable=no`` on an expired reference)."""
        mark = {"traceable": "no"} if self.not_traceable else {}
        return {**self.context.tags(), **mark, **{k: v for k, v in extra.items() if v}}

    def record(self, m: Measurement) -> Measurement:
        """Commit one measurement to the journal (durable before returning)."""
        self.journal.append_measurement(m)
        if self.forwarder is not None:
            self.forwarder.notify()
        return m

    def record_test(
        self, test_id: str, outcome: str, attempt: int, reason: str, duration_s: float
    ) -> None:
        """Commit one attempt of one test (see :func:`harness.record.records.test_row`)."""
        row = records.test_row(
            self.tags(),
            run_id=self.context.run_id,
            test_id=test_id,
            outcome=outcome,
            attempt=attempt,
            reason=reason,
            duration_s=duration_s,
            time_ns=self.now_ns(),
        )
        self.journal.append_rows([row])
        if self.forwarder is not None:
            self.forwarder.notify()

    def note_lock_wait(self, test_id: str, waited_ms: float) -> None:
        """Keep one wait for the shared scope's lock (ms) under ``test_id``."""
        self.lock_waits.setdefault(test_id, []).append(waited_ms)

    def describe_lock_waits(self) -> str:
        """The run's waits for the shared scope, in one line ("" without a shared scope)."""
        if self.scope_lock is None:
            return ""
        waits = self.scope_lock.waits_ms  # every capture of the run, tests taken or not
        head = f"{self.scope_lock.resource} (lock {self.scope_lock.path.name})"
        if not waits:
            return f"{head}: no capture"
        return (
            f"{head}: waited {sum(waits):.0f} ms in all over {len(waits)} captures"
            f" (longest {max(waits):.0f} ms)"
        )

    def record_rows(self, rows: list[records.Row]) -> None:
        """Commit rows built elsewhere (e.g. a dose record) and wake the forwarder."""
        self.journal.append_rows(rows)
        if self.forwarder is not None:
            self.forwarder.notify()

    def yields(self) -> dict[str, int]:
        """Tests run (skipped ones aside), passed at their first attempt, at their last."""
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for t in self.tests:
            first.setdefault(t.nodeid, t.outcome)
            last[t.nodeid] = t.outcome
        run = [n for n, o in last.items() if o != "skipped"]
        if not run:  # nothing tested: no yield (rather than 0 of 0)
            return {}
        return {
            "tests": len(run),
            "first_pass": sum(first[n] == "passed" for n in run),
            "final_pass": sum(last[n] == "passed" for n in run),
        }

    def record_pulse(self, metrics: dict[str, Any], **context: Any) -> None:
        """Commit one pulse summary."""
        self.journal.append_pulse(metrics, **context)

    def record_train(self, metrics: dict[str, Any], **context: Any) -> None:
        """Commit one train summary."""
        self.journal.append_train(metrics, **context)

    def now_ns(self) -> int:
        """Time stamp for records: the world's calendar on the simulated bench (which may
        run fast or start in the past), the wall clock on a real one."""
        world = self.world
        if world is not None:
            return world.clock.epoch_ns(world.clock.now())
        return time.time_ns()


def _daq_settings(bench: BenchConfig) -> dict[str, str]:
    """The DAQ task settings of the run (device, sample rate, each channel's type, range,
    terminal and scaling), as JSON for the run's start point; {} without a DAQ."""
    if bench.daq is None:
        return {}
    daq = bench.daq.model_dump(mode="json", exclude={"grpc", "call_margin_s"})
    return {"daq_settings": json.dumps(daq, sort_keys=True)}

