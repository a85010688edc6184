"""Log-probabilities and entropies of the two policy distributions the algorithms use.

Pure functions on arrays with any leading batch axes ``[...]``:

* categorical over ``n`` actions, given unnormalised logits ``[..., n]``;
* diagonal Gaussian over ``d`` action dimensions, given means ``[..., d]`` and a
  log standard deviation ``[d]`` (state-independent, PPO's) or ``[..., d]``;
* the tanh-squashed diagonal Gaussian of SAC (``a = tanh(u)``, ``u`` Gaussian), whose
  density on ``(-1, 1)^d`` carries the change-of-variables correction
  (``tanh_gaussian_log_prob``, ``tanh_gaussian_sample``).

The categorical functions normalise with ``jax.nn.log_softmax`` (stable for large
logits). ``categorical_log_prob_entropy`` gives both from one normalisation, for a
loss that needs the two. Shape mismatches fail ``chex`` assertions (``AssertionError``).
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp

Array = jax.Array

__all__ = [
    "categorical_entropy",
    "categorical_log_prob",
    "categorical_log_prob_entropy",
    "gaussian_entropy",
    "gaussian_log_prob",
    "log_one_minus_tanh_squared",
    "tanh_gaussian_log_prob",
    "tanh_gaussian_sample",
]

LOG_2PI = math.log(2.0 * math.pi)


def _check_actions(logits: Array, action: Array) -> None:
    chex.assert_rank(action, logits.ndim - 1)
    chex.assert_equal_shape_prefix([logits, action], action.ndim)


def _take(log_probs: Array, action: Array) -> Array:
    index = jnp.asarray(action)[..., None].astype(jnp.int32)
    return jnp.take_along_axis(log_probs, index, axis=-1)[..., 0]


def categorical_log_prob(logits: Array, action: Array) -> Array:
    """``log pi(a) = logits[a] - log sum_b exp(logits[b])``.

    Args:
        logits: ``float32[..., n]``, unnormalised.
        action: ``int[...]``, indices in ``[0, n)``.

    Returns:
        ``float32[...]``.
    """
    _check_actions(logits, action)
    return _take(jax.nn.log_softmax(logits, axis=-1), action)


def categorical_entropy(logits: Array) -> Array:
    """``H = -sum_a pi(a) log pi(a)``: ``float32[..., n]`` logits -> ``float32[...]``."""
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def categorical_log_prob_entropy(logits: Array, action: Array) -> tuple[Array, Array]:
    """``(categorical_log_prob(logits, action), categorical_entropy(logits))``, both
    ``float32[...]``, from a single ``log_softmax`` of ``logits [..., n]``."""
    _check_actions(logits, action)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return _take(log_probs, action), -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def gaussian_log_prob(mean: Array, log_std: Array, action: Array) -> Array:
    """Diagonal Gaussian log-density, summed over the ``d`` action dimensions.

    ``log p(a) = sum_i [-(a_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log(2 pi) / 2]``
    with ``sigma_i = exp(log_std_i)``.

    Args:
        mean: ``float32[..., d]``.
        log_std: ``float32[d]`` (shared by the batch) or ``float32[..., d]``.
        action: ``float32[..., d]``, the same shape as ``mean``.

    Returns:
        ``float32[...]``.
    """
    chex.assert_equal_shape([mean, action])
    chex.assert_rank(log_std, {1, mean.ndim})
    chex.assert_equal_shape_suffix([mean, log_std], 1)
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_entropy(log_std: Array) -> Array:
    """Entropy of a diagonal Gaussian, ``sum_i (log sigma_i + (1 + log 2 pi) / 2)``.

    ``float32[..., d]`` log standard deviations -> ``float32[...]`` (it does not depend on
    the mean).
    """
    return jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI), axis=-1)


LOG_2 = math.log(2.0)


def log_one_minus_tanh_squared(u: Array) -> Array:
    """``log(1 - tanh(u)^2)``, elementwise, without the cancellation of the direct formula.

    ``1 - tanh(u)^2 = 4 / (e^u + e^-u)^2``, so the log is ``2 (log 2 - u - softplus(-2u))``:
    finite for every ``u`` (``1 - tanh(u)^2`` itself rounds to 0 in float32 once
    ``|u| > 9`` or so, and its log to ``-inf``).
    """
    u = jnp.asarray(u)
    return 2.0 * (LOG_2 - u - jax.nn.softplus(-2.0 * u))


def tanh_gaussian_log_prob(mean: Array, log_std: Array, pre_tanh: Array) -> Array:
    """Log-density of ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``, at ``a = tanh(pre_tanh)``.

    Change of variables: ``log p(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)``, the density
    of the squashed action on ``(-1, 1)^d`` (Haarnoja et al., 2018, appendix C). It takes
    the pre-squash sample ``u`` rather than ``a``: inverting ``tanh`` near +-1 loses all
    precision. An action rescaled to ``[low, high]`` afterwards has the further constant
    ``-sum_i log((high_i - low_i) / 2)``, left out here (jaxrl's SAC measures entropy on
    ``(-1, 1)^d``, Stable-Baselines3's convention).

    Args:
        mean, log_std: ``float32[..., d]``.
        pre_tanh: ``float32[..., d]``, the Gaussian sample ``u``.

    Returns:
        ``float32[...]``.
    """
    return gaussian_log_prob(mean, log_std, pre_tanh) - jnp.sum(
        log_one_minus_tanh_squared(pre_tanh), axis=-1)


def tanh_gaussian_sample(key: Array, mean: Array, log_std: Array) -> tuple[Array, Array]:
    """A reparameterised draw ``a = tanh(mean + exp(log_std) * eps)`` and its log-density.

    Gradients flow to ``mean`` and ``log_std`` through the sample (``eps ~ N(0, 1)`` is the
    only randomness), as SAC's policy loss needs.

    Returns:
        ``(action float32[..., d] in (-1, 1), log_prob float32[...])``.
    """
    chex.assert_equal_shape([mean, log_std])
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(u), tanh_gaussian_log_prob(mean, log_std, u)
