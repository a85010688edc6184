"""Proximal policy optimisation (Schulman et al., 2017) with the clipped ratio.

The package by job: ``config`` (``Config``), ``networks`` (actor and critic),
``losses`` (the loss terms), ``agent`` (``make``: collect, targets, learn, act) and
``presets`` (``PRESETS``). The registry's record is ``PPO``.

One update = ``collect`` (``num_steps`` steps of ``num_envs`` copies) ->
``compute_targets`` (truncation-correct GAE from ``jaxrl.core.returns.gae``) ->
``learn`` (``epochs`` passes over the batch in ``minibatches`` shuffled minibatches,
one Adam step each on the clipped surrogate + clipped value loss - entropy bonus).

Details that matter (the "37 implementation details" the field settled on):

* Time limits: the critic's value of ``info["final_observation"]`` bootstraps a
  truncated step; a terminated step bootstraps zero; GAE never crosses an episode end.
* Separate actor and critic MLPs (orthogonal init, gain sqrt(2) for hidden layers,
  0.01 for the policy head, 1 for the value head), tanh by default, one Adam
  (``eps=1e-5``) over both after global-norm clipping (``optax.clip_by_global_norm``).
* Learning rate annealed linearly to zero over the run. The schedule multiplies the
  (possibly traced) ``lr`` leaf, so a sweep can vmap over learning rates.
* Advantages standardised per minibatch; value loss clipped around the old values.
* Discrete actions: categorical over logits. Continuous (``Box``) actions: a diagonal
  Gaussian with a state-independent learned log standard deviation; the sampled action
  is stored unclipped (its log-probability is exact) and clipped to the action bounds
  only when handed to the environment.
* Optional observation normalisation with running mean/variance (Chan's parallel
  update), statistics frozen during a rollout and updated after it; the normalised
  observations are what the networks see and what is stored, so the first epoch's
  ratio is exactly one.
* Curiosity (``curiosity="icm"|"rnd"``, chapter 8; its settings are the group
  ``Config.curiosity``, a ``CuriosityConfig``): ``jaxrl.algos.curiosity`` adds an
  intrinsic bonus to the rollout's rewards (``extrinsic_coef * r + r_int``) and its own
  loss beside PPO's in every minibatch (``lam * L_ppo + L_curiosity``, the two parameter
  sets apart). No curiosity (kind None, the default) is plain PPO, the same compiled
  program as without the option.
"""

from __future__ import annotations

from jaxrl.algos import Algorithm
from jaxrl.algos.ppo.agent import Batch, Rollout, TrainState, make
from jaxrl.algos.ppo.config import Config, CuriosityConfig
from jaxrl.algos.ppo.losses import (
    LossTerms,
    categorical_entropy,
    categorical_log_prob,
    clipped_surrogate_loss,
    clipped_value_loss,
    gaussian_entropy,
    gaussian_log_prob,
    squared_value_loss,
)
from jaxrl.algos.ppo.networks import Networks, Params, networks
from jaxrl.algos.ppo.presets import DEFAULT_ENV, PRESETS
from jaxrl.core.returns import gae
from jaxrl.core.running_stats import RunningStats

__all__ = [
    "DEFAULT_ENV",
    "PPO",
    "PRESETS",
    "Batch",
    "Config",
    "CuriosityConfig",
    "LossTerms",
    "Networks",
    "Params",
    "Rollout",
    "RunningStats",
    "TrainState",
    "categorical_entropy",
    "categorical_log_prob",
    "clipped_surrogate_loss",
    "clipped_value_loss",
    "gae",
    "gaussian_entropy",
    "gaussian_log_prob",
    "make",
    "networks",
    "squared_value_loss",
]

#: The registry's record (``jaxrl.algos.get("ppo")``).
PPO = Algorithm(
    name="ppo", config=Config, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="PPO: clipped ratio, GAE, minibatch epochs; discrete or Gaussian actions; optional curiosity",
    supports=frozenset({"discrete", "continuous"}),
)
