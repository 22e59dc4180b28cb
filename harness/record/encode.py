"""Journal rows → InfluxDB line protocol (the InfluxDB schema lives here).

Schema (one InfluxDB measurement per row kind, ``tms_<kind>``):

=================  ==========================================  ===============================
measurement        tags (bounded)                              fields
=================  ==========================================  ===============================
tms_measurement    context, name, unit, verdict, test          value, low, high, marginal_low,
                                                               marginal_high, nominal, run_id,
                                                               test_id, extras
tms_pulse          context, verdict, test                      the metrics, run_id, test_id
tms_train          context, verdict, test                      the metrics, run_id, test_id
tms_temperature    context, sensor, test                       celsius, run_id, test_id
tms_calibration    context, name (quantity), unit, verdict,    slope, offset, r_squared,
                   test                                        worst_deviation, run_id, test_id
tms_run            context, bench, event (start/finish),       run_id, operator, git_revision,
                   verdict (finish)                            duration_s (finish), chain_head
tms_audit          action, station                             who, what, why, run_id
tms_dose           context, protocol, verdict, test            version, threshold_percent,
                                                               pulses_prescribed,
                                                               pulses_delivered, per-train
                                                               statistics, run_id, test_id
=================  ==========================================  ===============================

``context`` = station, stimulator_model, stimulator_serial, coil_model,
coil_serial, waveform. ``test`` is the pytest node id without parameters;
the full ``test_id`` is a field. The timestamp is the row's unique ``ts`` (ns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from harness.record.lineprotocol import (
    escape_field_key,
    escape_measurement,
    escape_string_field,
    format_field_value,
    format_tags,
)
from harness.record.records import LIMIT_FIELDS, VALUE_FIELD

#: Columns :func:`encode_rows` expects, in this order.
ROW_COLUMNS = (
    "id, kind, ts, tagset, run_id, test_id, value, low, high, marginal_low, marginal_high,"
    " nominal, data"
)


class LineEncoder:
    """Encodes journal rows; caches the ``measurement,tags`` prefix per tag set.

    ``tagsets`` looks up the tag JSON of a tag set id (the journal's
    ``tagsets`` table), called once per new id.
    """

    def __init__(self, tagset_json: Any) -> None:
        self._lookup = tagset_json
        self._prefix: dict[tuple[str, int], str] = {}
        self._limits: dict[tuple[float | None, ...], str] = {}

    def _head(self, kind: str, tagset: int) -> str:
        key = (kind, tagset)
        head = self._prefix.get(key)
        if head is None:
            tags = json.loads(self._lookup(tagset))
            head = escape_measurement(f"tms_{kind}") + format_tags(tags.items())
            self._prefix[key] = head
        return head

    def encode(self, row: Sequence[Any]) -> str:
        """One line for one row (columns :data:`ROW_COLUMNS`).

        Every line has at least the ``run_id`` field (possibly ``""``).
        Written out long-hand: this runs once per forwarded point.
        """
        _id, kind, ts, tagset, run_id, test_id, value, low, high, m_lo, m_hi, nominal, data = row
        head = self._prefix.get((kind, tagset)) or self._head(kind, tagset)
        parts = [_quoted_field("run_id", run_id)]
        if value is not None and value - value == 0:  # finite
            parts.append(f"{VALUE_FIELD.get(kind, 'value')}={value!r}")
        if low is not None or high is not None or nominal is not None:
            key = (low, high, m_lo, m_hi, nominal)
            text = self._limits.get(key)
            if text is None:  # limits come from specs: few distinct ones
                if len(self._limits) > 10_000:
                    self._limits.clear()
                text = self._limits[key] = _limit_fields(key)
            if text:
                parts.append(text)
        elif m_lo is not None or m_hi is not None:
            parts.append(_limit_fields((low, high, m_lo, m_hi, nominal)))
        if data:
            for k, v in json.loads(data).items():
                text = format_field_value(v) if not isinstance(v, dict | list) else None
                if text is not None:
                    parts.append(f"{escape_field_key(k)}={text}")
        if test_id:
            parts.append(_quoted_field("test_id", test_id))
        return f"{head} {','.join(parts)} {ts}"


def _limit_fields(values: tuple[float | None, ...]) -> str:
    return ",".join(
        f"{k}={v!r}"
        for k, v in zip(LIMIT_FIELDS, values, strict=True)
        if v is not None and v - v == 0
    )


@lru_cache(maxsize=65536)
def _quoted_field(key: str, value: str) -> str:
    return f"{key}={escape_string_field(value)}"
