"""``tmsbench signer add`` and ``tmsbench approve``: electronic approval of certificates.

A signature takes two components at every signing (signer id and password,
21 CFR Part 11 §11.200(a)(1)); the password is read without echo and checked
against the signer store's Argon2id hash. A refused approval (wrong password,
unknown signer, an engineering run's certificate, a file the journal never
issued) is itself an audit row. An accepted one appends an ``approve`` row bound
to the signed file's SHA-256 and writes ``<certificate>-signed-<n>.pdf`` (n: signatures so far): the
certificate's own pages and a signature manifest listing every signature so far.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import re
import sqlite3
import sys
from pathlib import Path

from harness.cli.record import DEFAULT_JOURNAL, journal_path
from harness.record import certificates
from harness.record.archive import connect_reader
from harness.record.audit import os_user
from harness.record.journal import Journal
from harness.record.signers import SignerError, add_signer, check_signer

MEANINGS = ("reviewed", "approved")


def _store(args: argparse.Namespace) -> Path:
    """``--signers``, else ``signers.json`` beside the journal."""
    return Path(args.signers) if args.signers else journal_path(args).parent / "signers.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``signer`` and ``approve`` subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bench", metavar="FILE", help="bench file (its [sinks.journal] path)")
    common.add_argument(
        "--journal", metavar="PATH", help=f"journal file (default {DEFAULT_JOURNAL})"
    )
    common.add_argument(
        "--signers", metavar="FILE", help="signer store (default: signers.json beside the journal)"
    )
    s = subparsers.add_parser("signer", help="manage who may sign certificates")
    sub = s.add_subparsers(dest="signer_command", required=True)
    a = sub.add_parser(
        "add", parents=[common], help="add a signer (asks for the password twice, no echo)"
    )
    a.add_argument("signer_id", help="the signer's id (what they type when signing)")
    a.add_argument("--name", required=True, help="printed name shown on signed certificates")
    a.set_defaults(func=cmd_signer_add)
    p = subparsers.add_parser(
        "approve",
        parents=[common],
        help="sign a certificate (asks for the signer's password, no echo)",
        description=(
            "Sign an issued certificate PDF: checks the signer's id and password, refuses "
            "an engineering run's certificate or a file the journal did not issue, records "
            "the signature in the journal and writes <certificate>-signed-N.pdf with the "
            "signature manifest. Exit 0 signed, 1 refused, 2 bad input."
        ),
    )
    p.add_argument("certificate", help="the certificate PDF to sign")
    p.add_argument("--meaning", required=True, choices=MEANINGS, help="what the signature means")
    p.add_argument("--signer", required=True, metavar="ID", help="signer id")
    p.set_defaults(func=cmd_approve)


def cmd_signer_add(args: argparse.Namespace) -> int:
    """``tmsbench signer add``."""
    store = _store(args)
    pw = getpass.getpass(f"password for {args.signer_id}: ")
    if getpass.getpass("again: ") != pw:
        print("tmsbench signer add: the passwords differ; nothing added", file=sys.stderr)
        return 2
    try:
        signer = add_signer(store, args.signer_id, args.name, pw)
    except SignerError as exc:
        print(f"tmsbench signer add: {exc}", file=sys.stderr)
        return 2
    with Journal(journal_path(args)) as journal:
        journal.append_audit(
            "signer_add",
            what=json.dumps({"signer": signer.signer_id, "name": signer.name}),
            why="signer added to the local store",
            who=os_user(),
        )
    print(f"signer {signer.signer_id} ({signer.name}) added to {store}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """``tmsbench approve``."""
    cert = Path(args.certificate)
    if not cert.is_file():
        print(f"tmsbench approve: no certificate file {cert}", file=sys.stderr)
        return 2
    jpath = journal_path(args)
    if not jpath.is_file():
        print(f"tmsbench approve: no journal at {jpath}", file=sys.stderr)
        return 2
    digest = certificates.sha256_file(cert)
    db = connect_reader(jpath)  # reads (the archive too); the Journal appends
    try:
        return _approve(args, cert, digest, Journal(jpath), db)
    finally:
        db.close()


def _approve(
    args: argparse.Namespace, cert: Path, digest: str, journal: Journal, db: sqlite3.Connection
) -> int:
    """Check, sign and re-issue ``cert`` (SHA-256 ``digest``); 0 signed, 1 refused."""
    with journal:

        def refuse(why: str) -> int:
            journal.append_audit(
                certificates.REFUSED,
                what=json.dumps(
                    {
                        "sha256": digest,
                        "file": cert.name,
                        "signer": args.signer,
                        "meaning": args.meaning,
                    }
                ),
                why=why,
                who=args.signer,
            )
            print(f"tmsbench approve: refused: {why}", file=sys.stderr)
            return 1

        issue = certificates.find(db, digest)
        if issue is None:
            return refuse(
                f"{cert.name}: this journal issued no certificate with its content "
                f"(SHA-256 {digest[:16]}…): edited, or from another station"
            )
        if issue.run_type != "release":
            return refuse(
                f"{cert.name}: certificate of an engineering run ({issue.run_id}): its spec is "
                "unversioned, unapproved or changed without a new version"
            )
        password = getpass.getpass(f"password for {args.signer}: ")
        try:
            signer = check_signer(_store(args), args.signer, password)
        except SignerError as exc:
            return refuse(str(exc))
        utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        sig = {
            "root": issue.root,
            "signed_sha256": digest,
            "signer": signer.signer_id,
            "name": signer.name,
            "meaning": args.meaning,
            "utc": utc,
            "run_id": issue.run_id,
        }
        journal.append_audit(
            certificates.APPROVE,
            what=json.dumps(sig, sort_keys=True),
            why=f"{args.meaning} by {signer.name}",
            who=signer.signer_id,
            run_id=issue.run_id,
        )
        sigs = certificates.signatures(db, issue.root)
        title = f"{cert.name} (run {issue.run_id}, serial {issue.serial})"
        # matplotlib and pypdf only when a certificate is signed: every tmsbench command
        # builds the parser that imports this module
        from harness.report.manifest import manifest_page, with_manifest

        signed = with_manifest(cert.read_bytes(), issue.manifest_pages, manifest_page(title, sigs))
        stem = re.sub(r"-signed-\d+$", "", cert.stem)
        out = cert.with_name(f"{stem}-signed-{len(sigs)}.pdf")
        out.write_bytes(signed)
        certificates.register(
            journal,
            out,
            run_id=issue.run_id,
            run_type=issue.run_type,
            serial=issue.serial,
            who=signer.signer_id,
            reissue_of=issue,
            manifest_pages=1,
        )
    print(f"{cert.name}: {args.meaning} by {signer.name} at {utc}; signed certificate: {out}")
    return 0
