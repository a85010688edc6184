"""Small network building blocks shared by the algorithms (flax linen).

Observations reach a network through ``encode_observation``: a ``Box`` observation is
cast to float32 and flattened; a ``Discrete`` one (Taxi's state index) is one-hot
encoded first. ``observation_input(space, ...)`` reads which of the two an
environment needs, and refuses anything else with a clear ``ValueError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from envs import spaces

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "leaky_relu": nn.leaky_relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """Look up an activation by name, with a clear error for unknown names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


@dataclasses.dataclass(frozen=True)
class ObservationInput:
    """How a network reads one environment's observations.

    Attributes:
        shape: one observation's shape, as the environment returns it.
        num_categories: ``n`` for a ``Discrete(n)`` observation (one-hot encoded into
            ``n`` features); 0 for a ``Box`` (cast to float32).
    """

    shape: tuple[int, ...]
    num_categories: int = 0

    @property
    def ndim(self) -> int:
        """Trailing axes of an observation (the rest are batch axes)."""
        return len(self.shape)

    def dummy(self, batch: tuple[int, ...] = ()) -> jax.Array:
        """Zeros shaped like ``batch`` observations, for ``module.init``."""
        dtype = jnp.int32 if self.num_categories else jnp.float32
        return jnp.zeros((*batch, *self.shape), dtype)


def observation_input(space: Any, algorithm: str, env_name: str) -> ObservationInput:
    """The ``ObservationInput`` for an observation space, or a ``ValueError`` naming
    ``algorithm``, ``env_name`` and what the networks read (a ``Box`` or one ``Discrete``)."""
    if isinstance(space, spaces.Box):
        return ObservationInput(tuple(space.shape))
    if isinstance(space, spaces.Discrete) and space.shape == ():
        return ObservationInput((), int(space.n))
    raise ValueError(
        f"{algorithm} cannot read the observations of {env_name}: its networks take a Box "
        f"or a single Discrete observation, got {space!r}"
    )


def encode_observation(obs: jax.Array, obs_ndim: int, num_categories: int = 0) -> jax.Array:
    """Network input ``float32[..., features]`` from observations ``[..., *obs_shape]``.

    The last ``obs_ndim`` axes are one observation (leading axes are batch). With
    ``num_categories = n > 0`` every entry is an index in ``[0, n)`` and becomes a one-hot
    vector of ``n`` features; then the observation's axes are flattened and cast to float32.
    """
    x = jnp.asarray(obs)
    if num_categories:
        x = jax.nn.one_hot(x, num_categories, dtype=jnp.float32)
        obs_ndim += 1
    return jnp.reshape(x, (*x.shape[: x.ndim - obs_ndim], -1)).astype(jnp.float32)


class MLP(nn.Module):
    """Flattens the last ``obs_ndim`` axes of its input (leading axes are batch), then
    Dense layers of ``hidden`` sizes with ``act`` between, then a final Dense of ``out``
    units (no activation). ``orthogonal=True`` uses orthogonal init with gain sqrt(2)
    (hidden) and ``out_scale`` (output), zero biases, the PPO-style choice; otherwise
    flax's default (lecun normal). ``obs_categories > 0`` one-hot encodes a Discrete
    observation first (``encode_observation``)."""

    hidden: Sequence[int]
    out: int
    act: str = "relu"
    orthogonal: bool = False
    out_scale: float = 1.0
    obs_ndim: int = 1
    obs_categories: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = encode_observation(x, self.obs_ndim, self.obs_categories)
        act = activation(self.act)
        for width in self.hidden:
            x = act(self._dense(width, np.sqrt(2.0))(x))
        return self._dense(self.out, self.out_scale)(x)

    def _dense(self, width: int, scale: float) -> nn.Dense:
        if self.orthogonal:
            return nn.Dense(
                width, kernel_init=nn.initializers.orthogonal(scale),
                bias_init=nn.initializers.zeros,
            )
        return nn.Dense(width)
