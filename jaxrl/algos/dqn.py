"""Deep Q-networks as one configurable agent (Mnih et al., 2015, and its extensions).

One update = ``collect`` (one epsilon-greedy step of ``num_envs`` environment copies,
whose ``num_envs`` transitions go into one replay buffer) -> ``learn`` (after
``learning_starts`` environment steps, every ``train_every`` updates,
``gradient_steps`` gradient steps on sampled batches, each followed by the target
network update). Every extension is a config field:

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
  ``num_quantiles`` quantiles, quantile Huber loss with threshold ``kappa``). The maths
  is in ``jaxrl.core.value_targets``. Every other switch applies unchanged: replay, target
  network, double (the online network's expected values pick the next action), dueling
  (value and advantage heads per atom), n-step. Actions (acting and targets) are greedy
  by the distribution's expected value; prioritised replay uses each transition's loss
  as its priority; ``loss`` and ``huber_delta`` apply to ``"none"`` only. The registry
  serves the two as ``c51`` and ``qrdqn`` too (``for_name``: this module with another
  ``Config`` default and presets);
* ``torso``: ``"mlp"``, ``"conv"`` (one 3x3 convolution of 16 channels before the
  hidden layers, MinAtar's baseline) or ``"auto"`` (conv for image observations such as
  MinAtar's 10x10 planes, ``jaxrl.core.networks.choose_torso``), or ``"relational"`` (chapter
  10: the image's cells as entities, ``attention_heads`` heads of self-attention,
  max-pooled or flattened (``attention_pool``), ``jaxrl.core.networks.relational_features``;
  presets ``doorkey_book``, ``doorkey``).

Termination vs truncation: every stored transition keeps the observation the step
produced before auto-reset (``info["final_observation"]``) and the two flags, so a
time-limit cut bootstraps from the true last state and only termination zeroes the
bootstrap (``jaxrl.core.value_targets``).

Training many seeds: ``jax.jit(jax.vmap(agent.train))(keys)``. The step counters in
the training state do not depend on the key, so under ``vmap`` they stay unbatched
and the warm-up / ``train_every`` / hard-copy branches remain real branches.

``PRESETS`` holds the sources' settings (the book's chapter 3 agents, the
MountainCar article) and jaxrl's tuned ones; ``preset_env(name)`` builds the matching
environment.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv
from jaxrl.algos import curiosity
from jaxrl.core import replay, value_targets
from jaxrl.core.config import check_leaves, closest, is_traced
from jaxrl.core.config import static as _static
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.networks import (
    ACTIVATIONS, RELATIONAL_TORSOS, channel_categories, choose_torso, conv_features,
    encode_observation, observation_input, relational_features,
)
from jaxrl.core.presets import Preset
from jaxrl.core.schedules import learning_rate

Array = jax.Array

__all__ = [
    "DEFAULT_ENV",
    "PRESETS",
    "C51Config",
    "Config",
    "DistributionalAgent",
    "QNetwork",
    "QRDQNConfig",
    "ReturnDistribution",
    "TrainState",
    "epsilon_by_step",
    "epsilon_greedy",
    "for_name",
    "init_params",
    "make",
    "preset_env",
    "q_network",
]

REPLAY_KINDS = ("uniform", "prioritized", "none")
TARGET_KINDS = ("hard", "polyak", "none")
LOSS_KINDS = ("huber", "mse")
EPSILON_SCHEDULES = ("linear", "exponential", "constant")
DISTRIBUTIONS = ("none", "categorical", "quantile")
ATTENTION_POOLS = ("max", "flatten")


# --------------------------------------------------------------------------------- config
@struct.dataclass
class Config:
    """DQN settings. The defaults are jaxrl's tuned CartPole-v1 setting (greedy return
    500 on 8 of 8 seeds, ``benchmarks/dqn_cartpole.py``).

    Static fields (shapes, loop lengths, switches; changing one recompiles) come
    first; the rest are pytree leaves, so a sweep can vmap over them. Step counts
    are environment steps of one seed (all ``num_envs`` copies together).
    """

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(8)  # environment copies stepped per update
    total_env_steps: int = _static(200_000)  # environment steps in a run (all copies)
    hidden: tuple[int, ...] = _static((64, 64))  # Q-network hidden widths
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    dueling: bool = _static(False)  # value + advantage heads
    double: bool = _static(True)  # double DQN targets
    replay: str = _static("uniform")  # "uniform", "prioritized" or "none" (online)
    buffer_size: int = _static(50_000)  # transitions kept (a multiple of num_envs)
    batch_size: int = _static(128)  # transitions per gradient step (replay only)
    learning_starts: int = _static(1_000)  # environment steps before the first gradient step
    train_every: int = _static(1)  # updates (env steps of all copies) between learning phases
    gradient_steps: int = _static(1)  # gradient steps per learning phase
    target: str = _static("polyak")  # "hard", "polyak" or "none"
    target_update_period: int = _static(500)  # gradient steps between hard copies
    n_steps: int = _static(3)  # n-step return horizon
    loss: str = _static("mse")  # "huber" or "mse"
    epsilon_schedule: str = _static("linear")  # "linear", "exponential" or "constant"
    anneal_lr: bool = _static(False)  # decay the learning rate linearly to 0 over the run
    scale_obs: bool = _static(False)  # rescale observations to [-1, 1] by the space's bounds
    torso: str = _static("auto")  # "mlp", "conv", "relational" or "auto" (conv for images)
    attention_heads: int = _static(3)  # relational torso: self-attention heads (the book's 3)
    attention_width: int = _static(64)  # relational torso: entity and per-head width
    attention_pool: str = _static("max")  # relational: "max" over entities (the source) or "flatten"
    distribution: str = _static("none")  # "none", "categorical" (C51) or "quantile" (QR-DQN)
    num_atoms: int = _static(51)  # categorical: atoms of the support
    num_quantiles: int = _static(51)  # quantile: quantiles per action
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 1e-3  # Adam learning rate
    adam_eps: float = 1e-8  # Adam epsilon
    gamma: float = 0.99  # discount
    epsilon_start: float = 1.0  # exploration rate at step 0 (the constant schedule's value)
    epsilon_end: float = 0.05  # exploration rate reached at the end of the decay
    epsilon_decay_steps: float = 20_000.0  # linear: steps to reach end; exponential: time constant
    tau: float = 0.005  # Polyak rate (target "polyak")
    max_grad_norm: float = 10.0  # global gradient-norm clip; 0 turns clipping off
    huber_delta: float = 1.0  # Huber threshold
    priority_alpha: float = 0.6  # prioritisation exponent
    priority_beta_start: float = 0.4  # importance-weight exponent at step 0
    priority_beta_end: float = 1.0  # ... annealed linearly to this at the end of the run
    priority_eps: float = 0.01  # added to |td| so no transition gets priority 0
    v_min: float = -10.0  # categorical: lowest atom of the support (the book's -10)
    v_max: float = 10.0  # categorical: highest atom (the book's 10)
    kappa: float = 1.0  # quantile: Huber threshold of the quantile Huber loss
    # --- curiosity (chapter 8, jaxrl.algos.curiosity; the book's ICM around a Q-learner) -----
    # The stored reward is extrinsic_coef * r + r_int; the module trains on each step's
    # transitions with its own Adam (jaxrl.algos.curiosity.online_step). "none": plain DQN.
    curiosity: str = _static("none")  # "none", "icm" or "rnd"
    curiosity_hidden: tuple[int, ...] = _static((64,))  # hidden widths of its networks
    curiosity_features: int = _static(32)  # ICM encoding / RND target output width
    curiosity_beta: float = 0.2  # ICM: forward weight, inverse weight 1 - beta (the book's)
    curiosity_eta: float = 1.0  # intrinsic reward scale (the book's)
    curiosity_lr: float = 1e-3  # the curiosity networks' Adam learning rate
    extrinsic_coef: float = 1.0  # weight of the env's reward with curiosity (0: pure curiosity)

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_env_steps // num_envs``."""
        return self.total_env_steps // self.num_envs

    @property
    def buffer_rows(self) -> int:
        """Steps kept per environment copy, ``buffer_size // num_envs``."""
        return self.buffer_size // self.num_envs

    def validate(self) -> Config:
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked; leaves when concrete (not traced).
        """
        positive = (
            "num_envs", "total_env_steps", "buffer_size", "batch_size", "train_every",
            "gradient_steps", "target_update_period", "n_steps", "attention_heads",
            "attention_width",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"dqn.Config.{name} must be a positive integer, got {value!r}")
        if isinstance(self.learning_starts, bool) or not isinstance(
            self.learning_starts, (int, np.integer)
        ) or self.learning_starts < 0:
            raise ValueError(
                f"dqn.Config.learning_starts must be an integer >= 0, got {self.learning_starts!r}"
            )
        if self.num_updates < 1:
            raise ValueError(
                f"dqn.Config: total_env_steps={self.total_env_steps} is less than one step of "
                f"num_envs={self.num_envs} copies"
            )
        for name, value, kinds in (
            ("replay", self.replay, REPLAY_KINDS),
            ("target", self.target, TARGET_KINDS),
            ("loss", self.loss, LOSS_KINDS),
            ("epsilon_schedule", self.epsilon_schedule, EPSILON_SCHEDULES),
            ("activation", self.activation, tuple(ACTIVATIONS)),
            ("distribution", self.distribution, DISTRIBUTIONS),
            ("torso", self.torso, RELATIONAL_TORSOS),
            ("attention_pool", self.attention_pool, ATTENTION_POOLS),
            ("curiosity", self.curiosity, curiosity.KINDS),
        ):
            if value not in kinds:
                raise ValueError(
                    f"dqn.Config.{name} {value!r} unknown; choose from {', '.join(kinds)}"
                )
        if not isinstance(self.hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
            for w in self.hidden
        ):
            raise ValueError(
                f"dqn.Config.hidden must be a tuple of positive integers, got {self.hidden!r}"
            )
        if self.dueling and not self.hidden:
            raise ValueError("dqn.Config: dueling heads need at least one hidden layer")
        for name in ("num_atoms", "num_quantiles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
                raise ValueError(f"dqn.Config.{name} must be an integer >= 2, got {value!r}")
        if not (is_traced(self.v_min) or is_traced(self.v_max)) and not np.all(
            np.asarray(self.v_min, np.float64) < np.asarray(self.v_max, np.float64)
        ):
            raise ValueError(
                f"dqn.Config: v_min={self.v_min!r} must be below v_max={self.v_max!r}"
            )
        if self.replay == "none":
            if self.n_steps != 1:
                raise ValueError(
                    "dqn.Config: n_steps > 1 needs a replay buffer (online learning sees one "
                    "step at a time); set replay='uniform' or n_steps=1"
                )
        else:
            if self.buffer_size % self.num_envs:
                raise ValueError(
                    f"dqn.Config: buffer_size={self.buffer_size} must be a multiple of "
                    f"num_envs={self.num_envs} (the buffer keeps whole steps of all copies)"
                )
            if self.buffer_rows < self.n_steps:
                raise ValueError(
                    f"dqn.Config: the buffer keeps {self.buffer_rows} steps per copy, fewer than "
                    f"n_steps={self.n_steps}"
                )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "epsilon_decay_steps": (lambda v: v > 0, "> 0"),
            "tau": (lambda v: (v > 0) & (v <= 1), "in (0, 1]"),
            "max_grad_norm": (lambda v: v >= 0, ">= 0"),
            "huber_delta": (lambda v: v > 0, "> 0"),
            "priority_alpha": (lambda v: v >= 0, ">= 0"),
            "priority_beta_start": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "priority_beta_end": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "priority_eps": (lambda v: v > 0, "> 0"),
            "v_min": (lambda v: np.ones_like(v, bool), "finite"),
            "v_max": (lambda v: np.ones_like(v, bool), "finite"),
            "kappa": (lambda v: v > 0, "> 0"),
            "curiosity_beta": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "curiosity_eta": (lambda v: v >= 0, ">= 0"),
            "curiosity_lr": (lambda v: v > 0, "> 0"),
            "extrinsic_coef": (lambda v: v >= 0, ">= 0"),
        }
        check_leaves(
            "dqn.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        return self


def epsilon_by_step(
    schedule: str, step: Array, start: Array | float, end: Array | float, decay_steps: Array | float
) -> Array:
    """Exploration rate after ``step`` environment steps.

    * ``"linear"``: ``start + (end - start) * min(1, step / decay_steps)``;
    * ``"exponential"``: ``end + (start - end) * exp(-step / decay_steps)``
      (``decay_steps`` is the time constant);
    * ``"constant"``: ``start``.

    Returns:
        float32[].
    """
    step = jnp.asarray(step, jnp.float32)
    if schedule == "linear":
        frac = jnp.minimum(step / decay_steps, 1.0)
        eps = start + (end - start) * frac
    elif schedule == "exponential":
        eps = end + (start - end) * jnp.exp(-step / decay_steps)
    elif schedule == "constant":
        eps = start + 0.0 * step
    else:
        raise ValueError(f"unknown epsilon schedule {schedule!r}; choose from {EPSILON_SCHEDULES}")
    return jnp.asarray(eps, jnp.float32)


def epsilon_greedy(key: Array, q: Array, epsilon: Array | float) -> Array:
    """Epsilon-greedy actions: ``float32[..., num_actions]`` values -> ``int32[...]``.

    With probability ``epsilon`` a uniformly random action (which may be the greedy
    one), else ``argmax q`` (lowest index on ties). One uniform draw per action
    serves both choices (it keeps the compiled program small: every random call
    adds a counter-hash circuit to it).
    """
    num_actions = q.shape[-1]
    u = jax.random.uniform(key, (2, *q.shape[:-1]))
    greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
    random = jnp.minimum((u[1] * num_actions).astype(jnp.int32), num_actions - 1)
    return jnp.where(u[0] < epsilon, random, greedy)


# --------------------------------------------------------------------------------- network
class QNetwork(nn.Module):
    """MLP from an observation to one value per action (or one distribution per action).

    The last ``obs_ndim`` axes are flattened (leading axes are batch); a Discrete
    observation (``obs_categories > 0``) is one-hot encoded first. ``torso="conv"``
    reads an image observation with ``jaxrl.core.networks.conv_features`` first. With
    ``dueling`` the last hidden layer feeds a value head (1 unit) and an advantage
    head (``num_actions`` units), combined by ``value_targets.dueling_aggregate``.

    ``num_atoms = 0``: output ``float32[..., num_actions]``. ``num_atoms = N > 0``
    (distributional): ``float32[..., num_actions, N]`` (C51's logits or QR-DQN's
    quantiles); dueling heads then combine per atom, ``v[j] + A[a, j] - mean_b A[b, j]``.
    """

    hidden: tuple[int, ...]
    num_actions: int
    act: str = "relu"
    dueling: bool = False
    obs_ndim: int = 1
    obs_low: tuple[float, ...] | None = None  # with obs_high: rescale the flat obs to [-1, 1]
    obs_high: tuple[float, ...] | None = None
    obs_categories: int = 0  # > 0: a Discrete observation, one-hot encoded
    num_atoms: int = 0  # > 0: a distribution of num_atoms numbers per action
    torso: str = "mlp"  # "mlp", "conv" or "relational" (resolved, see networks.choose_torso)
    channel_categories: tuple[int, ...] = ()  # relational: one-hot sizes of the channels
    attention_heads: int = 3  # relational: heads
    attention_width: int = 64  # relational: entity width
    attention_pool: str = "max"  # relational: "max" or "flatten"

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        if self.torso == "relational":
            # The attention weights are kept as an intermediate ("attention"), for pictures.
            x, attention = relational_features(
                obs, self.obs_ndim, self.channel_categories, self.attention_heads,
                self.attention_width, self.attention_pool,
            )
            self.sow("intermediates", "attention", attention)
            obs_shape = None
        elif self.torso == "conv":
            x = jnp.asarray(obs, jnp.float32)
            obs_shape = x.shape[x.ndim - self.obs_ndim:]
        else:
            x = encode_observation(obs, self.obs_ndim, self.obs_categories)
            obs_shape = x.shape[-1:]
        if self.obs_low is not None and obs_shape is not None:
            low = np.asarray(self.obs_low, np.float32).reshape(obs_shape)
            high = np.asarray(self.obs_high, np.float32).reshape(obs_shape)
            x = (x - (high + low) / 2) / ((high - low) / 2)
        if self.torso == "conv":
            x = conv_features(x, self.obs_ndim)
        act = ACTIVATIONS[self.act]
        for width in self.hidden:
            x = act(nn.Dense(width)(x))
        atoms = max(self.num_atoms, 1)
        if not self.dueling:
            out = nn.Dense(self.num_actions * atoms)(x)
            if not self.num_atoms:
                return out
            return out.reshape(*out.shape[:-1], self.num_actions, atoms)
        value = nn.Dense(atoms, name="value")(x)
        advantages = nn.Dense(self.num_actions * atoms, name="advantage")(x)
        batch_shape = advantages.shape[:-1]
        if not self.num_atoms:
            flat_v = value.reshape(-1)
            flat_a = advantages.reshape(-1, self.num_actions)
            q = jax.vmap(value_targets.dueling_aggregate)(flat_v, flat_a)
            return q.reshape(*batch_shape, self.num_actions)
        # One dueling aggregation per atom: [..., atoms] values, [..., atoms, actions] advantages.
        adv = jnp.swapaxes(advantages.reshape(*batch_shape, self.num_actions, atoms), -1, -2)
        q = jax.vmap(value_targets.dueling_aggregate)(
            value.reshape(-1), adv.reshape(-1, self.num_actions)
        )
        return jnp.swapaxes(q.reshape(*batch_shape, atoms, self.num_actions), -1, -2)


def init_params(network: nn.Module, key: Array, obs: Array) -> Any:
    """Parameters for ``network`` drawn PyTorch's default way (the book's code uses it).

    Every Dense and Conv layer's kernel and bias ~ ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    (a convolution's fan-in is kernel height x width x input channels).
    All values come from ONE uniform draw, sliced per leaf: flax's own init draws
    per parameter (a key fold-in plus a truncated normal each), which under ``vmap``
    over seeds adds seconds of XLA compile time for no benefit here.

    Args:
        network: a module made only of ``nn.Dense`` / ``nn.Conv`` layers (``QNetwork``).
        key: PRNG key.
        obs: an example input (shape only).
    """
    shapes = jax.eval_shape(network.init, key, obs)
    layers = shapes["params"]
    total = sum(leaf.size for layer in layers.values() for leaf in layer.values())
    u = jax.random.uniform(key, (total,), jnp.float32, -1.0, 1.0)
    params, offset = {}, 0
    for name, layer in layers.items():
        bound = 1.0 / np.sqrt(np.prod(layer["kernel"].shape[:-1]))
        params[name] = {}
        for leaf_name in ("kernel", "bias"):
            shape = layer[leaf_name].shape
            size = int(np.prod(shape))
            params[name][leaf_name] = bound * u[offset: offset + size].reshape(shape)
            offset += size
    return {"params": params}


# --------------------------------------------------------------------------------- state
@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next.

    Attributes:
        params: online Q-network parameters.
        target_params: target-network parameters (a copy of ``params`` when unused).
        opt_state: Adam state.
        env_state: ``num_envs`` environment states (``EpisodeStatistics``-wrapped).
        obs: [num_envs, *obs_shape] current observations, as the env returns them.
        buffer: ``replay.ReplayBuffer`` (one row when ``replay="none"``); observations
            stored in ``replay.storage_dtype`` of the observation space.
        key: PRNG key, split on every use.
        env_steps: int32[] environment steps taken by all copies.
        grad_steps: int32[] gradient steps taken.
        updates: int32[] updates taken.
    """

    params: Any
    target_params: Any
    opt_state: Any
    env_state: Any
    obs: Any
    buffer: replay.ReplayBuffer
    key: Array
    env_steps: Array
    grad_steps: Array
    updates: Array
    curiosity: Any = None  # jaxrl.algos.curiosity.CuriosityState (Config.curiosity != "none")
    exploration: Any = None  # jaxrl.algos.curiosity.ExplorationState (visit counts), with curiosity


