"""PQN: parallel Q-learning without replay or target network (Gallici et al., 2024).

Value-based learning built for batching: many environment copies collect short
epsilon-greedy rollouts, Peng's Q(lambda) targets are computed backwards over each copy's
rollout, and the batch is learned in several epochs of shuffled minibatches, as PPO
does, with LayerNorm in the Q-network instead of a target network. The registry's record
is ``PQN``.

The package by job: ``config`` (``Config``), ``networks`` (``QNetwork``, MLP or conv
torso with LayerNorm), ``agent`` (``make``: collect, targets, learn, act) and ``presets``
(``PRESETS``). The targets are ``jaxrl.core.value_targets.q_lambda_returns``; exploration
is ``jaxrl.core.exploration``'s epsilon-greedy, the rate decayed over environment steps.
"""

from __future__ import annotations

from jaxrl.algos import Algorithm
from jaxrl.algos.pqn.agent import Rollout, TrainState, make
from jaxrl.algos.pqn.config import NORMS, OPTIMIZERS, Config
from jaxrl.algos.pqn.networks import QNetwork, q_network
from jaxrl.algos.pqn.presets import (
    DEFAULT_ENV,
    PRESETS,
    PUREJAXQL_CARTPOLE,
    PUREJAXQL_MINATAR,
)
from jaxrl.core.value_targets import q_lambda_returns

__all__ = [
    "DEFAULT_ENV",
    "NORMS",
    "OPTIMIZERS",
    "PQN",
    "PRESETS",
    "PUREJAXQL_CARTPOLE",
    "PUREJAXQL_MINATAR",
    "Config",
    "QNetwork",
    "Rollout",
    "TrainState",
    "make",
    "q_lambda_returns",
    "q_network",
]

#: The registry's record (``jaxrl.algos.get("pqn")``).
PQN = Algorithm(
    name="pqn", config=Config, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="PQN: many env copies, Q(lambda) targets, LayerNorm, minibatch epochs; "
            "no replay buffer, no target network",
    supports=frozenset({"discrete"}),
)
