"""The run's event file: one JSON object per line, written by the pytest plugin.

The plugin writes it when given ``--events FILE``; the station follows it and passes
every line to the page. Each line has ``"event"`` (its kind) and ``"t"`` (wall time, s
since the epoch). Kinds and their fields:

* ``run_start``: run_id, station, operator, serial, spec, simulated, tests (node ids)
* ``test_start`` / ``test_finish``: test (node id); finish adds outcome, duration_s
* ``measurement``: test, name, value, unit, low, high, nominal, verdict, and ``U`` /
  ``decision`` when the measurement carries them (``extra``)
* ``pulse``: test, percent, waveform, t_us, y, unit, template (same axis, or null)
* ``temperature``: test, celsius, phase
* ``run_finish``: verdict, report, artifacts ([what, path]), failures (characteristics
  that failed: test, name, value, unit, limits), failed_tests (node ids)

Writes are line-buffered and flushed at once, so a reader never waits for a buffer;
a reader may see a last line still being written and must skip a line without ``\\n``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.formatting import format_limits, format_value

if TYPE_CHECKING:
    import numpy as np

    from harness.capture import PulseCapture
    from harness.limits import Measurement
    from instruments.scope.waveform import Waveform

#: at most this many points of a pulse record go to the page (it draws a line, not data)
PULSE_POINTS = 600


def _clean(v: Any) -> Any:
    """``v`` with every NaN or infinity as null and anything else JSON lacks as text."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if v is None or isinstance(v, str | int | bool):
        return v
    return str(v)


def _num(v: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class EventWriter:
    """Append events to ``path``; safe to call from the test thread and hooks alike."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.current_test = ""

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line and flush it (never raises into the test it reports on)."""
        line = json.dumps(_clean({"event": event, "t": time.time(), **fields}))
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError:  # a full disk loses the page's view, never a measurement
                pass

    def close(self) -> None:
        with self._lock:
            self._file.close()

    # ------------------------------------------------------------ typed events
    def measurement(self, m: Measurement) -> None:
        """A measurement as committed to the journal."""
        lim = m.limits
        extra: dict[str, Any] = {
            k: _num(m.extra[k]) for k in ("U", "uncertainty") if k in m.extra
        }
        if "decision" in m.extra:
            extra["decision"] = str(m.extra["decision"])
        self.emit(
            "measurement",
            test=m.test_id,
            name=m.name,
            value=_num(m.value),
            text=format_value(m.value, m.unit, lim),  # as the report prints it
            unit=m.unit,
            low=_num(lim.low),
            high=_num(lim.high),
            nominal=_num(lim.nominal),
            limits=format_limits(m.unit, lim),
            verdict=m.verdict.value,
            **extra,
        )

    def pulse(self, cap: PulseCapture) -> None:
        """The latest captured pulse (E-field, else current) with the spec's expected pulse."""
        name = "efield" if "efield" in cap.waveforms else "current"
        w = cap.waveforms[name]
        template = None
        expected = cap.expected_efield_V_per_m
        if name == "efield" and cap.template is not None and math.isfinite(expected):
            template = cap.template * expected
        self._record(w, cap.percent, cap.delivered_waveform or cap.waveform, name, template)

    def record(self, w: Waveform, percent: float, waveform: str) -> None:
        """A pulse record with no expected pulse to draw over it (a train's last pulse)."""
        self._record(w, percent, waveform, w.quantity, None)

    def _record(
        self, w: Waveform, percent: float, waveform: str, quantity: str,
        template: np.ndarray | None,
    ) -> None:
        y = w.volts / w.volts_per_unit
        step = max(1, len(y) // PULSE_POINTS)
        unit = {"efield": "V/m", "current": "A", "didt": "A/µs"}.get(quantity, "")
        self.emit(
            "pulse",
            test=self.current_test,
            percent=percent,
            waveform=waveform,
            unit=unit,
            t_us=[round(float(v), 3) for v in (w.t * 1e6)[::step]],
            y=[_num(v) for v in y[::step]],
            template=None if template is None else [_num(v) for v in template[::step]],
        )

    def temperature(self, celsius: float, phase: str) -> None:
        """A coil temperature as journalled (°C)."""
        self.emit("temperature", test=self.current_test, celsius=_num(celsius), phase=phase)


class EventsPlugin:
    """pytest hooks that report collection and each test's start and end."""

    def __init__(self, writer: EventWriter) -> None:
        self.writer = writer
        self.tests: list[str] = []

    def pytest_unconfigure(self, config: Any) -> None:
        self.writer.close()

    def pytest_collection_finish(self, session: Any) -> None:
        self.tests = [item.nodeid for item in session.items]
        self.writer.emit("collected", tests=self.tests)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.writer.current_test = nodeid
        self.writer.emit("test_start", test=nodeid)

    def pytest_runtest_logreport(self, report: Any) -> None:
        done = report.when == "call" or (report.when == "setup" and not report.passed)
        if done:
            self.writer.emit(
                "test_finish",
                test=report.nodeid,
                outcome=report.outcome,
                duration_s=round(float(report.duration), 3),
            )
        elif report.when == "teardown" and report.failed:
            self.writer.emit("test_finish", test=report.nodeid, outcome="error", duration_s=0.0)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete event lines of ``path`` from byte ``offset``; returns them and the new offset."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
    events = []
    for raw in data[:end].splitlines():
        if raw.strip():
            try:
                events.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a damaged line must not stop the page
    return events, offset + end
