"""Issued certificates and their signatures, as chained audit rows of the journal.

Issuing a certificate appends an audit row (action ``certificate``) whose ``what``
is a JSON object: the file's SHA-256, where it was written, the run, its run type
and the DUT serial. An approval appends an ``approve`` row bound to the SHA-256 of
the file signed (21 CFR Part 11 §11.70: the signature is linked to its record);
the re-issued file with the signature manifest is registered like any
certificate, naming the file it re-issues. ``tmsbench verify`` recomputes every
registered file's hash: a certificate edited after issue no longer matches.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.record.journal import Journal

ISSUE = "certificate"
APPROVE = "approve"
REFUSED = "approve_refused"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Issue:
    """One registered certificate file."""

    row_id: int
    sha256: str
    path: str
    run_id: str
    run_type: str
    serial: str
    root: str  # the SHA-256 of the first issue this file descends from (itself if first)
    manifest_pages: int  # signature manifest pages at the end of this file


def register(
    journal: Journal,
    path: Path,
    *,
    run_id: str,
    run_type: str,
    serial: str,
    who: str = "",
    station: str = "",
    reissue_of: Issue | None = None,
    manifest_pages: int = 0,
) -> str:
    """Append the issue row of the certificate file at ``path``; its SHA-256."""
    digest = sha256_file(path)
    what: dict[str, Any] = {
        "sha256": digest,
        "path": str(path.resolve()),
        "run_id": run_id,
        "run_type": run_type,
        "serial": serial,
        "root": reissue_of.root if reissue_of else digest,
        "manifest_pages": manifest_pages,
    }
    why = "issued"
    if reissue_of is not None:
        what["reissue_of"] = reissue_of.sha256
        why = "re-issued with the signature manifest"
    journal.append_audit(
        ISSUE,
        what=json.dumps(what, sort_keys=True),
        why=why,
        who=who,
        station=station,
        run_id=run_id,
    )
    return digest


def _rows(db: sqlite3.Connection, action: str) -> list[tuple[int, dict[str, Any]]]:
    found = db.execute(
        "SELECT p.id, p.data FROM points p JOIN tagsets t ON t.id = p.tagset"
        " WHERE p.kind = 'audit' AND json_extract(t.tags, '$.action') = ? ORDER BY p.id",
        (action,),
    ).fetchall()
    out = []
    for rid, data in found:
        row = json.loads(data)
        try:
            what = json.loads(row.get("what", ""))
        except ValueError:
            continue
        if isinstance(what, dict):
            out.append((int(rid), {**what, "_who": row.get("who", ""), "_why": row.get("why", "")}))
    return out


def issues(db: sqlite3.Connection) -> list[Issue]:
    """Every registered certificate file, in journal order."""
    return [
        Issue(
            rid,
            w.get("sha256", ""),
            w.get("path", ""),
            w.get("run_id", ""),
            w.get("run_type", ""),
            w.get("serial", ""),
            w.get("root", w.get("sha256", "")),
            int(w.get("manifest_pages", 0)),
        )
        for rid, w in _rows(db, ISSUE)
    ]


def find(db: sqlite3.Connection, digest: str) -> Issue | None:
    """The registered certificate whose file hash is ``digest`` (the latest such row)."""
    found = [i for i in issues(db) if i.sha256 == digest]
    return found[-1] if found else None


def signatures(db: sqlite3.Connection, root: str) -> list[dict[str, Any]]:
    """The approval rows of every file descending from the issue ``root``, in order."""
    return [w for _, w in _rows(db, APPROVE) if w.get("root") == root]


def check_files(registered: list[Issue]) -> tuple[list[str], list[str]]:
    """(files edited since they were registered, registered files not found on disk)."""
    changed, missing = [], []
    for i in registered:
        p = Path(i.path)
        if not p.is_file():
            missing.append(f"{p.name} (row {i.row_id})")
        elif (now := sha256_file(p)) != i.sha256:
            changed.append(
                f"{p} (row {i.row_id}): SHA-256 {now[:16]}… on disk, "
                f"{i.sha256[:16]}… when registered"
            )
    return changed, missing
