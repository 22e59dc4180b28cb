"""The motor threshold a protocol is dosed from: a number, or the last one journaled.

``--threshold-from LAST`` takes the last motor threshold the journal holds for the
bench's stimulator (a measurement named ``<method>: motor threshold`` in %MSO, as
``tests/bench/test_motor_threshold.py`` records it); ``--threshold-from 42`` a value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

THRESHOLD_SUFFIX = ": motor threshold"


class NoThreshold(ValueError):
    """``LAST`` asked for, but the journal holds no motor threshold for this device."""


@dataclass(frozen=True)
class Threshold:
    """A motor threshold (%MSO) and where it came from."""

    percent: float
    source: str  # "value", or "last" (journaled)
    detail: str = ""  # for "last": the measurement's name and run


def parse_threshold(text: str) -> float | None:
    """``text`` as a threshold in %MSO (None for ``LAST``); ValueError names a bad value."""
    if text.strip().upper() == "LAST":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be LAST or a number in %MSO (got {text!r})") from None
    if not (math.isfinite(value) and 0 < value <= 100):
        raise ValueError(f"must be LAST or a number in (0, 100] %MSO (got {text})")
    return value


def last_threshold(journal: str | Path, serial: str) -> Threshold:
    """The last motor threshold journaled for stimulator ``serial``."""
    from harness.record.schema import connect, migrate

    if not Path(journal).is_file():
        raise NoThreshold(f"{journal}: no journal, so no motor threshold for {serial}")
    db = connect(journal, check=False)
    try:
        migrate(db)
        sets = {
            int(tid): tags
            for tid, text in db.execute("SELECT id, tags FROM tagsets")
            if str((tags := json.loads(text)).get("name", "")).endswith(THRESHOLD_SUFFIX)
            and tags.get("stimulator_serial") == serial
            and tags.get("unit") == "%MSO"
            and tags.get("verdict") != "invalid"
        }
        row = None
        if sets:
            marks = ",".join("?" * len(sets))
            row = db.execute(
                "SELECT tagset, value, run_id FROM points WHERE kind = 'measurement'"
                f" AND tagset IN ({marks}) AND value IS NOT NULL ORDER BY id DESC LIMIT 1",
                list(sets),
            ).fetchone()
    finally:
        db.close()
    if row is None:
        raise NoThreshold(f"{journal}: no motor threshold journaled for stimulator {serial}")
    tid, value, run_id = row
    return Threshold(float(value), "last", f"{sets[int(tid)]['name']} in run {run_id}")


def resolve_threshold(option: str | None, journal: str | Path, serial: str,
                      default: float) -> Threshold:
    """``--threshold-from``'s value (None: ``default``) as a :class:`Threshold`.

    ValueError (a bad value) and :class:`NoThreshold` carry one line each.
    """
    if not option:
        return Threshold(default, "value", "the suite's demo threshold")
    value = parse_threshold(option)
    if value is None:
        return last_threshold(journal, serial)
    return Threshold(value, "value")
