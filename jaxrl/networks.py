"""Small network building blocks shared by the algorithms (flax linen)."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


class MLP(nn.Module):
    """Flattens the last ``obs_ndim`` axes of its input (leading axes are batch), then Dense layers of ``hidden`` sizes with ``act`` between,
    then a final Dense of ``out`` units (no activation). ``orthogonal=True`` uses
    orthogonal init with gain sqrt(2) (hidden) and ``out_scale`` (output), zero biases,
    the PPO-style choice; otherwise flax's default (lecun normal)."""

    hidden: Sequence[int]
    out: int
    act: str = "relu"
    orthogonal: bool = False
    out_scale: float = 1.0
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.reshape(x, (*x.shape[: x.ndim - self.obs_ndim], -1)).astype(jnp.float32)
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
