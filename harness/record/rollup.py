"""The hourly pulse rollup the forwarder writes beside the raw pulses (``tms_pulse_1h``).

Dashboards over months read one point per device, test and hour instead of every pulse,
and the rollup stays after the raw pulses' retention policy has dropped them (README,
"Retention and rollup"). It is written by the forwarder rather than by an InfluxDB 1.x
continuous query because a continuous query only covers the intervals it runs in: it
would miss pulses forwarded late (a station that was offline, `demo-history`'s simulated
months, `sync` after an outage) and it does not exist on InfluxDB 2.x/3.x or
VictoriaMetrics, which take the same lines.

Each forwarded batch names the (device, test, hour) cells its pulse rows fall in; each
cell is recomputed **from the journal** over the whole hour and written with the hour's
start as its timestamp. A later batch with more pulses of the same hour rewrites the
point, so the rollup is exact whatever the batch boundaries, and a re-sent batch writes
the same point again.

A cell: the row's context tags and ``test`` (not ``verdict``: one point counts every
verdict), fields ``pulses`` and ``failed`` (pulses judged fail or invalid) and, for
each metric in :data:`METRICS`, its mean (the metric's own name), ``<name>_sum`` and
``<name>_count`` (so a dashboard's mean over several hours weighs every pulse alike),
``<name>_min`` and ``<name>_max``. Numbers are floats, as in ``tms_pulse``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable

from harness.record.lineprotocol import escape_measurement, format_tags

MEASUREMENT = "tms_pulse_1h"
HOUR_NS = 3_600 * 1_000_000_000
#: The pulse metrics rolled up (field names of ``tms_pulse``).
METRICS = (
    "peak_didt_A_per_us",
    "peak_current_A",
    "efield_V_per_m",
    "period_us",
    "phase_ratio",
    "template_correlation",
    "energy_J",
)
_FAILED = ("fail", "invalid")

_AGG = ", ".join(
    f"sum({x}), count({x}), min({x}), max({x})"
    for x in (f"json_extract(data, '$.{m}')" for m in METRICS)
)
_CELL = (
    f"SELECT tagset, count(*), {_AGG} FROM points"
    " WHERE ts BETWEEN ? AND ? AND kind = 'pulse' AND tagset IN ({ids}) GROUP BY tagset"
)


class Rollup:
    """Computes rollup lines from the journal on ``db`` (a reading connection).

    ``tagset_json(id)`` gives a tag set's JSON (as the encoder's lookup does).
    """

    def __init__(self, db: sqlite3.Connection, tagset_json: Callable[[int], str]) -> None:
        self._db = db
        self._tags = tagset_json
        self._cell_of: dict[int, tuple[tuple[str, str], ...]] = {}  # tagset → cell tags
        self._verdict: dict[int, str] = {}

    def close(self) -> None:
        """Close the reading connection."""
        self._db.close()

    def _cell_key(self, tagset: int) -> tuple[tuple[str, str], ...]:
        key = self._cell_of.get(tagset)
        if key is None:
            tags = json.loads(self._tags(tagset))
            self._verdict[tagset] = tags.pop("verdict", "")
            key = tuple(sorted(tags.items()))
            self._cell_of[tagset] = key
        return key

    def _members(self, key: tuple[tuple[str, str], ...]) -> list[int]:
        """Every tag set of the journal in cell ``key`` (one per verdict seen)."""
        for tid, text in self._db.execute("SELECT id, tags FROM tagsets"):
            if tid not in self._cell_of and '"test"' in text:
                self._cell_key(tid)
        return [t for t, k in self._cell_of.items() if k == key]

    def lines(self, rows: Iterable[tuple[str, int, int]]) -> list[str]:
        """Rollup lines for the cells of ``rows`` — (kind, ts, tagset) of forwarded rows."""
        cells: set[tuple[tuple[tuple[str, str], ...], int]] = set()
        for kind, ts, tagset in rows:
            if kind == "pulse":
                cells.add((self._cell_key(tagset), ts // HOUR_NS))
        out: list[str] = []
        members: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for key, hour in sorted(cells):
            ids = members.get(key)
            if ids is None:
                ids = members[key] = self._members(key)
            out.append(self._line(key, hour, ids))
        return out

    def _line(self, key: tuple[tuple[str, str], ...], hour: int, ids: list[int]) -> str:
        t0 = hour * HOUR_NS
        sql = _CELL.format(ids=",".join(str(i) for i in ids))
        n = failed = 0
        total = [0.0] * len(METRICS)
        weight = [0] * len(METRICS)
        lo = [float("inf")] * len(METRICS)
        hi = [float("-inf")] * len(METRICS)
        for tagset, count, *agg in self._db.execute(sql, (t0, t0 + HOUR_NS - 1)):
            n += count
            if self._verdict.get(tagset, "") in _FAILED:
                failed += count
            for i in range(len(METRICS)):
                s, k, mn, mx = agg[4 * i: 4 * i + 4]
                if k:
                    total[i] += float(s)
                    weight[i] += int(k)
                    lo[i] = min(lo[i], float(mn))
                    hi[i] = max(hi[i], float(mx))
        fields = [f"pulses={float(n)!r}", f"failed={float(failed)!r}"]
        for i, m in enumerate(METRICS):
            if weight[i]:
                fields += [f"{m}={total[i] / weight[i]!r}", f"{m}_sum={total[i]!r}",
                           f"{m}_count={float(weight[i])!r}", f"{m}_min={lo[i]!r}",
                           f"{m}_max={hi[i]!r}"]
        head = escape_measurement(MEASUREMENT) + format_tags(key)
        return f"{head} {','.join(fields)} {t0}"
