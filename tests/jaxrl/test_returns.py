"""Fixtures for jaxrl.core.returns, computed by hand (the arithmetic is in the comments).

The shared trajectory has three episodes in one rollout of T = 7 steps:

    step        0    1    2 | 3    4 | 5    6
    episode     A    A    A | B    B | C    C ...
    end             term@2  | trunc@4 | rollout ends at 6 (not done)

``next_values`` (the value of each transition's *final* observation) carries traps:
at the termination it is 99 (must be ignored), at the truncation it is 10 (must be
used, not ``values[5] = 3`` which belongs to the next episode).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core import returns as R

REWARDS = np.array([1.0, 0.0, 2.0, 1.0, 1.0, 0.0, 1.0], np.float32)
VALUES = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], np.float32)
NEXT_VALUES = np.array([1.0, 1.5, 99.0, 2.5, 10.0, 3.5, 4.0], np.float32)
TERMINATED = np.array([0, 0, 1, 0, 0, 0, 0], bool)
TRUNCATED = np.array([0, 0, 0, 0, 1, 0, 0], bool)
GAMMA, LAM = 0.9, 0.8


def _both(fn):
    """Run ``fn`` eagerly and jitted; they must agree."""
    eager = fn()
    jitted = jax.jit(fn)()
    np.testing.assert_allclose(eager, jitted, rtol=1e-6)
    return np.asarray(eager)


# --- gae ---------------------------------------------------------------------------
def test_gae_hand_computed_termination_and_truncation():
    # deltas = r + 0.9 * (1 - term) * nv - v
    #   d0 = 1 + .9*1.0 - .5 = 1.4       d1 = 0 + .9*1.5 - 1 = 0.35   d2 = 2 - 1.5 = 0.5
    #   d3 = 1 + .9*2.5 - 2 = 1.25       d4 = 1 + .9*10 - 2.5 = 7.5   (truncation: nv=10)
    #   d5 = 0 + .9*3.5 - 3 = 0.15       d6 = 1 + .9*4 - 3.5 = 1.1    (rollout bootstrap)
    # A_t = d_t + 0.72 * (1 - done_t) * A_{t+1}
    #   A6 = 1.1;  A5 = .15 + .72*1.1 = .942;  A4 = 7.5 (done);  A3 = 1.25 + .72*7.5 = 6.65
    #   A2 = 0.5 (done);  A1 = .35 + .72*.5 = .71;  A0 = 1.4 + .72*.71 = 1.9112
    expected = [1.9112, 0.71, 0.5, 6.65, 7.5, 0.942, 1.1]
    got = _both(lambda: R.gae(
        jnp.asarray(REWARDS), jnp.asarray(VALUES), jnp.asarray(NEXT_VALUES),
        jnp.asarray(TERMINATED), jnp.asarray(TRUNCATED), GAMMA, LAM,
    ))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gae_lambda_one_is_bootstrapped_returns_minus_values():
    adv = R.gae(jnp.asarray(REWARDS), VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, 1.0)
    ret = R.bootstrapped_returns(jnp.asarray(REWARDS), NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA)
    np.testing.assert_allclose(adv + VALUES, ret, rtol=1e-5)


def test_gae_lambda_zero_is_td_error():
    adv = R.gae(jnp.asarray(REWARDS), VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, GAMMA, 0.0)
    td = REWARDS + GAMMA * (1 - TERMINATED) * NEXT_VALUES - VALUES
    np.testing.assert_allclose(adv, td, rtol=1e-5)


def test_gae_termination_wins_over_truncation():
    # Step 0 is both terminated and truncated: bootstrap must be zero (A0 = 1 - 0),
    # and the recursion must not reach step 1 (A1 = 1 + .5*7 - 0 = 4.5).
    adv = R.gae(
        jnp.array([1.0, 1.0]), jnp.zeros(2), jnp.array([5.0, 7.0]),
        jnp.array([True, False]), jnp.array([True, False]), 0.5, 1.0,
    )
    np.testing.assert_allclose(adv, [1.0, 4.5])


def _gae_reference(r, v, nv, term, trunc, gamma, lam):
    """A forward-sum reference: A_t = sum_k (gamma lam)^k delta_{t+k} up to the episode end."""
    T = len(r)
    delta = r + gamma * (1 - term) * nv - v
    out = np.zeros(T)
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * delta[k]
            if term[k] or trunc[k]:
                break
            weight *= gamma * lam
        out[t] = total
    return out


def test_gae_matches_forward_sum_reference_on_random_trajectories():
    rng = np.random.default_rng(0)
    for _ in range(5):
        T = 40
        r, v, nv = (rng.normal(size=T).astype(np.float32) for _ in range(3))
        term = rng.random(T) < 0.1
        trunc = rng.random(T) < 0.1
        got = R.gae(jnp.asarray(r), v, nv, term, trunc, 0.97, 0.9)
        np.testing.assert_allclose(got, _gae_reference(r, v, nv, term, trunc, 0.97, 0.9),
                                   rtol=1e-4, atol=1e-5)


def test_gae_vmaps_over_envs():
    batch = lambda x: jnp.stack([jnp.asarray(x)] * 3)  # noqa: E731
    adv = jax.vmap(R.gae, in_axes=(0, 0, 0, 0, 0, None, None))(
        batch(REWARDS), batch(VALUES), batch(NEXT_VALUES), batch(TERMINATED),
        batch(TRUNCATED), GAMMA, LAM,
    )
    assert adv.shape == (3, 7)
    np.testing.assert_allclose(adv[2, 0], 1.9112, rtol=1e-5)


def test_gae_accepts_integer_flags_and_traced_gamma():
    fn = jax.jit(lambda g, lam: R.gae(jnp.asarray(REWARDS), VALUES, NEXT_VALUES,
                                    TERMINATED.astype(np.int32), TRUNCATED.astype(np.int32), g, lam))
    np.testing.assert_allclose(fn(GAMMA, LAM)[0], 1.9112, rtol=1e-5)


def test_gae_rejects_bad_shapes_and_types():
    with pytest.raises(AssertionError):  # chex: batched [T, B] input is not time-major [T]
        R.gae(jnp.ones((7, 2)), jnp.ones((7, 2)), jnp.ones((7, 2)),
              jnp.zeros((7, 2), bool), jnp.zeros((7, 2), bool), 0.9, 0.9)
    with pytest.raises(AssertionError):  # chex: mismatched lengths
        R.gae(jnp.ones(7), jnp.ones(6), jnp.ones(7), TERMINATED, TRUNCATED, 0.9, 0.9)
    with pytest.raises(TypeError, match="terminated"):
        R.gae(jnp.ones(7), VALUES, NEXT_VALUES, TERMINATED.astype(np.float32), TRUNCATED, .9, .9)
    with pytest.raises(ValueError, match="gamma"):
        R.gae(jnp.ones(7), VALUES, NEXT_VALUES, TERMINATED, TRUNCATED, jnp.ones(2), .9)


# --- bootstrapped and n-step returns ------------------------------------------------
# G_t = r_t + .9 (1 - term_t) [cut_t ? nv_t : G_{t+1}], cut at truncation and at t = 6:
#   G6 = 1 + .9*4 = 4.6;  G5 = .9*4.6 = 4.14;  G4 = 1 + .9*10 = 10 (truncation);
#   G3 = 1 + .9*10 = 10;  G2 = 2 (termination);  G1 = .9*2 = 1.8;  G0 = 1 + .9*1.8 = 2.62
BOOTSTRAPPED = [2.62, 1.8, 2.0, 10.0, 10.0, 4.14, 4.6]


def test_bootstrapped_returns_hand_computed():
    got = _both(lambda: R.bootstrapped_returns(
        jnp.asarray(REWARDS), jnp.asarray(NEXT_VALUES), jnp.asarray(TERMINATED),
        jnp.asarray(TRUNCATED), GAMMA))
    np.testing.assert_allclose(got, BOOTSTRAPPED, rtol=1e-5)


@pytest.mark.parametrize(
    "n, expected",
    [
        # n = 1: r + .9 (1 - term) nv
        (1, [1.9, 1.35, 2.0, 3.25, 10.0, 3.15, 4.6]),
        # n = 2: G0 = 1 + .9*0 + .81*nv1(1.5) = 2.215;  G1 = 0 + .9*2 (term at 2) = 1.8;
        #        G3 = 1 + .9*1 + .81*nv4(10) = 10;  G5 = 0 + .9*1 + .81*nv6(4) = 4.14
        (2, [2.215, 1.8, 2.0, 10.0, 10.0, 4.14, 4.6]),
        # n = 3 already reaches every episode's or the rollout's end
        (3, BOOTSTRAPPED),
        (50, BOOTSTRAPPED),
    ],
)
def test_n_step_returns_hand_computed(n, expected):
    got = _both(lambda: R.n_step_returns(
        jnp.asarray(REWARDS), jnp.asarray(NEXT_VALUES), jnp.asarray(TERMINATED),
        jnp.asarray(TRUNCATED), GAMMA, n))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def _n_step_reference(r, nv, term, trunc, gamma, n):
    T = len(r)
    out = np.zeros(T)
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, min(t + n, T)):
            total += weight * r[k]
            weight *= gamma
            last = k
            if term[k] or trunc[k]:
                break
        out[t] = total + (0.0 if term[last] else weight * nv[last])
    return out


def test_n_step_returns_match_forward_reference():
    rng = np.random.default_rng(1)
    T = 30
    r, nv = rng.normal(size=T).astype(np.float32), rng.normal(size=T).astype(np.float32)
    term, trunc = rng.random(T) < 0.15, rng.random(T) < 0.1
    for n in (1, 3, 10):
        got = R.n_step_returns(jnp.asarray(r), nv, term, trunc, 0.95, n)
        np.testing.assert_allclose(got, _n_step_reference(r, nv, term, trunc, 0.95, n),
                                   rtol=1e-4, atol=1e-5)


def test_n_step_returns_rejects_bad_n():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="n must"):
            R.n_step_returns(jnp.ones(3), jnp.ones(3), jnp.zeros(3, bool), jnp.zeros(3, bool),
                             0.9, bad)


# --- discounted returns and standardize ---------------------------------------------
def test_discounted_returns_hand_computed():
    # G2 = 3 + .5*4 = 5;  G1 = 2 + .5*5 = 4.5;  G0 = 1 + .5*4.5 = 3.25
    got = _both(lambda: R.discounted_returns(jnp.array([1.0, 2.0, 3.0]), jnp.full(3, 0.5), 4.0))
    np.testing.assert_allclose(got, [3.25, 4.5, 5.0])
    # a zero discount cuts the sum: G2 = 3 + .9*10 = 12;  G1 = 2;  G0 = 1 + .9*2 = 2.8
    got = R.discounted_returns(jnp.array([1.0, 2.0, 3.0]), jnp.array([0.9, 0.0, 0.9]), 10.0)
    np.testing.assert_allclose(got, [2.8, 2.0, 12.0], rtol=1e-6)
    # default bootstrap 0, gamma 0.99 over 3 ones: [1 + .99 + .9801, 1.99, 1]
    got = R.discounted_returns(jnp.ones(3), jnp.full(3, 0.99))
    np.testing.assert_allclose(got, [2.9701, 1.99, 1.0], rtol=1e-6)


def test_discounted_returns_rejects_bad_input():
    with pytest.raises(AssertionError):
        R.discounted_returns(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="bootstrap"):
        R.discounted_returns(jnp.ones(3), jnp.ones(3), jnp.ones(3))


def test_standardize():
    # mean 2.5, population std sqrt(1.25)
    got = R.standardize(jnp.array([1.0, 2.0, 3.0, 4.0]))
    s = np.sqrt(1.25)
    np.testing.assert_allclose(got, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], rtol=1e-5)
    # masked: statistics of [1, 3] only (mean 2, std 1); the masked-out 100 becomes 0
    got = R.standardize(jnp.array([1.0, 100.0, 3.0]), mask=jnp.array([True, False, True]))
    np.testing.assert_allclose(got, [-1.0, 0.0, 1.0], rtol=1e-5)
    # a constant input is finite (zeros), not NaN
    np.testing.assert_allclose(R.standardize(jnp.full(4, 7.0)), np.zeros(4))
