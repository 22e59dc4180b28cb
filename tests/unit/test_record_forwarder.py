"""Forwarder logic against an in-memory fake sink (no network)."""

from __future__ import annotations

import logging
import threading

import pytest

from harness.limits import Limits, Measurement
from harness.record.credentials import Secret, redact
from harness.record.forwarder import Backoff, Forwarder
from harness.record.journal import Journal
from harness.record.lineprotocol import parse_line
from harness.record.sinks import InfluxTarget
from harness.record.transport import OK, Outcome, WriteResult, classify

FAST = Backoff(initial_s=0.001, max_s=0.01)


class FakeSink:
    """Stores points by (series, ts) like InfluxDB; scripted failures."""

    api = "v1"

    def __init__(self) -> None:
        self.points: dict[tuple, dict] = {}
        self.writes = 0
        self.fail_next: list[WriteResult] = []
        self.lose_acks = 0
        self.lock = threading.Lock()

    def write(self, body: bytes) -> WriteResult:
        with self.lock:
            self.writes += 1
            if self.fail_next:
                return self.fail_next.pop(0)
            lines = body.decode().split("\n")
            if any("POISON" in ln for ln in lines):
                good = [ln for ln in lines if "POISON" not in ln]
                self._store(good)  # InfluxDB 1.x writes the good ones ("partial write")
                return WriteResult(Outcome.BAD_POINTS, 400, "HTTP 400: partial write: POISON")
            self._store(lines)
            if self.lose_acks:
                self.lose_acks -= 1
                return WriteResult(Outcome.RETRY, None, "ReadTimeoutError: ack lost")
            return OK

    def _store(self, lines: list[str]) -> None:
        for ln in lines:
            name, tags, fields, ts = parse_line(ln)
            self.points[(name, tuple(sorted(tags.items())), ts)] = fields

    def close(self) -> None:
        pass


def meas(i: int, t: int | None = None, note: str = "") -> Measurement:
    return Measurement.check(
        "peak",
        90.0 + i,
        "A/us",
        Limits(80, 100),
        tags={"station": "s1"},
        run_id="r1",
        test_id="t::a",
        time_ns=1_000 + i if t is None else t,
        extra={"note": note} if note else {},
    )


@pytest.fixture
def setup(tmp_path):
    j = Journal(tmp_path / "j.sqlite", synchronous="NORMAL")
    sink = FakeSink()
    fwd = Forwarder(
        j.path,
        InfluxTarget(url="http://sink.invalid:8086", api="v1", database="tms"),
        writer_factory=lambda s, api: sink,
        batch_size=16,
        backoff=FAST,
        poll_interval_s=0.01,
        seed=1,
    )
    yield j, sink, fwd
    fwd.close()
    j.close()


def test_sync_sends_everything_in_batches(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i) for i in range(100))
    res = fwd.sync(timeout_s=10)
    assert (res.sent, res.quarantined, res.pending, res.ok) == (100, 0, 0, True)
    assert len(sink.points) == 100 and sink.writes == 7
    st = fwd.status()
    assert (st.pending, st.sent, st.quarantined) == (0, 100, 0)
    assert fwd.sync(timeout_s=1).sent == 0  # nothing left


def test_same_time_same_series_not_collapsed(setup):
    j, sink, fwd = setup
    j.append_measurements([meas(1, t=5), meas(1, t=5), meas(1, t=5)])
    fwd.sync(timeout_s=5)
    assert len(sink.points) == 3


def test_retries_on_server_errors_without_raising(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i) for i in range(20))
    sink.fail_next = [WriteResult(Outcome.RETRY, 503, "HTTP 503")] * 5
    res = fwd.sync(timeout_s=10)
    assert res.ok and res.sent == 20 and len(sink.points) == 20


def test_sync_gives_up_at_deadline_and_reports_pending(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i) for i in range(20))
    sink.fail_next = [WriteResult(Outcome.RETRY, None, "ConnectionRefused")] * 10_000
    res = fwd.sync(timeout_s=0.2)
    assert not res.ok and res.pending == 20 and "ConnectionRefused" in (res.error or "")
    assert fwd.status().last_error == "ConnectionRefused"


def test_lost_ack_resend_overwrites_instead_of_duplicating(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i) for i in range(40))
    sink.lose_acks = 2
    res = fwd.sync(timeout_s=10)
    assert res.ok and len(sink.points) == 40 and sink.writes == 5


