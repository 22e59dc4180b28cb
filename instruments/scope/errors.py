"""Typed scope errors: each names the scope, the resource and the command."""

from __future__ import annotations


class ScopeError(Exception):
    """Something went wrong talking to an oscilloscope.

    ``scope`` is the instrument's IDN (or the driver name before it is known),
    ``resource`` the VISA resource and ``command`` the SCPI command involved.
    """

    def __init__(self, message: str, *, scope: str = "", resource: str = "", command: str = ""):
        self.detail = message
        self.scope = scope
        self.resource = resource
        self.command = command
        where = f"scope {scope or '?'} at {resource or '?'}"
        cmd = f" [command {command!r}]" if command else ""
        super().__init__(f"{where}: {message}{cmd}")


class ScopeTimeout(ScopeError):
    """No (complete) reply within the VISA timeout."""


class TriggerTimeout(ScopeTimeout):
    """The acquisition did not complete (no trigger) within the wait time."""


class ScopeConnectionLost(ScopeError):
    """The socket was closed or reset by the instrument (or could not be opened)."""


class TruncatedBlock(ScopeError):
    """A binary block ended before the length its header announced."""

    def __init__(self, message: str, *, expected: int, received: int, **kw: str) -> None:
        self.expected = expected
        self.received = received
        super().__init__(f"{message} (header said {expected} bytes, got {received})", **kw)


class ScpiError(ScopeError):
    """The instrument's error queue holds errors; ``errors`` = [(code, text), ...]."""

    def __init__(self, errors: list[tuple[int, str]], **kw: str) -> None:
        self.errors = errors
        text = "; ".join(f"{c},{t!r}" for c, t in errors)
        super().__init__(f"instrument reported {text}", **kw)


class ClippedCapture(ScopeError):
    """A capture hit the ADC rails: it must not be measured."""

    def __init__(self, channels: list[str], **kw: str) -> None:
        self.channels = channels
        super().__init__(f"clipped at the ADC rails on {', '.join(channels)}", **kw)
