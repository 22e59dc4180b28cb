"""Shared set-up of the stop and hang tests: a `tmsbench sim` process and pausable links.

The simulated bench runs in its own process (as on a bench: the device is not ours) and
prints every change of the unit's arming state with a wall time stamp; the tests read the
device's state from there. Links between the drivers and the simulated instruments can be
routed through a relay that, when paused, keeps the connection open and forwards nothing:
a hung instrument.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
import tomllib
import tty
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parents[2]


class SimProcess:
    """``tmsbench sim`` in a subprocess; ``events`` are (wall time, "armed" | "disarmed (why)")."""

    def __init__(self, tmp: Path, bench: Path = ROOT / "benches" / "sim.toml") -> None:
        self.live = tmp / "live.toml"
        self.events: list[tuple[float, str]] = []
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "sim",
                "--bench",
                str(bench),
                "--write-bench",
                str(self.live),
            ],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(60):
            self.stop()
            raise AssertionError("tmsbench sim did not start:\n" + "\n".join(self.lines))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            stamp, _, rest = line.partition(" stimulator ")
            if rest and stamp.replace(".", "").isdigit():
                self.events.append((float(stamp), rest))
            if line.startswith("run: "):  # printed once every instrument is up
                self._ready.set()

    def bench(self) -> dict[str, Any]:
        return tomllib.loads(self.live.read_text())

    def write_bench(self, data: dict[str, Any], path: Path) -> Path:
        path.write_text(tomli_w.dumps(data))
        return path

    def wait_event(self, prefix: str, after: float, timeout_s: float) -> tuple[float, str] | None:
        """The first event starting with ``prefix`` after wall time ``after``."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for t, what in list(self.events):
                if t >= after and what.startswith(prefix):
                    return t, what
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class TcpRelay:
    """127.0.0.1 relay to ``target`` (host, port); :meth:`pause` stops forwarding, links stay up."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.paused = threading.Event()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._srv.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:  # closed under us: the relay is shutting down
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.1)
        while not self._stop.is_set():
            if self.paused.is_set():
                time.sleep(0.05)  # hold the bytes: connection up, nothing forwarded
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def pause(self) -> None:
        self.paused.set()

    def close(self) -> None:
        self._stop.set()
        self._srv.close()


class PtyRelay:
    """A new pty whose far end talks to the serial device ``device``; :meth:`pause` stops it."""

    def __init__(self, device: str) -> None:
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._dev = os.open(device, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._dev)
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.resource = f"ASRL{os.ttyname(slave)}::INSTR"
        self._slave = slave
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        ends = {self._master: self._dev, self._dev: self._master}
        while not self._stop.is_set():
            if self.paused.is_set():
                time.sleep(0.05)
                continue
            ready, _, _ = select.select(list(ends), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data and not self.paused.is_set():
                    os.write(ends[fd], data)

    def pause(self) -> None:
        self.paused.set()

    def close(self) -> None:
        self._stop.set()
        for fd in (self._master, self._slave, self._dev):
            with contextlib.suppress(OSError):
                os.close(fd)


def pytest_proc(tmp: Path, bench: Path, test_file: str, *extra: str) -> subprocess.Popen[str]:
    """A pytest run of ``test_file`` in ``tmp`` on ``bench`` (results and journal in ``tmp``)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--bench",
            str(bench),
            "--results",
            str(tmp / "results"),
            "--journal",
            str(tmp / "journal.sqlite"),
            f"--junitxml={tmp / 'junit.xml'}",
            test_file,
            *extra,
        ],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
