"""Electronic approval of a certificate: two components, refusals audited, bound by hash.

A calibration on an approved, versioned spec issues a certificate (a release
run); a signer is added; a wrong password is refused and audited; the right one
writes the signed certificate with its manifest page; `verify` checks every
issued certificate file and names one edited afterwards. An engineering run's
certificate cannot be approved.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

try:
    from .test_plugin_runs import ROOT, pytest_run
except ImportError:
    from test_plugin_runs import ROOT, pytest_run  # type: ignore[no-redef]

pytestmark = pytest.mark.integration

APPROVED = 'version = "3"\napproved_by = "j.doe"\napproved_on = 2026-11-30\n'
PASSWORD = "correct horse battery"


def cli(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``tmsbench ARGS`` with no terminal: getpass reads the password from stdin."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args, "--journal", str(tmp / "journal.sqlite")],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=120,
        start_new_session=True,  # no controlling terminal
        env={**os.environ, "TMSBENCH_OPERATOR": "op-7"},
    )


def approve(tmp: Path, cert: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    """``tmsbench approve CERT --meaning approved --signer jdoe``, password on stdin."""
    return cli(tmp, "approve", str(cert), "--meaning", "approved", "--signer", "jdoe", stdin=stdin)


def calibrate(tmp: Path, spec_text: str) -> Path:
    spec = tmp / "spec.toml"
    spec.write_text(spec_text)
    proc = pytest_run(
        tmp, str(ROOT / "tests" / "bench" / "test_calibration.py"), "--spec", str(spec)
    )
    assert proc.returncode == 0, proc.stdout[-2500:]
    return max((tmp / "results").glob("*/certificate-*.pdf"), key=lambda p: p.stat().st_mtime)


def audit_actions(tmp: Path) -> list[tuple[str, dict[str, str]]]:
    db = sqlite3.connect(tmp / "journal.sqlite")
    rows = db.execute(
        "SELECT json_extract(t.tags, '$.action'), p.data FROM points p"
        " JOIN tagsets t ON t.id = p.tagset WHERE p.kind = 'audit' ORDER BY p.id"
    ).fetchall()
    db.close()
    return [(a, json.loads(d)) for a, d in rows]


def test_approve_a_release_certificate(tmp_path: Path) -> None:
    original = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text()
    cert = calibrate(tmp_path, APPROVED + original)
    add = cli(tmp_path, "signer", "add", "jdoe", "--name", "Jane Doe", stdin=f"{PASSWORD}\n" * 2)
    assert add.returncode == 0, add.stderr
    assert PASSWORD not in add.stdout + add.stderr
    store = tmp_path / "signers.json"
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert PASSWORD not in store.read_text() and "$argon2id$" in store.read_text()

    wrong = approve(tmp_path, cert, "not the password\n")
    assert wrong.returncode == 1, wrong.stderr
    assert "refused: signer 'jdoe': wrong password" in wrong.stderr
    assert not list(cert.parent.glob("*-signed-*.pdf"))

    ok = approve(tmp_path, cert, f"{PASSWORD}\n")
    assert ok.returncode == 0, ok.stderr
    signed = cert.with_name(cert.stem + "-signed-1.pdf")
    assert signed.is_file(), ok.stdout
    reader = PdfReader(io.BytesIO(signed.read_bytes()))
    assert len(reader.pages) == len(PdfReader(cert).pages) + 1  # the manifest page appended
    manifest = reader.pages[-1].extract_text()
    digest = hashlib.sha256(cert.read_bytes()).hexdigest()
    for text in ("Signature manifest", "APPROVED", "Jane Doe", "jdoe", "UTC", digest):
        assert text in manifest.replace("\n", ""), (text, manifest)

    actions = audit_actions(tmp_path)
    names = [a for a, _ in actions]
    assert names.count("certificate") == 3  # PDF and HTML issued, then the signed PDF
    assert "signer_add" in names and "approve_refused" in names and "approve" in names
    refused = next(d for a, d in actions if a == "approve_refused")
    assert refused["why"] == "signer 'jdoe': wrong password" and refused["who"] == "jdoe"
    sig = json.loads(next(d for a, d in actions if a == "approve")["what"])
    assert sig["signed_sha256"] == digest and sig["meaning"] == "approved"

    good = cli(tmp_path, "verify")
    assert good.returncode == 0, good.stderr
    assert "3 of 3 issued files checked and unchanged" in good.stdout, good.stdout
    signed.write_bytes(signed.read_bytes() + b"% edited\n")
    bad = cli(tmp_path, "verify")
    assert bad.returncode == 1
    assert f"certificate file changed since it was issued: {signed}" in bad.stderr, bad.stderr


def test_an_engineering_run_certificate_is_not_approved(tmp_path: Path) -> None:
    original = (ROOT / "specs" / "magstim-rapid2-d70.toml").read_text()  # unversioned
    cert = calibrate(tmp_path, original)
    cli(tmp_path, "signer", "add", "jdoe", "--name", "Jane Doe", stdin=f"{PASSWORD}\n" * 2)
    proc = approve(tmp_path, cert, f"{PASSWORD}\n")
    assert proc.returncode == 1
    assert "certificate of an engineering run" in proc.stderr, proc.stderr
    assert not list(cert.parent.glob("*-signed-*.pdf"))
    assert "approve_refused" in [a for a, _ in audit_actions(tmp_path)]
