"""Writing line protocol to a sink: the v1 ``/write`` and v2 ``/api/v2/write`` APIs.

Both writers take one body of newline-separated lines and return a
:class:`WriteResult` instead of raising, so the forwarder decides what to do:

============  ===================================================  =====================
outcome       when                                                 forwarder does
============  ===================================================  =====================
OK            2xx                                                  mark the batch sent
RETRY         5xx, 429, 408, connection error, timeout, TLS error  back off, send again
BAD_POINTS    other 4xx (parse error, field type conflict, ...)    bisect, quarantine
TOO_LARGE     413                                                  split the batch
FATAL         401/403 (credentials), 404 (no such database or      stop with the message
              bucket), missing token variable
============  ===================================================  =====================

API detection (``api="auto"``): ``GET /ping``. InfluxDB answers 204 with
``X-Influxdb-Version``: ``1.x`` → v1 ``/write`` (works on every 1.x,
including 1.8 which also has the v2 endpoint); ``2.x``/``3.x`` → v2.
VictoriaMetrics answers 204 *without* that header (it adds it only on write
responses) and accepts ``/api/v2/write``, so a 2xx ``/ping`` without a
version header → v2.

Messages never contain the token: they are built from the status line and the
server's error text, then passed through :func:`credentials.redact`.
"""

from __future__ import annotations

import enum
import json
import ssl
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3

from harness.record.credentials import Secret, guard_library_loggers, redact

Api = Literal["v1", "v2"]

#: Longest server message kept (characters).
MAX_MESSAGE = 500


