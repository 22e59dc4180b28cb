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

#: Pulses in a span of hours (one query per span of a batch). Each row's JSON is parsed
#: once in Python: SQLite 3.40's ``json_extract`` parses it again for every metric.
_SPAN = "SELECT tagset, ts, data FROM points WHERE ts BETWEEN ? AND ? AND kind = 'pulse'"
#: Hours between two cells of a batch read in one span (a gap's rows are read for nothing).
MAX_GAP_H = 2

Key = tuple[tuple[str, str], ...]


class _Cell:
    """Running totals of one (device, test, hour) cell."""

    __slots__ = ("failed", "hi", "lo", "n", "total", "weight")

    def __init__(self) -> None:
        self.n = self.failed = 0
        self.total = [0.0] * len(METRICS)
        self.weight = [0] * len(METRICS)
        self.lo = [float("inf")] * len(METRICS)
        self.hi = [float("-inf")] * len(METRICS)

    def add(self, data: dict, failed: bool) -> None:
        """One pulse's metrics (its row's data)."""
        self.n += 1
        if failed:
            self.failed += 1
        for i, m in enumerate(METRICS):
            v = data.get(m)
            if isinstance(v, int | float) and v == v:  # a number, not NaN
                self.total[i] += v
                self.weight[i] += 1
                if v < self.lo[i]:
                    self.lo[i] = float(v)
                if v > self.hi[i]:
                    self.hi[i] = float(v)

    def fields(self) -> str:
        out = [f"pulses={float(self.n)!r}", f"failed={float(self.failed)!r}"]
        for i, m in enumerate(METRICS):
            if self.weight[i]:
                out += [f"{m}={self.total[i] / self.weight[i]!r}", f"{m}_sum={self.total[i]!r}",
                        f"{m}_count={float(self.weight[i])!r}", f"{m}_min={self.lo[i]!r}",
                        f"{m}_max={self.hi[i]!r}"]
        return ",".join(out)


def spans(hours: Iterable[int], max_gap: int = MAX_GAP_H) -> list[tuple[int, int]]:
    """Sorted hours merged into (first, last) runs whose gaps are at most ``max_gap``."""
    out: list[tuple[int, int]] = []
    for h in sorted(set(hours)):
        if out and h - out[-1][1] <= max_gap:
            out[-1] = (out[-1][0], h)
        else:
            out.append((h, h))
    return out


class Rollup:
    """Computes rollup lines from the journal on ``db`` (a reading connection).

    ``tagset_json(id)`` gives a tag set's JSON (as the encoder's lookup does).
    """

    def __init__(self, db: sqlite3.Connection, tagset_json: Callable[[int], str]) -> None:
        self._db = db
        self._tags = tagset_json
        self._cell_of: dict[int, Key] = {}  # tag set → its cell's tags
        self._verdict: dict[int, str] = {}
        self._known_upto = 0  # tag sets up to this id have been looked at

    def close(self) -> None:
        """Close the reading connection."""
        self._db.close()

    def _learn(self, tagset: int, text: str) -> Key:
        tags = json.loads(text)
        self._verdict[tagset] = tags.pop("verdict", "")
        key: Key = tuple(sorted(tags.items()))
        self._cell_of[tagset] = key
        return key

    def _cell_key(self, tagset: int) -> Key:
        key = self._cell_of.get(tagset)
        return key if key is not None else self._learn(tagset, self._tags(tagset))

    def _refresh(self) -> None:
        """Learn the tag sets added since the last call (a cell has one per verdict)."""
        for tid, text in self._db.execute(
            "SELECT id, tags FROM tagsets WHERE id > ? ORDER BY id", (self._known_upto,)
        ):
            self._known_upto = tid
            if tid not in self._cell_of and '"test"' in text:
                self._learn(tid, text)

    def lines(self, rows: Iterable[tuple[str, int, int]]) -> list[str]:
        """Rollup lines for the cells of ``rows`` — (kind, ts, tagset) of forwarded rows."""
        wanted: set[tuple[Key, int]] = set()
        for kind, ts, tagset in rows:
            if kind == "pulse":
                wanted.add((self._cell_key(tagset), ts // HOUR_NS))
        if not wanted:
            return []
        self._refresh()
        cells: dict[tuple[Key, int], _Cell] = {}
        for a, b in spans(h for _, h in wanted):
            for tagset, ts, data in self._db.execute(_SPAN, (a * HOUR_NS, (b + 1) * HOUR_NS - 1)):
                key = self._cell_of.get(tagset)
                hour = ts // HOUR_NS
                if key is None or (key, hour) not in wanted:
                    continue
                cell = cells.get((key, hour))
                if cell is None:
                    cell = cells[(key, hour)] = _Cell()
                cell.add(json.loads(data) if data else {}, self._verdict.get(tagset) in _FAILED)
        return [f"{escape_measurement(MEASUREMENT)}{format_tags(key)} {cells[key, hour].fields()}"
                f" {hour * HOUR_NS}" for key, hour in sorted(cells)]
