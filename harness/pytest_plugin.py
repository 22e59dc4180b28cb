"""The tmsbench pytest plugin: options, markers, fixtures, verdicts and reports.

Registered through the ``pytest11`` entry point (``tmsbench``), so any pytest
run in an environment where tmsbench is installed has it. Nothing happens
until a test asks for a bench fixture: then the bench session opens (starting
the simulated bench when no ``--bench`` is given) and, at the end, the HTML
report is written and its path printed.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.analysis.decision import describe_rule
from harness.capabilities import missing
from harness.config import ConfigError, SpecConfig
from harness.formatting import format_limits, format_value
from harness.limits import Verdict
from harness.measure import MeasureRecorder
from harness.record.schema import JournalError
from harness.report.html import TestResult
from harness.report.html import write as write_report
from harness.safety import Terminated, raise_terminated, reset_stop, stop_requested
from harness.session import DEFAULT_BENCH, BenchSession, SessionOptions
from harness.station.events import EventsPlugin, EventWriter

if TYPE_CHECKING:  # drivers are imported lazily, when a test needs them
    from harness.analysis.threshold import ThresholdResult
    from harness.capture import BenchRig, PulseCapture, TrainCapture
    from harness.config import BenchConfig
    from instruments.daq import Daq
    from instruments.scope import Scope
    from instruments.sim.world import World
    from instruments.stimulator import Stimulator

_SESSION = pytest.StashKey[BenchSession | None]()
_RESULTS = pytest.StashKey[MeasureRecorder]()
_REPORTED = pytest.StashKey[TestResult]()  # the report's entry of a test, for its figures
_TERMINATED = pytest.StashKey[Terminated]()
_SAVED_SIGNALS = pytest.StashKey[dict[int, Any]]()
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_EVENTS = pytest.StashKey[EventWriter | None]()  # --events: progress for the station page


# --------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tmsbench", "TMS bench")
    g.addoption(
        "--bench",
        action="append",
        help="bench file (default: the simulated bench, started by the plugin); repeat it "
        "with pytest -n N (N benches, N workers): worker gwK runs the suite on the K-th",
    )
    g.addoption("--spec", help="spec file (default: the bench file's `spec`)")
    g.addoption("--station", help="station name (default: the bench file's)")
    g.addoption("--operator", help="operator name (default: $TMSBENCH_OPERATOR or the user)")
    g.addoption("--dut-serial", help="serial of the stimulator under test (overrides the bench)")
    g.addoption("--results", default="results", help="folder for reports (default: results)")
    g.addoption("--journal", help="journal file (default: the bench file's sinks.journal.path)")
    g.addoption("--sim-speed", type=float, help="simulated bench: world-clock speed factor")
    g.addoption(
        "--allow-expired-references",
        action="store_true",
        help="run although a reference instrument is past its due date (marked not traceable)",
    )
    g.addoption("--run-slow", action="store_true", help="also run full-length protocols")
    g.addoption(
        "--threshold-from",
        metavar="LAST|VALUE",
        help="motor threshold the protocol tests dose from: LAST (the last one journaled for "
        "this stimulator) or a value in %MSO (default: the suite's demo threshold)",
    )
    g.addoption("--events", metavar="FILE", help="write progress as JSON lines (station page)")
    g.addoption(
        "--attempts",
        type=int,
        default=1,
        help="run a failed test up to N times in all (pytest-rerunfailures); every attempt "
        "is kept in the journal and the report with its attempt number",
    )
    g.addoption(
        "--retest",
        action="store_true",
        help="this run tests again what failed before (reason 'retest'; implied by --lf)",
    )


# ------------------------------------------------------------- several benches


def _benches(config: pytest.Config) -> list[str]:
    return list(config.getoption("--bench", None) or [])


def bench_option(config: pytest.Config) -> str | None:
    """The bench file of this process: the one ``--bench``, or under ``pytest -n N`` with
    N benches, worker gwK's K-th (``None``: the embedded simulated bench)."""
    benches = _benches(config)
    worker = getattr(config, "workerinput", None)
    if worker is not None and len(benches) > 1:
        return benches[int(str(worker["workerid"]).removeprefix("gw"))]
    return benches[0] if benches else None