def test_bad_point_is_quarantined_and_the_rest_flows(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i, note="POISON" if i in (7, 30) else "") for i in range(40))
    res = fwd.sync(timeout_s=10)
    assert (res.sent, res.quarantined, res.ok) == (38, 2, True)
    st = fwd.status()
    assert [q.point_id for q in st.quarantine] == [8, 31]
    assert all("POISON" in q.message for q in st.quarantine)
    assert len(sink.points) == 38


def test_auth_failure_stops_with_clear_error(setup):
    j, sink, fwd = setup
    j.append_measurements(meas(i) for i in range(5))
    sink.fail_next = [classify(401, b'{"error":"authorization failed"}', None, None)]
    res = fwd.sync(timeout_s=10)
    assert res.fatal and not res.ok and res.pending == 5 and sink.writes == 1
    assert "401" in res.error and "credentials" in res.error


def test_background_thread_forwards_and_stop_flushes(setup):
    j, sink, fwd = setup
    fwd.start()
    for i in range(10):
        j.append_measurements(meas(i * 10 + k) for k in range(10))
        fwd.notify()
    assert fwd.stop(flush_timeout=10) is True
    assert len(sink.points) == 100


def test_background_never_raises_while_sink_is_down(setup, caplog):
    j, sink, fwd = setup
    sink.fail_next = [WriteResult(Outcome.RETRY, None, "down")] * 10_000
    fwd.start()
    j.append_measurements(meas(i) for i in range(10))
    assert fwd.stop(flush_timeout=0.1) is False
    assert fwd.status().pending == 10
    sink.fail_next.clear()
    assert fwd.sync(timeout_s=5).ok


def test_missing_token_env_is_fatal_and_names_only_the_variable(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.append_measurement(meas(1))
    fwd = Forwarder(
        j.path,
        InfluxTarget(url="http://127.0.0.1:9", api="v1", database="x", token_env="TMS_NO_SUCH"),
        environ={},
    )
    res = fwd.sync(timeout_s=5)
    assert res.fatal and "TMS_NO_SUCH" in res.error
    j.close()


def test_secret_is_never_printed_and_redacted(caplog):
    s = Secret("user:hunter2-very-secret")
    assert "hunter2" not in repr(s) + str(s) + f"{s}" + f"{s!r}"
    text = "echo user:hunter2-very-secret dXNlcjpodW50ZXIyLXZlcnktc2VjcmV0 hunter2-very-secret"
    assert "hunter2" not in redact(text, s) and "dXNlcjpodW50" not in redact(text, s)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)
    logging.getLogger("x").warning("token %s", s)
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (204, Outcome.OK),
        (400, Outcome.BAD_POINTS),
        (422, Outcome.BAD_POINTS),
        (401, Outcome.FATAL),
        (403, Outcome.FATAL),
        (404, Outcome.FATAL),
        (413, Outcome.TOO_LARGE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_classify(status, outcome):
    assert classify(status, b'{"error":"x"}', "2", None).outcome is outcome


def test_backoff_grows_with_jitter_and_is_capped():
    import random

    b = Backoff(initial_s=1.0, max_s=8.0)
    rng = random.Random(0)
    for attempt, cap in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 8.0)]:
        d = b.delay(attempt, rng)
        assert cap / 2 <= d <= cap


def test_library_loggers_are_redacted_even_at_debug(caplog):
    from harness.record.credentials import guard_library_loggers

    s = Secret("tok-abcdef0123456789")
    guard_library_loggers(s)
    with caplog.at_level(logging.DEBUG):
        http = logging.getLogger("influxdb_client.client.http")
        http.debug("Authorization: Token %s", s.reveal())
        try:
            raise ValueError("body echoes tok-abcdef0123456789")
        except ValueError:
            logging.getLogger("urllib3.connectionpool").exception("request failed")
    assert "Authorization: Token ***" in caplog.text
    assert "tok-abcdef" not in caplog.text and "body echoes ***" in caplog.text


def test_every_wire_form_is_redacted():
    import base64
    from urllib.parse import quote

    token = Secret("only/a+token=123")  # a 1.x token without user: Basic of "token:"
    basic = base64.b64encode(b"only/a+token=123:").decode()
    text = f"Basic {basic} Token only/a+token=123 q={quote('only/a+token=123', safe='')}"
    assert redact(text, token) == "Basic *** Token *** q=***"
    url_b64 = quote(basic, safe="")
    assert redact(url_b64, token) == "***"
