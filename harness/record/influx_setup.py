"""InfluxDB 1.x database layout for tmsbench: retention policies and shard durations.

``tmsbench influx-setup`` makes (or brings to) this layout; facts from the InfluxDB 1.x
documentation ("Database management": ``CREATE RETENTION POLICY … DURATION … REPLICATION
… SHARD DURATION … DEFAULT``; "Shard group duration management": a shard group's duration
should cover the time range queries usually read, and a query pays per shard group it
touches; a change of shard duration applies to shard groups created after it):

- **records** (the sink's ``retention_policy``, else ``autogen``): verdicts, calibrations,
  runs, tests, audit, trains, temperatures and the hourly pulse rollup. Kept forever
  (``DURATION INF``), in 52-week shard groups: a station writes a few thousand points a
  day, and a dashboard over a year then reads one or two shard groups instead of 52
  (``benchmarks/fleet.py``: the slowest panel over a year of a 200-device fleet went from
  2.1 s to 0.07 s with the same data).
- **pulses** (the sink's ``pulse_retention_policy``): the raw ``tms_pulse`` points, kept
  ``pulse_days`` (default 90) in 1-day shard groups (the documentation's advice for
  retention periods between 2 days and 6 months), then dropped by influxd; the rollup
  and the journal keep the history.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from harness.record.credentials import load_secret

RECORDS_SHARD = "52w"
PULSES_SHARD = "1d"
DEFAULT_PULSE_DAYS = 90


@dataclass(frozen=True)
class Policy:
    """One retention policy as tmsbench wants it."""

    name: str
    duration: str  # InfluxQL duration literal, e.g. "INF", "90d"
    shard: str
    default: bool = False

    def clause(self) -> str:
        """``DURATION … REPLICATION 1 SHARD DURATION … [DEFAULT]``."""
        tail = " DEFAULT" if self.default else ""
        return f"DURATION {self.duration} REPLICATION 1 SHARD DURATION {self.shard}{tail}"


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def policies(sink: Any, pulse_days: int = DEFAULT_PULSE_DAYS) -> list[Policy]:
    """The retention policies of ``sink`` (records first)."""
    out = [Policy(sink.retention_policy or "autogen", "INF", RECORDS_SHARD, default=True)]
    rp = getattr(sink, "pulse_retention_policy", None)
    if rp:
        out.append(Policy(rp, f"{int(pulse_days)}d", PULSES_SHARD))
    return out


class InfluxQLError(RuntimeError):
    """The server refused a statement (the message names it)."""


def _post(sink: Any, statement: str, environ: Mapping[str, str]) -> dict[str, Any]:
    import urllib3

    secret = load_secret(sink.token_env, environ)
    token = secret.reveal() if secret is not None else ""
    headers: dict[str, str] = {}
    if token:  # 1.x "user:password" as HTTP Basic, any other as a v1-compatible token
        if ":" in token:
            headers.update(urllib3.make_headers(basic_auth=token))
        else:
            headers["Authorization"] = f"Token {token}"
    http = urllib3.PoolManager(
        cert_reqs=ssl.CERT_REQUIRED if sink.verify_tls else ssl.CERT_NONE,
        timeout=urllib3.Timeout(connect=sink.timeout_s, read=sink.timeout_s), retries=False)
    try:
        resp = http.request("POST", sink.url.rstrip("/") + "/query",
                            body=urlencode({"q": statement}),
                            headers={**headers,
                                     "Content-Type": "application/x-www-form-urlencoded"})
    finally:
        http.clear()
    try:
        answer = json.loads(resp.data)
    except ValueError:
        answer = {}
    error = answer.get("error") or next(
        (r["error"] for r in answer.get("results", []) if "error" in r), None)
    if resp.status != 200 or error:
        raise InfluxQLError(f"{statement}: HTTP {resp.status}: {error or resp.data[:200]!r}")
    return answer


def setup(sink: Any, *, pulse_days: int = DEFAULT_PULSE_DAYS,
          environ: Mapping[str, str] | None = None) -> list[str]:
    """Create the sink's database and bring its retention policies to :func:`policies`;
    the statements run, in order. Idempotent."""
    import os

    env = os.environ if environ is None else environ
    db = sink.database
    if not db:
        raise InfluxQLError("[sinks.influxdb] database is not set (influx-setup is for 1.x)")
    done = [f"CREATE DATABASE {_ident(db)}"]
    _post(sink, done[0], env)
    for p in policies(sink, pulse_days):
        create = f"CREATE RETENTION POLICY {_ident(p.name)} ON {_ident(db)} {p.clause()}"
        try:
            _post(sink, create, env)
            done.append(create)
        except InfluxQLError as exc:
            if "already exists" not in str(exc):
                raise
            alter = f"ALTER RETENTION POLICY {_ident(p.name)} ON {_ident(db)} {p.clause()}"
            _post(sink, alter, env)
            done.append(alter)
    return done
