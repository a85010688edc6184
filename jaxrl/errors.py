"""Every error class of jaxrl, in one place (this module imports nothing from jaxrl).

A user's mistake is a ``RunError`` (or a ``UsageError`` on the command line): its
message is one line saying what is wrong and how to fix it, and the command line
prints it without a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckpointError", "DistributedError", "Interrupted", "RunError", "TrainingError",
    "UsageError",
]


class RunError(ValueError):
    """A mistake in what the user asked for; the message is one line saying what and how to fix it."""


class TrainingError(RuntimeError):
    """Training went wrong (a non-finite loss or parameter); the message is one line."""


class UsageError(Exception):
    """A command-line mistake; printed as one line."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here (wrong run, corrupt, unknown format)."""


class DistributedError(RuntimeError):
    """The distributed runtime could not start (bad settings, unreachable coordinator)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``args[0]`` is the ``Result`` so far (checkpointed)."""

    @property
    def result(self) -> Any:
        """The ``jaxrl.runs.result.Result`` of the updates finished before the stop."""
        return self.args[0]
