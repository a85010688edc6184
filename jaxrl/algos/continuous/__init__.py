"""SAC and TD3: off-policy actor-critics for continuous actions, on one replay loop.

Both learn from a uniform replay buffer (``jaxrl.core.replay``) with twin critics whose
minimum is the target, and both train many seeds in one program. SAC (Haarnoja et al.,
2018) learns a ``tanh``-squashed Gaussian policy with an entropy bonus whose temperature
follows an entropy target; TD3 (Fujimoto et al., 2018) a deterministic policy updated
every ``policy_delay`` critic steps against smoothed targets; DDPG is TD3's ``ddpg``
preset. The update-to-data ratio is a setting (``gradient_steps``, ``train_every``).

The package by job: ``config`` (``SACConfig``, ``TD3Config``), ``networks`` (actors,
critics, the action scale), ``losses`` (pure loss maths), ``agent`` (the replay loop and
the two learners) and ``presets``. The registry's records are ``SAC`` and ``TD3``;
``sac`` and ``td3`` are each one's namespace (``sac.Config``, ``sac.make``,
``sac.PRESETS``).
"""

from __future__ import annotations

from types import SimpleNamespace

from jaxrl.algos import Algorithm
from jaxrl.algos.continuous.agent import TrainState, make_sac, make_td3
from jaxrl.algos.continuous.config import OffPolicyConfig, SACConfig, TD3Config
from jaxrl.algos.continuous.presets import (
    DEFAULT_ENV,
    PENDULUM_SOLVED,
    REJAX_SAC_PENDULUM,
    REJAX_TD3_PENDULUM,
    SAC_PRESETS,
    TD3_PRESETS,
)

__all__ = [
    "DEFAULT_ENV", "PENDULUM_SOLVED", "REJAX_SAC_PENDULUM", "REJAX_TD3_PENDULUM", "SAC",
    "SAC_PRESETS", "TD3", "TD3_PRESETS", "OffPolicyConfig", "SACConfig", "TD3Config",
    "TrainState", "make_sac", "make_td3", "sac", "td3",
]

#: SAC's namespace: ``sac.Config``, ``sac.make``, ``sac.PRESETS``.
sac = SimpleNamespace(Config=SACConfig, make=make_sac, PRESETS=SAC_PRESETS)
#: TD3's namespace: ``td3.Config``, ``td3.make``, ``td3.PRESETS``.
td3 = SimpleNamespace(Config=TD3Config, make=make_td3, PRESETS=TD3_PRESETS)

#: The registry's record of SAC (``jaxrl.algos.get("sac")``).
SAC = Algorithm(
    name="sac", config=SACConfig, make=make_sac, presets=SAC_PRESETS, default_env=DEFAULT_ENV,
    summary="SAC: soft actor-critic, tanh-Gaussian policy, twin critics, learned entropy "
            "temperature, replay",
    supports=frozenset({"continuous"}),
)

#: The registry's record of TD3 (``jaxrl.algos.get("td3")``); DDPG is its ``ddpg`` preset.
TD3 = Algorithm(
    name="td3", config=TD3Config, make=make_td3, presets=TD3_PRESETS, default_env=DEFAULT_ENV,
    summary="TD3: deterministic policy, clipped double-Q with target smoothing, delayed "
            "actor updates, replay (DDPG as a preset)",
    supports=frozenset({"continuous"}),
)
