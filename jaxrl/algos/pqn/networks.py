"""PQN's Q-network: an MLP or conv torso with LayerNorm after every hidden layer.

``QNetwork`` maps an observation to one value per action. The torso (``Config.torso``):
``"mlp"`` (the observation flattened, a Discrete one one-hot encoded first; with
``Config.one_hot_cells`` each cell's channels of an integer image one-hot encoded,
MiniGrid's object, colour and state) or
``"conv"`` (one 3x3 convolution of 16 channels, stride 1, no padding, over an image
observation, MinAtar's baseline torso; ``"auto"`` picks it for images at least 8 cells a
side, ``jaxrl.core.networks.choose_torso``). With ``norm="layer_norm"`` every hidden
layer, the convolution included, is ``activation(LayerNorm(W x + b))``: the
normalisation that lets PQN learn without a target network (Gallici et al., 2024).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.algos.pqn.config import Config
from jaxrl.core.networks import (
    ACTIVATIONS,
    CONV_CHANNELS,
    CONV_KERNEL,
    PatchConv,
    channel_categories,
    choose_torso,
    encode_observation,
    observation_input,
    q_value_actions,
)
from jaxrl.envs.core import Environment

Array = jax.Array

__all__ = ["QNetwork", "q_network"]


class QNetwork(nn.Module):
    """Observation(s) ``[..., *obs_shape]`` -> ``float32[..., num_actions]``.

    Leading axes are batch. Hidden layers: ``Dense`` (conv torso: the convolution, then
    ``Dense`` layers), each followed by ``LayerNorm`` (with ``norm="layer_norm"``) and the
    activation; the output layer is a plain ``Dense``. flax's default initialisers for
    the MLP, He-normal kernels in the conv torso (both the source's choices).
    """

    hidden: tuple[int, ...]
    num_actions: int
    act: str = "relu"
    norm: str = "layer_norm"
    obs_ndim: int = 1
    obs_categories: int = 0
    torso: str = "mlp"  # "mlp" or "conv" (resolved)
    channel_categories: tuple[int, ...] = ()  # mlp: one-hot sizes of an image's channels

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        act = ACTIVATIONS[self.act]

        def normalize(x: Array) -> Array:
            return nn.LayerNorm()(x) if self.norm == "layer_norm" else x

        kernel: Any = nn.initializers.lecun_normal()
        if self.torso == "conv":
            kernel = nn.initializers.he_normal()
            x = jnp.asarray(obs, jnp.float32)
            lead = x.shape[: x.ndim - self.obs_ndim]
            img = jnp.reshape(x, (-1, *x.shape[x.ndim - self.obs_ndim:]))
            if self.obs_ndim == 2:
                img = img[..., None]
            y = act(normalize(PatchConv(CONV_CHANNELS, CONV_KERNEL, kernel_init=kernel)(img)))
            x = jnp.reshape(y, (*lead, -1))
        elif self.channel_categories:  # each cell's channels one-hot (MiniGrid's cells)
            x = jnp.asarray(obs)
            hot = jnp.concatenate(
                [jax.nn.one_hot(x[..., i].astype(jnp.int32), n, dtype=jnp.float32)
                 for i, n in enumerate(self.channel_categories)], axis=-1)
            x = jnp.reshape(hot, (*x.shape[: x.ndim - self.obs_ndim], -1))
        else:
            x = encode_observation(obs, self.obs_ndim, self.obs_categories)
        for width in self.hidden:
            x = act(normalize(nn.Dense(width, kernel_init=kernel)(x)))
        return nn.Dense(self.num_actions)(x)


def q_network(config: Config, env: Environment, env_params: Any = None) -> QNetwork:
    """The Q-network ``make`` trains for ``env``.

    Raises:
        ValueError: the action space is not a scalar ``Discrete``, or the observations are
            neither a ``Box`` nor one ``Discrete``.
    """
    num_actions = q_value_actions(env.action_space(env_params), "pqn", env.name)
    obs_space = env.observation_space(env_params)
    inp = observation_input(obs_space, "pqn", env.name)
    torso = choose_torso(config.torso, inp, "pqn.Config.torso")
    categories = channel_categories(obs_space) if config.one_hot_cells else ()
    if config.one_hot_cells and not (torso == "mlp" and categories):
        raise ValueError(
            "pqn.Config.one_hot_cells needs the mlp torso and an integer image observation "
            f"whose every cell has the same bounds 0..high[c] (MiniGrid's), got {obs_space!r}"
            + (" with the conv torso" if torso == "conv" else ""))
    return QNetwork(
        hidden=tuple(config.hidden), num_actions=num_actions, act=config.activation,
        norm=config.norm, obs_ndim=inp.ndim, obs_categories=inp.num_categories, torso=torso,
        channel_categories=categories,
    )
