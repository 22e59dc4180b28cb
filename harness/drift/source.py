"""Calibration history per device, read back from the journal or from InfluxDB.

Each calibration check records the measurements ``calibration reference
output`` (A/µs at the spec's reference intensity, with its nominal and
tolerance limits) and ``calibration slope`` (A/µs per %MSO), tagged with the
stimulator serial (see :mod:`harness.calibration`). Those two series are the
history; the bounded context tags of the latest output check
(:data:`HISTORY_TAG_KEYS`: station, stimulator model, coil serial) come with it,
so that what ``tmsbench drift --record`` writes carries the same tags.
InfluxDB is read with InfluxQL (``/query``), which InfluxDB 1.x, 2.x (v1
compatibility + DBRP) and 3.x answer.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from harness.drift.trend import days_from_ns

OUTPUT_NAME = "calibration reference output"
SLOPE_NAME = "calibration slope"

#: Context tags a history keeps (besides the stimulator serial it is grouped by):
#: bounded, and the ones the dashboards' variables filter on.
HISTORY_TAG_KEYS: tuple[str, ...] = ("station", "stimulator_model", "coil_serial")


@dataclass(frozen=True, eq=False)
class CalibrationHistory:
    """One device's calibration checks, oldest first (times in Unix ns)."""

    serial: str
    time_ns: np.ndarray  # of the reference-output checks
    output_A_per_us: np.ndarray
    expected_A_per_us: float  # nominal of the latest check
    low_A_per_us: float  # tolerance band of the latest check
    high_A_per_us: float
    slope_time_ns: np.ndarray
    slope_A_per_us_per_pct: np.ndarray
    expected_slope_A_per_us_per_pct: float | None = None
    #: :data:`HISTORY_TAG_KEYS` of the latest output check (keys it lacks are left out)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def t_days(self) -> np.ndarray:
        """Check times as days since the Unix epoch."""
        return days_from_ns(self.time_ns)

    @property
    def slope_t_days(self) -> np.ndarray:
        """Calibration-slope check times as days since the Unix epoch."""
        return days_from_ns(self.slope_time_ns)


def _num(v: Any) -> float:
    return float(v) if v is not None else math.nan


