"""influxdb-client v2 writes accepted by VictoriaMetrics; API auto-detection."""

from __future__ import annotations

import logging

import pytest

from harness.limits import Limits, Measurement
from harness.record.forwarder import Forwarder
from harness.record.journal import Journal
from harness.record.sinks import InfluxTarget, resolve_api
from harness.record.transport import detect_api

try:
    from . import conftest_servers as _servers
except ImportError:
    import conftest_servers as _servers  # type: ignore[no-redef]

influxdb = _servers.influxdb
victoria_metrics = _servers.victoria_metrics

pytestmark = pytest.mark.integration

T0 = 1_790_000_000_000_000_000  # ms-aligned so VictoriaMetrics' ms timestamps compare exactly


def test_api_detection(influxdb, victoria_metrics):
    assert detect_api(influxdb.url) == "v1"  # X-Influxdb-Version: 1.6.7~rc0
    assert detect_api(victoria_metrics.url) == "v2"  # 204 without a version header
    assert resolve_api(InfluxTarget(url=influxdb.url, api="v2")) == "v2"


def test_v2_writes_arrive_in_victoria_metrics(victoria_metrics, tmp_path, monkeypatch, caplog):
    token = "vm-token-Zq8xW2-never-logged"
    monkeypatch.setenv("TMS_VM_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    with Journal(tmp_path / "j.sqlite") as j:
        j.append_measurements(
            Measurement.check(
                "peak_didt",
                90.0 + i / 8,
                "A/us",
                Limits(80.0, 100.0),
                tags={"station": "lab-3", "stimulator_serial": "SN1"},
                run_id="r1",
                test_id="t::a",
                time_ns=T0 + i * 1_000_000,
            )
            for i in range(50)
        )
    target = InfluxTarget(
        url=victoria_metrics.url, org="tms", bucket="tms", token_env="TMS_VM_TOKEN"
    )
    fwd = Forwarder(tmp_path / "j.sqlite", target)
    res = fwd.sync(timeout_s=30)
    assert res.ok and res.sent == 50
    assert fwd._writer is not None and fwd._writer.api == "v2"  # auto-detected

    (series,) = victoria_metrics.export('{__name__="tms_measurement_value"}')
    labels = series["metric"]
    assert labels["station"] == "lab-3" and labels["stimulator_serial"] == "SN1"
    assert labels["name"] == "peak_didt" and labels["verdict"] == "pass"
    assert "run_id" not in labels  # a field, not a label
    assert series["values"] == [90.0 + i / 8 for i in range(50)]
    assert series["timestamps"] == [(T0 + i * 1_000_000) // 1_000_000 for i in range(50)]
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite*"))
    assert token.encode() not in blob and token not in caplog.text