def _workers(config: pytest.Config) -> int | str:
    return getattr(config.option, "numprocesses", None) or 0


def benches_usage_error(config: pytest.Config) -> str:
    """Why the ``--bench`` files and ``-n`` given do not go together ("" when they do).

    Each worker drives one bench, so with ``-n N`` there are N bench files; several
    bench files without ``-n`` are refused (one process cannot drive two DUTs).
    """
    benches = _benches(config)
    n = _workers(config)
    if not benches:
        return ""
    if n in ("auto", "logical"):
        n = len(benches)  # see pytest_xdist_auto_num_workers
    if not n:
        if len(benches) > 1:
            return (
                f"{len(benches)} --bench files need pytest -n {len(benches)} "
                "(one worker per bench); give one --bench without -n"
            )
        return ""
    if int(n) != len(benches):
        return (
            f"-n {n} with {len(benches)} --bench file(s): give one --bench per worker "
            f"(-n {len(benches)})"
        )
    dist = getattr(config.option, "dist", "no")
    if dist not in ("no", "each"):
        return f"--dist {dist}: each worker runs the whole suite on its bench: use --dist each"
    return ""


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Several benches under ``-n N``: every worker runs every test (``--dist each``)."""
    if getattr(config, "workerinput", None) is not None:
        return None  # a worker: the controller has decided
    wrong = benches_usage_error(config)
    if wrong:
        print(f"tmsbench: {wrong}", file=sys.stderr)
        return 2  # pytest's exit status for a usage error of this plugin
    if _workers(config) and len(_benches(config)) > 1:
        config.option.dist = "each"
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` with several ``--bench``: one worker per bench."""
    benches = _benches(config)
    return len(benches) if len(benches) > 1 else None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller keeps what each worker's bench run wrote (printed at the end)."""
    out = getattr(node, "workeroutput", {}).get("tmsbench")
    if out is not None:
        node.config.stash.setdefault(_WORKER_RUNS, []).append(out)


_WORKER_RUNS = pytest.StashKey[list[dict[str, str]]]()


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "intensity(*percent): %MSO levels a test runs at",
        "waveform(*names): pulse waveforms a test applies to",
        "slow: full-length protocols (minutes of device time); run with --run-slow",
        "protocol: delivers a treatment protocol (tests/bench/test_protocols.py)",
        "destructive: may stress the device (heating, over-temperature cutoff)",
        "calibration: the manufacturing calibration check (tmsbench calibrate)",
        "needs(*capabilities): skipped with the reason where the bench lacks one "
        "(trains, paired_pulses, coil_temperature, efield, waveform:NAME)",
    ):
        config.addinivalue_line("markers", line)
    config.stash[_SESSION] = None
    events_file = config.getoption("--events", None)
    events = EventWriter(events_file) if events_file else None
    config.stash[_EVENTS] = events
    if events is not None:
        config.pluginmanager.register(EventsPlugin(events), "tmsbench-events")
    attempts = config.getoption("attempts", 1) or 1
    if attempts < 1:
        raise pytest.UsageError(f"--attempts {attempts}: at least 1")
    if attempts > 1:
        if not config.pluginmanager.hasplugin("rerunfailures"):
            raise pytest.UsageError("--attempts needs the pytest-rerunfailures plugin")
        config.option.reruns = attempts - 1  # what pytest-rerunfailures reads


def attempt_of(item: pytest.Item) -> tuple[int, str]:
    """(attempt number, reason) of this run of ``item``: reason ``first``, ``rerun``
    (a failed attempt run again in this run) or ``retest`` (a run started with
    ``--retest`` or ``--lf`` to test again)."""
    n = int(getattr(item, "execution_count", 1) or 1)
    if n > 1:
        return n, "rerun"
    cfg = item.config
    retest = cfg.getoption("retest", False) or cfg.getoption("lf", False)
    return 1, "retest" if retest else "first"


