"""The local signer store: who may sign a certificate, with an Argon2id password hash.

21 CFR Part 11 §11.200(a)(1): a signature not based on biometrics uses at least
two distinct components, here the signer id and a password, both asked at every
signing. The store is a JSON file (mode 0600) holding, per signer id, the
printed name and the Argon2id hash (argon2-cffi's defaults: RFC 9106's second
recommended parameter set); the password itself is never stored or logged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 8  # characters


class SignerError(ValueError):
    """A signer store problem, with one line saying what (never the password)."""


@dataclass(frozen=True)
class Signer:
    """One person who may sign."""

    signer_id: str
    name: str
    added_utc: str


def _load(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        signers = data["signers"]
        if not isinstance(signers, dict):
            raise TypeError("signers is not a table")
        return signers
    except (ValueError, KeyError, TypeError) as exc:
        raise SignerError(f"{path}: not a tmsbench signer store ({exc})") from None


def add_signer(path: Path, signer_id: str, name: str, password: str) -> Signer:
    """Add ``signer_id`` to the store at ``path`` (created 0600); refuse an existing id."""
    if not signer_id.strip() or not name.strip():
        raise SignerError("a signer needs an id and a printed name")
    if len(password) < MIN_PASSWORD:
        raise SignerError(f"password: at least {MIN_PASSWORD} characters")
    signers = _load(path)
    if signer_id in signers:
        raise SignerError(f"{path}: signer {signer_id!r} exists already")
    added = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    signers[signer_id] = {"name": name, "hash": PasswordHasher().hash(password), "added": added}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"signers": signers}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return Signer(signer_id, name, added)


def check_signer(path: Path, signer_id: str, password: str) -> Signer:
    """The signer if ``password`` is theirs; :class:`SignerError` otherwise."""
    entry = _load(path).get(signer_id)
    if entry is None:
        raise SignerError(f"no signer {signer_id!r} in {path}")
    try:
        PasswordHasher().verify(entry["hash"], password)
    except (VerificationError, InvalidHashError):
        raise SignerError(f"signer {signer_id!r}: wrong password") from None
    return Signer(signer_id, entry["name"], entry.get("added", ""))
