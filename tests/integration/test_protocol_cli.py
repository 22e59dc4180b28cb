"""``tmsbench protocol run`` delivers a protocol dosed from the journal's last threshold;
the dose record it leaves reaches a real InfluxDB as ``tms_dose``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.limits import Limits, Measurement
from harness.record.forwarder import Backoff, Forwarder
from harness.record.journal import Journal
from harness.record.records import dose_row
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SERIAL = "SIM-R2-0001"  # benches/sim.toml


def _tmsbench(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)


def test_run_ctbs_from_the_last_journaled_threshold(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as j:  # an earlier threshold hunt on this stimulator
        j.append_measurement(Measurement.check(
            "ml_pest: motor threshold", 33.4, "%MSO", Limits(), tags={"stimulator_serial": SERIAL},
            run_id="hunt-1", time_ns=1_790_000_000_000_000_000))
    out = _tmsbench(tmp_path, "protocol", "run", "ctbs", "--threshold-from", "LAST",
                    "--journal", str(journal), "--sim-speed", "4",
                    "--results", str(tmp_path / "results"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "motor threshold 33.4 %MSO (ml_pest: motor threshold in run hunt-1)" in out.stdout
    db = sqlite3.connect(journal)
    ((tags, data),) = db.execute(
        "SELECT t.tags, p.data FROM points p JOIN tagsets t ON t.id = p.tagset"
        " WHERE p.kind = 'dose'").fetchall()
    tags, data = json.loads(tags), json.loads(data)
    assert (tags["protocol"], tags["verdict"], tags["stimulator_serial"]) == ("ctbs", "pass",
                                                                             SERIAL)
    # cTBS: 200 bursts of 3 = 600 pulses at 80 % of 33.4 = 26.72 -> 27 %MSO, in one train
    assert (data["threshold_percent"], data["threshold_source"]) == (33.4, "last")
    assert data["intensity_percent"] == 27
    assert data["pulses_prescribed"] == data["pulses_delivered"] == data["pulses_daq"] == 600
    assert data["abridged"] is False and data["trains_delivered"] == 1
    (train,) = json.loads(data["trains_json"])
    assert train["scope"] == 600 and abs(train["burst_rate_hz"] - 5.0) < 0.05
    failed = db.execute("SELECT COUNT(*) FROM points p JOIN tagsets t ON t.id = p.tagset"
                        " WHERE p.kind = 'measurement' AND t.tags LIKE '%\"verdict\":\"fail\"%'")
    assert failed.fetchone() == (0,)


def test_bad_arguments_are_one_line_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nversion = "1"\nsource = "x et al. 2020"\n'
                   'intensity_percent_mt = 250\n[pattern]\nrate_hz = 10\npulses = 4\n')
    cases = [
        (["nosuch", "--threshold-from", "33"], "nosuch: no such protocol (known: 10hz-fda"),
        (["itbs", "--threshold-from", "0"], "--threshold-from: must be LAST or a number"),
        ([str(bad), "--threshold-from", "33"],
         f"{bad}: intensity_percent_mt: Input should be less than or equal to 200 (got 250)"),
        (["itbs", "--threshold-from", "LAST", "--journal", str(tmp_path / "none.sqlite")],
         "no journal, so no motor threshold for SIM-R2-0001"),
    ]
    for args, line in cases:  # refused before pytest starts: run in this process
        assert main(["protocol", "run", *args]) == 2
        err = capsys.readouterr().err
        assert line in err and "Traceback" not in err, err
    assert main(["protocol", "list"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()]
    assert names == ["10hz-fda", "1hz", "ctbs", "itbs", "saint-accelerated"]


def test_dose_record_is_forwarded_to_influxdb(influxdb, tmp_path: Path) -> None:
    influxdb.create_database("tms")
    j = Journal(tmp_path / "j.sqlite")
    j.append_rows([dose_row(
        {"version": "1", "threshold_percent": 41.0, "pulses_prescribed": 3000,
         "pulses_delivered": 2999, "trains_json": "[]", "abridged": False},
        protocol="10hz-fda", verdict="fail", tags={"stimulator_serial": "R2-7", "station": "s1"},
        run_id="run-9", test_id="tests/bench/test_protocols.py::test_protocol_full[10hz-fda]",
        time_ns=1_790_000_000_000_000_000)])
    res = Forwarder(j.path, InfluxTarget(url=influxdb.url, database="tms"),
                    backoff=Backoff(initial_s=0.05, max_s=0.3)).sync(timeout_s=30)
    assert res.ok and res.sent == 1
    (r,) = influxdb.series('SELECT * FROM "tms_dose"', db="tms")
    assert (r["protocol"], r["verdict"], r["stimulator_serial"]) == ("10hz-fda", "fail", "R2-7")
    assert (r["pulses_prescribed"], r["pulses_delivered"], r["threshold_percent"]) == (
        3000.0, 2999.0, 41.0)
    assert (r["version"], r["run_id"], r["abridged"]) == ("1", "run-9", False)
    keys = {k["tagKey"] for k in influxdb.series('SHOW TAG KEYS FROM "tms_dose"', db="tms")}
    assert keys == {"protocol", "verdict", "test", "stimulator_serial", "station"}