def pytest_report_header(config: pytest.Config) -> list[str]:
    benches = _benches(config)
    if len(benches) > 1:
        return [f"tmsbench: bench gw{k}: {b}" for k, b in enumerate(benches)]
    bench = bench_option(config)
    if bench:
        return [f"tmsbench: bench file {bench}"]
    return [f"tmsbench: no --bench given: using the simulated bench ({DEFAULT_BENCH.name})"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="full-length protocol: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test whose ``needs`` the bench or device lacks is skipped, naming what is missing."""
    needs = [n for m in item.iter_markers("needs") for n in m.args]
    if needs:
        session = _open_session(item.config)
        reason = missing(needs, session.bench, session.spec)
        if reason:
            # reported at the test's own location, as pytest's skip markers are
            raise pytest.skip.Exception(reason, _use_item_location=True)


# --------------------------------------------------------------------- session


def _open_session(config: pytest.Config) -> BenchSession:
    existing = config.stash.get(_SESSION, None)
    if existing is not None:
        return existing
    opts = SessionOptions(
        bench=bench_option(config),
        spec=config.getoption("--spec"),
        station=config.getoption("--station"),
        operator=config.getoption("--operator"),
        dut_serial=config.getoption("--dut-serial"),
        results=config.getoption("--results"),
        journal=config.getoption("--journal"),
        sim_speed=config.getoption("--sim-speed"),
        allow_expired_references=config.getoption("--allow-expired-references"),
    )
    try:
        session = BenchSession(opts).open()
    except ConfigError as exc:
        # Once, not once per test: stop the whole run with pytest's usage status.
        pytest.exit(f"tmsbench: configuration error\n{exc}", returncode=2)
    except JournalError as exc:
        pytest.exit(f"tmsbench: {exc}", returncode=2)
    config.stash[_SESSION] = session
    _catch_sigterm(config)
    _emit_run_start(config, session)
    return session


def _emit_run_start(config: pytest.Config, session: BenchSession) -> None:
    events = config.stash.get(_EVENTS, None)
    if events is not None:
        ctx = session.context
        events.emit(
            "run_start",
            run_id=ctx.run_id,
            station=ctx.station,
            operator=ctx.operator,
            serial=ctx.stimulator_serial,
            spec=session.spec.name,
            simulated=session.bench.sim is not None,
        )


def _emit_run_finish(config: pytest.Config, session: BenchSession, verdict: Verdict) -> None:
    events = config.stash.get(_EVENTS, None)
    if events is None:
        return
    failures = [
        {"test": t.nodeid, "name": m.name, "value": m.value, "unit": m.unit,
         "text": format_value(m.value, m.unit, m.limits),
         "limits": format_limits(m.unit, m.limits), "verdict": m.verdict.value}
        for t in session.tests
        for m in t.measurements
        if m.verdict in (Verdict.FAIL, Verdict.INVALID)
    ]
    events.emit(
        "run_finish",
        run_id=session.context.run_id,
        verdict=verdict.value,
        report=str((session.results_dir / "report.html").resolve()),
        artifacts=[[what, str(path.resolve())] for what, path in session.artifacts],
        failures=failures,
        failed_tests=[t.nodeid for t in session.tests if t.outcome in ("failed", "error")],
    )


def _catch_sigterm(config: pytest.Config) -> None:
    """While a bench session is open, SIGTERM and Ctrl-C raise :class:`Terminated` in the test.

    Fixture teardowns then disarm and close the instruments (a second signal only says
    the stop is under way), the run stops after that test (see
    :func:`pytest_runtest_makereport`), the test and the run are recorded ABORTED, the
    report is written and pytest exits with 128 + SIGTERM, or 2 (pytest's status for an
    interrupt) after Ctrl-C. (Armed blocks install the same handler.)
    """
    if threading.current_thread() is threading.main_thread():
        reset_stop()
        saved: dict[int, Any] = {sig: signal.signal(sig, raise_terminated) for sig in _STOP_SIGNALS}
        config.stash[_SAVED_SIGNALS] = saved


def _restore_sigterm(config: pytest.Config) -> None:
    saved = config.stash.get(_SAVED_SIGNALS, None)
    if saved is not None:
        for sig, handler in saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        del config.stash[_SAVED_SIGNALS]


@pytest.fixture(scope="session")
def tmsbench_session(
    pytestconfig: pytest.Config, record_testsuite_property: Callable[[str, object], None]
) -> BenchSession:
    """The bench session (bench, spec, context, journal, simulator)."""
    session = _open_session(pytestconfig)
    ctx = session.context
    for key, value in (
        ("tmsbench.run_id", ctx.run_id),
        ("tmsbench.station", ctx.station),
        ("tmsbench.stimulator_serial", ctx.stimulator_serial),
        ("tmsbench.coil_serial", ctx.coil_serial),
        ("tmsbench.spec", session.spec.name),
    ):
        record_testsuite_property(key, value)  # suite-level JUnit properties
    return session


@pytest.fixture(scope="session")
def bench(tmsbench_session: BenchSession) -> BenchConfig:
    """The bench configuration, with live resources on the simulated bench."""
    return tmsbench_session.bench


@pytest.fixture(scope="session")
def spec(tmsbench_session: BenchSession) -> SpecConfig:
    """The spec the device is judged against."""
    return tmsbench_session.spec


@pytest.fixture(scope="session")
def sim_world(tmsbench_session: BenchSession) -> World:
    """The simulated world; tests that need it are skipped on a real bench."""
    if tmsbench_session.world is None:
        pytest.skip("needs the simulated bench")
    return tmsbench_session.world


# --------------------------------------------------------------------- measure


def _log(item: pytest.Item) -> MeasureRecorder | None:
    return item.stash.get(_RESULTS, None)


class Measure(MeasureRecorder):
    """The ``measure`` fixture: a :class:`MeasureRecorder` that also fills JUnit properties."""

    def __init__(self, session: BenchSession, item: pytest.Item) -> None:
        super().__init__(session, item.nodeid)
        self.item = item
        item.stash[_RESULTS] = self

    def __call__(self, name: str, value: float | None, unit: str, *args: Any, **kw: Any) -> Verdict:
        attempt, reason = attempt_of(self.item)
        kw.setdefault("attempt", attempt)
        kw.setdefault("attempt_reason", reason)
        verdict = super().__call__(name, value, unit, *args, **kw)
        m = self.measurements[-1]
        props = self.item.user_properties
        # one property per field, so CI systems and test managers can read them as data
        props.append((f"{name}.value", "" if m.value is None else repr(m.value)))
        props.append((f"{name}.unit", unit))
        props.append((f"{name}.low", "" if m.limits.low is None else repr(m.limits.low)))
        props.append((f"{name}.high", "" if m.limits.high is None else repr(m.limits.high)))
        props.append((f"{name}.verdict", verdict.value))
        for key in ("U", "u_c", "decision_rule"):  # uncertainty (k = 2) and the rule applied
            if key in m.extra:
                props.append((f"{name}.{key}", str(m.extra[key])))
        events = self.item.config.stash.get(_EVENTS, None)
        if events is not None:
            events.measurement(m)
        return verdict


@pytest.fixture
def measure(tmsbench_session: BenchSession, request: pytest.FixtureRequest) -> Measure:
    """Record a Measurement with limits and return its verdict (fails the test at its end)."""
    return Measure(tmsbench_session, request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    log = _log(item)
    if log is not None and log.failures():
        raise AssertionError(
            "out of limits:\n" + "\n".join(f"  {m.describe()}" for m in log.failures())
        )
    return result


def _failure_text(item: pytest.Item, call: pytest.CallInfo[None]) -> str:
    """The test's own assertion: the exception text and the line of the test file that
    raised it (not the plugin's hook frames); "" when there is no exception to show."""
    if call.excinfo is None:
        return ""
    text = call.excinfo.exconly()[:4000]
    own = [e for e in call.excinfo.traceback if Path(str(e.path)) == Path(str(item.path))]
    if own:
        e = own[-1]
        text += f"\n  at {Path(str(e.path)).name}:{e.lineno + 1}: {str(e.statement).strip()}"
    return text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    stop = call.excinfo.value if call.excinfo is not None else None
    aborted = isinstance(stop, Terminated)
    if isinstance(stop, Terminated):
        # pytest reports a SystemExit in a test as a failure and goes on: stop the run
        item.config.stash[_TERMINATED] = stop
        item.session.shouldstop = f"{stop}: the run stops after {item.name}"
    session = item.config.stash.get(_SESSION, None)
    if session is None:
        return report
    log = _log(item)
    done = report.when == "call" or (report.when == "setup" and not report.passed)
    if report.when == "teardown" and report.failed:
        session.tests.append(
            TestResult(item.nodeid, "error", report.duration, message=str(report.longreprtext))
        )
    if done:  # every test, with or without measurements
        outcome = (
            report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
        )
        if aborted:
            outcome = "aborted"
        message = ""
        if report.failed:
            message = _failure_text(item, call) or str(report.longreprtext)[-4000:]
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        attempt, reason = attempt_of(item)
        session.tests.append(
            TestResult(
                item.nodeid,
                outcome,
                report.duration,
                measurements=list(log.measurements) if log else [],
                figures=[],  # drawn after teardown (disarmed), below
                message=message,
                attempt=attempt,
                reason=reason,
                scope_lock_waits_ms=session.lock_waits.pop(item.nodeid, []),
            )
        )
        item.stash[_REPORTED] = session.tests[-1]
        session.record_test(item.nodeid, outcome, attempt, reason, report.duration)
    if report.when == "teardown" and log is not None:
        shown = item.stash.get(_REPORTED, None)
        figures = log.render_figures()
        if shown is not None:
            shown.figures = figures
    return report


@pytest.hookimpl(trylast=True)  # after pytest's own teardown of every fixture (disarms first)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bench_session = session.config.stash.get(_SESSION, None)
    if bench_session is None:
        return
    final = {t.nodeid: t for t in bench_session.tests}  # the last attempt of each test
    for t in bench_session.tests:
        if final[t.nodeid] is not t and t.outcome in ("failed", "error"):
            t.outcome = "rerun"  # a failed attempt that was run again
    failed = any(t.outcome in ("failed", "error") for t in final.values())
    terminated = session.config.stash.get(_TERMINATED, None) or stop_requested()
    if terminated is not None:
        verdict = Verdict.ABORTED
    elif failed or exitstatus not in (0, 5):
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.PASS
    report = bench_session.results_dir / "report.html"
    try:
        pending = bench_session.finish(verdict)
        context = dict(bench_session.context.describe())
        rule = bench_session.spec.decision
        context["decision rule"] = describe_rule(rule.rule, rule.guard_multiple) + (
            "; failing verdicts: " + ", ".join(v.replace("_", " ") for v in rule.failing)
        )
        if held := bench_session.describe_lock_waits():
            context["shared scope"] = held
        if pending is not None:
            why = (
                f" (the server said: {bench_session.forward_error})"
                if bench_session.forward_error
                else ""
            )
            context["InfluxDB"] = (
                f"{pending} points pending{why}: `{bench_session.sync_command()}` sends them"
                if pending
                else "every point forwarded"
            )
        write_report(
            report, f"tmsbench run {bench_session.context.run_id}", context, bench_session.tests
        )
        session.config.stash[_PENDING] = (
            pending,
            bench_session.sync_command(),
            bench_session.forward_error,
        )
    finally:
        bench_session.close(verdict)
        _restore_sigterm(session.config)
        _emit_run_finish(session.config, bench_session, verdict)
    session.config.stash[_REPORT] = (report, bench_session.journal_path)
    worker_out = getattr(session.config, "workeroutput", None)
    if worker_out is not None:  # under pytest -n: the controller prints it
        worker_out["tmsbench"] = {
            "worker": str(session.config.workerinput["workerid"]),  # type: ignore[attr-defined]
            "bench": bench_session.context.bench_file,
            "run_id": bench_session.context.run_id,
            "verdict": str(verdict),
            "report": str(report.resolve()),
            "journal": str(bench_session.journal_path.resolve()),
            "shared_scope": bench_session.describe_lock_waits(),
        }
    session.config.stash[_ARTIFACTS] = list(bench_session.artifacts)
    if terminated is not None:
        interrupted = terminated.signum == signal.SIGINT
        session.exitstatus = pytest.ExitCode.INTERRUPTED if interrupted else 128 + terminated.signum


_REPORT = pytest.StashKey[tuple[Path, Path]]()
_PENDING = pytest.StashKey[tuple[int | None, str, str | None]]()
_ARTIFACTS = pytest.StashKey[list[tuple[str, Path]]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    found: list[dict[str, str]] = config.stash.get(_WORKER_RUNS, [])
    runs = sorted(found, key=lambda r: r["worker"])
    if runs:  # the controller of pytest -n: each worker's bench is a run of its own
        terminalreporter.write_sep("-", "tmsbench: one run per bench")
        for r in runs:
            terminalreporter.write_line(
                f"{r['worker']} {r['bench']}: run {r['run_id']} {r['verdict']}"
            )
            terminalreporter.write_line(f"    HTML report: {r['report']}")
            terminalreporter.write_line(f"    journal:     {r['journal']}")
            if r["shared_scope"]:
                terminalreporter.write_line(f"    shared scope: {r['shared_scope']}")
    paths = config.stash.get(_REPORT, None)
    if paths is None:
        return
    report, journal = paths
    terminalreporter.write_sep("-", "tmsbench")
    terminalreporter.write_line(f"HTML report: {report.resolve()}")
    terminalreporter.write_line(f"journal:     {journal.resolve()}")
    for what, path in config.stash.get(_ARTIFACTS, []):
        terminalreporter.write_line(f"{what}: {path.resolve()}")
    xml = config.getoption("xmlpath", None)
    if xml:
        terminalreporter.write_line(f"JUnit XML:   {Path(xml).resolve()}")
    else:
        terminalreporter.write_line("JUnit XML:   add --junitxml=FILE (measurements as properties)")
    pending, command, error = config.stash.get(_PENDING, (None, "", None))
    if error:
        terminalreporter.write_line(
            f"InfluxDB:    the server refused the points: {error}", red=True
        )
    if pending:
        terminalreporter.write_line(
            f"InfluxDB:    {pending} points not yet forwarded (kept in the journal); "
            f"send them with: {command}",
            yellow=True,
            bold=True,
        )


# ----------------------------------------------------------------- instruments


def _clock_speed(session: BenchSession) -> float:
    return session.bench.sim.speed if session.simulated and session.bench.sim else 1.0


@pytest.fixture(scope="session")
def host_latency_scale(tmsbench_session: BenchSession) -> float:
    """Factor by which host latency (serial write, OS scheduling) shows in device time.

    1 on a real bench. On the simulated bench with a fast world clock (``--sim-speed k``)
    a wall-clock delay of d appears as k·d of device time, so tolerances that budget for
    host latency (host-timed gaps between trains and paired pulses) scale by k there.
    """
    return _clock_speed(tmsbench_session)


@pytest.fixture(scope="session")
def _stimulator_link(tmsbench_session: BenchSession) -> Stimulator:
    from instruments.stimulator import open_stimulator

    s = tmsbench_session
    return s.instrument(
        "stimulator",
        lambda: open_stimulator(s.bench.stimulator, clock_speed=_clock_speed(s)),
    )


@pytest.fixture
def stimulator(
    _stimulator_link: Stimulator, tmsbench_session: BenchSession
) -> Iterator[Stimulator]:
    """The stimulator driver; disarmed after every test, whatever happened in it."""
    from harness.safety import safe_disarm

    yield _stimulator_link
    safe_disarm(_stimulator_link)
    world = tmsbench_session.world
    if world is not None and world.armed:  # ask the device, not the driver
        raise AssertionError("the simulated stimulator is still ARMED after the test")


@pytest.fixture(scope="session")
def scope(tmsbench_session: BenchSession) -> Scope:
    """The oscilloscope driver (skipped when the bench has none)."""
    from instruments.scope import open_scope

    s = tmsbench_session
    config = s.bench.scope
    if config is None:
        pytest.skip("the bench has no scope")
    inst = s.instrument("scope", lambda: open_scope(config))
    wrong = s.bench.references.identity_mismatch("scope", inst.idn or inst.identify())
    if wrong:  # a scope other than the calibrated one: no result of this run is traceable
        pytest.exit(f"tmsbench: {s.bench.where()}: {wrong}", returncode=2)
    return inst


@pytest.fixture(scope="session")
def daq(tmsbench_session: BenchSession) -> Daq:
    """The DAQ driver (skipped when the bench has none)."""
    from instruments.daq import open_daq
    from instruments.daq.errors import DaqError

    s = tmsbench_session
    config = s.bench.daq
    if config is None:
        pytest.skip("the bench has no DAQ")
    inst = s.instrument("daq", lambda: open_daq(config))
    try:
        identity = inst.identify()
    except DaqError:  # an unreachable device fails the tests that use it, with their own lines
        identity = ("", "")
    wrong = s.bench.references.daq_mismatch(*identity)
    if wrong:  # another DAQ than the calibrated one: no result of this run is traceable
        pytest.exit(f"tmsbench: {s.bench.where()}: {wrong}", returncode=2)
    return inst


def _progress_writer(config: pytest.Config) -> Callable[[str], None] | None:
    """Where long protocols say how far they are: one line on the terminal each.

    Written through pytest's terminal reporter with output capture suspended (as live
    logging does), so the lines show while the test runs, captured or not. ``-q`` (and
    ``-qq``) turns them off like pytest's other progress; without a terminal reporter
    (``-p no:terminal``) there is nowhere to write.
    """
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0:
        return None
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture is not None else nullcontext()
        with suspended:
            reporter.write_line(f"tmsbench: {line}")

    return write


@pytest.fixture
def rig(
    tmsbench_session: BenchSession,
    stimulator: Stimulator,
    scope: Scope,
    request: pytest.FixtureRequest,
) -> Iterator[BenchRig]:
    """Stimulator + scope (+ DAQ) of this test, armed on first use, disarmed at its end."""
    from harness.capture import BenchRig

    s = tmsbench_session
    daq = request.getfixturevalue("daq") if s.bench.daq is not None else None
    r = BenchRig(
        s,
        stimulator,
        scope,
        daq,
        s.spec,
        test_id=request.node.nodeid,
        progress=_progress_writer(request.config),
        listener=request.config.stash.get(_EVENTS, None),
    )
    try:
        yield r
    finally:
        r.close()
        _attach_pulse_figure(request.node, r)


def _attach_pulse_figure(item: pytest.Item, rig: BenchRig) -> None:
    """Give a test that captured pulses but drew none the waveform that matters most.

    That is the pulse at the %MSO of its first failing measurement (``at_percent``,
    or the level named in the measurement), else its last pulse. It is drawn after
    teardown, when the unit is disarmed.
    """
    log = _log(item)
    if log is None or log.figures or not rig.captures:
        return
    caps = list(rig.captures.values())
    chosen = caps[-1]
    for m in log.failures():
        at = m.extra.get("at_percent")
        hit = next(
            (
                c
                for c in caps
                if (at is not None and c.percent == at) or f"at {c.percent:g} %MSO" in m.name
            ),
            None,
        )
        if hit is not None:
            chosen = hit
            break
    caption = f"{chosen.waveform} pulse at {chosen.percent:g} %MSO over the spec's expected pulse"
    if settings := chosen.settings_line():
        caption += f" ({settings})"
    log.figure(caption, chosen.figure)


@pytest.fixture
def fire_and_capture(rig: BenchRig) -> Callable[..., PulseCapture]:
    """``fire_and_capture(percent, waveform=None)`` → analysed :class:`PulseCapture`."""
    return rig.fire_and_capture


@pytest.fixture
def train(rig: BenchRig) -> Callable[..., TrainCapture]:
    """``train(rate_hz=, pulses=, percent=, trains=1, iti_s=0, rest_after_s=0, of=None)``
    → :class:`TrainCapture`; with ``of`` (calls in the protocol) each call prints a
    progress line (see :func:`_progress_writer`)."""
    return rig.train


@pytest.fixture
def triggered_train(rig: BenchRig) -> Callable[..., TrainCapture]:
    """``triggered_train(rate_hz=, pulses=, percent=, trains=1, iti_s=0, rest_after_s=0,
    of=None)`` → :class:`TrainCapture`, as ``train`` but every pulse timed by the DAQ
    card's counter output on the stimulator's trigger input (theta burst). Skipped
    when the bench's ``[daq]`` wires no ``trigger_out``."""
    daq = rig.session.bench.daq
    if rig.daq is None or daq is None or daq.trigger_out is None:
        pytest.skip(
            "needs a card-timed trigger: the bench's [daq] table names no trigger_out "
            "counter wired to the stimulator's trigger input"
        )
    return rig.triggered_train


@pytest.fixture
def paired_pulse(rig: BenchRig) -> Callable[..., TrainCapture]:
    """``paired_pulse(interval_ms=, percent=)`` → :class:`TrainCapture` of the pair."""
    return rig.paired_pulse


@pytest.fixture
def motor_threshold(
    tmsbench_session: BenchSession,
    stimulator: Stimulator,
    daq: Daq,
    measure: Measure,
) -> Iterator[Callable[..., ThresholdResult]]:
    """``motor_threshold(method="ml_pest", max_pulses=None, true_pct=None, **kw)``
    → :class:`~harness.analysis.threshold.ThresholdResult`.

    Hunts the motor threshold with the bench's stimulator and the MEPs of its DAQ's EMG
    input (see :mod:`harness.motor_threshold`); every pulse's MEP is recorded and the
    staircase attached as a figure (with ``true_pct`` drawn when given). Pulses are 5 s
    apart on a hardware bench, back to back on the simulated one. Disarmed at the end.
    """
    from contextlib import ExitStack

    from harness.analysis.threshold import make_procedure
    from harness.motor_threshold import CLINICAL_INTERVAL_S, MepReader, emg_channel, hunt
    from harness.report.staircase import staircase_plot
    from harness.safety import armed

    s = tmsbench_session
    stack = ExitStack()

    def run(
        method: str = "ml_pest",
        max_pulses: int | None = None,
        true_pct: float | None = None,
        **kwargs: Any,
    ) -> ThresholdResult:
        bench = s.bench
        chan = emg_channel(bench.daq)
        if chan is None or bench.daq is None or not bench.daq.trigger_in:
            pytest.skip("needs an EMG input and trigger_in on the bench's DAQ")
        if max_pulses is not None:
            kwargs["max_pulses"] = max_pulses
        proc = make_procedure(method, **kwargs)
        reader = MepReader(daq, chan, bench.daq.trigger_in)
        stimulator.set_waveform(s.spec.waveforms[0])
        stim = stack.enter_context(
            armed(stimulator, s.spec.limits, intensity_percent=proc.next_intensity())
        )

        def step(n: int, pct: int, amp: float) -> None:
            measure(f"{method}: MEP of pulse {n}", amp, "µV", intensity_percent=pct)

        interval = 0.0 if s.simulated else CLINICAL_INTERVAL_S
        try:
            result = hunt(
                stim, reader, proc, interval_s=interval, sleep=stimulator.sleep, on_step=step
            )
        finally:
            stack.close()  # disarm before drawing or judging
        measure.figure(
            f"{method} staircase: intensity per pulse, MEP, hit or miss",
            lambda: staircase_plot(result, true_pct),
        )
        return result

    try:
        yield run
    finally:
        stack.close()
