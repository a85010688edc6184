"""DQN's Q-network: ``QNetwork`` (an MLP, conv or relational torso; dueling and
distributional heads), ``q_network`` (the one ``make`` builds for an environment) and
``init_params`` (PyTorch's default initialisation, drawn in one call).

The torso (``Config.torso``): ``"mlp"``; ``"conv"`` (one 3x3 convolution of 16 channels
before the hidden layers, MinAtar's baseline); ``"relational"`` (chapter 10: the image's
cells as entities, ``attention_heads`` heads of self-attention, max-pooled or flattened
(``attention_pool``), ``jaxrl.core.networks.relational_features``; its attention weights
are sown as the intermediate ``"attention"``); or ``"auto"`` (conv for image observations
such as MinAtar's 10x10 planes, else mlp: ``jaxrl.core.networks.choose_torso``).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.algos.dqn.config import Config
from jaxrl.core import value_targets
from jaxrl.core.networks import (
    ACTIVATIONS,
    RELATIONAL_TORSOS,
    channel_categories,
    choose_torso,
    conv_features,
    encode_observation,
    observation_input,
    q_value_actions,
    relational_features,
)
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = ["RELATIONAL_TORSOS", "QNetwork", "init_params", "q_network"]


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



def q_network(config: Config, env: Environment, env_params: Any = None) -> QNetwork:
    """The Q-network ``make`` trains for ``env``: ``network.apply(state.params, obs)``
    gives ``float32[..., num_actions]`` (distributional: ``[..., num_actions, atoms]``,
    C51's logits or QR-DQN's quantiles).

    Raises:
        ValueError: the action space is not a scalar ``Discrete``, or the observations
            are neither a ``Box`` nor one ``Discrete``.
    """
    num_actions = q_value_actions(env.action_space(env_params), "dqn", env.name)
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
        hidden=tuple(config.hidden), num_actions=num_actions, act=config.activation,
        dueling=config.dueling, obs_ndim=inp.ndim, obs_low=low, obs_high=high,
        obs_categories=inp.num_categories, num_atoms=atoms[config.distribution],
        torso=torso, channel_categories=channel_categories(obs_space),
        attention_heads=config.attention_heads, attention_width=config.attention_width,
        attention_pool=config.attention_pool,
    )

