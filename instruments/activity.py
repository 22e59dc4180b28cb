"""A per-thread count of completed instrument exchanges: how a watchdog sees progress.

Drivers call :func:`beat` after every exchange that completed (a reply read, a query
answered, a sleep slice of a documented device wait). Whoever supervises a thread
(the harness's safety watchdog) compares :func:`beats` over time: a thread blocked
in a call that never returns stops beating. Nothing here knows who watches.
"""

from __future__ import annotations

import threading

_counts: dict[int, int] = {}  # thread ident -> beats (dict item updates are atomic in CPython)


def beat() -> None:
    """Count one completed exchange for the calling thread."""
    tid = threading.get_ident()
    _counts[tid] = _counts.get(tid, 0) + 1


def beats(thread_id: int) -> int:
    """Beats counted so far for the thread ``thread_id`` (``threading.get_ident()``)."""
    return _counts.get(thread_id, 0)
