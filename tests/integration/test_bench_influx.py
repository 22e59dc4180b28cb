"""A bench run forwards to a real InfluxDB: the points arrive with their tags, and a run
with InfluxDB down passes and loses nothing (``tmsbench sync`` delivers afterwards)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.record.export import Query, query

ROOT = Path(__file__).resolve().parents[2]
SUBSET = [
    str(ROOT / "tests/bench/test_identity.py"),
    str(ROOT / "tests/bench/test_intensity.py::test_intensity_accuracy"),
    str(ROOT / "tests/bench/test_train.py::test_train_timing"),
]


def bench_with_influx(tmp: Path, url: str) -> Path:
    text = (ROOT / "benches" / "sim.toml").read_text()
    text = text.replace('spec = "../specs/', f'spec = "{ROOT / "specs"}/')
    text += f'\n[sinks.influxdb]\nurl = "{url}"\napi = "auto"\ndatabase = "tms"\n'
    path = tmp / "bench.toml"
    path.write_text(text)
    return path


def run_bench(tmp: Path, bench: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *SUBSET,
            "-q",
            "-p",
            "no:cacheprovider",
            "--bench",
            str(bench),
            "--sim-speed",
            "4",
            "--results",
            str(tmp / "results"),
            "--journal",
            str(tmp / "journal.sqlite"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=600,
    )


def test_bench_run_arrives_in_influxdb(tmp_path: Path, influxdb) -> None:
    influxdb.create_database("tms")
    proc = run_bench(tmp_path, bench_with_influx(tmp_path, influxdb.url))
    assert proc.returncode == 0, proc.stdout[-3000:]
    journal = query(tmp_path / "journal.sqlite", Query(kind="measurement"))
    assert len(journal) >= 10
    rows = influxdb.series(
        'SELECT "value", "name", "verdict", "test_id", "stimulator_serial", "station" '
        "FROM tms_measurement",
        db="tms",
    )
    assert len(rows) == len(journal)
    by_key = {(r["name"], r["test_id"]): r for r in rows}
    assert len(by_key) == len(rows)
    for j in journal:
        r = by_key[(j["name"], j["test_id"])]
        assert r["value"] == j["value"]
        assert r["verdict"] == j["verdict"]
        assert r["stimulator_serial"] == "SIM-R2-0001" and r["station"] == "sim-1"
    trains = influxdb.series("SELECT * FROM tms_train", db="tms")
    assert len(trains) == 2 and {t["scope_pulses"] for t in trains} == {40.0}
    tags = influxdb.series("SHOW TAG KEYS FROM tms_measurement", db="tms")
    assert not {"run_id", "test_id"} & {t["tagKey"] for t in tags}


def test_influxdb_down_during_the_run_then_sync(tmp_path: Path, influxdb) -> None:
    influxdb.create_database("tms")
    influxdb.stop()
    bench = bench_with_influx(tmp_path, influxdb.url)
    proc = run_bench(tmp_path, bench)
    assert proc.returncode == 0, proc.stdout[-3000:]  # the run passes with the sink down
    # The terminal summary and the report say how many points wait, and the command.
    said = [ln for ln in proc.stdout.splitlines() if "points not yet forwarded" in ln]
    assert len(said) == 1, proc.stdout[-3000:]
    assert int(said[0].split("InfluxDB:")[1].split()[0]) > 0
    command = said[0].split("send them with: ")[1].split()
    assert command[:2] == ["tmsbench", "sync"]
    (report,) = (tmp_path / "results").glob("*/report.html")
    assert "points pending" in report.read_text()
    influxdb.start_again()
    sync = subprocess.run(  # the very command the summary printed
        [sys.executable, "-m", "harness.cli", *command[1:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert sync.returncode == 0, sync.stdout + sync.stderr
    n_journal = len(query(tmp_path / "journal.sqlite", Query(kind="measurement")))
    assert influxdb.count("tms_measurement", "value", db="tms") == n_journal
