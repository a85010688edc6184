"""Presets: a named starting point for a run, ``(config, env name, env options)``.

Every algorithm module exposes ``PRESETS: dict[str, Preset]`` and ``DEFAULT_ENV`` (the
environment a run trains on when none is named). A preset fixes the environment it was
tuned on; ``jaxrl.runs.overrides.preset`` applies it, and a different ``--env`` is refused
unless the preset leaves the environment open (``env=None``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Preset"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named setting of an algorithm.

    Attributes:
        config: the algorithm's ``Config``.
        env: the environment name for ``envs.make`` it was made for (``None``: any env).
        env_options: options for ``envs.make`` (static options and params fields).
        description: one line: where the setting comes from, what it reaches.
        obs_noise: scale of the book's ``U(0, 1) * scale`` observation noise (0: none).
    """

    config: Any
    env: str | None = None
    env_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    obs_noise: float = 0.0
