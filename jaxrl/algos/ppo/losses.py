"""PPO's loss terms: pure functions on flat ``[B]`` arrays with chex checks, each with its
equation. The categorical and Gaussian ``*_log_prob`` / ``*_entropy`` live in
``jaxrl.core.distributions`` (also importable from here).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.core.distributions import (
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
)

Array = jax.Array

__all__ = [
    "LossTerms", "categorical_entropy", "categorical_log_prob", "clipped_surrogate_loss",
    "clipped_value_loss", "gaussian_entropy", "gaussian_log_prob", "squared_value_loss",
]


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

