"""Real time-series servers for integration tests: influxd (1.x) and VictoriaMetrics.

Each server runs as a child process on free loopback ports with all its state
in a given directory, and is stopped (SIGTERM, then SIGKILL) by :meth:`stop`.
The API is plain Python (usable from benchmarks); the pytest fixtures are in
``conftest_servers.py``.

    srv = InfluxDB1.start(tmp_dir)          # raises ServerUnavailable without influxd
    srv.create_database("tms")
    srv.query("SELECT count(*) FROM tms_measurement", db="tms")
    srv.stop(); srv.start_again()           # same ports and data
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class ServerUnavailable(RuntimeError):
    """The server binary is not installed."""


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str | None:
    """Path of executable ``name`` on PATH (also /usr/sbin, /usr/bin), or None."""
    return shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")


def http(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:
    """Tiny HTTP client: (status, headers, body); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class _Server:
    """A child-process server with a health URL."""

    binary_name = ""
    health_path = "/ping"

    def __init__(self, base_dir: Path, binary: str) -> None:
        self.dir = Path(base_dir)
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / f"{self.binary_name}.log"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:12345``."""
        return f"http://127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        raise NotImplementedError

    @classmethod
    def binary_path(cls) -> str:
        """Path of the server binary; raises ServerUnavailable if missing."""
        path = find_binary(cls.binary_name)
        if path is None:
            raise ServerUnavailable(f"{cls.binary_name} is not installed")
        return path

    def start_again(self, timeout_s: float = 15.0) -> None:
        """(Re)start the process on the same port and data; wait until healthy."""
        if self.running:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child's lifetime
        try:
            self.proc = subprocess.Popen(
                self._argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.binary_name} exited with {self.proc.returncode}: {self.tail_log()}"
                )
            with contextlib.suppress(OSError):
                status, _, _ = http("GET", self.url + self.health_path, timeout=1.0)
                if 200 <= status < 300:
                    return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.binary_name} not healthy after {timeout_s} s: {self.tail_log()}")

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL; idempotent."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def tail_log(self, n: int = 2000) -> str:
        """Last ``n`` characters of the server log."""
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{dir}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  auth-enabled = {auth}
  log-enabled = false
  pprof-enabled = false
  flux-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[logging]
  level = "warn"
"""


