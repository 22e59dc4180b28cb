"""From an ``[sinks.influxdb]`` configuration to a connected :class:`LineWriter`.

Works with ``harness.config.InfluxSink`` or any object with the same attributes
(url, api, database, retention_policy, org, bucket, token_env, verify_tls,
timeout_s, batch_size).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from harness.record.credentials import load_secret
from harness.record.transport import Api, LineWriter, V1Writer, V2Writer, detect_api, sink_key


class InfluxSinkLike(Protocol):
    """Shape of ``harness.config.InfluxSink``."""

    url: str
    api: Literal["auto", "v1", "v2"]
    database: str | None
    retention_policy: str | None
    org: str | None
    bucket: str | None
    token_env: str | None
    verify_tls: bool
    timeout_s: float
    batch_size: int
    pulse_retention_policy: str | None
    rollup: bool


@dataclass
class InfluxTarget:
    """Plain stand-in for ``harness.config.InfluxSink`` (CLI flags, tests, benchmarks)."""

    url: str
    api: Literal["auto", "v1", "v2"] = "auto"
    database: str | None = None
    retention_policy: str | None = None
    org: str | None = None
    bucket: str | None = None
    token_env: str | None = None
    verify_tls: bool = True
    timeout_s: float = 5.0
    batch_size: int = 5000
    pulse_retention_policy: str | None = None
    rollup: bool = True


def pulse_sink(sink: Any) -> Any | None:
    """The sink the raw pulse points go to when they have their own retention policy
    (v1, or a 1.8+ server through the v2 API's ``database/rp`` bucket); ``None``: they go
    with the rest."""
    rp = getattr(sink, "pulse_retention_policy", None)
    if not rp:
        return None
    if hasattr(sink, "model_copy"):  # harness.config.InfluxSink (pydantic)
        return sink.model_copy(update={"retention_policy": rp})
    return dataclasses.replace(sink, retention_policy=rp)


class SinkConfigError(ValueError):
    """The sink configuration cannot work (missing database/bucket, ...)."""


def target_name(sink: Any) -> str:
    """``db[/rp]`` for v1, ``org/bucket`` for v2 (what the sink key is made of)."""
    db = sink.database
    if db:
        return f"{db}/{sink.retention_policy}" if sink.retention_policy else db
    if sink.bucket:
        return f"{sink.org or '-'}/{sink.bucket}"
    raise SinkConfigError("[sinks.influxdb] needs `database` (v1) or `bucket` (v2)")


def check_url(url: str) -> str:
    """``url`` if it is an ``http(s)://host[:port]`` URL; else :class:`SinkConfigError`."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise SinkConfigError(f"InfluxDB url {url!r} is not an http(s)://host[:port] URL")
    return url


def key_of(sink: Any) -> str:
    """Journal key of ``sink`` (forwarding state is kept per key)."""
    return sink_key(check_url(sink.url), target_name(sink))


def resolve_api(sink: Any) -> Api:
    """``sink.api`` or, for ``"auto"``, what ``/ping`` says (may raise ConnectionError)."""
    if sink.api in ("v1", "v2"):
        return sink.api
    return detect_api(sink.url, verify_tls=sink.verify_tls, timeout_s=sink.timeout_s)


def make_writer(sink: Any, api: Api, environ: Mapping[str, str] | None = None) -> LineWriter:
    """Writer for ``sink`` speaking ``api``; the token is read from ``sink.token_env``."""
    token = load_secret(sink.token_env, os.environ if environ is None else environ)
    if api == "v1":
        if not sink.database:
            raise SinkConfigError("the v1 API needs [sinks.influxdb] database")
        return V1Writer(
            sink.url,
            sink.database,
            retention_policy=sink.retention_policy,
            token=token,
            verify_tls=sink.verify_tls,
            timeout_s=sink.timeout_s,
        )
    bucket = sink.bucket
    if not bucket:
        if not sink.database:
            raise SinkConfigError("the v2 API needs [sinks.influxdb] bucket (or database)")
        # InfluxDB 1.8+ v2 compatibility: bucket = "database/retention_policy".
        bucket = (
            f"{sink.database}/{sink.retention_policy}" if sink.retention_policy else sink.database
        )
    return V2Writer(
        sink.url,
        bucket,
        sink.org or "-",
        token=token,
        verify_tls=sink.verify_tls,
        timeout_s=sink.timeout_s,
    )
