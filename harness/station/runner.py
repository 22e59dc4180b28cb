"""The station's run: one pytest subprocess at a time, the same run as on the command line.

The subprocess owns the instruments and its own safety layer: Stop sends it SIGTERM
(the plugin disarms, records the run ABORTED and writes the report, as on a terminal),
and a station that dies leaves it to finish and disarm on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.resources import suite_args
from harness.station.plans import Plan


class RunRefused(RuntimeError):
    """A Start that cannot be honoured (a run is going on, a field is missing)."""


@dataclass
class StationRun:
    """One run started from the page."""

    number: int
    plan: Plan
    operator: str
    serial: str
    events: Path  # the plugin's event file
    log: Path  # the run's terminal output
    argv: list[str]
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.time)
    finished: float | None = None
    returncode: int | None = None
    stop_requested: float | None = None  # wall time Stop was pressed

    @property
    def running(self) -> bool:
        return self.returncode is None

    def describe(self) -> dict[str, object]:
        """What the page shows about the run besides its events."""
        return {
            "number": self.number,
            "plan": self.plan.id,
            "plan_title": self.plan.title,
            "operator": self.operator,
            "serial": self.serial,
            "started": self.started,
            "finished": self.finished,
            "returncode": self.returncode,
            "running": self.running,
            "stopped": self.stop_requested is not None,
        }


@dataclass
class RunnerOptions:
    """Where runs go and what every run gets (from ``tmsbench station``'s options)."""

    workdir: Path  # the station's own files: results/station/<n>/events.jsonl, output.log
    results: Path  # pytest --results (reports, certificates)
    bench: str | None = None
    journal: str | None = None
    station: str | None = None
    sim_speed: float | None = None


class Runner:
    """Starts, watches and stops the station's pytest subprocess (one at a time)."""

    def __init__(self, options: RunnerOptions) -> None:
        self.options = options
        self.current: StationRun | None = None
        self._lock = threading.Lock()
        self._count = 0

    def argv(self, plan: Plan, operator: str, serial: str, events: Path, targets: list[str]
             ) -> list[str]:
        """The pytest command line of a run (targets: node ids given for a retest)."""
        o = self.options
        paths = targets or [str(t) for t in plan.targets()]
        argv = [sys.executable, "-m", "pytest", *suite_args(*paths), "-v"]
        argv += ["--events", str(events), "--operator", operator, "--dut-serial", serial]
        argv += ["--results", str(o.results)]
        if targets:  # Retest: the journal and report say these tests are tested again
            argv += ["--retest"]
        for opt, value in (("--bench", o.bench), ("--journal", o.journal),
                           ("--station", o.station)):
            if value:
                argv += [opt, value]
        if o.sim_speed:
            argv += ["--sim-speed", str(o.sim_speed)]
        return argv

    def start(self, plan: Plan, operator: str, serial: str, tests: list[str] | None = None
              ) -> StationRun:
        """Start a run; :class:`RunRefused` while one is going on or a field is empty."""
        operator, serial = operator.strip(), serial.strip()
        if not operator:
            raise RunRefused("operator id is empty: scan or type it")
        if not serial:
            raise RunRefused("DUT serial is empty: scan or type it")
        with self._lock:
            if self.current is not None and self.current.running:
                raise RunRefused(f"run {self.current.number} is still going: stop it first")
            self._count += 1
            n = self._count
            folder = self.options.workdir / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            events, log = folder / "events.jsonl", folder / "output.log"
            events.touch()
            root = self._suite_root()
            targets = [str(root / t) for t in tests or []]
            argv = self.argv(plan, operator, serial, events, targets)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C at the station's terminal is not the run's
                )
            run = StationRun(n, plan, operator, serial, events, log, argv, proc)
            self.current = run
        threading.Thread(target=self._wait, args=(run,), daemon=True).start()
        return run

    @staticmethod
    def _suite_root() -> Path:
        from harness.resources import suite_dir

        return suite_dir().parents[1]  # node ids are relative to it (tests/bench/...)

    def _wait(self, run: StationRun) -> None:
        code = run.proc.wait()
        run.finished = time.time()
        run.returncode = code

    def stop(self) -> StationRun:
        """SIGTERM to the running run (as `kill` on a terminal run): it disarms and reports."""
        run = self.current
        if run is None or not run.running:
            raise RunRefused("no run is going on")
        if run.stop_requested is None:
            run.stop_requested = time.time()
        os.kill(run.proc.pid, signal.SIGTERM)
        return run

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Stop a run still going when the station exits, and wait for it to disarm."""
        run = self.current
        if run is not None and run.running:
            self.stop()
            # past the time-out it goes on alone; its own safety layer disarms the unit
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.proc.wait(timeout_s)