@struct.dataclass
class ReturnDistribution:
    """The learned return distribution of every action at one state, for pictures.

    Attributes:
        atoms: float32[num_actions, n] returns: C51's support (the same row for every
            action), QR-DQN's quantiles (ascending once trained, not forced).
        probs: float32[num_actions, n] the probability of each atom (QR-DQN: ``1 / n``).
        kind: ``"categorical"`` or ``"quantile"`` (static).
    """

    atoms: Array
    probs: Array
    kind: str = struct.field(pytree_node=False, default="categorical")

    @property
    def mean(self) -> Array:
        """float32[num_actions] expected returns (the values actions are greedy by)."""
        return jnp.sum(self.atoms * self.probs, axis=-1)


@dataclasses.dataclass(frozen=True)
class DistributionalAgent(Agent):
    """A DQN ``Agent`` that learns return distributions (``distribution != "none"``).

    Attributes:
        distribution: ``(state, obs) -> ReturnDistribution`` for one unbatched
            observation; ``values(state, obs)`` is its ``mean``.
    """

    distribution: Callable[[Any, Any], ReturnDistribution] | None = None


@struct.dataclass
class LearnStats:
    loss: Array  # float32[] mean loss of the phase
    q_mean: Array  # float32[] mean Q(s, a) of the sampled actions
    td_abs: Array  # float32[] mean |td error|