def histories_from_points(points: Iterable[Mapping[str, Any]]) -> list[CalibrationHistory]:
    """Histories from flat points (keys: ``time_ns, name, stimulator_serial, value``,
    optional ``nominal, low, high`` and :data:`HISTORY_TAG_KEYS`), one per serial,
    sorted by serial."""
    out: dict[str, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    slopes: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    latest_tags: dict[str, tuple[int, dict[str, str]]] = {}
    for p in points:
        serial = p.get("stimulator_serial")
        value = p.get("value")
        if not serial or value is None:
            continue
        row_t = int(p["time_ns"])
        if p.get("name") == OUTPUT_NAME:
            out[serial].append(
                (row_t, float(value), _num(p.get("nominal")), _num(p.get("low")),
                 _num(p.get("high")))
            )
            if serial not in latest_tags or row_t >= latest_tags[serial][0]:
                latest_tags[serial] = (
                    row_t, {k: str(p[k]) for k in HISTORY_TAG_KEYS if p.get(k) not in (None, "")}
                )
        elif p.get("name") == SLOPE_NAME:
            slopes[serial].append((row_t, float(value), _num(p.get("nominal"))))
    histories = []
    for serial in sorted(out):
        rows = sorted(out[serial])
        srows = sorted(slopes.get(serial, []))
        last = rows[-1]
        histories.append(
            CalibrationHistory(
                serial=serial,
                time_ns=np.array([r[0] for r in rows], dtype=np.int64),
                output_A_per_us=np.array([r[1] for r in rows]),
                expected_A_per_us=last[2],
                low_A_per_us=last[3] if math.isfinite(last[3]) else -math.inf,
                high_A_per_us=last[4] if math.isfinite(last[4]) else math.inf,
                slope_time_ns=np.array([r[0] for r in srows], dtype=np.int64),
                slope_A_per_us_per_pct=np.array([r[1] for r in srows]),
                expected_slope_A_per_us_per_pct=(
                    srows[-1][2] if srows and math.isfinite(srows[-1][2]) else None
                ),
                tags=latest_tags[serial][1],
            )
        )
    return histories


def histories_from_journal(path: str | Path, serial: str | None = None) -> list[CalibrationHistory]:
    """Calibration histories in the journal at ``path`` (one serial or all)."""
    return [
        h
        for h in histories_from_points(_history_points(path, serial))
        if serial is None or h.serial == serial
    ]


def _history_points(path: str | Path, serial: str | None) -> Iterable[dict[str, Any]]:
    """The two calibration series straight from the journal, streamed: the filter runs
    in SQLite (on the few tag sets), each tag set is parsed once, and only the columns
    a history needs are read (no per-row JSON of extra fields, no ISO times)."""
    from harness.record.archive import connect_reader
    from harness.record.schema import migrate

    db = connect_reader(path, check=False)
    try:
        migrate(db)
        wanted: dict[int, dict[str, str]] = {}
        for tid, text in db.execute("SELECT id, tags FROM tagsets"):
            tags = json.loads(text)
            if tags.get("name") not in (OUTPUT_NAME, SLOPE_NAME):
                continue
            if serial is not None and serial not in (
                tags.get("stimulator_serial"), tags.get("coil_serial")
            ):
                continue
            wanted[int(tid)] = tags
        if not wanted:
            return
        marks = ",".join("?" * len(wanted))
        rows = db.execute(
            "SELECT tagset, time_ns, value, nominal, low, high FROM points"
            f" WHERE kind = 'measurement' AND tagset IN ({marks}) ORDER BY id",
            list(wanted),
        )
        for tid, time_ns, value, nominal, low, high in rows:
            yield {
                **wanted[tid],
                "time_ns": time_ns,
                "value": value,
                "nominal": nominal,
                "low": low,
                "high": high,
            }
    finally:
        db.close()


def _quote(text: str) -> str:
    """InfluxQL single-quoted string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def influxql(serial: str | None = None) -> str:
    """The InfluxQL query for the calibration history (one serial or all).

    The context tags (:data:`HISTORY_TAG_KEYS`) are selected as columns, not
    grouped by, so a device whose coil or station changed keeps one history.
    """
    where = f'("name" = {_quote(OUTPUT_NAME)} OR "name" = {_quote(SLOPE_NAME)})'
    if serial:
        where += f' AND "stimulator_serial" = {_quote(serial)}'
    tags = "".join(f', "{k}"' for k in HISTORY_TAG_KEYS)
    return (
        f'SELECT "value", "nominal", "low", "high"{tags} FROM "tms_measurement" '
        f'WHERE {where} GROUP BY "stimulator_serial", "name"'
    )


def points_from_influx_json(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flat points from an InfluxQL JSON answer (``epoch=ns``, grouped by serial and name)."""
    points: list[dict[str, Any]] = []
    for result in answer.get("results", []):
        if "error" in result:
            raise RuntimeError(f"InfluxDB: {result['error']}")
        for series in result.get("series", []) or []:
            tags = series.get("tags", {})
            cols = series["columns"]
            for values in series.get("values", []):
                rec = dict(zip(cols, values, strict=True))
                points.append({**tags, **rec, "time_ns": int(rec["time"])})
    return points


def histories_from_influx(
    url: str,
    database: str,
    *,
    serial: str | None = None,
    token: str | None = None,
    retention_policy: str | None = None,
    verify_tls: bool = True,
    timeout_s: float = 10.0,
) -> list[CalibrationHistory]:
    """Calibration histories from InfluxDB via InfluxQL ``GET /query``.

    ``token`` ``"user:password"`` is sent as HTTP Basic auth (1.x), any other
    token as ``Authorization: Token`` (2.x v1 compatibility).
    """
    import ssl

    import urllib3

    params = {"db": database, "q": influxql(serial), "epoch": "ns"}
    if retention_policy:
        params["rp"] = retention_policy
    headers: dict[str, str] = {}
    if token:
        if ":" in token:
            headers.update(urllib3.make_headers(basic_auth=token))
        else:
            headers["Authorization"] = f"Token {token}"
    http = urllib3.PoolManager(
        cert_reqs=ssl.CERT_REQUIRED if verify_tls else ssl.CERT_NONE,
        timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
        retries=False,
    )
    try:
        resp = http.request("GET", url.rstrip("/") + "/query?" + urlencode(params), headers=headers)
    finally:
        http.clear()
    if resp.status != 200:
        raise RuntimeError(f"InfluxDB /query answered HTTP {resp.status}: {resp.data[:200]!r}")
    return histories_from_points(points_from_influx_json(json.loads(resp.data)))
