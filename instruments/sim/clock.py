"""The world clock: simulated device time that may run faster than wall time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class WorldClock:
    """Seconds of world time since the world started, at ``speed`` world-s per wall-s.

    Every device-reported time (scope time tags, DAQ sample clock, pulse time
    stamps) is on this clock. ``advance`` jumps it forward (simulated calendar
    time for aging studies) without waiting.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"world clock speed must be > 0, got {speed}")
        self.speed = speed
        self.start = start or datetime.now(UTC)
        self._wall0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current world time (s since the world started)."""
        with self._lock:
            return (time.monotonic() - self._wall0) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        """Jump the world forward by ``seconds`` (s) at once."""
        if seconds < 0:
            raise ValueError("the world clock never runs backwards")
        with self._lock:
            self._offset += seconds

    def wall_seconds(self, world_seconds: float) -> float:
        """Wall time (s) that ``world_seconds`` of world time take."""
        return world_seconds / self.speed

    def sleep_until(self, t_world: float) -> None:
        """Block until world time ``t_world`` (s) has passed."""
        while True:
            left = t_world - self.now()
            if left <= 0:
                return
            time.sleep(min(self.wall_seconds(left), 0.05))

    def sleep(self, world_seconds: float) -> None:
        """Block for ``world_seconds`` (s) of world time."""
        self.sleep_until(self.now() + world_seconds)

    def epoch_ns(self, t_world: float) -> int:
        """Calendar time of world time ``t_world`` as Unix ns (for journal time stamps)."""
        return int((self.start.timestamp() + t_world) * 1e9)
