"""Running mean and variance of a stream of batches (observation normalisation, PPO's
and the curiosity modules' reward scaling share it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array

__all__ = ["RunningStats"]


@struct.dataclass
class RunningStats:
    """Running mean and (population) variance of observations, ``float32[*obs_shape]``."""

    mean: Array
    var: Array
    count: Array  # float32[], observations seen (starts at a tiny epsilon)

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> "RunningStats":
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: Array) -> "RunningStats":
        """Merge a batch ``float32[K, *obs_shape]`` (Chan et al.'s parallel algorithm)."""
        b_mean = jnp.mean(batch, axis=0)
        b_var = jnp.var(batch, axis=0)
        b_count = jnp.asarray(batch.shape[0], jnp.float32)
        total = self.count + b_count
        delta = b_mean - self.mean
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        return RunningStats(mean, m2 / total, total)

    def normalize(self, obs: Array) -> Array:
        return jnp.clip((obs - self.mean) / jnp.sqrt(self.var + 1e-8), -10.0, 10.0)
