"""One simulated scope shared by several simulated benches through a coax switch.

A station with two DUTs and one oscilloscope routes the current monitor and E-field
probe of the DUT under test to the scope's inputs with a switch. Simulated, each bench
(each pytest worker, a process of its own) serves its scope front-end on its own port,
but every bench whose bench file names the same ``[scope] resource = "sim:NAME"`` talks
to one scope NAME: its switch and its front panel log are files in a folder every such
process shares (``[sim] shared_dir``, default ``tmsbench-sim-shared`` in the system's
temporary folder):

* ``NAME.route`` holds who the switch routes to the scope. Arming an acquisition
  selects the arming bench (the capture selects its DUT); a pulse of a bench the switch
  does not route never reaches the scope, so its capture times out — what happens on a
  real station when a second capture moves the switch during the first.
* ``NAME.log`` is the scope's own record of use, one line per event,
  ``<event> <client> <monotonic ns>``: ``arm`` when an acquisition is started and
  ``read`` when a record is transferred. A capture of a client spans from its ``arm`` to
  its last ``read`` before its next ``arm`` (:func:`capture_spans`); tests check there
  that captures of two clients never overlap.

Times are ``CLOCK_MONOTONIC`` (one clock for every process of the machine on Linux).
Each line is written with one ``write`` on a file opened ``O_APPEND``, so lines of two
processes never interleave.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

SHARED_PREFIX = "sim:"  # [scope] resource = "sim:NAME": the shared simulated scope NAME


def shared_scope_name(resource: str) -> str | None:
    """NAME of ``sim:NAME``, ``None`` for any other resource."""
    if not resource.lower().startswith(SHARED_PREFIX):
        return None
    return resource[len(SHARED_PREFIX) :].strip() or None


def default_folder() -> Path:
    """Where shared simulated scopes keep their switch and log by default."""
    return Path(tempfile.gettempdir()) / "tmsbench-sim-shared"


class ScopeSwitch:
    """The switch in front of shared scope ``name``, as seen by bench ``client``."""

    def __init__(self, name: str, folder: Path, client: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.client = re.sub(r"\s+", "_", client)
        self.log_path = folder / f"{slug}.log"
        self.route_path = folder / f"{slug}.route"
        self._tmp = folder / f".{slug}.route.{os.getpid()}"

    def select(self) -> None:
        """An acquisition is armed: route this client's DUT to the scope; log ``arm``."""
        self._tmp.write_text(self.client, encoding="utf-8")
        os.replace(self._tmp, self.route_path)  # atomic: a reader sees old or new
        self._log("arm")

    def routed(self) -> bool:
        """True when the switch routes this client's DUT to the scope."""
        try:
            return self.route_path.read_text(encoding="utf-8") == self.client
        except FileNotFoundError:
            return False

    def read(self) -> None:
        """A record is transferred to this client: log ``read``."""
        self._log("read")

    def _log(self, event: str) -> None:
        line = f"{event} {self.client} {time.monotonic_ns()}\n".encode()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def read_log(path: Path) -> list[tuple[str, str, int]]:
    """The events of a shared scope's log: (event, client, monotonic ns), in file order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event, client, t = line.split()
        out.append((event, client, int(t)))
    return out


def capture_spans(events: list[tuple[str, str, int]]) -> list[tuple[str, int, int]]:
    """Each client's captures as (client, arm ns, last read ns), sorted by arm time.

    An ``arm`` with no ``read`` after it (before that client's next ``arm``) spans no
    time beyond its own instant.
    """
    spans: list[tuple[str, int, int]] = []
    current: dict[str, tuple[int, int]] = {}  # client → (arm, last read) of its open capture
    for event, client, t in sorted(events, key=lambda e: e[2]):
        if event == "arm":
            if client in current:
                spans.append((client, *current[client]))
            current[client] = (t, t)
        elif event == "read" and client in current:
            current[client] = (current[client][0], t)
    spans.extend((c, a, b) for c, (a, b) in current.items())
    return sorted(spans, key=lambda s: s[1])
