"""Shared set-up of the station tests: `tmsbench station` in a subprocess and a real browser.

The browser is Debian's chromium driven by Debian's chromedriver through Selenium (no
browser build is downloaded); each browser gets a fresh profile.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StationProcess:
    """``tmsbench station`` on a free loopback port, working in ``cwd``."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "station.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "station", "--port", str(self.port), *args],
                cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                self.state()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise AssertionError("tmsbench station did not start:\n" + self.log.read_text())

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/api/state", timeout=5) as r:
            return json.loads(r.read())

    def get(self, path: str) -> tuple[str, bytes]:
        """(content type, body) of ``path``."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as r:
            return r.headers.get("content-type", ""), r.read()

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        """(HTTP status, JSON answer) of a POST of ``body`` as JSON."""
        req = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(90)  # it stops a run still going first, which disarms
            except subprocess.TimeoutExpired:
                self.proc.kill()


def browser(width: int = 1280, height: int = 1000):  # -> selenium WebDriver
    """A headless Debian chromium under Selenium; skips when either is not installed."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='tmsbench-chromium-')}")
    opts.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
