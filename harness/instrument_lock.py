"""An instrument two benches share, held by one of them at a time (an inter-process lock).

Two benches (two DUTs) may route their pulses to one oscilloscope through a switch: the
bench files then name the same ``[scope] resource``. Every capture on that scope (set-up,
arm, fire, read) holds a lock named after the resource, so captures from two pytest
workers (``pytest -n 2``) or two separate runs never overlap on the scope. The lock is a
file lock (:mod:`filelock`, ``fcntl.flock`` on Linux), released by the operating system
when a holder dies, in the folder ``$TMSBENCH_LOCK_DIR`` (default: ``tmsbench-locks`` in
the system's temporary folder), so every process of one machine finds the same file.

A simulated scope of its own (``resource = "sim"``) is private to its bench: no lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

LOCK_DIR_ENV = "TMSBENCH_LOCK_DIR"
PRIVATE_SIM = "sim"  # a simulated scope served for this bench alone


def lock_dir() -> Path:
    """Where the lock files are: ``$TMSBENCH_LOCK_DIR`` or ``<tmp>/tmsbench-locks``."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "tmsbench-locks")


def lock_name(resource: str) -> str:
    """The lock file name of ``resource`` (VISA names are case-insensitive): readable
    characters of the resource plus a hash, so two resources never share a file."""
    key = resource.strip().lower()
    slug = re.sub(r"[^a-z0-9.]+", "_", key).strip("_")[:60]
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.lock"


def shared_resource(resource: str | None) -> str | None:
    """The resource to lock for a bench's scope, ``None`` when nobody else can use it."""
    if resource is None or resource.strip().lower() == PRIVATE_SIM:
        return None
    return resource.strip()


@dataclass
class InstrumentLock:
    """The lock of one shared instrument; :meth:`hold` it for each capture.

    ``waits_ms`` keeps every wait (ms, wall clock), in order.
    """

    resource: str
    folder: Path = field(default_factory=lock_dir)
    waits_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / lock_name(self.resource)
        self._lock = FileLock(self.path)

    @contextmanager
    def hold(self) -> Iterator[float]:
        """Wait for the instrument, hold it for the block; yields the wait (ms).

        Waits as long as the other holder's capture takes (a stop signal interrupts the
        wait like any other: :func:`harness.safety.raise_terminated`).
        """
        t0 = time.perf_counter()
        with self._lock.acquire(poll_interval=0.002):
            waited = (time.perf_counter() - t0) * 1e3
            self.waits_ms.append(waited)
            yield waited

    @property
    def total_wait_ms(self) -> float:
        """All waits so far (ms)."""
        return sum(self.waits_ms)
