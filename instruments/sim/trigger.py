"""The cable from the DAQ card's counter output to the stimulator's trigger input.

The simulated card (:mod:`instruments.sim.daq_device`) puts the rising edges it will
drive on the wired terminal here when a counter output task starts (world times, s);
the simulated stimulator (:class:`~instruments.sim.stim_common.DeviceCore`) takes
each edge once its world time has come and decides, as the real unit does, whether
it fires. Stopping the task before its end withdraws the edges not yet driven.

Thread safety: the card writes from its gRPC threads, the stimulator reads from its
serial thread; every method holds the line's lock.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field


@dataclass
class TriggerLine:
    """Rising edges on the stimulator's trigger input, in world seconds."""

    pending: list[tuple[float, str]] = field(default_factory=list)  # (time, source), sorted
    driven: list[float] = field(default_factory=list)  # every edge handed to the stimulator
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def emit(self, times_s: list[float], source: str) -> None:
        """Schedule rising edges at world times ``times_s`` from ``source`` (a task name)."""
        with self._lock:
            for t in times_s:
                bisect.insort(self.pending, (float(t), source))

    def withdraw(self, source: str, after_s: float) -> int:
        """Drop ``source``'s edges later than ``after_s`` (its task stopped); how many."""
        with self._lock:
            keep = [e for e in self.pending if not (e[1] == source and e[0] > after_s)]
            dropped = len(self.pending) - len(keep)
            self.pending = keep
            return dropped

    def take_due(self, now_s: float) -> list[float]:
        """The edges at or before ``now_s``, in time order (each is handed out once)."""
        with self._lock:
            k = bisect.bisect_right(self.pending, (now_s, "\uffff"))
            due = [t for t, _ in self.pending[:k]]
            del self.pending[:k]
            self.driven.extend(due)
            return due

    def next_edge(self) -> float | None:
        """World time of the next edge still to come (None: none)."""
        with self._lock:
            return self.pending[0][0] if self.pending else None
