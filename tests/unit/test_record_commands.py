"""CLI subcommands that need no server: status, export (CSV, Parquet), sync to a dead port."""

from __future__ import annotations

import argparse
import csv

import pytest

from harness.cli import record as commands
from harness.limits import Limits, Measurement, Verdict
from harness.record.export import parse_time
from harness.record.journal import Journal
from harness.record.records import CalibrationRecord

T0 = 1_790_000_000_000_000_000


@pytest.fixture
def journal_path(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        for serial in ("SN1", "SN2"):
            j.append_measurements(
                Measurement.check(
                    "peak",
                    90.0 + i,
                    "A/us",
                    Limits(80, 100),
                    tags={"station": "s", "stimulator_serial": serial},
                    run_id=f"run-{serial}",
                    test_id="t::a",
                    time_ns=T0 + i * 10**9,
                )
                for i in range(5)
            )
        j.append_calibration(
            CalibrationRecord(
                "SN1", 1.5, 0.1, 0.999, 0.01, Verdict.PASS, "peak", "A/us", time_ns=T0 + 99 * 10**9
            )
        )
    return path


def test_register_adds_subcommands():
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["sync", "--journal", "x", "--influx-url", "http://h:8086"])
    assert args.func is commands.cmd_sync


def test_status_without_sink(journal_path, capsys):
    assert commands.main(["status", "--journal", str(journal_path)]) == 0
    assert "points 11; no InfluxDB sink configured" in capsys.readouterr().out


def test_export_csv_filters(journal_path, tmp_path):
    out = tmp_path / "out.csv"
    rc = commands.main(
        [
            "export",
            "--journal",
            str(journal_path),
            "--serial",
            "SN1",
            "--kind",
            "measurement",
            "--since",
            "2026-09-21T14:13:21Z",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    rows = list(csv.DictReader(out.open()))
    assert [float(r["value"]) for r in rows] == [91.0, 92.0, 93.0, 94.0]
    assert {r["stimulator_serial"] for r in rows} == {"SN1"}
    assert rows[0]["time"] == "2026-09-21T14:13:21.000000000Z"


def test_export_run_and_calibration(journal_path, tmp_path, capsys):
    commands.main(["export", "--journal", str(journal_path), "--run", "run-SN2"])
    assert capsys.readouterr().out.count("run-SN2") == 5
    commands.main(["export", "--journal", str(journal_path), "--kind", "calibration"])
    (row,) = csv.DictReader(capsys.readouterr().out.splitlines())
    assert (row["slope"], row["r_squared"], row["verdict"]) == ("1.5", "0.999", "pass")


def test_export_parquet(journal_path, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    assert commands.main(["export", "--journal", str(journal_path), "-o", str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 11
    assert table.column("value").to_pylist()[:2] == [90.0, 91.0]


def test_parse_time():
    assert parse_time("123") == 123
    assert parse_time("1970-01-01T00:00:01Z") == 10**9
    assert parse_time("1970-01-01T00:00:01.5") == 1_500_000_000


def test_sync_to_an_unreachable_server_says_what_it_waits_for(journal_path, capsys, monkeypatch):
    import socket

    from harness.record import forwarder

    monkeypatch.setattr(forwarder, "PROGRESS_S", 0.2)  # a line every 0.2 s, not every 5 s
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        rc = commands.main(
            [
                "sync",
                "--journal",
                str(journal_path),
                "--influx-url",
                url,
                "--database",
                "tms",
                "--timeout",
                "1.5",
            ]
        )
    out, err = capsys.readouterr()
    assert rc == 1  # points left pending
    lines = err.splitlines()
    assert lines[0] == f"sending 12 pending points to {url}#tms (gives up after 1.5 s)"
    waits = [ln for ln in lines if ln.startswith(f"waiting for {url}#tms: ")]
    assert waits, err
    assert all("cannot reach" in ln and "12 points pending, giving up in" in ln for ln in waits)
    assert "sent 0, quarantined 0, pending 12" in out  # 11 points + the sync's audit row
