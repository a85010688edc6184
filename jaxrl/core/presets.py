"""Presets: a named starting point for a run, ``(config, env name, env options)``.

Every algorithm module exposes ``PRESETS: dict[str, Preset]`` and ``DEFAULT_ENV`` (the
environment a run trains on when none is named). A preset fixes the environment it was
tuned on; ``jaxrl.runs.overrides.preset`` applies it, and a different ``--env`` is refused
unless the preset leaves the environment open (``env=None``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["CARTPOLE_SOLVED", "CLAIM_METRICS", "Claim", "Preset"]

#: What a ``Claim`` measures, per seed of a trained run:
#: ``greedy_return``: the mean return of ``episodes`` greedy episodes;
#: ``greedy_win_rate``: the share of those episodes won (ended by termination on a
#: positive reward, ``jaxrl.core.episodes.positive_termination``: the goal reached);
#: ``final_return``: the mean training return of the episodes that ended in the last 5 %
#: of updates (``Result.final_return``).
CLAIM_METRICS = ("greedy_return", "greedy_win_rate", "final_return")


@dataclasses.dataclass(frozen=True)
class Claim:
    """What a preset claims to reach, checked per seed by ``benchmarks/preset_claims.py``.

    A seed reaches the claim when its ``metric`` is at least ``threshold``. The claim is
    measured on 16 seeds from a base seed used nowhere else in the project; ``holds`` is
    the share of those seeds that reached it, as measured (``"16/16"``): a claim that does
    not hold on every seed says so here instead of being dropped.

    Attributes:
        metric: one of ``CLAIM_METRICS``.
        threshold: the level a seed must reach (``>=``).
        text: the claim in words, for tables and ``jaxrl list``.
        episodes: greedy episodes per seed (greedy metrics).
        max_steps: the evaluation's own step cap per episode (``None``: the env's).
        holds: the measured share of the 16 unseen seeds, ``"k/16"`` (``""``: not measured).
    """

    metric: str
    threshold: float
    text: str
    episodes: int = 100
    max_steps: int | None = None
    holds: str = ""

    def __post_init__(self) -> None:
        if self.metric not in CLAIM_METRICS:
            raise ValueError(f"Claim.metric must be one of {', '.join(CLAIM_METRICS)}, "
                             f"not {self.metric!r}")
        if self.episodes < 1:
            raise ValueError(f"Claim.episodes must be >= 1, not {self.episodes}")

    def reached(self, value: float) -> bool:
        """Whether one seed's measured ``value`` reaches the claim (NaN never does)."""
        return bool(value >= self.threshold)

    def measured(self, holds: str) -> Claim:
        """This claim with the share of unseen seeds that reached it (``"15/16"``)."""
        return dataclasses.replace(self, holds=holds)


#: CartPole-v1 solved: a greedy return of 475 or more (Gymnasium's reward threshold).
CARTPOLE_SOLVED = Claim("greedy_return", 475.0,
                        "greedy return 475 or more over 20 episodes (CartPole-v1 solved)",
                        episodes=20)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named setting of an algorithm.

    Attributes:
        config: the algorithm's ``Config``.
        env: the environment name for ``envs.make`` it was made for (``None``: any env).
        env_options: options for ``envs.make`` (static options and params fields).
        description: one line: where the setting comes from, what it reaches.
        obs_noise: scale of the book's ``U(0, 1) * scale`` observation noise (0: none).
        claim: what training this preset reaches (``Claim``), or ``None`` for a preset
            that claims no result (a book setting shown for comparison, a co-training).
    """

    config: Any
    env: str | None = None
    env_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    obs_noise: float = 0.0
    claim: Claim | None = None
