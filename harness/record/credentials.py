"""Secrets for sinks: read from the environment, never shown.

A :class:`Secret` prints as ``***`` in ``str``/``repr``/f-strings and is
not picklable, so it cannot leak through logs, exception messages, reports or
the journal by accident; :func:`redact` scrubs a secret (and its HTTP Basic
form) out of any text that came back from a server or a library.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping


class CredentialError(RuntimeError):
    """The credential named by the configuration is missing or malformed."""


class Secret:
    """A secret string; :meth:`reveal` is the only way to read it."""

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        self.__value = value

    def reveal(self) -> str:
        """The secret text (pass it straight to the HTTP layer, nowhere else)."""
        return self.__value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> tuple:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash(("Secret", len(self.__value)))

    def forms(self) -> list[str]:
        """Texts that would reveal the secret: itself, its Basic-auth base64, the password."""
        v = self.__value
        out = [v] if v else []
        if v:
            out.append(base64.b64encode(v.encode()).decode())
            if ":" in v:  # "user:password": the password alone is secret too
                out.append(v.split(":", 1)[1])
        return out


def load_secret(env_name: str | None, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The secret held by environment variable ``env_name`` (``None`` if no name).

    Raises :class:`CredentialError` (naming the variable, never its value) when
    the variable is not set or empty.
    """
    if not env_name:
        return None
    env = os.environ if environ is None else environ
    value = env.get(env_name)
    if not value:
        raise CredentialError(f"environment variable {env_name} (token_env) is not set")
    return Secret(value)


def redact(text: str, secret: Secret | None) -> str:
    """``text`` with every form of ``secret`` replaced by ``***``."""
    if secret is None or not text:
        return text
    for form in secret.forms():
        if len(form) >= 4:
            text = text.replace(form, "***")
    return text
