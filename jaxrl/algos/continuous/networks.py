"""The actors and critics of SAC and TD3, and how their actions meet the environment.

* ``Critic``: ``(observation, action) -> Q``, an MLP over the encoded observation and the
  action side by side. Several critics are one ``Critic`` with stacked parameters
  (``init_critics`` / ``apply_critics`` vmap over them).
* ``GaussianActor`` (SAC): the mean and log standard deviation of the Gaussian whose
  ``tanh`` is the action; the log standard deviation is squashed smoothly into
  ``[log_std_min, log_std_max]``.
* ``DeterministicActor`` (TD3, DDPG): ``tanh`` of an MLP.

Actors work on ``[-1, 1]^d``; the replay buffer and the critics see actions on that
scale too. ``ActionScale`` maps them to the environment's ``Box`` bounds and back, so a
bounded ``Box`` of any range trains unchanged. Unbounded action spaces are refused.
Initialisation is flax's default (lecun normal): no QR, so no batched LAPACK when
seeds are vmapped (see ``jaxrl.core.networks.orthogonal_initializer``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.networks import ACTIVATIONS, concrete_spaces, encode_observation, observation_input
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = ["ActionScale", "Critic", "DeterministicActor", "GaussianActor", "Spec",
           "apply_critics", "init_critics", "spec"]


def _mlp(x: Array, hidden: Sequence[int], act: str, out: int) -> Array:
    f = ACTIVATIONS[act]
    for width in hidden:
        x = f(nn.Dense(width)(x))
    return nn.Dense(out)(x)


class Critic(nn.Module):
    """``(obs [..., *obs_shape], action [..., d]) -> float32[...]``."""

    hidden: tuple[int, ...]
    act: str = "relu"
    obs_ndim: int = 1
    obs_categories: int = 0

    @nn.compact
    def __call__(self, obs: Array, action: Array) -> Array:
        x = encode_observation(obs, self.obs_ndim, self.obs_categories)
        x = jnp.concatenate([x, jnp.asarray(action, jnp.float32)], axis=-1)
        return _mlp(x, self.hidden, self.act, 1)[..., 0]


class _Actor(nn.Module):
    """What both actors share: an MLP over the encoded observation."""

    hidden: tuple[int, ...]
    action_dim: int
    act: str = "relu"
    obs_ndim: int = 1
    obs_categories: int = 0

    def features(self, obs: Array, out: int) -> Array:
        x = encode_observation(obs, self.obs_ndim, self.obs_categories)
        return _mlp(x, self.hidden, self.act, out)


class GaussianActor(_Actor):
    """``obs [..., *obs_shape] -> (mean, log_std)``, each ``float32[..., d]``."""

    @nn.compact
    def __call__(self, obs: Array, log_std_min: Array | float = -5.0,
                 log_std_max: Array | float = 2.0) -> tuple[Array, Array]:
        mean, raw = jnp.split(self.features(obs, 2 * self.action_dim), 2, axis=-1)
        log_std = log_std_min + 0.5 * (log_std_max - log_std_min) * (jnp.tanh(raw) + 1.0)
        return mean, log_std


class DeterministicActor(_Actor):
    """``obs [..., *obs_shape] -> float32[..., d]`` in ``[-1, 1]``."""

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        return jnp.tanh(self.features(obs, self.action_dim))


@dataclasses.dataclass(frozen=True)
class ActionScale:
    """An action space's bounds: ``to_env`` maps ``[-1, 1]^d`` onto ``[low, high]``."""

    low: np.ndarray
    high: np.ndarray

    def to_env(self, action: Array) -> Array:
        low, high = jnp.asarray(self.low), jnp.asarray(self.high)
        return low + 0.5 * (jnp.asarray(action) + 1.0) * (high - low)

    def from_env(self, action: Array) -> Array:
        low, high = jnp.asarray(self.low), jnp.asarray(self.high)
        return 2.0 * (jnp.asarray(action) - low) / (high - low) - 1.0


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the networks need to know about one environment."""

    obs_shape: tuple[int, ...]
    obs_categories: int
    action_dim: int
    scale: ActionScale

    def dummy_obs(self, batch: tuple[int, ...] = (1,)) -> Array:
        dtype = jnp.int32 if self.obs_categories else jnp.float32
        return jnp.zeros((*batch, *self.obs_shape), dtype)


def spec(env: Environment, env_params: Any, algorithm: str) -> Spec:
    """The ``Spec`` of ``env``, or a ``ValueError`` naming ``algorithm`` when its actions
    are not a bounded 1-D ``Box`` or its observations are not something the networks read."""
    action_space, observation_space = concrete_spaces(env, env_params)
    name = getattr(env, "name", type(env).__name__)
    if not (isinstance(action_space, spaces.Box) and len(action_space.shape) == 1):
        raise ValueError(f"{algorithm} needs continuous actions (a 1-D Box), but {name} has "
                         f"actions {action_space!r}; use dqn, pqn or ppo for discrete actions")
    low = np.broadcast_to(np.asarray(action_space.low, np.float32), action_space.shape)
    high = np.broadcast_to(np.asarray(action_space.high, np.float32), action_space.shape)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
        raise ValueError(f"{algorithm} needs bounded actions (finite low < high), but {name}'s "
                         f"action space is {action_space!r}")
    inp = observation_input(observation_space, algorithm, name)
    return Spec(inp.shape, inp.num_categories, int(action_space.shape[0]),
                ActionScale(low.copy(), high.copy()))


def init_critics(critic: Critic, key: Array, count: int, obs: Array, action: Array) -> Any:
    """``count`` critics' parameters, stacked on a leading axis (independent draws)."""
    return jax.vmap(critic.init, in_axes=(0, None, None))(
        jax.random.split(key, count), obs, action)


def apply_critics(critic: Critic, params: Any, obs: Array, action: Array) -> Array:
    """Every critic's value: ``float32[critics, ...]``."""
    return jax.vmap(critic.apply, in_axes=(0, None, None))(params, obs, action)