# --------------------------------------------------------------------------------- make
def q_network(config: Config, env: Environment, env_params: Any = None) -> QNetwork:
    """The Q-network ``make`` trains for ``env``: ``network.apply(state.params, obs)``
    gives ``float32[..., num_actions]`` (distributional: ``[..., num_actions, atoms]``,
    C51's logits or QR-DQN's quantiles).

    Raises:
        ValueError: the action space is not a scalar ``Discrete``, or the observations
            are neither a ``Box`` nor one ``Discrete``.
    """
    action_space = env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete) or action_space.shape != ():
        raise ValueError(
            f"dqn needs a single Discrete action (one Q-value per action), but {env.name} "
            f"has actions {action_space!r}; use ppo for continuous actions"
        )
    obs_space = env.observation_space(env_params)
    inp = observation_input(obs_space, "dqn", env.name)
    low = high = None
    torso = choose_torso(config.torso, inp, "dqn.Config.torso", RELATIONAL_TORSOS)
    if config.scale_obs and torso == "relational":
        raise ValueError("dqn.Config.scale_obs does not apply to the relational torso (it reads "
                         "each cell's channels itself); leave scale_obs False")
    if config.scale_obs:
        if inp.num_categories:
            raise ValueError(
                f"dqn.Config.scale_obs needs a Box observation space, but {env.name} observes "
                f"{obs_space!r} (one-hot encoded; nothing to scale)"
            )
        low = np.asarray(obs_space.low, np.float64).reshape(-1)
        high = np.asarray(obs_space.high, np.float64).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
            raise ValueError(
                "dqn.Config.scale_obs needs an observation space with finite bounds, "
                f"got {obs_space!r}"
            )
        low, high = tuple(low.tolist()), tuple(high.tolist())
    atoms = {"none": 0, "categorical": config.num_atoms, "quantile": config.num_quantiles}
    return QNetwork(
        hidden=tuple(config.hidden), num_actions=action_space.n, act=config.activation,
        dueling=config.dueling, obs_ndim=inp.ndim, obs_low=low, obs_high=high,
        obs_categories=inp.num_categories, num_atoms=atoms[config.distribution],
        torso=torso, channel_categories=channel_categories(obs_space),
        attention_heads=config.attention_heads, attention_width=config.attention_width,
        attention_pool=config.attention_pool,
    )


