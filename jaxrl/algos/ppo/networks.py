"""PPO's networks: separate actor and critic MLPs (orthogonal init, gain sqrt(2) for
hidden layers, 0.01 for the policy head, 1 for the value head; a conv torso for image
observations), built for an environment by ``networks``; ``Params`` holds their
parameters and the Gaussian policy's log standard deviation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.algos.ppo.config import Config
from jaxrl.core.networks import MLP, choose_torso, concrete_spaces, observation_input
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = ["Networks", "Params", "networks"]


@struct.dataclass
class Params:
    """Network parameters: ``actor`` and ``critic`` flax trees, ``log_std float32[d]``
    (``float32[0]`` for discrete actions)."""

    actor: Any
    critic: Any
    log_std: Array



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