class Outcome(enum.Enum):
    """What a write attempt means for the forwarder."""

    OK = "ok"
    RETRY = "retry"
    BAD_POINTS = "bad_points"
    TOO_LARGE = "too_large"
    FATAL = "fatal"


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write; ``message`` is redacted, ``retry_after_s`` from the server."""

    outcome: Outcome
    status: int | None = None
    message: str = ""
    retry_after_s: float | None = None


OK = WriteResult(Outcome.OK, 204)


class LineWriter(Protocol):
    """Something that writes a line-protocol body to one sink."""

    api: Api

    def write(self, body: bytes) -> WriteResult:
        """Send ``body`` (lines separated by ``\\n``, ns timestamps)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def sink_key(url: str, target: str) -> str:
    """Stable identity of a sink for the journal: URL without credentials + target."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return f"{clean}#{target}"


def _server_message(body: bytes | str | None) -> str:
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            text = str(doc.get("error") or doc.get("message") or text)
    except ValueError:
        pass
    return text.strip()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def classify(
    status: int, body: bytes | str | None, retry_after: str | None, secret: Secret | None
) -> WriteResult:
    """Map an HTTP answer to a :class:`WriteResult`."""
    msg = redact(_server_message(body), secret)[:MAX_MESSAGE]  # redact first, then cut
    if 200 <= status < 300:
        return WriteResult(Outcome.OK, status)
    text = f"HTTP {status}: {msg}" if msg else f"HTTP {status}"
    if status in (401, 403):
        return WriteResult(
            Outcome.FATAL, status, f"{text} — the server refused the credentials (token_env)"
        )
    if status == 404:
        return WriteResult(Outcome.FATAL, status, f"{text} — database/bucket or endpoint not found")
    if status == 413:
        return WriteResult(Outcome.TOO_LARGE, status, text)
    if status in (408, 429) or status >= 500:
        return WriteResult(Outcome.RETRY, status, text, _retry_after(retry_after))
    return WriteResult(Outcome.BAD_POINTS, status, text)


def _connection_error(exc: BaseException, secret: Secret | None) -> WriteResult:
    reason = getattr(exc, "reason", None) or exc
    return WriteResult(
        Outcome.RETRY, None, redact(f"{type(exc).__name__}: {reason}", secret)[:MAX_MESSAGE]
    )


def _pool(verify_tls: bool, timeout_s: float) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        cert_reqs=ssl.CERT_REQUIRED if verify_tls else ssl.CERT_NONE,
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        retries=False,
        maxsize=2,
    )


def detect_api(url: str, *, verify_tls: bool = True, timeout_s: float = 5.0) -> Api:
    """Which write API the server at ``url`` speaks (see module notes).

    Raises ``ConnectionError`` when the server cannot be reached or ``/ping``
    is not 2xx (the forwarder retries later).
    """
    http = _pool(verify_tls, timeout_s)
    try:
        resp = http.request("GET", url.rstrip("/") + "/ping")
    except urllib3.exceptions.HTTPError as exc:
        where = sink_key(url, "").rstrip("#")
        reason = getattr(exc, "reason", None) or exc
        raise ConnectionError(f"cannot reach {where}: {reason}") from None
    finally:
        http.clear()
    if not 200 <= resp.status < 300:
        raise ConnectionError(f"/ping answered HTTP {resp.status}")
    version = (resp.headers.get("X-Influxdb-Version") or "").lstrip("vV")
    if version.startswith("1."):
        return "v1"
    return "v2"


class V1Writer:
    """InfluxDB 1.x ``POST /write?db=&rp=&precision=ns`` over urllib3.

    ``token`` is ``"user:password"`` sent as HTTP Basic auth (never in the URL).
    """

    api: Api = "v1"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        token: Secret | None = None,
        verify_tls: bool = True,
        timeout_s: float = 5.0,
    ) -> None:
        query = {"db": database, "precision": "ns"}
        if retention_policy:
            query["rp"] = retention_policy
        self._url = url.rstrip("/") + "/write?" + urlencode(query)
        self._secret = token
        if token is not None:
            guard_library_loggers(token)
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token is not None:
            user, _, password = token.reveal().partition(":")
            self._headers.update(urllib3.make_headers(basic_auth=f"{user}:{password}"))
        self._http = _pool(verify_tls, timeout_s)

    def __repr__(self) -> str:
        return f"V1Writer({self._url.split('?')[0]!r})"

    def write(self, body: bytes) -> WriteResult:
        """POST one body; never raises for HTTP or network trouble."""
        try:
            resp = self._http.request(
                "POST", self._url, body=body, headers=self._headers, preload_content=True
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return _connection_error(exc, self._secret)
        if resp.status == 204:
            return OK
        return classify(resp.status, resp.data, resp.headers.get("Retry-After"), self._secret)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.clear()


class V2Writer:
    """``POST /api/v2/write`` through ``influxdb-client`` (synchronous, no retries).

    For InfluxDB 2.x/3.x the token is an API token; for InfluxDB 1.8+ it is
    ``user:password`` and ``bucket`` is ``database/retention_policy``.
    VictoriaMetrics accepts any org/bucket.
    """

    api: Api = "v2"

    def __init__(
        self,
        url: str,
        bucket: str,
        org: str,
        *,
        token: Secret | None = None,
        verify_tls: bool = True,
        timeout_s: float = 5.0,
    ) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._url = url.rstrip("/")
        self._bucket = bucket
        self._org = org
        self._secret = token
        if token is not None:
            guard_library_loggers(token)
        self._client = InfluxDBClient(
            url=self._url,
            token=token.reveal() if token is not None else None,  # type: ignore[arg-type]
            org=org,
            timeout=int(timeout_s * 1000),
            verify_ssl=verify_tls,
            retries=False,
            enable_gzip=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def __repr__(self) -> str:
        return f"V2Writer({self._url!r}, bucket={self._bucket!r})"

    def write(self, body: bytes) -> WriteResult:
        """Write one body; never raises for HTTP or network trouble."""
        from influxdb_client.client.write.point import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._api.write(
                bucket=self._bucket,
                org=self._org,
                record=body,
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str constant
            )
        except ApiException as exc:
            headers: dict[str, str] = dict(exc.headers or {})
            return classify(
                int(exc.status or 0) or 599, exc.body, headers.get("Retry-After"), self._secret
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return _connection_error(exc, self._secret)
        return OK

    def close(self) -> None:
        """Close the client."""
        self._client.close()
