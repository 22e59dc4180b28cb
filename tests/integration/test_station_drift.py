"""The station's drift and results pages show the same numbers as the command line.

A history of real calibration checks on aging simulated devices (demo-history) is read
by `tmsbench drift` and by the station's drift page in a real browser; every cell of the
page's table equals the command's printed table. The Manufacturing table is checked
against the journal's own runs table, counted here with SQL.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from station_rig import StationProcess, browser  # this folder is on sys.path

from harness.cli import main
from harness.drift.source import histories_from_journal
from harness.history import AgingLaw, demo_history

pytestmark = pytest.mark.integration

LAWS = [AgingLaw("ST-STABLE", 0.0, 0.004, label="stable"),
        AgingLaw("ST-DRIFT", 0.001, -0.005, label="drifting")]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("history")
    journal = tmp / "journal.sqlite"
    demo_history(days=18, every_days=3, journal=str(journal), results=str(tmp / "results"),
                 sim_speed=200.0, laws=LAWS, seed=5, report=None)
    return journal


def _cells(driver, css: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")
    ]


def test_drift_page_equals_tmsbench_drift(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "--journal", str(history), "--out", ""]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    cli = [re.split(r"\s{2,}", line.strip()) for line in printed[1:]]
    assert sorted(row[0] for row in cli) == ["ST-DRIFT", "ST-STABLE"]

    station = StationProcess(tmp_path, "--journal", str(history))
    page = browser()
    try:
        page.get(f"{station.url}/drift")
        shown = _cells(page, "#drift")
        assert shown == cli  # serial, checks, dates, output, trend and CI, status, crossing
        kind, png = station.get("/drift/overview.png")
        assert kind == "image/png" and png[:4] == b"\x89PNG"

        # the Manufacturing panels, counted here with SQL on the journal's runs table
        with sqlite3.connect(history) as db:
            expected = db.execute(
                "SELECT station, date(finished_ns / 1e9, 'unixepoch') AS day, count(*),"
                " sum(verdict IN ('pass', 'marginal')) FROM runs"
                " WHERE verdict IN ('pass', 'marginal', 'fail', 'invalid')"
                " GROUP BY station, day ORDER BY station, day"
            ).fetchall()
            per_day = db.execute(
                "SELECT date(finished_ns / 1e9, 'unixepoch') AS day, verdict, count(*)"
                " FROM runs WHERE verdict IS NOT NULL GROUP BY day, verdict ORDER BY day, verdict"
            ).fetchall()
            failures = db.execute(
                "SELECT json_extract(t.tags, '$.name') AS name, count(*) AS n"
                " FROM points p JOIN tagsets t ON t.id = p.tagset WHERE p.kind = 'measurement'"
                " AND json_extract(t.tags, '$.verdict') IN ('fail', 'invalid')"
                " GROUP BY name ORDER BY n DESC, name"
            ).fetchall()
        got = [(r[0], r[1], int(r[2]), int(r[3])) for r in _cells(page, "#yield")]
        assert got == [(s, d, n, p) for s, d, n, p in expected] and got
        got_per_day = [(r[0], r[1].lower(), int(r[2])) for r in _cells(page, "#runs-per-day")]
        assert got_per_day == per_day
        shown_failures = [(r[0], int(r[1])) for r in _cells(page, "#failures-by-name")
                          if len(r) == 2]
        assert shown_failures == failures

        # a device page lists each of its calibration checks, as drift reads them
        (drifting,) = histories_from_journal(history, "ST-DRIFT")
        page.get(f"{station.url}/device/ST-DRIFT")
        rows = _cells(page, "#calibration")
        assert len(rows) == drifting.output_A_per_us.size
        assert [float(r[2]) for r in rows] == pytest.approx(
            list(drifting.output_A_per_us), abs=5e-4)
        kind, png = station.get("/device/ST-DRIFT/drift.png")
        assert kind == "image/png" and png[:4] == b"\x89PNG"
        with sqlite3.connect(history) as db:
            (runs,) = db.execute(
                "SELECT count(DISTINCT p.run_id) FROM points p JOIN tagsets t ON t.id = p.tagset"
                " WHERE p.kind = 'run' AND json_extract(t.tags, '$.stimulator_serial') = ?",
                ("ST-DRIFT",),
            ).fetchone()
        page.get(f"{station.url}/results?serial=ST-DRIFT")
        assert len(_cells(page, "#runs")) == runs >= 1
    finally:
        page.quit()
        station.stop()
