"""Proximal policy optimisation (Schulman et al., 2017) with the clipped ratio.

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

* Curiosity (``curiosity="icm"|"rnd"``, chapter 8): ``jaxrl.algos.curiosity`` adds an
  intrinsic bonus to the rollout's rewards (``extrinsic_coef * r + r_int``) and its own
  loss beside PPO's in every minibatch (``curiosity_lambda * L_ppo + L_curiosity``, the
  two parameter sets apart). ``curiosity="none"`` (the default) is plain PPO, the same
  compiled program as before the option existed.

The loss terms are pure functions on flat ``[B]`` arrays with chex checks, each with
its equation: ``clipped_surrogate_loss``, ``clipped_value_loss``; the categorical and
Gaussian ``*_log_prob`` / ``*_entropy`` live in ``jaxrl.core.distributions`` (also
importable from here).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv
from jaxrl.algos import curiosity
from jaxrl.core.running_stats import RunningStats
from jaxrl.core.config import check_leaves
from jaxrl.core.config import static as _static
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.distributions import (  # noqa: F401  (also importable from here, as before)
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
)
from jaxrl.core.networks import (
    ACTIVATIONS, MLP, TORSOS, choose_torso, concrete_spaces, observation_input,
)
from jaxrl.core.presets import Preset
from jaxrl.core.schedules import learning_rate
from jaxrl.core.returns import gae
from jaxrl.core.rng import permutation

Array = jax.Array

__all__ = [
    "Config",
    "DEFAULT_ENV",
    "LossTerms",
    "PRESETS",
    "Params",
    "RunningStats",
    "TrainState",
    "categorical_entropy",
    "categorical_log_prob",
    "clipped_surrogate_loss",
    "clipped_value_loss",
    "gaussian_entropy",
    "gaussian_log_prob",
    "make",
    "networks",
]

# --------------------------------------------------------------------------------- config
@struct.dataclass
class Config:
    """PPO settings. Defaults are CleanRL's / PureJaxRL's CartPole settings.

    Static fields (shapes and loop lengths; changing one recompiles) come first; the
    rest are pytree leaves, so ``jaxrl.runs.sweep`` can vmap over them.
    """

    # --- static -------------------------------------------------------------------
    num_envs: int = _static(4)  # environment copies stepped together
    num_steps: int = _static(128)  # steps per copy per update (rollout length)
    epochs: int = _static(4)  # passes over each rollout
    minibatches: int = _static(4)  # minibatches per pass (must divide the batch)
    total_timesteps: int = _static(500_000)  # environment steps in a run (all copies)
    actor_hidden: tuple[int, ...] = _static((64, 64))  # policy MLP hidden widths
    critic_hidden: tuple[int, ...] = _static((64, 64))  # value MLP hidden widths
    activation: str = _static("tanh")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    torso: str = _static("auto")  # "mlp", "conv" or "auto" (jaxrl.core.networks.choose_torso)
    anneal_lr: bool = _static(True)  # decay lr linearly to 0 over the run
    normalize_advantages: bool = _static(True)  # standardise advantages per minibatch
    clip_value: bool = _static(True)  # clip the value loss around the old values
    normalize_obs: bool = _static(False)  # running mean/std observation normalisation
    # curiosity (chapter 8, jaxrl.algos.curiosity): "none", "icm" or "rnd"
    curiosity: str = _static("none")
    curiosity_hidden: tuple[int, ...] = _static((64,))  # hidden widths of its networks
    curiosity_features: int = _static(32)  # ICM encoding / RND target output width
    curiosity_normalize: bool = _static(True)  # bonus over the running std of the errors
    # non-episodic bonus: its own critic V_int and GAE (intrinsic_gamma), never cut at
    # an episode's end; advantages add up (Burda et al. 2018, RND). False: r + r_int
    intrinsic_critic: bool = _static(False)
    curiosity_normalize_obs: bool = _static(False)  # whiten the curiosity nets' input (RND)
    exploration_metrics: bool = _static(False)  # visits, furthest position (on with curiosity)
    # --- pytree leaves (sweepable) -------------------------------------------------
    lr: float = 2.5e-4  # Adam learning rate (peak, when annealed)
    clip_eps: float = 0.2  # policy ratio clip range epsilon
    vf_clip_eps: float = 0.2  # value clip range (used when clip_value)
    ent_coef: float = 0.01  # entropy bonus weight
    vf_coef: float = 0.5  # value loss weight
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    max_grad_norm: float = 0.5  # global gradient norm clip
    adam_eps: float = 1e-5  # Adam epsilon
    init_log_std: float = 0.0  # initial log std of the Gaussian policy (continuous only)
    reward_scale: float = 1.0  # rewards are multiplied by this for learning (not for metrics)
    curiosity_beta: float = 0.2  # ICM: forward weight, inverse weight 1 - beta (the book's)
    curiosity_lambda: float = 0.1  # weight of the PPO loss against the curiosity loss (book)
    curiosity_eta: float = 1.0  # intrinsic reward scale (the book's)
    curiosity_lr: float = 1e-3  # the curiosity networks' Adam learning rate
    extrinsic_coef: float = 1.0  # weight of the env's reward with curiosity (0: pure curiosity)
    intrinsic_gamma: float = 0.99  # discount of the bonus's returns (with intrinsic_critic)

    @property
    def batch_size(self) -> int:
        """Transitions per update, ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.minibatches

    @property
    def num_updates(self) -> int:
        """Updates in a run, ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    def validate(self) -> "Config":
        """Raise ``ValueError`` on a bad setting; returns ``self``.

        Static fields are always checked. Leaves are checked when concrete (a sweep
        validates every setting before it traces the batched config).
        """
        for name in ("num_envs", "num_steps", "epochs", "minibatches", "total_timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"ppo.Config.{name} must be a positive integer, got {value!r}")
        if self.batch_size % self.minibatches:
            raise ValueError(
                f"ppo.Config: minibatches={self.minibatches} must divide the batch "
                f"num_envs * num_steps = {self.batch_size}"
            )
        if self.num_updates < 1:
            raise ValueError(
                f"ppo.Config: total_timesteps={self.total_timesteps} is less than one batch "
                f"(num_envs * num_steps = {self.batch_size})"
            )
        for name in ("actor_hidden", "critic_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, tuple) or not all(
                isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
                for w in widths
            ):
                raise ValueError(
                    f"ppo.Config.{name} must be a tuple of positive integers, got {widths!r}"
                )
        if self.torso not in TORSOS:
            raise ValueError(
                f"ppo.Config.torso {self.torso!r} unknown; choose from {', '.join(TORSOS)}"
            )
        if self.curiosity not in curiosity.KINDS:
            raise ValueError(
                f"ppo.Config.curiosity {self.curiosity!r} unknown; "
                f"choose from {', '.join(curiosity.KINDS)}"
            )
        if not isinstance(self.curiosity_hidden, tuple) or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
            for w in self.curiosity_hidden
        ):
            raise ValueError(f"ppo.Config.curiosity_hidden must be a tuple of positive "
                             f"integers, got {self.curiosity_hidden!r}")
        f = self.curiosity_features
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 1:
            raise ValueError(f"ppo.Config.curiosity_features must be a positive integer, got {f!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"ppo.Config.activation {self.activation!r} unknown; "
                f"choose from {', '.join(ACTIVATIONS)}"
            )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "clip_eps": (lambda v: v > 0, "> 0"),
            "vf_clip_eps": (lambda v: v > 0, "> 0"),
            "ent_coef": (lambda v: v >= 0, ">= 0"),
            "vf_coef": (lambda v: v >= 0, ">= 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "gae_lambda": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "max_grad_norm": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
            "init_log_std": (lambda v: np.ones_like(v, bool), "finite"),
            "reward_scale": (lambda v: v > 0, "> 0"),
            "curiosity_beta": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "curiosity_lambda": (lambda v: v > 0, "> 0"),
            "curiosity_eta": (lambda v: v >= 0, ">= 0"),
            "curiosity_lr": (lambda v: v > 0, "> 0"),
            "extrinsic_coef": (lambda v: v >= 0, ">= 0"),
            "intrinsic_gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
        }
        check_leaves(
            "ppo.Config",
            {name: (getattr(self, name), ok, rule) for name, (ok, rule) in checks.items()},
        )
        return self


#: The curiosity presets' common settings: small networks, short rollouts, 2 epochs of 2
#: minibatches, a constant learning rate (a goal found late still gets learned).
_CURIOUS = Config(
    num_envs=16, num_steps=64, epochs=2, minibatches=2, total_timesteps=102_400,
    actor_hidden=(32,), critic_hidden=(32,), lr=1e-3, anneal_lr=False,
    curiosity_hidden=(32,), curiosity_features=16,
)

#: Named settings (``jaxrl.core.presets.Preset``), both for CartPole-v1. ``cleanrl``: the
#: defaults (CleanRL's and PureJaxRL's CartPole settings: two 64-unit tanh layers per
#: network, Adam 2.5e-4). ``cartpole``: tuned here for CartPole-v1 throughput: one
#: 32-unit tanh layer per network and Adam 1e-3, otherwise the defaults. Measured on a
#: 2-core CPU (two CPU devices, 16 seeds x 500,000 steps in one program): 0.8-0.9 s per
#: seed against 2.3 s for ``cleanrl``, and every one of 48 seeds ends at return 500
#: (``benchmarks/ppo_cartpole.py``).
PRESETS: dict[str, Preset] = {
    "cleanrl": Preset(
        Config(), env="CartPole-v1",
        description="CleanRL's and PureJaxRL's CartPole settings (the defaults)",
    ),
    "cartpole": Preset(
        Config(actor_hidden=(32,), critic_hidden=(32,), lr=1e-3), env="CartPole-v1",
        description="jaxrl tuned for CartPole-v1 throughput: 32-unit networks, Adam 1e-3",
    ),
    # Curiosity (chapter 8; benchmarks/curiosity.py). The book's beta 0.2 and lambda 0.1;
    # with the sparse reward on, a small eta and the goal weighted up, so the bonus steers
    # the search and the goal outweighs it once found (a bonus worth more than the goal
    # teaches the agent to avoid ending episodes). --set extrinsic_coef=0 curiosity_eta=1
    # is pure curiosity (the book's eta).
    **{
        f"{task}_{kind}": Preset(
            (c := _CURIOUS.replace(curiosity=kind, **extra)), env=env, env_options=options,
            description=f"{kind.upper()} curiosity on {what}: bonus eta {c.curiosity_eta}, "
                        f"goal weighted {c.extrinsic_coef:g}x",
        )
        for task, env, options, extra, what in (
            # The maze: a tree of 16 rooms (one route, 48 steps to the goal; uniform random
            # actions never reach it in 200 steps), the bonus non-episodic with its own
            # critic and whitened input (RND's recipe), 4 epochs of 4 minibatches. (ICM's
            # old 16-feature module with intrinsic_gamma 0.95 covered a little more with no
            # reward, 99.5 cells against 96.1 on 8 seeds, but reached the goal on 0 of 8
            # seeds against 6: 0.99 kept.)
            ("maze", "Maze-v0", {"size": 15, "layout_seed": 1, "extra_doors": 0.0},
             {"torso": "mlp", "curiosity_eta": 0.3, "extrinsic_coef": 100.0,
              "intrinsic_critic": True, "curiosity_normalize_obs": True, "num_steps": 32,
              "epochs": 4, "minibatches": 4, "total_timesteps": 204_800},
             "the 15x15 tree maze (one route to the goal)"),
            ("mountaincar_sparse", "MountainCar-v0", {"sparse": True},
             {"normalize_obs": True, "total_timesteps": 1_024_000, "curiosity_eta": 0.2,
              "extrinsic_coef": 30.0},
             "MountainCar, reward only at the flag"),
        )
        for kind in ("icm", "rnd")
    },
}
# maze_icm: ICM's encoding phi(s) is learned (by the inverse model), unlike RND's fixed
# target, and 16 features from 32 units could not tell the maze's 159 cells apart: with
# 64 features from 64 units, 8 seeds with no extrinsic reward visit 143.1 cells (min 121)
# against 96.1 (min 59), plain PPO 48.4, and the sparse goal is solved on 8 of 8 seeds
# against 6 (benchmarks/curiosity.py).
PRESETS["maze_icm"] = dataclasses.replace(
    PRESETS["maze_icm"],
    config=PRESETS["maze_icm"].config.replace(curiosity_features=64, curiosity_hidden=(64,)))

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"


# --------------------------------------------------------------------------------- losses
def clipped_surrogate_loss(
    log_prob: Array, old_log_prob: Array, advantages: Array, clip_eps: float | Array
) -> Array:
    """PPO's clipped surrogate objective, negated into a loss (Schulman et al., 2017, eq. 7).

    ``rho_t = exp(log_prob_t - old_log_prob_t)``;
    ``L = -mean_t min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)``.

    Args:
        log_prob: ``float32[B]``, log pi_theta(a_t | s_t) under the current parameters.
        old_log_prob: ``float32[B]``, the same under the parameters that collected the data.
        advantages: ``float32[B]``, ``A_t`` (already standardised if wanted).
        clip_eps: scalar ``eps > 0``.

    Returns:
        ``float32[]`` loss (minimise it).
    """
    chex.assert_rank([log_prob, old_log_prob, advantages], 1)
    chex.assert_equal_shape([log_prob, old_log_prob, advantages])
    ratio = jnp.exp(log_prob - old_log_prob)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -jnp.mean(jnp.minimum(unclipped, clipped))


def clipped_value_loss(
    values: Array, old_values: Array, targets: Array, clip_eps: float | Array
) -> Array:
    """Value loss clipped around the values at collection time (the baselines' PPO2 form).

    ``v_clip = old_v + clip(v - old_v, -eps, eps)``;
    ``L = 0.5 * mean max((v - G)^2, (v_clip - G)^2)``.

    Args:
        values: ``float32[B]``, the critic now.
        old_values: ``float32[B]``, the critic when the data was collected.
        targets: ``float32[B]``, the lambda-returns ``G_t = A_t + old_v_t``.
        clip_eps: scalar ``eps > 0``.

    Returns:
        ``float32[]`` loss.
    """
    chex.assert_rank([values, old_values, targets], 1)
    chex.assert_equal_shape([values, old_values, targets])
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum((values - targets) ** 2, (clipped - targets) ** 2))


def squared_value_loss(values: Array, targets: Array) -> Array:
    """``0.5 * mean (v - G)^2``: the value loss without clipping."""
    chex.assert_rank([values, targets], 1)
    chex.assert_equal_shape([values, targets])
    return 0.5 * jnp.mean((values - targets) ** 2)


@struct.dataclass
class LossTerms:
    """The parts of one minibatch loss (all ``float32[]``)."""

    total: Array
    policy_loss: Array
    value_loss: Array
    entropy: Array
    approx_kl: Array  # mean (rho - 1) - log rho, a low-variance KL(old || new) estimate
    clip_fraction: Array  # share of samples with |rho - 1| > clip_eps


# --------------------------------------------------------------------------------- state
@struct.dataclass
class Params:
    """Network parameters: ``actor`` and ``critic`` flax trees, ``log_std float32[d]``
    (``float32[0]`` for discrete actions)."""

    actor: Any
    critic: Any
    log_std: Array


@struct.dataclass
class TrainState:
    """Everything a run carries from one update to the next."""

    params: Params
    opt_state: optax.OptState
    env_state: Any  # VecEnv state, leading axis num_envs
    obs: Array  # float32[num_envs, *obs_shape], raw observations to act on next
    obs_stats: RunningStats
    key: Array
    update_step: Array  # int32[], updates done
    curiosity: Any = None  # jaxrl.algos.curiosity.CuriosityState (Config.curiosity != "none")
    exploration: Any = None  # jaxrl.algos.curiosity.ExplorationState (visit counts), if any


@struct.dataclass
class Rollout:
    """One rollout, time-major ``[num_steps, num_envs, ...]``; observations as the nets see them."""

    obs: Array
    action: Array
    log_prob: Array
    reward: Array
    terminated: Array
    truncated: Array
    next_obs: Array  # info["final_observation"], normalised like obs
    info: dict[str, Array]
    raw_obs: Array | None = None  # the unnormalised obs, kept only with normalize_obs


@struct.dataclass
class Batch:
    """Flat training samples ``[B, ...]`` for the loss."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array
    next_obs: Array | None = None  # s' of each transition, for curiosity only
    int_target: Array | None = None  # intrinsic lambda-returns, with intrinsic_critic only


# --------------------------------------------------------------------------------- agent
@dataclasses.dataclass(frozen=True)
class Networks:
    """The actor and critic modules PPO builds for an environment.

    ``actor.apply(state.params.actor, obs)`` gives logits (discrete) or Gaussian means
    (continuous, std ``exp(state.params.log_std)``); ``critic.apply(state.params.critic,
    obs)[..., 0]`` gives values. ``obs`` as the networks see it (normalised when
    ``normalize_obs``: use ``state.obs_stats.normalize``; Discrete observations are
    passed as integer indices).
    """

    actor: MLP
    critic: MLP
    discrete: bool
    act_dim: int  # number of actions (discrete) or action dimensions (continuous)
    obs_shape: tuple[int, ...]
    low: Array | None  # action bounds (continuous only)
    high: Array | None
    obs_categories: int = 0  # > 0: Discrete observations (state indices), one-hot encoded


def networks(config: Config, env: Environment, env_params: Any = None) -> Networks:
    """PPO's actor and critic for ``env`` (raises ``ValueError`` on unsupported spaces)."""
    if env_params is None:
        env_params = env.default_params
    # Spaces are built from concrete numbers even when called inside a trace (a sweep
    # calls make under vmap): gymnax computes some bounds with jnp ops. If the params
    # themselves are traced (vmapped env params), the default params' spaces are used.
    action_space, obs_space = concrete_spaces(env, env_params)
    low = high = None
    if isinstance(action_space, spaces.Discrete):
        if action_space.shape:
            raise ValueError(
                f"ppo supports a single Discrete action, got {action_space!r} for {env.name}"
            )
        discrete, act_dim = True, action_space.n
    elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        discrete, act_dim = False, action_space.shape[0]
        low = jnp.asarray(action_space.low, jnp.float32)
        high = jnp.asarray(action_space.high, jnp.float32)
    else:
        raise ValueError(
            f"ppo supports Discrete or 1-D Box action spaces, got {action_space!r} for {env.name}"
        )
    inp = observation_input(obs_space, "ppo", env.name)
    if inp.num_categories and config.normalize_obs:
        raise ValueError(
            f"ppo.Config.normalize_obs needs a Box observation space, but {env.name} observes "
            f"{obs_space!r} (a state index, one-hot encoded); set normalize_obs=False"
        )
    torso = choose_torso(config.torso, inp, "ppo.Config.torso")  # conv for image observations
    actor = MLP(config.actor_hidden, act_dim, config.activation, orthogonal=True,
                out_scale=0.01, obs_ndim=inp.ndim, obs_categories=inp.num_categories,
                torso=torso)
    critic = MLP(config.critic_hidden, 1, config.activation, orthogonal=True, out_scale=1.0,
                 obs_ndim=inp.ndim, obs_categories=inp.num_categories, torso=torso)
    return Networks(actor, critic, discrete, act_dim, inp.shape, low, high, inp.num_categories)


def make(config: Config, env: Environment, env_params: Any = None) -> Agent:
    """Build PPO for ``env``: ``Agent.train(key) -> (TrainState, metrics)``.

    Args:
        config: a ``Config``; leaves may be traced (sweeps), static fields must be concrete.
        env: a single (unbatched) environment with a ``Discrete`` or 1-D ``Box`` action
            space and a ``Box`` or ``Discrete`` (one-hot encoded) observation space.
        env_params: its params (``env.default_params`` when None).

    Returns:
        ``jaxrl.core.agent.Agent``. Metrics per update: ``env_steps``, ``episode_return``,
        ``episodes``, ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
        ``clip_fraction``, ``lr`` (the learning rate used by the update's last step).
        With curiosity: ``intrinsic_reward`` (mean bonus), ``forward_loss`` and
        ``inverse_loss`` (ICM) or ``rnd_loss``; with curiosity or ``exploration_metrics``:
        ``best_return`` and, where ``jaxrl.algos.curiosity.coverage`` maps the observations to
        cells, ``visited_cells``, ``rollout_cells`` (and ``furthest_position``).
    """
    if not isinstance(config, Config):
        raise TypeError(f"ppo.make needs a ppo.Config, got {type(config).__name__}")
    config.validate()
    if env_params is None:
        env_params = env.default_params
    cfg = config

    nets = networks(cfg, env, env_params)
    actor, critic, discrete, act_dim = nets.actor, nets.critic, nets.discrete, nets.act_dim
    low, high = nets.low, nets.high
    obs_shape = nets.obs_shape
    # Box observations travel as float32; Discrete ones (state indices) as int32.
    obs_dtype = jnp.int32 if nets.obs_categories else jnp.float32

    vec_env = VecEnv(EpisodeStatistics(env), cfg.num_envs, reset_pool=0)
    # Curiosity (jaxrl.algos.curiosity): a bonus on the rollout's rewards and its loss beside
    # PPO's in every minibatch. None: plain PPO, the same program as without the option.
    curious = curiosity.from_config(cfg, env, env_params, "ppo")
    explore = cfg.exploration_metrics or curious is not None
    cover = curiosity.coverage(env, env_params) if explore else None
    num_updates = cfg.num_updates
    steps_per_update = cfg.epochs * cfg.minibatches

    # One decay per update (epochs * minibatches optimiser steps).
    lr_at = learning_rate(
        cfg.lr, cfg.anneal_lr, num_updates, steps_per_decay=steps_per_update, schedule=True
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.scale_by_adam(eps=cfg.adam_eps),
        optax.scale_by_schedule(lambda count: -lr_at(count)),
    )

    def prep(obs: Array, stats: RunningStats) -> Array:
        obs = jnp.asarray(obs, obs_dtype)
        return stats.normalize(obs) if cfg.normalize_obs else obs

    def policy(params: Params, obs: Array) -> Array:
        """Logits ``[..., n]`` or Gaussian means ``[..., d]``."""
        return actor.apply(params.actor, obs)

    def value(params: Params, obs: Array) -> Array:
        return critic.apply(params.critic, obs)[..., 0]

    def noise(key: Array, batch_shape: tuple[int, ...]) -> Array:
        """The policy's randomness for ``batch_shape`` draws: Gumbel (discrete) or normal."""
        shape = (*batch_shape, act_dim)
        return jax.random.gumbel(key, shape) if discrete else jax.random.normal(key, shape)

    def sample(params: Params, obs: Array, eps: Array) -> tuple[Array, Array]:
        """Action and its log-probability for a batch ``obs [N, ...]`` given ``noise``.

        Discrete: ``argmax(logits + Gumbel)`` (exactly a categorical draw); continuous:
        ``mean + std * N(0, 1)``.
        """
        out = policy(params, obs)
        if discrete:
            action = jnp.argmax(out + eps, axis=-1)
            return action, categorical_log_prob(out, action)
        action = out + jnp.exp(params.log_std) * eps
        return action, gaussian_log_prob(out, params.log_std, action)

    def to_env(action: Array) -> Array:
        return action if discrete else jnp.clip(action, low, high)

    # ------------------------------------------------------------------ init
    def init(key: Array) -> TrainState:
        k_actor, k_critic, k_env, k_next = jax.random.split(key, 4)
        dummy = jnp.zeros((1, *obs_shape), obs_dtype)
        log_std = (
            jnp.zeros((0,), jnp.float32)
            if discrete
            else jnp.full((act_dim,), cfg.init_log_std, jnp.float32)
        )
        params = Params(actor.init(k_actor, dummy), critic.init(k_critic, dummy), log_std)
        obs, env_state = vec_env.reset(k_env, env_params)
        extras = {}
        if curious is not None:  # its own key: plain PPO's draws stay as they were
            k_next, k_cur = jax.random.split(k_next)
            extras["curiosity"] = curious.init(k_cur)
        if cover is not None:
            extras["exploration"] = curiosity.ExplorationState.create(cover.num_cells)
        return TrainState(
            params=params,
            opt_state=optimizer.init(params),
            env_state=env_state,
            obs=jnp.asarray(obs, obs_dtype),
            obs_stats=RunningStats.create(obs_shape),
            key=k_next,
            update_step=jnp.zeros((), jnp.int32),
            **extras,
        )

    # ------------------------------------------------------------------ collect
    def collect(state: TrainState, key: Array) -> tuple[TrainState, Rollout]:
        stats = state.obs_stats

        def step(carry, inputs):
            env_state, obs = carry
            k_env, eps = inputs
            net_obs = prep(obs, stats)
            action, log_prob = sample(state.params, net_obs, eps)
            next_obs, env_state, reward, term, trunc, info = vec_env.step(
                k_env, env_state, to_env(action), env_params
            )
            final = prep(info.pop("final_observation"), stats)
            ep_info = {k_: info[k_] for k_ in ("episode_return", "episode_length", "episode_done")}
            transition = Rollout(
                net_obs, action, log_prob, cfg.reward_scale * jnp.asarray(reward, jnp.float32),
                term, trunc, final, ep_info, obs if cfg.normalize_obs else None,
            )
            return (env_state, jnp.asarray(next_obs, obs_dtype)), transition

        # All of the rollout's policy noise and step keys are drawn up front, in two
        # batched calls: on CPU each random draw inside the loop costs more than the
        # CartPole transition itself.
        k_env, k_noise = jax.random.split(key)
        inputs = (
            jax.random.split(k_env, cfg.num_steps),
            noise(k_noise, (cfg.num_steps, cfg.num_envs)),
        )
        (env_state, obs), rollout = jax.lax.scan(step, (state.env_state, state.obs), inputs)
        return state.replace(env_state=env_state, obs=obs), rollout

    # ------------------------------------------------------------------ targets
    def compute_targets(params: Params, rollout: Rollout) -> Batch:
        values = value(params, rollout.obs)  # [T, N]
        next_values = value(params, rollout.next_obs)  # [T, N]
        advantages = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
            rollout.reward, values, next_values, rollout.terminated, rollout.truncated,
            cfg.gamma, cfg.gae_lambda,
        )
        flat = lambda x: x.reshape((cfg.batch_size, *x.shape[2:]))  # noqa: E731
        return Batch(
            obs=flat(rollout.obs),
            action=flat(rollout.action),
            log_prob=flat(rollout.log_prob),
            value=flat(values),
            advantage=flat(advantages),
            target=flat(advantages + values),
            next_obs=flat(rollout.next_obs) if curious is not None else None,
        )

    # ------------------------------------------------------------------ learn
    def loss_fn(params: Params, mb: Batch) -> tuple[Array, LossTerms]:
        out = policy(params, mb.obs)
        if discrete:
            log_prob = categorical_log_prob(out, mb.action)
            entropy = jnp.mean(categorical_entropy(out))
        else:
            log_prob = gaussian_log_prob(out, params.log_std, mb.action)
            entropy = gaussian_entropy(params.log_std)
        adv = mb.advantage
        if cfg.normalize_advantages:
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)
        policy_loss = clipped_surrogate_loss(log_prob, mb.log_prob, adv, cfg.clip_eps)
        v = value(params, mb.obs)
        if cfg.clip_value:
            value_loss = clipped_value_loss(v, mb.value, mb.target, cfg.vf_clip_eps)
        else:
            value_loss = squared_value_loss(v, mb.target)
        total = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        log_ratio = log_prob - mb.log_prob
        ratio = jnp.exp(log_ratio)
        terms = LossTerms(
            total=total,
            policy_loss=policy_loss,
            value_loss=value_loss,
            entropy=entropy,
            approx_kl=jax.lax.stop_gradient(jnp.mean((ratio - 1.0) - log_ratio)),
            clip_fraction=jax.lax.stop_gradient(
                jnp.mean((jnp.abs(ratio - 1.0) > cfg.clip_eps).astype(jnp.float32))
            ),
        )
        return total, terms

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def learn(state: TrainState, batch: Batch, key: Array) -> tuple[TrainState, LossTerms]:
        def epoch(carry, perm):
            shuffled = jax.tree.map(
                lambda x: x[perm].reshape((cfg.minibatches, cfg.minibatch_size, *x.shape[1:])),
                batch,
            )

            def minibatch(carry, mb):
                params, opt_state, cur = carry
                if cur is None:
                    grads, terms = grad_fn(params, mb)
                else:  # the book's lambda * L_ppo + L_curiosity, each half its own optimiser
                    extra_in = () if mb.int_target is None else (mb.int_target,)
                    grads, cur, terms = curious.joint_step(
                        loss_fn, params, mb, cur, (mb.obs, mb.action, mb.next_obs, *extra_in))
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state, cur), terms

            return jax.lax.scan(minibatch, carry, shuffled)

        # Every epoch's shuffle in one batched draw (fewer small ops inside the loop);
        # jaxrl.core.rng.permutation is a single-operand sort, several times cheaper on CPU.
        perms = jax.vmap(lambda k: permutation(k, cfg.batch_size))(
            jax.random.split(key, cfg.epochs)
        )
        (params, opt_state, cur), terms = jax.lax.scan(
            epoch, (state.params, state.opt_state, state.curiosity), perms)
        mean_terms = jax.tree.map(jnp.mean, terms)
        return state.replace(params=params, opt_state=opt_state, curiosity=cur), mean_terms

    # ------------------------------------------------------------------ update
    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect, k_learn = jax.random.split(state.key, 3)
        lr_now = lr_at(state.update_step * steps_per_update)
        state, rollout = collect(state.replace(key=key), k_collect)
        extra: Metrics = {}
        if curious is not None:  # the bonus from the module as it was while collecting
            bonus, cur = curious.intrinsic_reward(
                state.curiosity, rollout.obs, rollout.action, rollout.next_obs)
            own = cfg.intrinsic_critic  # the bonus gets its own critic and GAE below
            rollout = rollout.replace(
                reward=cfg.extrinsic_coef * rollout.reward + (0.0 if own else bonus))
            state = state.replace(curiosity=cur)
            extra["intrinsic_reward"] = jnp.mean(bonus)
        if explore:
            raw = rollout.raw_obs if cfg.normalize_obs else rollout.obs
            visits, found = curiosity.exploration_metrics(cover, state.exploration, raw,
                                                          rollout.info)
            state = state.replace(exploration=visits)
            extra.update(found)
        batch = compute_targets(state.params, rollout)
        if curious is not None and cfg.intrinsic_critic:
            # Non-episodic: the bonus's returns run on through episode ends (no cut, no
            # reset), bootstrapping from V_int of the transition's own s'.
            v_int = curious.intrinsic_value(state.curiosity, rollout.obs)  # [T, N]
            nv_int = curious.intrinsic_value(state.curiosity, rollout.next_obs)
            a_int = curiosity.non_episodic_gae(bonus, v_int, nv_int, cfg.intrinsic_gamma,
                                               cfg.gae_lambda)
            batch = batch.replace(advantage=batch.advantage + a_int.reshape(-1),
                                  int_target=(a_int + v_int).reshape(-1))
        state, terms = learn(state, batch, k_learn)
        if curious is not None:
            terms, cur_terms = terms
            extra.update(cur_terms)
        if cfg.normalize_obs:
            raw = jnp.reshape(rollout.raw_obs, (-1, *obs_shape))
            state = state.replace(obs_stats=state.obs_stats.update(raw))
        step = state.update_step + 1
        metrics: Metrics = {
            "env_steps": step * cfg.batch_size,
            **episode_metrics(rollout.info),
            "policy_loss": terms.policy_loss,
            "value_loss": terms.value_loss,
            "entropy": terms.entropy,
            "approx_kl": terms.approx_kl,
            "clip_fraction": terms.clip_fraction,
            "lr": jnp.asarray(lr_now, jnp.float32),
            **extra,
        }
        return state.replace(update_step=step), metrics

    # ------------------------------------------------------------------ act
    def act(state: TrainState, obs: Array, key: Array, greedy: bool = False) -> Array:
        """Action for one unbatched observation (greedy: argmax / Gaussian mean)."""
        net_obs = prep(jnp.asarray(obs)[None], state.obs_stats)
        out = policy(state.params, net_obs)
        if greedy:
            action = jnp.argmax(out, axis=-1) if discrete else out
        else:
            action, _ = sample(state.params, net_obs, noise(key, (1,)))
        return to_env(action[0])

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=config)
