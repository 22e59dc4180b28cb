"""Secrets for sinks: read from the environment, never shown.

A :class:`Secret` prints as ``***`` in ``str``/``repr``/f-strings and is
not picklable, so it cannot leak through logs, exception messages, reports or
the journal by accident; :func:`redact` scrubs a secret (and its HTTP Basic
form) out of any text that came back from a server or a library.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus


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
        """Every text that would reveal the secret on the wire or in a message, longest first.

        The secret itself (also what a ``Token``/``Bearer`` header carries); its URL-encoded
        forms; HTTP Basic of ``user:password`` and of ``token:`` (how a 1.x token without a
        user is sent); for ``user:password`` the password alone; each also URL-encoded.
        """
        v = self.__value
        if not v:
            return []
        texts = {v}
        if ":" in v:  # "user:password": the password alone is secret too
            texts.add(v.split(":", 1)[1])
        basic = (v if ":" in v else f"{v}:").encode()
        texts |= {base64.b64encode(basic).decode(), base64.b64encode(v.encode()).decode()}
        out: set[str] = set()
        for text in texts:  # each also URL-encoded (query strings, echoed form fields)
            out.update({text, quote(text, safe=""), quote_plus(text)})
        return sorted((f for f in out if f), key=len, reverse=True)


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
    """``text`` with every form of ``secret`` replaced by ``***``.

    Redact the whole text first and cut it afterwards: a cut made first could leave part
    of a credential that no longer matches any form.
    """
    if secret is None or not text:
        return text
    for form in secret.forms():
        if len(form) >= 4:
            text = text.replace(form, "***")
    return text


# Loggers of the HTTP libraries that may log request headers or raw error bodies at DEBUG
# (influxdb-client's ``http`` logger prints both when its debug flag is on).
LIBRARY_LOGGERS = (
    "influxdb_client",
    "influxdb_client.client.http",
    "influxdb_client.client.write_api",
    "influxdb_client.client.exceptions",
    "influxdb_client.client.influxdb_client",
    "urllib3",
    "urllib3.connectionpool",
)


class RedactingFilter(logging.Filter):
    """Scrub every form of the secrets out of a log record (message, arguments, traceback)."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` with its rendered, redacted text; never drop it."""
        text = record.getMessage()
        for s in self.secrets:
            text = redact(text, s)
        record.msg, record.args = text, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for s in self.secrets:
                record.exc_text = redact(record.exc_text, s)
        return True


def guard_library_loggers(secret: Secret) -> None:
    """Install a :class:`RedactingFilter` for ``secret`` on the HTTP libraries' loggers.

    A filter on a logger sees only records logged on that very logger, so it goes on each
    named logger (and on any child the library has already created).
    """
    roots = ("influxdb_client", "urllib3")
    names = set(LIBRARY_LOGGERS) | {
        n for n in logging.root.manager.loggerDict if n.split(".")[0] in roots
    }
    for name in sorted(names):
        logger = logging.getLogger(name)
        for f in logger.filters:
            if isinstance(f, RedactingFilter):
                if secret not in f.secrets:
                    f.secrets.append(secret)
                break
        else:
            logger.addFilter(RedactingFilter([secret]))
