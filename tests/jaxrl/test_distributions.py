"""jaxrl.core.distributions: categorical and Gaussian log-probabilities and entropies by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import ppo
from jaxrl.core import distributions as d


def test_categorical_by_hand_with_two_batch_axes():
    # p = (1/4, 3/4, 0), (1/2, 1/2, 0) (a -1e9 logit is probability 0), (1/6, 2/6, 3/6)
    # (logits log 1, log 2, log 3) and (1/3, 1/3, 1/3).
    logits = jnp.array([
        [[0.0, math.log(3.0), -1e9], [0.0, 0.0, -1e9]],
        [[0.0, math.log(2.0), math.log(3.0)], [5.0, 5.0, 5.0]],
    ])
    action = jnp.array([[1, 0], [2, 1]])
    logp = d.categorical_log_prob(logits, action)
    assert logp.shape == (2, 2)
    expected = [[math.log(3 / 4), math.log(1 / 2)], [math.log(3 / 6), math.log(1 / 3)]]
    np.testing.assert_allclose(logp, expected, rtol=1e-6)

    h = lambda *p: -sum(x * math.log(x) for x in p)  # noqa: E731
    np.testing.assert_allclose(
        d.categorical_entropy(logits),
        [[h(1 / 4, 3 / 4), math.log(2.0)], [h(1 / 6, 2 / 6, 3 / 6), math.log(3.0)]],
        rtol=1e-6,
    )


def test_categorical_joint_equals_the_two_functions_bit_for_bit():
    logits = jax.random.normal(jax.random.key(0), (5, 7, 4)) * 3.0
    action = jax.random.randint(jax.random.key(1), (5, 7), 0, 4)
    logp, ent = d.categorical_log_prob_entropy(logits, action)
    np.testing.assert_array_equal(logp, d.categorical_log_prob(logits, action))
    np.testing.assert_array_equal(ent, d.categorical_entropy(logits))


def test_categorical_is_stable_for_huge_logits():
    logits = jnp.array([[1000.0, 0.0]])
    np.testing.assert_allclose(d.categorical_log_prob(logits, jnp.array([1])), [-1000.0])
    np.testing.assert_allclose(d.categorical_entropy(logits), [0.0], atol=1e-6)


def test_gaussian_by_hand():
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    mean = jnp.array([[0.0, 1.0], [2.0, -1.0]])
    log_std = jnp.array([0.0, math.log(2.0)])  # sigma = (1, 2)
    action = jnp.array([[1.0, 5.0], [2.0, -1.0]])
    # Row 0: z = (1, 2): (-0.5 - c) + (-2 - log 2 - c); row 1: z = 0: -log 2 - 2c.
    expected = [
        -0.5 - 2.0 - math.log(2.0) - 2 * half_log_2pi,
        -math.log(2.0) - 2 * half_log_2pi,
    ]
    np.testing.assert_allclose(d.gaussian_log_prob(mean, log_std, action), expected, rtol=1e-6)
    # A per-row log_std [B, d] gives the same as the shared one broadcast.
    per_row = jnp.broadcast_to(log_std, mean.shape)
    np.testing.assert_allclose(d.gaussian_log_prob(mean, per_row, action), expected, rtol=1e-6)
    # Entropy: sum_i log sigma_i + d (1 + log 2 pi) / 2, independent of the mean.
    np.testing.assert_allclose(
        d.gaussian_entropy(log_std), math.log(2.0) + 2 * (0.5 + half_log_2pi), rtol=1e-6
    )
    np.testing.assert_allclose(
        d.gaussian_entropy(jnp.zeros((3, 1))), [0.5 + half_log_2pi] * 3, rtol=1e-6
    )


def test_shape_mismatches_fail_loudly():
    with pytest.raises(AssertionError):
        d.categorical_log_prob(jnp.zeros((3, 2)), jnp.zeros((4,), jnp.int32))
    with pytest.raises(AssertionError):
        d.categorical_log_prob_entropy(jnp.zeros((3, 2)), jnp.zeros((3, 1), jnp.int32))
    with pytest.raises(AssertionError):
        d.gaussian_log_prob(jnp.zeros((2, 2)), jnp.zeros(3), jnp.zeros((2, 2)))
    with pytest.raises(AssertionError):
        d.gaussian_log_prob(jnp.zeros((2, 2)), jnp.zeros(2), jnp.zeros((2, 3)))


def test_ppo_keeps_the_names():
    assert ppo.categorical_log_prob is d.categorical_log_prob
    assert ppo.categorical_entropy is d.categorical_entropy
    assert ppo.gaussian_log_prob is d.gaussian_log_prob
    assert ppo.gaussian_entropy is d.gaussian_entropy