def make(config: Config, env: Environment, env_params: Any = None) -> Agent:
    """Build the DQN agent for ``env`` (a discrete-action ``Environment``).

    Args:
        config: a ``Config``; validated here.
        env: an unwrapped or wrapped single environment; the agent adds
            ``EpisodeStatistics`` and steps ``config.num_envs`` copies with ``VecEnv``.
        env_params: the env's params (default: ``env.default_params``).

    Returns:
        ``jaxrl.core.agent.Agent``; its ``act(state, obs, key, greedy)`` takes one
        unbatched observation and returns an int32[] action (epsilon-greedy at the
        state's current epsilon unless ``greedy``).

    Raises:
        ValueError: a bad config or a non-discrete action space.
    """
    config.validate()
    if env_params is None:
        env_params = env.default_params
    network = q_network(config, env, env_params)
    venv = VecEnv(EpisodeStatistics(env), config.num_envs, reset_pool=0)
    # Observations sit in the buffer in the narrowest exact dtype (bool for MinAtar's
    # 0/1 planes; float observations stay float32) and are sampled back as they came.
    obs_storage = replay.storage_dtype(env.observation_space(env_params))
    c = config
    num_updates = c.num_updates
    online = c.replay == "none"
    batch_size = c.num_envs if online else c.batch_size
    rows = 1 if online else c.buffer_rows

    # The schedule counts gradient steps: about num_updates * gradient_steps / train_every.
    lr_schedule = learning_rate(
        c.lr, c.anneal_lr, max(num_updates * c.gradient_steps // c.train_every, 1), schedule=True
    )
    optimizer = optax.adam(lr_schedule, eps=c.adam_eps)

    def clip_grads(grads: Any) -> Any:
        norm = optax.tree.norm(grads)
        scale = jnp.where(
            c.max_grad_norm > 0,
            jnp.minimum(1.0, c.max_grad_norm / jnp.maximum(norm, 1e-12)),
            1.0,
        )
        return jax.tree.map(lambda g: g * scale, grads)

    def epsilon(env_steps: Array) -> Array:
        return epsilon_by_step(
            c.epsilon_schedule, env_steps, c.epsilon_start, c.epsilon_end, c.epsilon_decay_steps
        )

    distributional = c.distribution != "none"
    if c.distribution == "categorical":
        support = jnp.linspace(c.v_min, c.v_max, c.num_atoms, dtype=jnp.float32)
    elif c.distribution == "quantile":
        tau = value_targets.quantile_midpoints(c.num_quantiles)

    def expected(out: Array) -> Array:
        """Network output -> float32[..., num_actions] (expected) values."""
        if c.distribution == "categorical":
            return value_targets.categorical_expectation(support, jax.nn.softmax(out))
        if c.distribution == "quantile":
            return jnp.mean(out, axis=-1)
        return out

    def q_values(params: Any, obs: Array) -> Array:
        if distributional:
            return expected(network.apply(params, obs))
        return network.apply(params, obs)

    # Curiosity (jaxrl.algos.curiosity): None is plain DQN, the same program as without it.
    curious = curiosity.from_config(c, env, env_params, "dqn")
    cover = curiosity.coverage(env, env_params) if curious is not None else None

    # ----------------------------------------------------------------------------- init
    def init(key: Array) -> TrainState:
        k_net, k_env, k_state = jax.random.split(key, 3)
        obs, env_state = venv.reset(k_env, env_params)
        params = init_params(network, k_net, obs[:1])
        example = replay.Transition(
            obs=obs[0], action=jnp.zeros((), jnp.int32), reward=jnp.zeros((), jnp.float32),
            next_obs=obs[0], terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool),
        )
        k_state, extras = curious_init(k_state)
        return TrainState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=obs,
            buffer=replay.init(example, rows, c.num_envs, obs_storage,
                               prioritized=c.replay == "prioritized"),
            key=k_state,
            env_steps=jnp.zeros((), jnp.int32),
            grad_steps=jnp.zeros((), jnp.int32),
            updates=jnp.zeros((), jnp.int32),
            **extras,
        )

    # ----------------------------------------------------------------------------- collect
    def collect(state: TrainState, key: Array) -> tuple[TrainState, Metrics]:
        k_explore, k_env = jax.random.split(key)
        eps = epsilon(state.env_steps)
        q = q_values(state.params, state.obs)
        action = epsilon_greedy(k_explore, q, eps)
        obs, env_state, reward, terminated, truncated, info = venv.step(
            k_env, state.env_state, action, env_params
        )
        transition = replay.Transition(
            obs=state.obs, action=action, reward=reward.astype(jnp.float32),
            next_obs=info["final_observation"], terminated=terminated, truncated=truncated,
        )
        state, transition, found = curious_collect(state, transition, info)  # r + r_int
        state = state.replace(
            env_state=env_state, obs=obs, env_steps=state.env_steps + c.num_envs,
            buffer=replay.add(state.buffer, transition),
        )
        return state, {**episode_metrics(info), "epsilon": eps, **found}

    # ----------------------------------------------------------------------------- curiosity
    def curious_init(key: Array) -> tuple[Array, dict[str, Any]]:
        """The state's key and its curiosity fields (unchanged and none without curiosity:
        plain DQN's draws stay as they were)."""
        if curious is None:
            return key, {}
        key, k_cur = jax.random.split(key)
        extras = {"curiosity": curious.init(k_cur)}
        if cover is not None:
            extras["exploration"] = curiosity.ExplorationState.create(cover.num_cells)
        return key, extras

    def curious_collect(
        state: TrainState, transition: replay.Transition, info: Metrics
    ) -> tuple[TrainState, replay.Transition, Metrics]:
        """With curiosity: the step's reward becomes ``extrinsic_coef * r + r_int`` before
        it is stored, and the module learns from the step (``curiosity.online_step``)."""
        if curious is None:
            return state, transition, {}
        reward, cur, visits, found = curiosity.online_step(
            curious, cover, state.curiosity, state.exploration,
            (transition.obs, transition.action, transition.next_obs), transition.reward, info,
            c.extrinsic_coef)
        return (state.replace(curiosity=cur, exploration=visits),
                transition.replace(reward=reward), found)

    # ----------------------------------------------------------------------------- learn
    def loss_fn(params, target_params, batch: replay.NStepBatch, weight: Array):
        # Two calls, not one on the concatenated batch: a joint call makes the backward
        # pass run over both halves, although the next-observation half has no gradient
        # (about 30 % of an update's time at batch 128).
        q_tm1 = q_values(params, batch.obs)
        if c.double or c.target == "none":
            q_t_online = q_values(jax.lax.stop_gradient(params), batch.next_obs)
        q_t_target = q_t_online if c.target == "none" else q_values(target_params, batch.next_obs)
        if c.double:
            target = jax.vmap(value_targets.double_q_learning_target)(
                batch.reward, batch.discount, q_t_target, q_t_online
            )
        else:
            target = jax.vmap(value_targets.q_learning_target)(
                batch.reward, batch.discount, q_t_target
            )
        q_taken = jnp.take_along_axis(q_tm1, batch.action[:, None], axis=-1)[:, 0]
        td = target - q_taken
        loss = value_targets.td_loss(td, weight, c.loss, c.huber_delta)
        return loss, (td, q_taken, td)

    def distributional_loss_fn(params, target_params, batch: replay.NStepBatch, weight: Array):
        """C51's cross-entropy or QR-DQN's quantile Huber loss; the same network roles
        as ``loss_fn`` (online / target, double selection by expected value)."""
        out_tm1 = network.apply(params, batch.obs)
        if c.double or c.target == "none":
            out_t_online = network.apply(jax.lax.stop_gradient(params), batch.next_obs)
        if c.target == "none":
            out_t_target = out_t_online
        else:
            out_t_target = network.apply(target_params, batch.next_obs)
        selector = expected(out_t_online if c.double else out_t_target)
        out_taken = jnp.take_along_axis(out_tm1, batch.action[:, None, None], axis=1)[:, 0]
        if c.distribution == "categorical":
            target = jax.vmap(value_targets.categorical_q_learning_target,
                              in_axes=(0, 0, None, 0, 0))(
                batch.reward, batch.discount, support, jax.nn.softmax(out_t_target), selector
            )
            per_sample = jax.vmap(value_targets.categorical_cross_entropy)(out_taken, target)
            q_taken = value_targets.categorical_expectation(support, jax.nn.softmax(out_taken))
            target_mean = value_targets.categorical_expectation(support, target)
        else:
            target = jax.vmap(value_targets.quantile_q_learning_target)(
                batch.reward, batch.discount, out_t_target, selector
            )
            per_sample = jax.vmap(value_targets.quantile_huber_loss, in_axes=(0, 0, None, None))(
                out_taken, target, tau, c.kappa
            )
            q_taken = jnp.mean(out_taken, axis=-1)
            target_mean = jnp.mean(target, axis=-1)
        loss = jnp.mean(weight * per_sample)
        td = jax.lax.stop_gradient(target_mean - q_taken)
        # Prioritised replay ranks transitions by their own loss (Hessel et al., 2018 use
        # C51's KL, which differs from the cross-entropy by the target's entropy).
        return loss, (td, q_taken, jax.lax.stop_gradient(per_sample))

    def sample(state: TrainState, key: Array) -> tuple[replay.SampleIndex, replay.NStepBatch]:
        buffer = state.buffer
        if c.replay == "prioritized":
            progress = jnp.minimum(state.env_steps / c.total_env_steps, 1.0)
            beta = c.priority_beta_start + (c.priority_beta_end - c.priority_beta_start) * progress
            index = replay.sample_proportional(buffer, key, batch_size, beta)
        elif c.replay == "uniform":
            index = replay.sample_uniform(buffer, key, batch_size)
        else:  # online: exactly the transitions just written (the buffer's one row)
            index = replay.SampleIndex(
                row=jnp.zeros((batch_size,), jnp.int32),
                env=jnp.arange(batch_size, dtype=jnp.int32),
                prob=jnp.full((batch_size,), 1.0 / batch_size),
                weight=jnp.ones((batch_size,), jnp.float32),
            )
        return index, replay.n_step_batch(buffer, index, c.n_steps, c.gamma)

    def gradient_step(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        index, batch = sample(state, key)
        (loss, (td, q_taken, priority)), grads = jax.value_and_grad(
            distributional_loss_fn if distributional else loss_fn, has_aux=True
        )(state.params, state.target_params, batch, index.weight)
        updates, opt_state = optimizer.update(clip_grads(grads), state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_steps = state.grad_steps + 1
        if c.target == "hard":
            copy = grad_steps % c.target_update_period == 0
            target_params = jax.tree.map(
                lambda p, t: jnp.where(copy, p, t), params, state.target_params
            )
        elif c.target == "polyak":
            target_params = optax.incremental_update(params, state.target_params, c.tau)
        else:
            target_params = state.target_params  # unused: targets use the online network
        buffer = state.buffer
        if c.replay == "prioritized":
            buffer = replay.update_priorities(
                buffer, index, priority, c.priority_eps, c.priority_alpha
            )
        state = state.replace(
            params=params, target_params=target_params, opt_state=opt_state,
            buffer=buffer, grad_steps=grad_steps,
        )
        return state, LearnStats(loss, jnp.mean(q_taken), jnp.mean(jnp.abs(td)))

    def learn(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        if c.gradient_steps == 1:
            return gradient_step(state, key)
        state, stats = jax.lax.scan(
            gradient_step, state, jax.random.split(key, c.gradient_steps)
        )
        return state, jax.tree.map(jnp.mean, stats)

    def skip(state: TrainState, key: Array) -> tuple[TrainState, LearnStats]:
        nan = jnp.full((), jnp.nan, jnp.float32)
        return state, LearnStats(nan, nan, nan)

    # ----------------------------------------------------------------------------- update
    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        state, metrics = collect(state.replace(key=key), k_collect)
        ready = (state.env_steps >= max(c.learning_starts, 1)) & (
            state.updates % c.train_every == 0
        )
        if not online:
            ready = ready & (state.buffer.num_transitions >= c.n_steps)
        state, stats = jax.lax.cond(ready, learn, skip, state, k_learn)
        state = state.replace(updates=state.updates + 1)
        metrics = {
            "env_steps": state.env_steps,
            **metrics,
            "loss": stats.loss,
            "q_mean": stats.q_mean,
            "td_abs": stats.td_abs,
        }
        return state, metrics

    # ----------------------------------------------------------------------------- act
    def act(state: TrainState, obs: Array, key: Array, greedy: bool = True) -> Array:
        q = q_values(state.params, obs[None])[0]  # distributional: expected values
        if greedy:
            return jnp.argmax(q).astype(jnp.int32)
        return epsilon_greedy(key, q, epsilon(state.env_steps))

    def values(state: TrainState, obs: Array) -> Array:
        return q_values(state.params, jnp.asarray(obs)[None])[0]

    if not distributional:
        return Agent(init=init, update=update, num_updates=num_updates, act=act,
                     config=config, values=values)

    def distribution(state: TrainState, obs: Array) -> ReturnDistribution:
        out = network.apply(state.params, jnp.asarray(obs)[None])[0]
        if c.distribution == "categorical":
            return ReturnDistribution(
                jnp.broadcast_to(support, out.shape), jax.nn.softmax(out), "categorical"
            )
        return ReturnDistribution(out, jnp.full(out.shape, 1.0 / out.shape[-1]), "quantile")

    return DistributionalAgent(init=init, update=update, num_updates=num_updates, act=act,
                               config=config, values=values, distribution=distribution)


# --------------------------------------------------------------------------------- presets
def _book(**overrides: Any) -> Config:
    """The book's chapter 3 network and optimiser: 64-150-100-4 ReLU, Adam 1e-3,
    gamma 0.9, MSE loss, one environment, no clipping, plain (not double) targets."""
    base = {
        "num_envs": 1, "hidden": (150, 100), "lr": 1e-3, "gamma": 0.9, "loss": "mse",
        "double": False, "max_grad_norm": 0.0, "learning_starts": 1, "n_steps": 1,
    }
    return Config(**{**base, **overrides})


#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"

#: Named settings (``jaxrl.core.presets.Preset``: config, environment, options, observation
#: noise): the sources' agents and jaxrl's tuned ones.
PRESETS: dict[str, Preset] = {
    # Chapter 3, listing "online": no replay, no target; 1000 games of static mode with
    # epsilon 1.0 -> 0.1 over the games. Static-mode games with a trained agent last 3
    # moves, early random ones ~ 10-50: ~ 10,000 steps; epsilon decays over them.
    "book_online": Preset(
        _book(replay="none", target="none", total_env_steps=10_000,
              epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=10_000.0),
        env="Gridworld-v0", env_options={"mode": "static", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="book ch. 3, online DQN, static mode",
    ),
    # Experience replay: buffer 500, batch 100, 3000 random-mode games of at most 50
    # moves, epsilon 0.3 -> 0.1 over the games (~ 25,000 steps, 8 a game early on).
    "book_replay": Preset(
        _book(replay="uniform", target="none", buffer_size=500, batch_size=100,
              learning_starts=100, total_env_steps=25_000, epsilon_start=0.3,
              epsilon_end=0.1, epsilon_decay_steps=25_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="book ch. 3, DQN + experience replay (86.5 % wins)",
    ),
    # Replay + target network: buffer 2000, batch 250, 5000 games of at most 100
    # moves, target synced every 500 steps (one gradient step per move).
    "book_target": Preset(
        _book(replay="uniform", target="hard", buffer_size=2000, batch_size=250,
              learning_starts=250, total_env_steps=40_000, target_update_period=500,
              epsilon_start=0.3, epsilon_end=0.1, epsilon_decay_steps=40_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 100},
        obs_noise=0.01,
        description="book ch. 3, DQN + replay + target network (over 90 % wins)",
    ),
    # The MountainCar article: MLP 32-32, Adam 1e-3, gamma 0.99, batch 64, replay
    # 50,000, target update every 1000 steps, training from step 2000, epsilon down
    # to 0.01, one environment, 120,000 steps.
    "mountaincar_article": Preset(
        Config(num_envs=1, total_env_steps=120_000, hidden=(32, 32), lr=1e-3, gamma=0.99,
               batch_size=64, buffer_size=50_000, target="hard", target_update_period=1000,
               learning_starts=2000, double=False, loss="mse", max_grad_norm=0.0, n_steps=1,
               epsilon_start=1.0, epsilon_end=0.01, epsilon_decay_steps=20_000.0),
        env="MountainCar-v0",
        description="MountainCar DQN article (-136.75 after 120,000 steps)",
    ),
    # jaxrl's tuned settings (see benchmarks/dqn_*.py for the measured results).
    "gridworld": Preset(
        Config(num_envs=32, total_env_steps=160_000, hidden=(64, 64), lr=3e-3, gamma=0.9,
               batch_size=64, buffer_size=32_000, learning_starts=2_000, target="hard",
               target_update_period=250, double=True, n_steps=1, loss="mse",
               epsilon_start=1.0, epsilon_end=0.05, epsilon_decay_steps=80_000.0),
        env="Gridworld-v0", env_options={"mode": "random", "max_steps_in_episode": 50},
        obs_noise=0.01,
        description="jaxrl tuned, random mode",
    ),
    "mountaincar": Preset(
        Config(num_envs=8, total_env_steps=120_000, hidden=(64, 64), lr=3e-3, gamma=0.99,
               batch_size=64, buffer_size=48_000, learning_starts=1_000, target="hard",
               replay="prioritized", priority_alpha=0.6, priority_beta_start=0.4,
               target_update_period=250, train_every=1, gradient_steps=2, double=True,
               n_steps=5, loss="mse", scale_obs=True, epsilon_start=1.0, epsilon_end=0.05,
               epsilon_decay_steps=30_000.0),
        env="MountainCar-v0",
        description="jaxrl tuned",
    ),
    "cartpole": Preset(
        Config(),
        env="CartPole-v1",
        description="jaxrl tuned (the defaults)",
    ),
    # Chapter 10: the relational (attention) DQN on DoorKey-5x5 with the book's five actions.
    # The source: 3 heads, replay 9000, batch 50, Adam 5e-4, gamma 0.99, target synced every
    # 100 steps, double DQN, -0.01 a step, a 400-step cap (benchmarks/doorkey.py).
    "doorkey_book": Preset(
        Config(torso="relational", attention_heads=3, num_envs=8, total_env_steps=200_000,
               hidden=(64,), buffer_size=9000, batch_size=50, lr=5e-4, gamma=0.99,
               target="hard", target_update_period=100, double=True, n_steps=1, loss="mse",
               learning_starts=500, max_grad_norm=0.0, epsilon_start=1.0, epsilon_end=0.1,
               epsilon_decay_steps=100_000.0),
        env="DoorKey-5x5-v0",
        env_options={"action_set": "book", "max_steps_in_episode": 400, "step_reward": -0.01},
        description="book ch. 10, relational DQN (at least 94 % solved)",
    ),
    # jaxrl's setting for the same task: MiniGrid's own rewards and 250-step cap, 3-step
    # double targets, a larger buffer, Huber loss, every entity's features kept
    # (attention_pool="flatten"; the max-pool learned nothing in 150k steps on 2 seeds),
    # and gamma 0.9. Why 0.9: a memoryless greedy policy loops forever wherever it values
    # a wasted step (a turn back, a bump into a wall) above the useful one, and with gamma
    # 0.99 a wasted step costs only ~1 % of the value: 2 seeds x 150k steps at 0.99 returned
    # 0.95 in training (epsilon 0.05) but solved 0 % and 85 % of 500 boards greedily
    # (84 % and 97 % at evaluation epsilon 0.05). With 0.9 a wasted step costs 10 %.
    # Why 150k steps: benchmarks/doorkey.py, 8 seeds, 1,000 fresh boards each, greedy: at
    # 100k steps 98.2 % (6 seeds 100 %, two still looping on some boards: 90.3 and 95.3 %),
    # at 150k 100.0 % on every seed (also at evaluation epsilon 0.01 and 0.05).
    "doorkey": Preset(
        Config(torso="relational", attention_heads=3, attention_width=16,
               attention_pool="flatten", num_envs=16, total_env_steps=150_000, hidden=(64,),
               buffer_size=50_000, batch_size=64, lr=5e-4, gamma=0.9, target="hard",
               target_update_period=250, double=True, n_steps=3, loss="huber",
               learning_starts=2_000, epsilon_start=1.0, epsilon_end=0.05,
               epsilon_decay_steps=50_000.0),
        env="DoorKey-5x5-v0", env_options={"action_set": "book"},
        description="jaxrl, relational DQN on DoorKey-5x5",
    ),
}


def preset_env(name: str, presets: dict[str, Preset] | None = None) -> tuple[Environment, Any]:
    """The environment a preset trains on, wrapped as its source did: ``(env, params)``.

    ``presets``: the table to look ``name`` up in (default ``PRESETS``; the ``c51`` and
    ``qrdqn`` views pass theirs).
    """
    from jaxrl import envs
    from jaxrl.envs.wrappers import ObservationNoise

    presets = PRESETS if presets is None else presets
    if name not in presets:
        raise ValueError(
            f"unknown DQN preset {name!r}.{closest(name, presets)} Presets: {', '.join(presets)}."
        )
    preset = presets[name]
    env, params = envs.make(preset.env, **preset.env_options)
    if preset.obs_noise > 0:
        env = ObservationNoise(env, preset.obs_noise)
    return env, params


# --------------------------------------------------------------------------------- c51 / qrdqn
#: The names this module serves in the registry (``jaxrl.algos.get``).
ALGORITHMS = ("dqn", "c51", "qrdqn")

#: The environment the distributional views train on when none is named: chapter 7's
#: Freeway, as gymnax's pure-JAX MinAtar port (10x10x7 boolean planes, 3 actions, 2500
#: steps an episode, reward 1 per crossing; never terminates, only time-limited).
DISTRIBUTIONAL_DEFAULT_ENV: str = "gymnax/Freeway-MinAtar"


#: Freeway-MinAtar settings shared by the distributional views' defaults (and plain DQN's
#: row of ``benchmarks/distributional.py``): conv torso (chosen automatically for the
#: 10x10 planes) and one 128-unit layer, 16 copies, a batch of 64 every second update
#: (every 32 env steps), 3-step double targets, a fast Polyak target network (tau 0.05:
#: C51 with dqn's 0.005 reached 6.8 crossings at 80k steps, with 0.05 17.0, measured on
#: 8 and 4 seeds), Adam 2e-3 for every head (the runs make only a few thousand gradient
#: steps; at 60,000 steps, greedy crossings over 8 seeds, 2e-3 against 1e-3: plain DQN
#: 25.0 vs 19.7, C51 22.5 vs 11.0 (4 seeds), QR-DQN 16.2 vs 20.2, within its spread),
#: epsilon 1 -> 0.05 over 20,000 steps, 80,000 steps (32 episodes of 2,500 steps across
#: the copies). ``benchmarks/distributional.py`` runs the three heads at exactly these
#: settings (150,000 steps).
FREEWAY = {
    "num_envs": 16, "total_env_steps": 80_000, "hidden": (128,), "batch_size": 64,
    "buffer_size": 32_000, "learning_starts": 2_000, "train_every": 2, "n_steps": 3,
    "target": "polyak", "tau": 0.05, "double": True, "lr": 2e-3,
    "epsilon_decay_steps": 20_000.0,
}

# Plain DQN at the same settings, so `jaxrl train dqn --preset freeway` is the third
# contestant of benchmarks/distributional.py (which checks that the three agree).
PRESETS["freeway"] = Preset(
    Config(**FREEWAY), env=DISTRIBUTIONAL_DEFAULT_ENV,
    description="jaxrl: the FREEWAY settings shared with c51 and qrdqn (plain value head)",
)


@struct.dataclass
class _FreewayConfig(Config):
    """``Config`` with the ``FREEWAY`` settings as defaults (shared by c51 and qrdqn)."""

    num_envs: int = _static(FREEWAY["num_envs"])
    total_env_steps: int = _static(FREEWAY["total_env_steps"])
    hidden: tuple[int, ...] = _static(FREEWAY["hidden"])
    batch_size: int = _static(FREEWAY["batch_size"])
    buffer_size: int = _static(FREEWAY["buffer_size"])
    learning_starts: int = _static(FREEWAY["learning_starts"])
    train_every: int = _static(FREEWAY["train_every"])
    epsilon_decay_steps: float = FREEWAY["epsilon_decay_steps"]
    tau: float = FREEWAY["tau"]
    lr: float = FREEWAY["lr"]


@struct.dataclass
class C51Config(_FreewayConfig):
    """``Config`` for ``c51``: ``distribution="categorical"``, 51 atoms on [0, 5], and the
    ``FREEWAY`` settings (Adam 2e-3, shared with plain DQN's and QR-DQN's Freeway runs) as
    defaults (the ``freeway`` preset).

    Why not the book's [-10, 10]: Freeway pays +1 per crossing and never less, so with
    gamma 0.99 a return is at most ``1 / (1 - 0.99**27) = 4.2`` (the fastest crossing
    takes about 27 steps) and a good policy's values lie in about [0.5, 2]. On
    [-10, 10] (atoms 0.4 apart) these fit on 5 atoms, half the support is never used,
    and a small logit change moves the expected value by the support's spread (std
    5.9): expected values start noisy and are learned slowly. Measured at 60,000 steps
    (4 seeds, greedy crossings, mean Q of the sampled actions): [-10, 10] 6.0 (Q 0.24),
    [0, 5] 11.0 (Q 0.70), [0, 3] 15.5 (Q 0.94); plain DQN 15.2 (Q 0.75). The run makes
    only ~1,900 gradient steps, and C51's cross-entropy moves the mean less per step
    than a regression: Adam 2e-3 on [0, 5] gave 26.2 (every seed >= 19, Q 1.08), while
    Dopamine's Adam epsilon 0.01/32 (made for 50M-frame runs) damped the small
    gradients to 0.8 (these measurements: Adam 1e-3 unless named). With every head at the
    same ``FREEWAY`` settings (Adam 2e-3) and 150,000 steps, ``benchmarks/distributional.py``
    measures C51 above plain DQN on 8 seeds (see its README row). The book's support is the
    ``freeway_book`` preset."""

    distribution: str = _static("categorical")
    v_min: float = 0.0
    v_max: float = 5.0


@struct.dataclass
class QRDQNConfig(_FreewayConfig):
    """``Config`` for ``qrdqn``: ``distribution="quantile"`` (51 quantiles, kappa 0.1) with
    the ``FREEWAY`` settings as defaults (the ``freeway`` preset).

    Why kappa 0.1, not QR-DQN's 1: the quantile Huber loss is quadratic for errors below
    kappa, and Freeway's returns lie in about [0.5, 2] with a spread of a few tenths, so
    with kappa 1 nearly every error is in the quadratic part: the loss fits expectiles,
    not quantiles, and they bunch at the mean (the learned quantiles of the start state
    spanned 0.93-1.22). On the 8 seeds of ``benchmarks/distributional.py`` (150,000
    steps, greedy crossings): kappa 1 39.3 (one seed 0), kappa 0.1 49.4 (seven seeds
    50-61, one 4.3); plain DQN 38.6, C51 50.9."""

    distribution: str = _static("quantile")
    kappa: float = 0.1


# CartPole-v1 for the distributional agents: dqn's tuned defaults (the ``cartpole``
# preset); C51's support covers CartPole's discounted returns (at most
# 1 / (1 - 0.99) = 100 with gamma 0.99).
_CARTPOLE = {
    "num_envs": 8, "total_env_steps": 200_000, "hidden": (64, 64), "batch_size": 128,
    "buffer_size": 50_000, "learning_starts": 1_000, "train_every": 1,
    "epsilon_decay_steps": 20_000.0, "tau": 0.005, "lr": 1e-3,
}

_VIEW_PRESETS: dict[str, dict[str, Preset]] = {
    "c51": {
        "freeway": Preset(
            C51Config(), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="jaxrl tuned: 51 atoms on [0, 5] (Freeway's returns), the shared "
                        "FREEWAY settings (the defaults)",
        ),
        "freeway_book": Preset(
            C51Config(v_min=-10.0, v_max=10.0), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="book ch. 7: 51 atoms on [-10, 10] (too wide for Freeway: slower)",
        ),
        "cartpole": Preset(
            C51Config(v_min=0.0, v_max=100.0, **_CARTPOLE), env="CartPole-v1",
            description="dqn's cartpole settings, 51 atoms on [0, 100]",
        ),
    },
    "qrdqn": {
        "freeway": Preset(
            QRDQNConfig(), env=DISTRIBUTIONAL_DEFAULT_ENV,
            description="QR-DQN, 51 quantiles, kappa 0.1 (Freeway's return scale; the "
                        "defaults)",
        ),
        "cartpole": Preset(
            QRDQNConfig(kappa=1.0, **_CARTPOLE), env="CartPole-v1",
            description="dqn's cartpole settings, 51 quantiles, kappa 1 (returns up to 100)",
        ),
    },
}
_VIEW_CONFIGS = {"c51": C51Config, "qrdqn": QRDQNConfig}


def for_name(name: str) -> types.ModuleType:
    """The registry hook: ``dqn`` itself, or a module-like view of it for ``c51`` / ``qrdqn``.

    A view is this module with another ``Config`` (``C51Config`` / ``QRDQNConfig``: the
    same fields, ``distribution`` and the Freeway defaults changed), its own ``PRESETS``
    and ``DEFAULT_ENV`` (Freeway-MinAtar); ``make`` and everything else are dqn's, so C51
    and QR-DQN share dqn's replay, target network, n-step, double, prioritised and
    epsilon machinery.
    """
    if name == "dqn":
        return sys.modules[__name__]
    if name not in _VIEW_CONFIGS:
        raise ValueError(f"dqn serves {', '.join(ALGORITHMS)}, not {name!r}")
    from jaxrl.algos import view

    presets = _VIEW_PRESETS[name]
    return view(sys.modules[__name__], name, Config=_VIEW_CONFIGS[name], PRESETS=presets,
                DEFAULT_ENV=DISTRIBUTIONAL_DEFAULT_ENV,
                preset_env=lambda preset, _p=presets: preset_env(preset, _p))
