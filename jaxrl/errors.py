"""The one error type for a user's mistakes (a bad name, value, path or run directory)."""

from __future__ import annotations

__all__ = ["RunError", "TrainingError"]


class RunError(ValueError):
    """A mistake in what the user asked for; the message is one line saying what and how to fix it."""


class TrainingError(RuntimeError):
    """Training went wrong (a non-finite loss or parameter); the message is one line."""
