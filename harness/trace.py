"""Reverse traceability: every result that relied on one reference instrument.

When a reference instrument is found out of tolerance (ISO 13485 7.6, QMSR), the
results it produced must be found and re-assessed. A run records its reference
instruments at its start (``references`` of the run record: ``role: model #serial
(cert …, due …)``); each measurement with an uncertainty budget names the instruments
in it. :func:`trace` reads them back from the journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.record.export import Query, query


@dataclass
class TracedRun:
    """One run that used the instrument, and what it produced."""

    run_id: str
    started: str  # ISO time of the run start
    station: str
    dut_serial: str
    reference: str  # the instrument as the run recorded it (role: model #serial (cert …))
    traceable: bool
    certificates: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # measurements and calibrations


def _uses(references: str, serial: str) -> str | None:
    """The entry of a run's ``references`` text that names ``serial`` (None: none)."""
    for entry in references.split("; "):
        if f"#{serial} (" in entry:
            return entry
    return None


def trace(journal: str | Path, serial: str, since_ns: int | None = None) -> list[TracedRun]:
    """Runs (from ``since_ns``) whose reference instruments include ``serial``, in journal order.

    Each run lists its calibration records (with their certificate numbers) and the
    measurements whose budget names the instrument; measurements without a budget
    (counts, fit quality) are not listed, the run and its certificates are.
    """
    found: list[TracedRun] = []
    for start in query(journal, Query(kind="run", since_ns=since_ns)):
        if start.get("event") != "start":
            continue
        entry = _uses(str(start.get("references", "")), serial)
        if entry is None:
            continue
        run = TracedRun(
            run_id=start["run_id"],
            started=start["time"],
            station=str(start.get("station", "")),
            dut_serial=str(start.get("stimulator_serial", "")),
            reference=entry,
            traceable=not str(start.get("traceable", "")).startswith("no"),
        )
        for row in query(journal, Query(run_id=run.run_id)):
            if row["kind"] == "calibration":
                run.rows.append(row)
                if row.get("certificate"):
                    run.certificates.append(str(row["certificate"]))
            elif row["kind"] == "measurement" and f"#{serial} " in str(row.get("budget", "")):
                run.rows.append(row)
        found.append(run)
    return found


#: Columns of ``tmsbench trace --csv`` (one line per measurement or calibration record).
CSV_COLUMNS = (
    "run_id", "run_started", "station", "dut_serial", "reference", "traceable", "kind",
    "time", "test_id", "name", "value", "unit", "U", "verdict", "certificate",
)  # fmt: skip


def csv_rows(runs: list[TracedRun]) -> list[dict[str, Any]]:
    """Flat rows for CSV: one per record, the run's columns repeated."""
    out = []
    for run in runs:
        head: dict[str, Any] = {
            "run_id": run.run_id,
            "run_started": run.started,
            "station": run.station,
            "dut_serial": run.dut_serial,
            "reference": run.reference,
            "traceable": "yes" if run.traceable else "no",
        }
        if not run.rows:
            out.append(head)
        for r in run.rows:
            value = r.get("value", r.get("slope"))
            out.append(
                {
                    **head,
                    "kind": r["kind"],
                    "time": r["time"],
                    "test_id": r.get("test_id", ""),
                    "name": r.get("name", ""),
                    "value": value,
                    "unit": r.get("unit", ""),
                    "U": r.get("U", ""),
                    "verdict": r.get("verdict", ""),
                    "certificate": r.get("certificate", ""),
                }
            )
    return out
