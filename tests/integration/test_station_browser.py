"""The operator station in a real browser: scan, start, watch live, PASS, certificate; Stop.

Runs start from the page exactly as an operator does (typing as a barcode scanner does:
the code, then Enter). What the page shows is checked against the journal the run wrote
and, for Stop, against the simulated device's own arming state, read from the
`tmsbench sim` process that serves it (not from the driver or the page).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from station_rig import StationProcess, browser  # this folder is on sys.path
from stop_rig import SimProcess

pytestmark = pytest.mark.integration

WAIT_S = 180.0  # a whole run on a loaded 2-core machine


def _wait(what: str, check, timeout_s: float = WAIT_S, every_s: float = 0.1):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def _text(driver, css: str) -> str:
    """The element's visible text, read in one script call: the page re-renders
    on every event, so a found element can be replaced before `.text` reads it."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]);"
        " return e ? e.innerText.trim() : '';", css)


def _rows(driver) -> list[list[str]]:
    """The measurement table's cells, row by row, read in one script call."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#measurements tbody tr'),"
        " tr => Array.from(tr.querySelectorAll('td'), td => td.innerText.trim()));")


def _scan(driver, element_id: str, code: str) -> None:
    """What a barcode scanner does: type the code, then Enter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(code + Keys.ENTER)


def _start(driver, operator: str, serial: str, plan: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "plan")).select_by_value(plan)
    _scan(driver, "operator", operator)
    _scan(driver, "serial", serial)
    # the scanner's Enter left the focus on Start: one more Enter starts the run
    assert driver.switch_to.active_element.get_attribute("id") == "start"
    driver.switch_to.active_element.send_keys(Keys.ENTER)


def _journal_measurements(journal: Path, run_id: str) -> list[tuple[str, float | None]]:
    with sqlite3.connect(journal) as db:
        rows = db.execute(
            "SELECT t.tags, p.value FROM points p JOIN tagsets t ON t.id = p.tagset"
            " WHERE p.kind = 'measurement' AND p.run_id = ? ORDER BY p.id", (run_id,)
        ).fetchall()
    import json

    return [(json.loads(tags)["name"], value) for tags, value in rows]


