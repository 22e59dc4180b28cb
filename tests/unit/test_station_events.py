"""The station's event file: what the plugin writes and how the station reads it back."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.limits import Limits, Measurement
from harness.station.events import EventWriter, read_events


def test_a_measurement_event_carries_value_limits_and_verdict(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "ev.jsonl")
    m = Measurement.check("peak dI/dt at 60 %MSO", 75.0, "A/µs", Limits(low=66.0, high=72.0))
    w.measurement(m)
    w.close()
    (ev,), _ = read_events(tmp_path / "ev.jsonl")
    assert ev["event"] == "measurement"
    assert (ev["value"], ev["low"], ev["high"], ev["unit"]) == (75.0, 66.0, 72.0, "A/µs")
    assert ev["verdict"] == "fail"


def test_not_a_number_becomes_null_and_the_line_stays_json(tmp_path: Path) -> None:
    w = EventWriter(tmp_path / "ev.jsonl")
    w.emit("temperature", celsius=math.nan, nested={"x": [math.inf, 1.5]})
    w.close()
    line = (tmp_path / "ev.jsonl").read_text().strip()
    ev = json.loads(line)  # strict JSON: no NaN / Infinity tokens
    assert "NaN" not in line and "Infinity" not in line
    assert ev["celsius"] is None and ev["nested"] == {"x": [None, 1.5]}


def test_a_line_still_being_written_is_read_once_it_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_text('{"event": "a"}\n{"event": "b"')
    events, offset = read_events(path)
    assert [e["event"] for e in events] == ["a"]
    with path.open("a") as f:
        f.write(', "x": 1}\n')
    events, offset2 = read_events(path, offset)
    assert events == [{"event": "b", "x": 1}] and offset2 == path.stat().st_size


def test_a_missing_file_reads_as_no_events(tmp_path: Path) -> None:
    assert read_events(tmp_path / "none.jsonl", 7) == ([], 7)
