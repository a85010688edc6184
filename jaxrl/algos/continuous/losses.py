"""SAC's and TD3's losses as pure functions of arrays (hand fixtures: tests/jaxrl/test_continuous.py).

Batch conventions: ``q`` holds every critic's values, ``float32[critics, batch]``;
``log_prob`` and ``target`` are ``float32[batch]``. The critics' target itself is
``jaxrl.core.value_targets.clipped_double_q_target``; the squashed policy's log-density
is ``jaxrl.core.distributions.tanh_gaussian_log_prob``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = ["critic_loss", "deterministic_actor_loss", "smoothed_target_action",
           "soft_actor_loss", "temperature_loss"]


def critic_loss(q: Array, target: Array) -> Array:
    """``sum_i mean_b 0.5 (q[i, b] - target[b])^2``: every critic regressed on the one
    (already stopped) target."""
    chex.assert_rank([q, target], [2, 1])
    chex.assert_equal_shape_suffix([q, target], 1)
    return jnp.sum(jnp.mean(0.5 * (q - jax.lax.stop_gradient(target)) ** 2, axis=-1))


def soft_actor_loss(q: Array, log_prob: Array, alpha: Array | float) -> Array:
    """SAC's policy loss ``mean_b [alpha log pi(a_b | s_b) - min_i q[i, b]]`` for actions
    ``a_b`` drawn from the policy (reparameterised: gradients reach the policy through
    both terms). ``alpha`` is a constant here (its own loss is ``temperature_loss``)."""
    chex.assert_rank([q, log_prob], [2, 1])
    alpha = jax.lax.stop_gradient(alpha)
    return jnp.mean(alpha * log_prob - jnp.min(q, axis=0))


def temperature_loss(log_alpha: Array, log_prob: Array, target_entropy: Array | float) -> Array:
    """SAC's temperature loss ``-mean_b log_alpha * (log pi(a_b | s_b) + target_entropy)``.

    Its gradient in ``log_alpha`` is ``-(mean log pi + target_entropy)`` = ``entropy -
    target_entropy``: the temperature falls while the policy's entropy is above the
    target and rises while it is below (Haarnoja et al., 2018, "Soft Actor-Critic
    Algorithms and Applications", eq. 18, in ``log alpha`` as most implementations
    learn it). ``log_prob`` is a constant here.
    """
    chex.assert_rank([log_alpha, log_prob], [0, 1])
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy))


def deterministic_actor_loss(q: Array) -> Array:
    """TD3's (and DDPG's) policy loss ``-mean_b q[b]``: the first critic's value of the
    policy's own actions (``q`` is ``float32[batch]``)."""
    chex.assert_rank(q, 1)
    return -jnp.mean(q)


def smoothed_target_action(action: Array, noise: Array, noise_std: Array | float,
                           noise_clip: Array | float) -> Array:
    """TD3's target policy smoothing: ``clip(action + clip(noise_std * noise, -c, c), -1, 1)``
    with ``noise`` standard normal, on the actor's ``[-1, 1]`` scale (Fujimoto et al.,
    2018, eq. 15)."""
    chex.assert_equal_shape([action, noise])
    eps = jnp.clip(noise_std * noise, -noise_clip, noise_clip)
    return jnp.clip(action + eps, -1.0, 1.0)