class InfluxDB1(_Server):
    """influxd 1.x (Debian ships 1.6.7): v1 HTTP API only (``/write``, ``/query``).

    With ``auth=True`` an admin user ``admin`` / ``admin_password`` is created
    and :attr:`credentials` is ``"admin:<password>"``.
    """

    binary_name = "influxd"

    def __init__(self, base_dir: Path, binary: str, *, auth: bool = False) -> None:
        super().__init__(base_dir, binary)
        self.rpc_port = free_port()
        self.auth = auth
        self.admin_password = "adm-" + base64.b32encode(os.urandom(10)).decode().lower()
        self.credentials = f"admin:{self.admin_password}" if auth else None
        self.config_path = self.dir / "influxd.conf"

    def _argv(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    @classmethod
    def start(cls, base_dir: str | Path, *, auth: bool = False, attempts: int = 3) -> InfluxDB1:
        """Start influxd in ``base_dir`` on free ports (retried on a port race)."""
        binary = cls.binary_path()
        last: Exception | None = None
        for i in range(attempts):
            srv = cls(Path(base_dir) / f"influxd-{i}", binary, auth=auth)
            srv.dir.mkdir(parents=True, exist_ok=True)
            srv.config_path.write_text(
                _INFLUXD_CONF.format(
                    dir=srv.dir.as_posix(),
                    port=srv.port,
                    rpc_port=srv.rpc_port,
                    auth="true" if auth else "false",
                )
            )
            try:
                srv.start_again()
            except (RuntimeError, TimeoutError) as exc:
                last = exc
                continue
            if auth:
                # The first admin user may be created without credentials.
                srv.query(
                    f"CREATE USER admin WITH PASSWORD '{srv.admin_password}' WITH ALL PRIVILEGES",
                    method="POST",
                    auth=False,
                )
            return srv
        raise RuntimeError(f"influxd did not start: {last}")

    def _auth_headers(self, auth: bool) -> dict[str, str]:
        if not (auth and self.credentials):
            return {}
        return {"Authorization": "Basic " + base64.b64encode(self.credentials.encode()).decode()}

    def query(
        self, q: str, *, db: str | None = None, method: str = "GET", auth: bool = True
    ) -> dict[str, Any]:
        """Run InfluxQL; return the JSON answer (raises on HTTP error)."""
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        body = urllib.parse.urlencode(params).encode()
        headers = self._auth_headers(auth)
        if method == "GET":
            status, _, data = http("GET", f"{self.url}/query?{body.decode()}", headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, _, data = http("POST", f"{self.url}/query", data=body, headers=headers)
        if status != 200:
            raise RuntimeError(f"query {q!r}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE name``."""
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def write(self, lines: str | bytes, *, db: str) -> int:
        """Plain ``/write`` of line protocol (ns); returns the HTTP status."""
        body = lines.encode() if isinstance(lines, str) else lines
        status, _, _ = http(
            "POST",
            f"{self.url}/write?db={urllib.parse.quote(db)}&precision=ns",
            data=body,
            headers=self._auth_headers(True),
        )
        return status

    def series(self, q: str, *, db: str) -> list[dict[str, Any]]:
        """Rows of a query as dicts (one list over all returned series; tags merged in)."""
        out: list[dict[str, Any]] = []
        for result in self.query(q, db=db).get("results", []):
            if "error" in result:
                raise RuntimeError(result["error"])
            for s in result.get("series", []):
                for values in s.get("values", []):
                    row = dict(zip(s["columns"], values, strict=True))
                    row.update(s.get("tags") or {})
                    row["_measurement"] = s.get("name")
                    out.append(row)
        return out

    def count(self, measurement: str, field: str, *, db: str) -> int:
        """``SELECT count(field) FROM measurement`` (0 when empty)."""
        rows = self.series(f'SELECT count("{field}") FROM "{measurement}"', db=db)
        return int(rows[0]["count"]) if rows else 0


class VictoriaMetrics(_Server):
    """VictoriaMetrics single node: accepts ``/write`` and ``/api/v2/write``.

    Samples are stored per field as ``<measurement>_<field>`` with the tags as
    labels, in millisecond resolution; string fields are not stored as values.
    """

    binary_name = "victoria-metrics"
    health_path = "/health"

    def _argv(self) -> list[str]:
        return [
            self.binary,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.dir / 'data'}",
            "-retentionPeriod=100y",
            "-loggerLevel=WARN",
        ]

    @classmethod
    def start(cls, base_dir: str | Path, *, attempts: int = 3) -> VictoriaMetrics:
        """Start victoria-metrics in ``base_dir`` on a free port."""
        binary = cls.binary_path()
        last: Exception | None = None
        for i in range(attempts):
            srv = cls(Path(base_dir) / f"vm-{i}", binary)
            try:
                srv.start_again()
                return srv
            except (RuntimeError, TimeoutError) as exc:
                last = exc
        raise RuntimeError(f"victoria-metrics did not start: {last}")

    def flush(self) -> None:
        """Make just-written samples visible to queries."""
        http("GET", f"{self.url}/internal/force_flush")

    def export(self, match: str) -> list[dict[str, Any]]:
        """``/api/v1/export`` for a series selector, e.g. ``{__name__=~"tms_.*"}``."""
        self.flush()
        body = urllib.parse.urlencode({"match[]": match}).encode()
        status, _, data = http("POST", f"{self.url}/api/v1/export", data=body)
        if status != 200:
            raise RuntimeError(f"export: HTTP {status}: {data[:300]!r}")
        return [json.loads(line) for line in data.splitlines() if line.strip()]


@contextlib.contextmanager
def running_influxdb(base_dir: str | Path, *, auth: bool = False) -> Iterator[InfluxDB1]:
    """Context manager around :meth:`InfluxDB1.start` / :meth:`InfluxDB1.stop`."""
    srv = InfluxDB1.start(base_dir, auth=auth)
    try:
        yield srv
    finally:
        srv.stop()


@contextlib.contextmanager
def running_victoria_metrics(base_dir: str | Path) -> Iterator[VictoriaMetrics]:
    """Context manager around :meth:`VictoriaMetrics.start` / :meth:`VictoriaMetrics.stop`."""
    srv = VictoriaMetrics.start(base_dir)
    try:
        yield srv
    finally:
        srv.stop()
