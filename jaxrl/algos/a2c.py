"""Advantage actor-critic, synchronous and batched (the book's chapter 5, without processes).

The book trains one two-headed network with seven worker processes, each playing its
own CartPole and updating shared parameters. Here ``num_envs`` copies step together
inside one compiled program and one gradient step averages over all of them (A2C,
the synchronous form of A3C); ``jax.vmap`` over seeds stacks whole runs on top.

One update = ``collect`` -> ``compute_targets`` -> ``learn``:

* ``mode="n_step"`` (the book's default, ``num_steps = N = 10``): every copy plays
  ``N`` steps, carrying on across episode ends (auto-reset). Step ``t`` of the
  rollout is trained towards ``jaxrl.core.returns.bootstrapped_returns``: rewards up to the
  end of the rollout or of its episode, then the critic's value of the final
  observation (zero after a termination, ``V(info["final_observation"])`` after a
  time limit or at the rollout's end).
* ``mode="monte_carlo"``: every copy plays ``mc_rollout_steps`` steps (default: the
  env's time limit), carrying on across episode ends as in N-step mode, but only
  the steps of episodes that *end inside the rollout* are learned from, each towards
  the discounted return of the rest of its episode (bootstrapped only where a time
  limit cut it). The unfinished episode at the end of a rollout is masked out and
  continues in the next rollout, where its remaining steps count. With a rollout as
  long as the time limit every copy finishes at least one episode per update. (The
  book updates once per finished episode per worker; synchronous batching makes one
  update per rollout instead.)

Options beyond the book: ``gae_lambda < 1`` replaces the N-step returns by
lambda-returns (``jaxrl.core.returns.gae``; 1, the default, is exactly the N-step
return), ``reward_scale``, ``entropy_coef``, ``normalize_advantages``,
``max_grad_norm``, ``anneal_lr``, ``orthogonal_init``.

Metrics per update: ``env_steps`` (every step taken by every copy, masked ones
included), ``episode_return``, ``episodes`` (see ``jaxrl.core.agent``), ``loss``,
``actor_loss``, ``critic_loss``, ``entropy``, ``grad_norm``.

Loss per copy, summed (``loss_reduction="sum"``, the book) or averaged over its
steps, then averaged over copies::

    L = -sum_t log pi(a_t|s_t) * stopgrad(G_t - V(s_t)) + critic_coef * sum_t (V(s_t) - G_t)^2
        - entropy_coef * sum_t H(pi(.|s_t))

The network (``ActorCritic``): a shared trunk (``trunk``), a linear actor head over
``actor_hidden`` layers, a critic head over ``critic_hidden`` layers with a ``tanh``
or linear output. The ``"book"`` preset is the book's network and settings: trunk
4-25-50 ReLU, actor 50-2, critic 50-25-1 with tanh, the critic head fed the trunk's
features with the gradient stopped (``detach_critic``), each observation scaled to
unit L2 norm, each rollout's returns scaled to unit L2 norm (so they fit the tanh),
reward -10 on termination, Adam 1e-4, gamma 0.95, critic weight 0.1.

Deliberate differences from the book's code: its N-step bootstrap uses the value of
the state *before* the last action (an off-by-one; we use the state after it); its
workers stop a rollout at an episode end (ours continue into the next episode,
which is the same data without idle steps); a time limit is a truncation here (the
book scores it as a -10 failure); workers update synchronously, not Hogwild.

``make_learner`` exposes the network, the action sampler and the learning step on
their own, so a Python loop over other environments (``benchmarks/batching_vs_processes.py``
drives Gymnasium's vector envs with it) trains with exactly the same maths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.algos import Algorithm
from jaxrl.core.agent import Agent, Metrics, episode_metrics
from jaxrl.core.config import is_traced
from jaxrl.core.config import static as _static
from jaxrl.core.distributions import categorical_log_prob_entropy
from jaxrl.core.networks import (
    ACTIVATIONS,
    activation,
    encode_observation,
    observation_input,
    orthogonal_initializer,
)
from jaxrl.core.presets import Claim, Preset
from jaxrl.core.returns import bootstrapped_returns, gae, standardize
from jaxrl.core.schedules import learning_rate
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv

Array = jax.Array

__all__ = [
    "A2C",
    "ActorCritic",
    "Config",
    "DEFAULT_ENV",
    "Learner",
    "LossTerms",
    "PRESETS",
    "Rollout",
    "TrainState",
    "actor_critic_loss",
    "make",
    "make_learner",
    "monte_carlo_mask",
    "windowed_mean",
]

MODES = ("n_step", "monte_carlo")


# --------------------------------------------------------------------------------- config
@struct.dataclass
class Config:
    """A2C settings; the defaults are the book's (chapter 5, CartPole, N = 10).

    Static fields (shapes, loop lengths, structure) come first; the rest are pytree
    leaves (sweepable with ``vmap``).
    """

    # --- static -------------------------------------------------------------------
    mode: str = _static("n_step")  # "n_step" or "monte_carlo"
    num_envs: int = _static(7)  # environment copies stepped together (the book's workers)
    num_steps: int = _static(10)  # N, rollout length per copy in "n_step" mode
    total_timesteps: int = _static(200_000)  # environment steps per run (all copies)
    mc_rollout_steps: int | None = _static(None)  # "monte_carlo" rollout; None: env limit
    trunk: tuple[int, ...] = _static((25, 50))  # shared layers
    actor_hidden: tuple[int, ...] = _static(())  # actor head layers before the logits
    critic_hidden: tuple[int, ...] = _static((25,))  # critic head layers before V
    activation: str = _static("relu")  # hidden activation (jaxrl.core.networks.ACTIVATIONS)
    critic_output: str = _static("tanh")  # "tanh" (book) or "linear"
    detach_critic: bool = _static(True)  # critic head does not train the trunk (book)
    obs_normalization: str = _static("l2")  # "l2": x / |x| (book), or "none"
    orthogonal_init: bool = _static(False)  # PPO-style init; False: flax default (lecun)
    return_normalization: str = _static("l2")  # "l2": G / |G| per copy's rollout, or "none"
    normalize_advantages: bool = _static(False)  # standardise advantages over the batch
    loss_reduction: str = _static("sum")  # over a copy's steps: "sum" (book) or "mean"
    terminal_reward: float | None = _static(-10.0)  # reward on a terminating step; None: env's
    reset_pool: int | None = _static(0)  # VecEnv reset_pool; 0 under vmap over seeds
    anneal_lr: bool = _static(False)  # decay lr linearly to 0 over the run
    # --- pytree leaves ------------------------------------------------------------
    lr: float = 1e-4  # Adam learning rate
    gamma: float = 0.95  # discount
    critic_coef: float = 0.1  # critic loss weight
    entropy_coef: float = 0.0  # entropy bonus weight
    gae_lambda: float = 1.0  # 1: plain N-step returns (book); < 1: lambda-returns (GAE)
    reward_scale: float = 1.0  # rewards are multiplied by this before any return is formed
    max_grad_norm: float = float("inf")  # global gradient norm clip (inf: none)
    adam_eps: float = 1e-8  # Adam epsilon

    def rollout_length(self, env_limit: int | None = None) -> int:
        """Steps per copy per update: ``num_steps``, or the episode cap in Monte Carlo mode."""
        if self.mode == "n_step":
            return self.num_steps
        limit = self.mc_rollout_steps if self.mc_rollout_steps is not None else env_limit
        if limit is None:
            raise ValueError(
                "a2c: monte_carlo mode needs a rollout length: the env params have no "
                "concrete max_steps_in_episode, so set Config.mc_rollout_steps"
            )
        return int(limit)

    def num_updates_for(self, env_limit: int | None = None) -> int:
        """Updates in a run, ``total_timesteps // (num_envs * rollout_length)``."""
        return self.total_timesteps // (self.num_envs * self.rollout_length(env_limit))

    def validate(self) -> "Config":
        """Raise ``ValueError`` on a bad setting; returns ``self``."""
        if self.mode not in MODES:
            raise ValueError(f"a2c.Config.mode must be one of {MODES}, got {self.mode!r}")
        for name in ("num_envs", "num_steps", "total_timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"a2c.Config.{name} must be a positive integer, got {value!r}")
        m = self.mc_rollout_steps
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1):
            raise ValueError(
                f"a2c.Config.mc_rollout_steps must be None or a positive integer, got {m!r}"
            )
        for name in ("trunk", "actor_hidden", "critic_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, tuple) or not all(
                isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w > 0
                for w in widths
            ):
                raise ValueError(
                    f"a2c.Config.{name} must be a tuple of positive integers, got {widths!r}"
                )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"a2c.Config.activation {self.activation!r} unknown; "
                f"choose from {', '.join(ACTIVATIONS)}"
            )
        choices = {
            "critic_output": ("tanh", "linear"),
            "obs_normalization": ("l2", "none"),
            "return_normalization": ("l2", "none"),
            "loss_reduction": ("sum", "mean"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"a2c.Config.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.terminal_reward is not None and not np.isfinite(self.terminal_reward):
            raise ValueError(
                f"a2c.Config.terminal_reward must be None or finite, got {self.terminal_reward!r}"
            )
        rp = self.reset_pool
        if rp is not None and (isinstance(rp, bool) or not isinstance(rp, (int, np.integer))
                               or not 0 <= rp <= self.num_envs):
            raise ValueError(
                f"a2c.Config.reset_pool must be None or an integer in [0, num_envs], got {rp!r}"
            )
        checks = {
            "lr": (lambda v: v > 0, "> 0"),
            "gamma": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "critic_coef": (lambda v: v >= 0, ">= 0"),
            "entropy_coef": (lambda v: v >= 0, ">= 0"),
            "gae_lambda": (lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
            "reward_scale": (lambda v: v > 0, "> 0"),
            "max_grad_norm": (lambda v: v > 0, "> 0"),
            "adam_eps": (lambda v: v > 0, "> 0"),
        }
        for name, (ok, rule) in checks.items():
            value = getattr(self, name)
            if is_traced(value):
                continue
            arr = np.asarray(value, dtype=np.float64)
            finite = np.all(np.isfinite(arr)) or name == "max_grad_norm"
            if np.any(np.isnan(arr)) or not finite or not np.all(ok(arr)):
                raise ValueError(f"a2c.Config.{name} must be {rule}, got {value!r}")
        return self


# The "tuned" preset's config (what it changes from the book: see PRESETS below).
_TUNED = Config(
    num_envs=16,
    num_steps=10,
    total_timesteps=120_000,
    trunk=(),
    actor_hidden=(32, 32),
    critic_hidden=(32, 32),
    activation="tanh",
    critic_output="linear",
    detach_critic=False,
    obs_normalization="none",
    orthogonal_init=True,
    return_normalization="none",
    normalize_advantages=True,
    loss_reduction="mean",
    terminal_reward=None,
    anneal_lr=True,
    lr=3e-3,
    gamma=0.99,
    critic_coef=0.5,
    entropy_coef=0.01,
    max_grad_norm=0.5,
    reward_scale=0.1,
)

#: Named settings (``jaxrl.core.presets.Preset``), all for CartPole-v1. ``"book"``: chapter
#: 5's N-step agent (7 copies, N = 10). ``"book_mc"``: the same with Monte Carlo
#: returns. ``"tuned"``: jaxrl's setting, still N-step (N = 10) advantage actor-critic:
#: separate actor and critic MLPs 4-32-32 (tanh), orthogonal init with a 0.01 policy
#: head, plain observations and returns, a linear critic, rewards scaled by 0.1, no -10
#: terminal reward, 16 copies, losses averaged, advantages standardised per update, Adam
#: 3e-3 decayed linearly to 0, global-norm clip 0.5, entropy bonus 0.01, gamma 0.99,
#: critic weight 0.5. Why each, and what it measured: ``benchmarks/NOTES.md``.
PRESETS: dict[str, Preset] = {
    "book": Preset(Config(), env="CartPole-v1", description="book ch. 5, N-step (N = 10)"),
    "book_mc": Preset(
        Config(mode="monte_carlo"), env="CartPole-v1",
        description="book ch. 5, Monte Carlo returns",
    ),
    "tuned": Preset(
        _TUNED, env="CartPole-v1",
        description="jaxrl tuned: mean length 450 after ~65,000 steps",
        claim=Claim("final_return", 450.0, "training return (episode length) 450 or more "
                    "over the episodes of the last 5 % of updates", holds="16/16"),
    ),
}

#: The environment a run trains on when none is named.
DEFAULT_ENV: str = "CartPole-v1"


# --------------------------------------------------------------------------------- network
class ActorCritic(nn.Module):
    """Two-headed network: ``obs -> (logits float32[..., num_actions], value float32[...])``.

    Leading axes of ``obs`` are batch axes; the last ``obs_ndim`` are flattened (a
    Discrete observation, ``obs_categories > 0``, is one-hot encoded first).
    """

    num_actions: int
    trunk: tuple[int, ...] = (25, 50)
    actor_hidden: tuple[int, ...] = ()
    critic_hidden: tuple[int, ...] = (25,)
    activation: str = "relu"
    critic_output: str = "tanh"
    detach_critic: bool = True
    obs_normalization: str = "l2"
    orthogonal_init: bool = False  # orthogonal, gains sqrt(2) hidden, 0.01 actor, 1 critic
    obs_ndim: int = 1
    obs_categories: int = 0  # > 0: a Discrete observation, one-hot encoded

    @nn.compact
    def __call__(self, obs: Array) -> tuple[Array, Array]:
        x = encode_observation(obs, self.obs_ndim, self.obs_categories)
        if self.obs_normalization == "l2":
            # torch's F.normalize: x / max(|x|, 1e-12)
            x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
        act = activation(self.activation)
        for i, width in enumerate(self.trunk):
            x = act(self._dense(width, np.sqrt(2.0), f"trunk_{i}")(x))
        a = x
        for i, width in enumerate(self.actor_hidden):
            a = act(self._dense(width, np.sqrt(2.0), f"actor_{i}")(a))
        logits = self._dense(self.num_actions, 0.01, "actor_out")(a)
        c = jax.lax.stop_gradient(x) if self.detach_critic else x
        for i, width in enumerate(self.critic_hidden):
            c = act(self._dense(width, np.sqrt(2.0), f"critic_{i}")(c))
        value = self._dense(1, 1.0, "critic_out")(c)[..., 0]
        if self.critic_output == "tanh":
            value = jnp.tanh(value)
        return logits, value

    def _dense(self, width: int, scale: float, name: str) -> nn.Dense:
        if self.orthogonal_init:
            return nn.Dense(width, kernel_init=orthogonal_initializer(scale),
                            bias_init=nn.initializers.zeros, name=name)
        return nn.Dense(width, name=name)


# --------------------------------------------------------------------------------- loss
@struct.dataclass
class LossTerms:
    total: Array  # float32[], what is minimised
    actor: Array  # float32[], -sum log pi * A
    critic: Array  # float32[], sum (V - G)^2 (unweighted)
    entropy: Array  # float32[], sum H (unweighted)


def actor_critic_loss(
    log_probs: Array,
    entropies: Array,
    values: Array,
    returns: Array,
    advantages: Array,
    mask: Array,
    critic_coef: float | Array,
    entropy_coef: float | Array,
    reduction: str = "sum",
) -> LossTerms:
    """The advantage actor-critic loss of one copy's rollout.

    Equation (sums over the steps where ``mask``; ``reduction="mean"`` divides each
    sum by the number of such steps)::

        actor  = -sum_t log pi(a_t|s_t) * stopgrad(A_t)
        critic =  sum_t (V(s_t) - stopgrad(G_t))^2
        total  = actor + critic_coef * critic - entropy_coef * sum_t H_t

    Args:
        log_probs: ``float32[T]``, log pi(a_t | s_t) of the actions taken.
        entropies: ``float32[T]``, H(pi(. | s_t)).
        values: ``float32[T]``, V(s_t) (differentiable).
        returns: ``float32[T]``, the targets G_t.
        advantages: ``float32[T]``, A_t (usually ``G_t - V(s_t)``, maybe standardised).
        mask: ``bool[T]``, the steps that count.
        critic_coef, entropy_coef: scalar weights.
        reduction: ``"sum"`` or ``"mean"``.

    Returns:
        ``LossTerms`` of scalars.
    """
    chex.assert_rank([log_probs, entropies, values, returns, advantages, mask], 1)
    chex.assert_equal_shape([log_probs, entropies, values, returns, advantages, mask])
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    scale = 1.0 / jnp.maximum(jnp.sum(mask), 1) if reduction == "mean" else 1.0
    adv = jax.lax.stop_gradient(advantages)
    target = jax.lax.stop_gradient(returns)
    actor = -jnp.sum(jnp.where(mask, log_probs * adv, 0.0)) * scale
    critic = jnp.sum(jnp.where(mask, (values - target) ** 2, 0.0)) * scale
    entropy = jnp.sum(jnp.where(mask, entropies, 0.0)) * scale
    total = actor + critic_coef * critic - entropy_coef * entropy
    return LossTerms(total=total, actor=actor, critic=critic, entropy=entropy)


# --------------------------------------------------------------------------------- learner
@struct.dataclass
class Rollout:
    """Transitions of ``num_envs`` copies, time-major: every array is ``[T, E, ...]``."""

    obs: Array  # float32[T, E, *obs_shape], what the action was chosen from
    actions: Array  # int32[T, E]
    rewards: Array  # float32[T, E] (after terminal_reward, if set)
    terminated: Array  # bool[T, E]
    truncated: Array  # bool[T, E]
    final_obs: Array  # float32[T, E, *obs_shape], info["final_observation"]
    valid: Array  # bool[T, E], steps learned from (all, in n_step mode)


@struct.dataclass
class TrainState:
    """Everything a run carries between updates."""

    params: Any
    opt_state: Any
    env_state: Any  # VecEnv state: episodes carry on across updates
    obs: Array  # float32[E, *obs_shape], the current observations
    key: Array
    env_steps: Array  # int32[], environment steps so far (all copies)


@dataclasses.dataclass(frozen=True)
class Learner:
    """The environment-independent half of A2C: network, sampler, learning step.

    Attributes:
        network: the ``ActorCritic`` module.
        init_params: ``key -> params``.
        optimizer: the ``optax`` transformation (clip, then Adam).
        sample: ``(params, obs[E, ...], key) -> actions int32[E]``.
        learn: ``(params, opt_state, Rollout) -> (params, opt_state, info dict)``;
            one gradient step on the whole rollout.
    """

    network: ActorCritic
    init_params: Callable[[Array], Any]
    optimizer: optax.GradientTransformation
    sample: Callable[[Any, Array, Array], Array]
    learn: Callable[[Any, Any, Rollout], tuple[Any, Any, dict[str, Array]]]


def make_learner(
    config: Config,
    obs_shape: tuple[int, ...],
    num_actions: int,
    num_updates: int | None = None,
    obs_categories: int = 0,
) -> Learner:
    """Network, optimiser, action sampler and learning step for ``config``.

    ``num_updates`` is the run's length, needed only when ``config.anneal_lr``.
    ``obs_categories = n > 0``: observations are indices in ``[0, n)`` (a ``Discrete(n)``
    space), one-hot encoded by the network.
    """
    config.validate()
    if config.anneal_lr and num_updates is None:
        raise ValueError("a2c.make_learner: anneal_lr needs num_updates (the run's length)")
    lr = learning_rate(config.lr, config.anneal_lr, num_updates)  # one Adam step per update
    net = ActorCritic(
        num_actions=num_actions,
        trunk=config.trunk,
        actor_hidden=config.actor_hidden,
        critic_hidden=config.critic_hidden,
        activation=config.activation,
        critic_output=config.critic_output,
        detach_critic=config.detach_critic,
        obs_normalization=config.obs_normalization,
        orthogonal_init=config.orthogonal_init,
        obs_ndim=len(obs_shape),
        obs_categories=obs_categories,
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(lr, eps=config.adam_eps),
    )

    def init_params(key: Array) -> Any:
        return net.init(key, jnp.zeros(obs_shape, jnp.int32 if obs_categories else jnp.float32))

    def sample(params: Any, obs: Array, key: Array) -> Array:
        logits, _ = net.apply(params, obs)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def compute_targets(params: Any, ro: Rollout) -> Array:
        """``G: float32[T, E]``, bootstrapped from V(final_obs) and cut at episode ends."""
        _, next_values = net.apply(params, ro.final_obs)
        next_values = jax.lax.stop_gradient(next_values)
        lam = config.gae_lambda
        if not is_traced(lam) and float(lam) == 1.0:
            returns = jax.vmap(bootstrapped_returns, in_axes=(1, 1, 1, 1, None), out_axes=1)(
                ro.rewards, next_values, ro.terminated, ro.truncated, config.gamma
            )
        else:  # lambda-returns: GAE advantages plus the values they were computed from
            _, values = net.apply(params, ro.obs)
            values = jax.lax.stop_gradient(values)
            adv = jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)(
                ro.rewards, values, next_values, ro.terminated, ro.truncated, config.gamma, lam
            )
            returns = adv + values
        if config.return_normalization == "l2":
            # The book's F.normalize(G, dim=0) over each worker's rollout.
            g = jnp.where(ro.valid, returns, 0.0)
            returns = g / jnp.maximum(jnp.linalg.norm(g, axis=0, keepdims=True), 1e-12)
        return returns

    def loss_fn(params: Any, ro: Rollout, returns: Array) -> tuple[Array, LossTerms]:
        logits, values = net.apply(params, ro.obs)
        logp, entropies = categorical_log_prob_entropy(logits, ro.actions)
        adv = returns - jax.lax.stop_gradient(values)
        if config.normalize_advantages:
            adv = standardize(adv, ro.valid)
        terms = jax.vmap(
            actor_critic_loss, in_axes=(1, 1, 1, 1, 1, 1, None, None, None)
        )(logp, entropies, values, returns, adv, ro.valid, config.critic_coef,
          config.entropy_coef, config.loss_reduction)
        terms = jax.tree.map(jnp.mean, terms)  # average over copies
        return terms.total, terms

    def learn(params: Any, opt_state: Any, ro: Rollout):
        returns = compute_targets(params, ro)
        grads, terms = jax.grad(loss_fn, has_aux=True)(params, ro, returns)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        info = {
            "loss": terms.total,
            "actor_loss": terms.actor,
            "critic_loss": terms.critic,
            "entropy": terms.entropy,
            "grad_norm": optax.tree.norm(grads),
        }
        return params, opt_state, info

    return Learner(net, init_params, optimizer, sample, learn)


def monte_carlo_mask(terminated: Array, truncated: Array) -> Array:
    """``bool[T, E]``: the steps whose episode ends inside the rollout.

    Step ``t`` of a copy counts when the copy ends an episode at some step ``>= t``
    (its own included); the unfinished episode at the end of the rollout does not.
    """
    chex.assert_rank([terminated, truncated], 2)
    done = jnp.logical_or(terminated, truncated)
    return jnp.cumsum(done[::-1], axis=0)[::-1] > 0


# --------------------------------------------------------------------------------- make
def make(config: Config, env: Environment, env_params: Any) -> Agent:
    """Build the A2C training loop for a discrete-action ``env``.

    Raises:
        ValueError: bad config, a non-discrete action space, a run shorter than one
            update, or (Monte Carlo mode) no known rollout length.
    """
    config.validate()
    action_space = env.action_space(env_params)
    if not isinstance(action_space, spaces.Discrete) or action_space.shape != ():
        raise ValueError(
            f"a2c needs a single Discrete action, but {env.name} has actions "
            f"{action_space!r}; use ppo for continuous actions"
        )
    inp = observation_input(env.observation_space(env_params), "a2c", env.name)
    limit = getattr(env_params, "max_steps_in_episode", None)
    limit = None if limit is None or is_traced(limit) else int(limit)
    horizon = config.rollout_length(limit)
    num_updates = config.num_updates_for(limit)
    if num_updates < 1:
        raise ValueError(
            f"a2c.Config: total_timesteps={config.total_timesteps} is less than one update "
            f"(num_envs * rollout length = {config.num_envs * horizon})"
        )
    learner = make_learner(config, inp.shape, action_space.n, num_updates, inp.num_categories)
    venv = VecEnv(EpisodeStatistics(env), config.num_envs, reset_pool=config.reset_pool)
    monte_carlo = config.mode == "monte_carlo"

    def init(key: Array) -> TrainState:
        key, k_net, k_env = jax.random.split(key, 3)
        params = learner.init_params(k_net)
        obs, env_state = venv.reset(k_env, env_params)
        return TrainState(
            params=params,
            opt_state=learner.optimizer.init(params),
            env_state=env_state,
            obs=obs,
            key=key,
            env_steps=jnp.zeros((), jnp.int32),
        )

    def collect(params: Any, obs: Array, env_state: Any, key: Array):
        def step(carry, k):
            obs, env_state = carry
            k_act, k_env = jax.random.split(k)
            action = learner.sample(params, obs, k_act)
            next_obs, env_state, reward, term, trunc, info = venv.step(
                k_env, env_state, action, env_params
            )
            reward = reward.astype(jnp.float32)
            if config.terminal_reward is not None:
                reward = jnp.where(term, jnp.float32(config.terminal_reward), reward)
            reward = reward * config.reward_scale
            out = dict(
                obs=obs, actions=action, rewards=reward, terminated=term, truncated=trunc,
                final_obs=info.pop("final_observation"),
            )
            return (next_obs, env_state), (out, info)

        (obs, env_state), (out, info) = jax.lax.scan(
            step, (obs, env_state), jax.random.split(key, horizon)
        )
        if monte_carlo:
            valid = monte_carlo_mask(out["terminated"], out["truncated"])
        else:
            valid = jnp.ones_like(out["terminated"])
        return Rollout(valid=valid, **out), info, obs, env_state

    def update(state: TrainState) -> tuple[TrainState, Metrics]:
        key, k_collect = jax.random.split(state.key)
        ro, info, obs, env_state = collect(state.params, state.obs, state.env_state, k_collect)
        params, opt_state, learn_info = learner.learn(state.params, state.opt_state, ro)
        stats = episode_metrics(info)
        env_steps = state.env_steps + jnp.int32(horizon * config.num_envs)
        new_state = TrainState(params, opt_state, env_state, obs, key, env_steps)
        return new_state, {"env_steps": env_steps, **stats, **learn_info}

    def act(state: TrainState, obs: Array, key: Array, greedy: bool = False) -> Array:
        logits, _ = learner.network.apply(state.params, obs)
        if greedy:
            return jnp.argmax(logits, axis=-1)
        return jax.random.categorical(key, logits)

    return Agent(init=init, update=update, num_updates=num_updates, act=act, config=config)


def windowed_mean(
    env_steps: np.ndarray, episode_return: np.ndarray, episodes: np.ndarray, window: int
) -> np.ndarray:
    """Mean return of the episodes that ended in the last ``window`` env steps, per update.

    Host-side helper for learning curves: the arguments are the ``train`` metrics of
    one run (``[U]`` each); entry ``u`` averages every episode that ended in an update
    whose ``env_steps`` lies in ``(env_steps[u] - window, env_steps[u]]``. NaN where
    no episode ended in the window.
    """
    steps = np.asarray(env_steps, np.float64)
    count = np.asarray(episodes, np.float64)
    total = np.where(count > 0, np.nan_to_num(np.asarray(episode_return, np.float64)) * count, 0)
    csum_t = np.concatenate([[0.0], np.cumsum(total)])
    csum_c = np.concatenate([[0.0], np.cumsum(count)])
    start = np.searchsorted(steps, steps - window, side="right")
    idx = np.arange(len(steps)) + 1
    t = csum_t[idx] - csum_t[start]
    c = csum_c[idx] - csum_c[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, t / np.maximum(c, 1), np.nan)


#: The registry's record (``jaxrl.algos.get("a2c")``).
A2C = Algorithm(
    name="a2c", config=Config, make=make, presets=PRESETS, default_env=DEFAULT_ENV,
    summary="synchronous advantage actor-critic, N-step or Monte Carlo",
    supports=frozenset({"discrete"}),
)
