"""Journal → real InfluxDB 1.x (influxd): delivery, outages, poison, lost acks, secrets."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness.cli import record as commands
from harness.limits import Limits, Measurement, Verdict
from harness.record.forwarder import Backoff, Forwarder
from harness.record.journal import Journal
from harness.record.records import CalibrationRecord, RunInfo
from harness.record.sinks import InfluxTarget

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb
influxdb_auth = _servers.influxdb_auth

pytestmark = pytest.mark.integration

DB = "tms"
FAST = Backoff(initial_s=0.05, max_s=0.3)
CTX = {
    "station": "lab 3",  # space: escaped in line protocol
    "stimulator_model": "R30",
    "stimulator_serial": "SN,123",  # comma
    "coil_model": "D70=B",  # equals
    "coil_serial": "C9",
    "waveform": "biphasic",
}


def sink(srv, **kw) -> InfluxTarget:
    return InfluxTarget(url=srv.url, database=DB, **kw)


def meas(i: int, t: int | None = None, **kw) -> Measurement:
    return Measurement.check(
        "peak dI/dt",
        90.0 + i * 0.001,
        "A/µs",
        Limits.around(93.2, relative=0.05, marginal=0.8),
        tags=CTX,
        run_id="run-1",
        test_id=f"tests/bench/test_pulse.py::test_peak[{i % 3}]",
        time_ns=1_790_000_000_000_000_000 + i if t is None else t,
        **kw,
    )


def journal_rows(path, sql):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_points_arrive_with_exact_values_and_tags(influxdb, tmp_path):
    influxdb.create_database(DB)
    j = Journal(tmp_path / "j.sqlite")
    info = RunInfo(
        "run-1",
        station="lab 3",
        operator="ada",
        git_revision="0a1b2c",
        bench="lab-3.toml",
        started_ns=1_790_000_000_000_000_000,
    )
    j.start_run(info)
    ms = [meas(i) for i in range(5)] + [meas(7, t=1_790_000_000_000_000_002)]  # same ns as #2
    j.append_measurements(ms)
    j.append_pulse(
        {"peak_didt": 93.25, "rise_time_us": 61.0, "clipped": False},
        tags=CTX,
        run_id="run-1",
        test_id="t::p",
        time_ns=1_790_000_000_000_000_100,
    )
    j.append_temperature(31.25, tags=CTX, run_id="run-1", time_ns=1_790_000_000_000_000_200)
    j.append_calibration(
        CalibrationRecord(
            "SN,123",
            1.5,
            -0.25,
            0.99951,
            0.0125,
            Verdict.PASS,
            "peak_didt",
            "A/µs",
            time_ns=1_790_000_000_000_000_300,
        )
    )
    j.finish_run("run-1", Verdict.PASS, time_ns=1_790_000_000_000_001_000)

    res = Forwarder(j.path, sink(influxdb), backoff=FAST).sync(timeout_s=30)
    assert res.ok and res.sent == 11

    rows = influxdb.series('SELECT * FROM "tms_measurement" ORDER BY time', db=DB)
    ts = [r[0] for r in journal_rows(j.path, "SELECT ts FROM points WHERE kind='measurement'")]
    assert [r["time"] for r in rows] == sorted(ts)
    assert len(rows) == 6  # the two same-nanosecond points did not collapse
    by_time = {r["time"]: r for r in rows}
    for m, t in zip(ms, ts, strict=True):
        r = by_time[t]
        assert r["value"] == m.value
        assert (r["low"], r["high"], r["nominal"]) == (m.limits.low, m.limits.high, 93.2)
        assert (r["marginal_low"], r["marginal_high"]) == (
            m.limits.marginal_low,
            m.limits.marginal_high,
        )
        for k, v in CTX.items():
            assert r[k] == v
        assert (r["name"], r["unit"], r["verdict"]) == ("peak dI/dt", "A/µs", str(m.verdict))
        assert r["test"] == "tests/bench/test_pulse.py::test_peak"
        assert (r["run_id"], r["test_id"]) == ("run-1", m.test_id)

    # run_id/test_id must be fields, not tags (unbounded cardinality)
    tag_keys = influxdb.series('SHOW TAG KEYS FROM "tms_measurement"', db=DB)
    assert {r["tagKey"] for r in tag_keys} == {*CTX, "name", "unit", "verdict", "test"}

    (p,) = influxdb.series('SELECT * FROM "tms_pulse"', db=DB)
    assert (p["peak_didt"], p["rise_time_us"], p["clipped"]) == (93.25, 61.0, False)
    (t,) = influxdb.series('SELECT * FROM "tms_temperature"', db=DB)
    assert (t["celsius"], t["sensor"]) == (31.25, "coil")
    (c,) = influxdb.series('SELECT * FROM "tms_calibration"', db=DB)
    assert (c["slope"], c["offset"], c["r_squared"], c["worst_deviation"]) == (
        1.5,
        -0.25,
        0.99951,
        0.0125,
    )
    assert (c["stimulator_serial"], c["verdict"], c["name"]) == ("SN,123", "pass", "peak_didt")
    runs = influxdb.series('SELECT * FROM "tms_run" ORDER BY time', db=DB)
    assert [(r["event"], r["verdict"], r["operator"], r["git_revision"]) for r in runs] == [
        ("start", None, "ada", "0a1b2c"),
        ("finish", "pass", "ada", "0a1b2c"),
    ]
    assert runs[1]["duration_s"] == pytest.approx(1e-6)
    j.close()


def test_influxdb_stopped_mid_run_then_restarted(influxdb, tmp_path, caplog):
    influxdb.create_database(DB)
    j = Journal(tmp_path / "j.sqlite", synchronous="NORMAL")
    fwd = Forwarder(j.path, sink(influxdb, timeout_s=1.0), backoff=FAST, poll_interval_s=0.05)
    fwd.start()
    written = 0

    def append(n_batches: int) -> None:
        nonlocal written
        for _ in range(n_batches):
            j.append_measurements(meas(written + k) for k in range(50))
            written += 50
            fwd.notify()
            time.sleep(0.01)

    append(10)
    influxdb.stop()
    append(20)  # the run goes on while the sink is down; appends never block on it
    deadline = time.monotonic() + 10
    while fwd.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fwd.last_error is not None  # it noticed and keeps retrying
    assert fwd.status().pending > 0
    influxdb.start_again()
    append(5)
    assert fwd.stop(flush_timeout=30) is True
    res = Forwarder(j.path, sink(influxdb)).sync(timeout_s=30)
    assert res.ok and res.pending == 0
    assert influxdb.count("tms_measurement", "run_id", db=DB) == written == 1750
    j.close()


def test_poisoned_point_is_quarantined_and_the_rest_flows(influxdb, tmp_path):
    influxdb.create_database(DB)
    j = Journal(tmp_path / "j.sqlite")
    for i in range(30):
        # field "peak" is a float ... then once a string: HTTP 400 field type conflict
        j.append_pulse(
            {"peak": "bad" if i == 17 else 90.0 + i},
            tags=CTX,
            time_ns=1_790_000_000_000_000_000 + i,
        )
    res = Forwarder(j.path, sink(influxdb, batch_size=8), backoff=FAST).sync(timeout_s=30)
    assert (res.sent, res.quarantined, res.pending) == (29, 1, 0)
    st = Forwarder(j.path, sink(influxdb)).status()
    (q,) = st.quarantine
    assert q.point_id == 18 and "field type conflict" in q.message and "400" in q.message
    assert influxdb.count("tms_pulse", "peak", db=DB) == 29


class _AckDroppingProxy(http.server.ThreadingHTTPServer):
    """Forwards to InfluxDB, then drops the answer to the first ``drops`` writes."""

    def __init__(self, upstream: str, drops: int) -> None:
        self.upstream, self.drops, self.forwarded = upstream, drops, 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def _relay(self, method: str) -> None:
        srv: _AckDroppingProxy = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        req = urllib.request.Request(srv.upstream + self.path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, headers, data = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, dict(e.headers), e.read()
        if method == "POST" and self.path.startswith("/write"):
            srv.forwarded += 1
            if srv.drops > 0:  # the server accepted it; the client never hears so
                srv.drops -= 1
                self.close_connection = True
                return
        self.send_response(status)
        for k in ("Content-Type", "X-Influxdb-Version"):
            if k in headers:
                self.send_header(k, headers[k])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._relay("GET")

    def do_POST(self) -> None:
        self._relay("POST")

    def log_message(self, *args: object) -> None:
        pass


def test_resend_after_lost_ack_creates_no_duplicates(influxdb, tmp_path):
    influxdb.create_database(DB)
    proxy = _AckDroppingProxy(influxdb.url, drops=3)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        j = Journal(tmp_path / "j.sqlite")
        # includes several measurements of the same name recorded in the same ns
        j.append_measurements([meas(i, t=1_790_000_000_000_000_000 + i // 4) for i in range(400)])
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        target = InfluxTarget(url=url, database=DB, batch_size=100, timeout_s=2.0)
        res = Forwarder(j.path, target, backoff=FAST).sync(timeout_s=60)
        assert res.ok and res.sent == 400
        assert proxy.forwarded == 4 + 3  # three batches went to the server twice
        assert influxdb.count("tms_measurement", "value", db=DB) == 400
        j.close()
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_token_never_leaks(influxdb_auth, tmp_path, monkeypatch, caplog, capsys):
    srv = influxdb_auth
    srv.create_database(DB)
    secret = srv.credentials
    password = secret.split(":", 1)[1]
    forms = [secret, password, base64.b64encode(secret.encode()).decode()]
    monkeypatch.setenv("TMS_TEST_TOKEN", secret)
    monkeypatch.setenv("TMS_WRONG_TOKEN", "admin:" + password[::-1])
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included

    j = Journal(tmp_path / "j.sqlite")
    j.append_measurements(meas(i) for i in range(20))

    bad = Forwarder(j.path, sink(srv, token_env="TMS_WRONG_TOKEN"), backoff=FAST)
    res = bad.sync(timeout_s=30)
    assert res.fatal and "401" in res.error and "credentials" in res.error
    assert bad.status().last_error == res.error
    wrong = password[::-1]
    assert wrong not in res.error and wrong not in repr(bad) and wrong not in caplog.text

    good = Forwarder(j.path, sink(srv, token_env="TMS_TEST_TOKEN"), backoff=FAST)
    assert good.sync(timeout_s=30).ok
    rc = commands.main(
        [
            "status",
            "--journal",
            str(j.path),
            "--influx-url",
            srv.url,
            "--database",
            DB,
            "--token-env",
            "TMS_TEST_TOKEN",
        ]
    )
    assert rc == 0
    j.close()
    assert srv.count("tms_measurement", "value", db=DB) == 20

    out = capsys.readouterr()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite*"))
    texts = [caplog.text, out.out, out.err, repr(good), repr(good.sink), str(good.last_result)]
    for form in forms:
        assert form.encode() not in blob
        for text in texts:
            assert form not in text


def test_cli_sync_status_export(influxdb, tmp_path, capsys):
    influxdb.create_database(DB)
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.append_measurements(meas(i) for i in range(25))
        j.append_pulse({"peak": "oops"}, tags=CTX)  # float vs string in one batch: conflict
        j.append_pulse({"peak": 1.0}, tags=CTX)
    common = ["--journal", str(path), "--influx-url", influxdb.url, "--database", DB]
    assert commands.main(["sync", *common]) == 0
    assert commands.main(["status", *common]) == 0
    out = capsys.readouterr().out
    assert "sent 27, quarantined 1, pending 0" in out  # 26 points + the sync's audit row
    assert "points 28: sent 27, pending 0, quarantined 1" in out
    db = sqlite3.connect(path)
    (what,) = db.execute(
        "SELECT json_extract(p.data, '$.what') FROM points p JOIN tagsets t ON t.id = p.tagset"
        " WHERE p.kind = 'audit' AND json_extract(t.tags, '$.action') = 'sync'"
    ).fetchone()
    db.close()
    assert what == f"sync of the pending points to {influxdb.url}#{DB} started"
    assert "quarantined #26" in out or "quarantined #27" in out
    csv_path = tmp_path / "m.csv"
    assert (
        commands.main(
            [
                "export",
                "--journal",
                str(path),
                "--kind",
                "measurement",
                "--serial",
                "SN,123",
                "-o",
                str(csv_path),
            ]
        )
        == 0
    )
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 26 and lines[0].startswith("id,kind,time,time_ns,run_id,test_id")


def test_sync_exit_code_when_server_is_down(tmp_path, capsys):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.append_measurement(meas(1))
    rc = commands.main(
        [
            "sync",
            "--journal",
            str(path),
            "--influx-url",
            "http://127.0.0.1:9",
            "--api",
            "v1",
            "--database",
            DB,
            "--timeout",
            "0.5",
        ]
    )
    assert rc == 1
    assert "pending 2" in capsys.readouterr().out  # the point + the sync's audit row


def test_line_protocol_escapes_round_trip_through_influxd(influxdb, tmp_path):
    influxdb.create_database(DB)
    odd = {"station": 'a "q" b', "waveform": "x\\y", "coil_model": "=,= ,"}
    with Journal(tmp_path / "j.sqlite") as j:
        j.append_pulse(
            {'we"ird, k=ey': 'v "quoted" \\ back\nslash', "n": 1.0},
            tags=odd,
            time_ns=1_790_000_000_000_000_000,
        )
    assert Forwarder(tmp_path / "j.sqlite", sink(influxdb)).sync(timeout_s=30).ok
    (row,) = influxdb.series('SELECT * FROM "tms_pulse"', db=DB)
    for k, v in odd.items():
        assert row[k] == v
    assert row['we"ird, k=ey'] == 'v "quoted" \\ back\nslash'
    assert json.dumps(row)  # plain JSON types


def test_cli_sync_with_bench_file(influxdb, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benches" / "example-lab.toml"
    influxdb.create_database("tmsbench")  # the database the example bench names
    monkeypatch.setenv("TMSBENCH_INFLUX_TOKEN", "user:pw-ignored-without-auth")
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.append_measurements(meas(i) for i in range(3))
    args = ["--bench", str(bench), "--journal", str(path), "--influx-url", influxdb.url]
    assert commands.main(["sync", *args]) == 0
    assert influxdb.count("tms_measurement", "value", db="tmsbench") == 3
    assert commands.main(["status", *args]) == 0
    assert "pw-ignored" not in capsys.readouterr().out