def _run_verdict(journal: Path, run_id: str) -> str:
    with sqlite3.connect(journal) as db:
        return str(db.execute("SELECT verdict FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])


def _run_id(station_dir: Path) -> str:
    import json

    (events,) = station_dir.glob("results/station/*/events.jsonl")
    for line in events.read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "run_start":
            return str(ev["run_id"])
    raise AssertionError("no run_start event")


@pytest.fixture
def two_browsers() -> Iterator[tuple]:
    a = browser()
    try:
        b = browser()
    except BaseException:
        a.quit()
        raise
    try:
        yield a, b
    finally:
        a.quit()
        b.quit()


def test_scan_start_calibration_watch_live_pass_and_open_the_certificate(
    tmp_path: Path, two_browsers: tuple
) -> None:
    a, b = two_browsers
    station = StationProcess(tmp_path)
    try:
        a.get(station.url)
        b.get(station.url)
        assert "SIMULATED BENCH" in _text(a, "#sim-banner")
        _start(a, "op-17", "SN-CAL-0042", "calibration")
        # a second Start while the run goes on is refused, in the other browser too
        _wait("the run to start", lambda: station.state()["run"])
        _wait("Start disabled", lambda: not b.find_element("id", "start").is_enabled(), 10)
        _scan(b, "operator", "op-18")
        _scan(b, "serial", "SN-OTHER")
        assert _text(b, "#message").startswith("A run is going on: Start is refused")
        code, answer = station.post("/api/start", {"operator": "op-18", "serial": "SN-OTHER",
                                                   "plan": "calibration"})
        assert code == 409 and answer["error"] == "run 1 is still going: stop it first"
        # live: a pulse is drawn while the run is going, before any verdict
        caption = _wait("a live pulse", lambda: "%MSO" in _text(a, "#pulse-caption")
                        and _text(a, "#pulse-caption"))
        assert "%MSO" in caption and station.state()["run"]["running"]
        assert "hidden" in (a.find_element("id", "verdict").get_attribute("class") or "")
        # the measurements as committed, then the verdict: PASS, on both pages
        for d in (a, b):
            _wait("PASS", lambda d=d: _text(d, "#verdict-word") == "PASS")
        rows_a, rows_b = _rows(a), _rows(b)
        assert rows_a == rows_b and len(rows_a) == 4
        names = [r[1] for r in rows_a]
        run_id = _run_id(tmp_path)
        journal = tmp_path / "results" / "journal.sqlite"
        assert names == [n for n, _ in _journal_measurements(journal, run_id)]
        assert all(r[5] == "PASS" for r in rows_a)
        assert _text(a, "#tests li") == "passed test_calibration"
        assert _text(a, "#run-id") == f"· run {run_id}"  # links the run's results page
        assert _run_verdict(journal, run_id) == "pass"
        # the certificate opens from the page's link, as a PDF of this serial's run
        link = a.find_element("css selector", ".certificate-link")
        assert "SN-CAL-0042" in link.text
        href = link.get_attribute("href")
        assert href is not None
        kind, body = station.get(href.removeprefix(station.url))
        assert kind == "application/pdf" and body[:5] == b"%PDF-"
        report = a.find_element("id", "report-link").get_attribute("href") or ""
        kind, html = station.get(report.removeprefix(station.url))
        assert kind.startswith("text/html") and run_id.encode() in html
        # the run is in the results pages, from the journal
        a.get(f"{station.url}/results?serial=SN-CAL-0042")
        assert run_id in _text(a, "#runs tbody") and "PASS" in _text(a, "#runs tbody")
        a.get(f"{station.url}/device/SN-CAL-0042")
        (check,) = _text(a, "#calibration tbody").splitlines()
        assert run_id in check and "PASS" in check
    finally:
        station.stop()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    proc = SimProcess(tmp_path)
    try:
        yield proc
    finally:
        proc.stop()


def test_stop_mid_train_disarms_the_device_and_keeps_every_measurement(
    tmp_path: Path, sim: SimProcess
) -> None:
    from selenium.webdriver.common.by import By

    station = StationProcess(tmp_path, "--bench", str(sim.live))
    page = browser()
    try:
        page.get(station.url)
        assert "SIMULATED BENCH" in _text(page, "#sim-banner")  # served by `tmsbench sim`
        _start(page, "op-17", "SN-TRAIN-7", "trains")
        # the first train test ends with its measurements; stop the second one mid-train
        _wait("the second test", lambda: "running" in _text(page, "#tests li:nth-child(2)"))
        second = time.time()
        assert sim.wait_event("armed", second - 0.5, 60) is not None, "never armed"
        time.sleep(0.8)  # a 2 s train of 40 pulses at 20 Hz: in the middle of it
        seen_before_stop = _rows(page)
        assert len(seen_before_stop) >= 5  # the first test's measurements arrived live
        sent = time.time()
        page.find_element(By.ID, "stop").click()
        event = sim.wait_event("disarmed", sent, 5)
        assert event is not None, "the simulated stimulator was never disarmed"
        when, why = event
        assert why == "disarmed (command)", f"disarmed by {why}, not by the run"
        assert when - sent < 3.0, f"disarmed {when - sent:.2f} s after Stop"
        _wait("ABORTED", lambda: _text(page, "#verdict-word") == "ABORTED", 60)
        assert "stopped by the operator" in _text(page, "#verdict")
        assert _wait("the run to end", lambda: not station.state()["run"]["running"], 60)
        assert station.state()["run"]["returncode"] == 143  # SIGTERM, as on a terminal
        # nothing the page showed is lost: every measurement is in the journal
        run_id = _run_id(tmp_path)
        journal = tmp_path / "results" / "journal.sqlite"
        stored = _journal_measurements(journal, run_id)
        shown = [r[1] for r in _rows(page)]
        assert shown == [name for name, _ in stored]
        assert [r[1] for r in seen_before_stop] == shown[: len(seen_before_stop)]
        assert _run_verdict(journal, run_id) == "aborted"
        # and the device is still disarmed once everything has ended
        assert sim.events[-1][1].startswith("disarmed")
    finally:
        page.quit()
        station.stop()


def test_stopping_the_station_mid_run_stops_the_run_and_disarms(
    tmp_path: Path, sim: SimProcess
) -> None:
    station = StationProcess(tmp_path, "--bench", str(sim.live))
    try:
        code, _ = station.post("/api/start", {"operator": "op-17", "serial": "SN-TRAIN-8",
                                              "plan": "trains"})
        assert code == 200
        started = time.time()
        assert sim.wait_event("armed", started, 90) is not None, "never armed"
        time.sleep(1.0)  # in the first train
        sent = time.time()
        station.proc.terminate()  # the station's server is stopped, not the run
        event = sim.wait_event("disarmed", sent, 10)
        assert event is not None, "the simulated stimulator was never disarmed"
        assert event[1] == "disarmed (command)", f"disarmed by {event[1]}, not by the run"
        station.proc.wait(60)
        run_id = _run_id(tmp_path)
        assert _run_verdict(tmp_path / "results" / "journal.sqlite", run_id) == "aborted"
    finally:
        station.stop()


def test_a_failing_run_lists_what_failed_and_retests_only_the_failed_tests(
    tmp_path: Path,
) -> None:
    import json
    import tomllib

    import tomli_w
    from selenium.webdriver.common.by import By
    from stop_rig import ROOT

    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    raw["spec"] = str((ROOT / "benches" / raw["spec"]).resolve())
    raw["sim"].setdefault("faults", {})["charge_error"] = 0.1  # 10 % low: out of tolerance
    bench = tmp_path / "sim-charge-error.toml"
    bench.write_text(tomli_w.dumps(raw))
    station = StationProcess(tmp_path, "--bench", str(bench))
    page = browser()

    def events(n: int) -> list[dict]:
        (path,) = tmp_path.glob(f"results/station/*-{n}/events.jsonl")
        return [json.loads(line) for line in path.read_text().splitlines()]

    try:
        page.get(station.url)
        _start(page, "op-17", "SN-LOW-1", "quick")
        _wait("FAIL", lambda: _text(page, "#verdict-word") == "FAIL")
        failures = _text(page, "#failures")
        failed_rows = [r for r in _rows(page) if r[5] == "FAIL"]
        assert failed_rows and all(r[1] in failures for r in failed_rows)
        first = events(1)
        ran = next(e["tests"] for e in first if e["event"] == "collected")
        failed = [e["test"] for e in first if e["event"] == "test_finish"
                  and e["outcome"] == "failed"]
        assert failed and len(failed) < len(ran)  # identity and pulse shape passed
        # the button is enabled once the first run's process has ended
        _wait("the retest button", lambda: page.execute_script(
            "const b = document.getElementById('retest'); return b && !b.disabled;"), 30)
        page.find_element(By.ID, "retest").click()
        _wait("the retest to start", lambda: station.state()["run"]["number"] == 2, 30)
        _wait("the page to clear", lambda: not _text(page, "#verdict-word"), 30)
        _wait("the retest's FAIL", lambda: _text(page, "#verdict-word") == "FAIL")
        retested = next(e["tests"] for e in events(2) if e["event"] == "collected")
        assert retested == failed
        # the journal knows it for a retest (the plugin's --retest)
        run2 = next(e["run_id"] for e in events(2) if e["event"] == "run_start")
        with sqlite3.connect(tmp_path / "results" / "journal.sqlite") as db:
            reasons = {r for (r,) in db.execute(
                "SELECT json_extract(data, '$.attempt_reason') FROM points"
                " WHERE kind = 'measurement' AND run_id = ?", (run2,))}
        assert reasons == {"retest"}
        assert station.state()["run"]["serial"] == "SN-LOW-1"
    finally:
        page.quit()
        station.stop()


def test_binding_beyond_loopback_is_explicit_and_warned(tmp_path: Path) -> None:
    station = StationProcess(tmp_path, "--host", "0.0.0.0", "--allow-remote")
    try:
        assert station.state()["simulated"] is True
    finally:
        station.stop()
    log = station.log.read_text()
    assert "WARNING: serving on 0.0.0.0, not loopback" in log, log
