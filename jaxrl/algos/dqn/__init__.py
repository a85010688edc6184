"""Deep Q-networks as one configurable agent (Mnih et al., 2015, and its extensions).

The registry serves three names from this package: ``dqn`` (record ``DQN``), ``c51``
(``C51``) and ``qrdqn`` (``QRDQN``). C51 and QR-DQN are loss choices of the one agent
(``Config.distribution``): the same ``make``, their own config defaults and presets.

The package by job:

* ``config``: ``Config`` (and ``C51Config``, ``QRDQNConfig``: other defaults; ``FREEWAY``,
  the Freeway settings the three share);
* ``networks``: ``QNetwork`` and ``q_network`` (MLP, conv or relational torso; dueling and
  distributional heads), ``init_params``;
* ``losses``: the TD loss, C51's cross-entropy or QR-DQN's quantile Huber loss, by
  ``Config.distribution``;
* ``agent``: ``make`` (collect, learn, act), epsilon-greedy exploration, ``TrainState``;
* ``presets``: ``PRESETS``, ``DISTRIBUTIONAL_PRESETS``, ``preset_env``.

Every extension is a config field:

* replay: ``"uniform"``, ``"prioritized"`` (proportional, Schaul et al., 2016; alpha,
  beta annealed linearly to ``priority_beta_end`` over the run, importance weights,
  new transitions at the maximum priority, ``p = |td| + priority_eps``), or ``"none"``
  (online Q-learning on the transitions just collected, the book's chapter 3 agent);
* target network: ``"hard"`` (copy every ``target_update_period`` gradient steps),
  ``"polyak"`` (``theta' <- tau theta + (1 - tau) theta'`` after every gradient
  step) or ``"none"`` (bootstrap from the online network);
* ``double``: double DQN targets (online argmax at the next state, target value);
* ``dueling``: value and advantage heads, ``q = v + A - mean(A)``;
* ``n_steps``: n-step returns, folded at sampling time from consecutive buffer rows
  (``jaxrl.core.replay.n_step_batch``), stopping at episode ends;
* ``loss``: ``"huber"`` or ``"mse"``; ``max_grad_norm``: global gradient-norm clip;
* ``epsilon_schedule``: ``"linear"``, ``"exponential"`` or ``"constant"``;
* ``distribution``: ``"none"`` (one value per action), ``"categorical"`` (C51,
  Bellemare et al., 2017: ``num_atoms`` probabilities on ``[v_min, v_max]``, cross-entropy
  to the projected target) or ``"quantile"`` (QR-DQN, Dabney et al., 2018:
  ``num_quantiles`` quantiles, quantile Huber loss with threshold ``kappa``). Every other
  switch applies unchanged: replay, target network, double (the online network's
  expected values pick the next action), dueling (value and advantage heads per atom),
  n-step. Actions (acting and targets) are greedy by the distribution's expected value;
  prioritised replay uses each transition's loss as its priority; ``loss`` and
  ``huber_delta`` apply to ``"none"`` only;
* ``torso``: ``"mlp"``, ``"conv"``, ``"relational"`` (chapter 10: self-attention over the
  image's cells) or ``"auto"`` (``jaxrl.algos.dqn.networks``);
* ``curiosity``: an intrinsic reward module around the Q-learner (chapter 8,
  ``jaxrl.algos.curiosity.online_step``), its settings one group (``CuriosityConfig``).
"""

from __future__ import annotations

from jaxrl.algos import Algorithm
from jaxrl.algos.curiosity import CuriosityConfig
from jaxrl.algos.dqn.agent import (
    DistributionalAgent,
    LearnStats,
    ReturnDistribution,
    TrainState,
    epsilon_by_step,
    epsilon_greedy,
    make,
)
from jaxrl.algos.dqn.config import (
    ATTENTION_POOLS,
    DISTRIBUTIONS,
    EPSILON_SCHEDULES,
    FREEWAY,
    LOSS_KINDS,
    REPLAY_KINDS,
    TARGET_KINDS,
    C51Config,
    Config,
    QRDQNConfig,
)
from jaxrl.algos.dqn.networks import RELATIONAL_TORSOS, QNetwork, init_params, q_network
from jaxrl.algos.dqn.presets import (
    DEFAULT_ENV,
    DISTRIBUTIONAL_DEFAULT_ENV,
    DISTRIBUTIONAL_PRESETS,
    PRESETS,
    preset_env,
)

__all__ = [
    "ALGORITHMS",
    "ATTENTION_POOLS",
    "C51",
    "DEFAULT_ENV",
    "DISTRIBUTIONAL_DEFAULT_ENV",
    "DISTRIBUTIONAL_PRESETS",
    "DISTRIBUTIONS",
    "DQN",
    "EPSILON_SCHEDULES",
    "FREEWAY",
    "LOSS_KINDS",
    "PRESETS",
    "QRDQN",
    "RELATIONAL_TORSOS",
    "REPLAY_KINDS",
    "TARGET_KINDS",
    "C51Config",
    "Config",
    "CuriosityConfig",
    "DistributionalAgent",
    "LearnStats",
    "QNetwork",
    "QRDQNConfig",
    "ReturnDistribution",
    "TrainState",
    "epsilon_by_step",
    "epsilon_greedy",
    "init_params",
    "make",
    "preset_env",
    "q_network",
]

#: The names this package serves in the registry (``jaxrl.algos.get``).
ALGORITHMS = ("dqn", "c51", "qrdqn")

#: The registry's records. C51 and QR-DQN are loss choices of the one DQN agent
#: (``Config.distribution``): the same ``make``, their own config defaults and presets.
DQN = Algorithm(
    name="dqn", config=Config, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="DQN with replay, target network, double/dueling, n-step, prioritised replay",
    supports=frozenset({"discrete"}),
)
C51 = Algorithm(
    name="c51", config=C51Config, make=make, presets=DISTRIBUTIONAL_PRESETS["c51"],
    default_env=DISTRIBUTIONAL_DEFAULT_ENV,
    summary="C51: DQN with a categorical return distribution (cross-entropy to a "
            "projected target)",
    supports=frozenset({"discrete"}),
)
QRDQN = Algorithm(
    name="qrdqn", config=QRDQNConfig, make=make, presets=DISTRIBUTIONAL_PRESETS["qrdqn"],
    default_env=DISTRIBUTIONAL_DEFAULT_ENV,
    summary="QR-DQN: DQN with return quantiles and the quantile Huber loss",
    supports=frozenset({"discrete"}),
)
