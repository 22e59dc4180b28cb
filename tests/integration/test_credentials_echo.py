"""Credentials never leak, even to a server that echoes them back.

A small HTTP server answers every write with an error whose text repeats the request's
``Authorization`` header, the URL and the headers in the forms a credential takes on the
wire; the error text is long enough that the credential straddles the 500-character cut.
``tmsbench -v sync`` and ``tmsbench status`` run as real processes against it, and every
stream and every journal file is searched for every form of the credential.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from harness.limits import Limits, Measurement
from harness.record.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


class _Echo(BaseHTTPRequestHandler):
    """Answer every request with ``status`` and a body that echoes the credentials."""

    status = 400

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        scheme, _, cred = auth.partition(" ")
        decoded = ""
        if scheme == "Basic":
            decoded = base64.b64decode(cred).decode()
        head = (
            f"bad auth {auth} decoded={decoded} quoted={quote(cred, safe='')} "
            f"plus={quote_plus(cred)} path={self.path} "
        )
        # Then the credential again, starting 8 characters before the 500-character cut.
        text = head + "x" * max(0, 500 - 8 - len(head)) + cred + f" headers={dict(self.headers)}"
        body = json.dumps({"code": "invalid", "message": text, "error": text}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _journal(path: Path) -> None:
    j = Journal(path)
    try:
        for i in range(3):
            j.append_measurement(
                Measurement.check(
                    "peak",
                    90.0 + i,
                    "A/us",
                    Limits(80, 100),
                    tags={"station": "s1"},
                    run_id="r1",
                    test_id="t::a",
                    time_ns=1_000 + i,
                )
            )
    finally:
        j.close()


def _forms(secret: str) -> list[str]:
    """What would give the secret away, written out here from the wire formats."""
    out = {secret, quote(secret, safe=""), quote_plus(secret)}
    basic = secret if ":" in secret else secret + ":"
    out.add(base64.b64encode(basic.encode()).decode())
    if ":" in secret:
        out.add(secret.split(":", 1)[1])
    # Any 8 characters of the secret or of its Basic form are a leak too.
    for text in (secret, base64.b64encode(basic.encode()).decode()):
        out.update(text[i : i + 8] for i in range(0, len(text) - 7))
    return sorted(out)


def _tmsbench(*argv: str, secret: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMS_TOKEN": secret, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "-v", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("api", "secret"),
    [
        ("v1", "benchuser:Pa55/word+with=odd&chars"),  # InfluxDB 1.x user:password
        ("v1", "onlyAtokenNoUser0123456789abcdef"),  # a 1.x token: sent as Basic of token:
        ("v2", "v2Token/abc+def==0123456789XYZ"),  # Token header
    ],
)
@pytest.mark.parametrize("status", [400, 500])
def test_echoed_credentials_reach_no_stream_and_no_file(
    echo: str, tmp_path: Path, api: str, secret: str, status: int
) -> None:
    _Echo.status = status
    journal = tmp_path / "journal.sqlite"
    _journal(journal)
    target = ["--database", "tms"] if api == "v1" else ["--org", "lab", "--bucket", "tms"]
    common = ["--journal", str(journal), "--influx-url", echo, "--api", api, "--token-env"]
    sync = _tmsbench("sync", *common, "TMS_TOKEN", *target, "--timeout", "2", secret=secret)
    status_run = _tmsbench("status", *common, "TMS_TOKEN", *target, secret=secret)
    streams = sync.stdout + sync.stderr + status_run.stdout + status_run.stderr
    assert "bad auth" in streams  # the server's message did arrive (this test can fail)
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    leaks = [f for f in _forms(secret) if f in streams or f.encode() in files]
    assert not leaks, f"credential forms leaked: {leaks}"
