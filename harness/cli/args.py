"""Argument types shared by the subcommands: a bad value is one argparse line, exit 2."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A whole number > 0 (counts: devices, pulses, quarantined points to list)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0 (got {value})")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (durations in days or s, speed factors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0 (got {text})")
    return value
