"""Hand-computed fixtures for jaxrl.core.value_targets, each run jitted and not (rlax style)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.core import returns
from jaxrl.core import value_targets as vt

MODES = ["eager", "jit"]


def run(mode, fn, *args, **static):
    f = (lambda *a: fn(*a, **static)) if static else fn
    return jax.jit(f)(*args) if mode == "jit" else f(*args)


@pytest.mark.parametrize("mode", MODES)
def test_q_learning_target(mode):
    q_t = jnp.array([1.0, 3.0, 2.0])
    # 1 + 0.9 * max(1, 3, 2) = 3.7
    np.testing.assert_allclose(run(mode, vt.q_learning_target, 1.0, 0.9, q_t), 3.7, rtol=1e-6)
    # A terminal transition (discount 0) is just the reward.
    np.testing.assert_allclose(run(mode, vt.q_learning_target, 1.0, 0.0, q_t), 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_double_q_learning_target_selects_with_online_evaluates_with_target(mode):
    q_target = jnp.array([1.0, 3.0, 2.0])
    q_online = jnp.array([5.0, 0.0, 1.0])
    # a* = argmax online = 0; value from the target net: 1 + 0.9 * 1 = 1.9 (not 3.7).
    y = run(mode, vt.double_q_learning_target, 1.0, 0.9, q_target, q_online)
    np.testing.assert_allclose(y, 1.9, rtol=1e-6)
    # Swapping the roles changes the answer: a* = argmax target = 1, online value 0.
    y_swapped = run(mode, vt.double_q_learning_target, 1.0, 0.9, q_online, q_target)
    np.testing.assert_allclose(y_swapped, 1.0, rtol=1e-6)


def test_greedy_action_breaks_ties_to_lowest_index():
    assert int(vt.greedy_action(jnp.array([2.0, 5.0, 5.0]))) == 1


def test_targets_carry_no_gradient():
    q_t = jnp.array([1.0, 3.0])
    g = jax.grad(lambda q: vt.q_learning_target(1.0, 0.9, q))(q_t)
    np.testing.assert_array_equal(g, 0.0)
    g = jax.grad(lambda q: vt.double_q_learning_target(1.0, 0.9, q, q))(q_t)
    np.testing.assert_array_equal(g, 0.0)


def test_targets_reject_batched_inputs():
    with pytest.raises(AssertionError):
        vt.q_learning_target(jnp.ones(3), jnp.ones(3), jnp.ones((3, 2)))
    with pytest.raises(AssertionError):
        vt.double_q_learning_target(1.0, 0.9, jnp.ones(2), jnp.ones(3))


# --------------------------------------------------------------------------------- n-step
CASES = {
    # name: (rewards, terminated, stop, G, discount, last) with gamma = 0.5
    "full window": ([1, 2, 3], [0, 0, 0], [0, 0, 0], 1 + 0.5 * 2 + 0.25 * 3, 0.125, 2),
    "terminated at 1": ([1, 2, 3], [0, 1, 0], [0, 1, 0], 1 + 0.5 * 2, 0.0, 1),
    "truncated at 1": ([1, 2, 3], [0, 0, 0], [0, 1, 0], 1 + 0.5 * 2, 0.25, 1),
    "next step not stored": ([1, 2, 3], [0, 0, 0], [1, 0, 0], 1.0, 0.5, 0),
    "terminated at 0": ([1, 2, 3], [1, 0, 1], [1, 0, 1], 1.0, 0.0, 0),
    "terminal on the last step": ([1, 2, 3], [0, 0, 1], [0, 0, 1], 2.75, 0.0, 2),
    "one step": ([4], [0], [0], 4.0, 0.5, 0),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(CASES))
def test_n_step_return_fixtures(mode, case):
    r, term, stop, g, disc, last = CASES[case]
    out = run(
        mode, vt.n_step_return,
        jnp.array(r, jnp.float32), jnp.array(term, bool), jnp.array(stop, bool), 0.5,
    )
    np.testing.assert_allclose(out.reward, g, rtol=1e-6)
    np.testing.assert_allclose(out.discount, disc, rtol=1e-6)
    assert int(out.last) == last


def test_n_step_return_agrees_with_trajectory_n_step_returns():
    """Folding a window, then bootstrapping from nv[last], equals the first entry of
    returns.n_step_returns on the same steps (an independent implementation)."""
    rng = np.random.default_rng(0)
    cases = 64
    for n in (1, 2, 5):
        r = jnp.asarray(rng.normal(size=(cases, n)), jnp.float32)
        nv = jnp.asarray(rng.normal(size=(cases, n)), jnp.float32)
        term = jnp.asarray(rng.random((cases, n)) < 0.2)
        trunc = jnp.asarray(rng.random((cases, n)) < 0.2)
        gamma = jnp.asarray(rng.uniform(0.5, 1.0, size=cases), jnp.float32)

        def both(r, nv, term, trunc, gamma, n=n):
            out = vt.n_step_return(r, term, term | trunc, gamma)
            ours = out.reward + out.discount * nv[out.last]
            return ours, returns.n_step_returns(r, nv, term, trunc, gamma, n)[0]

        ours, ref = jax.jit(jax.vmap(both))(r, nv, term, trunc, gamma)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_n_step_return_checks_shapes():
    with pytest.raises(AssertionError):
        vt.n_step_return(jnp.ones(3), jnp.zeros(2, bool), jnp.zeros(3, bool), 0.9)


# --------------------------------------------------------------------------------- dueling
@pytest.mark.parametrize("mode", MODES)
def test_dueling_aggregate(mode):
    # v = 2, A = [1, 2, 6], mean(A) = 3 -> q = 2 + A - 3 = [0, 1, 5]
    q = run(mode, vt.dueling_aggregate, jnp.array(2.0), jnp.array([1.0, 2.0, 6.0]))
    np.testing.assert_allclose(q, [0.0, 1.0, 5.0], rtol=1e-6)
    # A constant shift of the advantages does not change q (identifiability).
    q2 = run(mode, vt.dueling_aggregate, jnp.array([2.0]), jnp.array([11.0, 12.0, 16.0]))
    np.testing.assert_allclose(q2, q, rtol=1e-6)
    # The mean of q over actions is the state value.
    np.testing.assert_allclose(jnp.mean(q), 2.0, rtol=1e-6)


# --------------------------------------------------------------------------------- losses
@pytest.mark.parametrize("mode", MODES)
def test_huber_loss_fixture_and_gradient(mode):
    x = jnp.array([-3.0, -1.0, -0.5, 0.0, 0.5, 2.0])
    expected = [2.5, 0.5, 0.125, 0.0, 0.125, 1.5]  # 0.5 x^2 inside, |x| - 0.5 outside
    np.testing.assert_allclose(run(mode, vt.huber_loss, x), expected, rtol=1e-6)
    # delta = 2: 0.5 * 1^2 = 0.5 inside; 2 * (3 - 1) = 4 outside.
    np.testing.assert_allclose(vt.huber_loss(jnp.array([1.0, 3.0]), 2.0), [0.5, 4.0], rtol=1e-6)
    # Its gradient is the clipped error.
    grad = jax.vmap(jax.grad(vt.huber_loss))(x)
    np.testing.assert_allclose(grad, jnp.clip(x, -1.0, 1.0), rtol=1e-6)


def test_squared_loss():
    np.testing.assert_allclose(vt.squared_loss(jnp.array([-3.0, 0.5])), [9.0, 0.25])


@pytest.mark.parametrize("mode", MODES)
def test_td_loss_weighted_mean(mode):
    td = jnp.array([2.0, -1.0])
    w = jnp.array([1.0, 0.5])
    # Huber: (1 * 1.5 + 0.5 * 0.5) / 2 = 0.875 ; MSE: (1 * 4 + 0.5 * 1) / 2 = 2.25
    np.testing.assert_allclose(run(mode, vt.td_loss, td, w, kind="huber"), 0.875, rtol=1e-6)
    np.testing.assert_allclose(run(mode, vt.td_loss, td, w, kind="mse"), 2.25, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        vt.td_loss(td, w, "l1")
    with pytest.raises(AssertionError):
        vt.td_loss(td, jnp.ones(3), "mse")


def test_functions_vmap_over_a_batch():
    q_t = jnp.array([[1.0, 3.0], [4.0, 2.0]])
    y = jax.vmap(vt.q_learning_target)(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.5]), q_t)
    chex.assert_shape(y, (2,))
    np.testing.assert_allclose(y, [3.0, 3.0])


# --------------------------------------------------------------------------------- Q(lambda)
# Hand fixtures, gamma = 0.5, lambda = 0.5. Each row: rewards, next_q, terminated,
# truncated, targets worked out by hand from G_t = r_t + g (1 - term_t) [(1 - l_t) nq_t
# + l_t G_{t+1}], l_t = 0 at an episode's end and at the last step.
Q_LAMBDA_CASES = {
    # G_2 = 1 + .5 * 4 = 3; G_1 = 1 + .5 * (.5 * 4 + .5 * 3) = 2.75;
    # G_0 = 1 + .5 * (.5 * 4 + .5 * 2.75) = 2.6875
    "one episode": ([1, 1, 1], [4, 4, 4], [0, 0, 0], [0, 0, 0], [2.6875, 2.75, 3.0]),
    # step 1 terminates: G_1 = 2 (no bootstrap), G_0 = 1 + .5 * (.5 * 8 + .5 * 2) = 3.5;
    # step 2 is a new episode: G_2 = 3 + .5 * 6 = 6
    "termination cuts and bootstraps nothing": (
        [1, 2, 3], [8, 100, 6], [0, 1, 0], [0, 0, 0], [3.5, 2.0, 6.0]),
    # step 1 truncated: G_1 = 2 + .5 * 10 = 7 (the final observation's value, no mixing
    # with step 2's episode); G_0 = 1 + .5 * (.5 * 8 + .5 * 7) = 4.75; G_2 = 3 + .5 * 6 = 6
    "truncation bootstraps the final observation": (
        [1, 2, 3], [8, 10, 6], [0, 0, 0], [0, 1, 0], [4.75, 7.0, 6.0]),
    # both flags: termination wins
    "terminated and truncated": ([1, 2], [8, 10], [0, 1], [0, 1], [1 + .5 * (.5 * 8 + .5 * 2), 2]),
    "last step terminated": ([1, 2], [4, 4], [0, 1], [0, 0], [1 + .5 * (.5 * 4 + .5 * 2), 2]),
    "one step": ([5], [2], [0], [0], [6.0]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(Q_LAMBDA_CASES))
def test_q_lambda_returns_fixtures(mode, case):
    r, nq, term, trunc, expected = Q_LAMBDA_CASES[case]
    out = run(mode, vt.q_lambda_returns, jnp.array(r, jnp.float32), jnp.array(nq, jnp.float32),
              jnp.array(term, bool), jnp.array(trunc, bool), 0.5, 0.5)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_q_lambda_returns_limits_and_gae_identity():
    """lambda 0: the one-step Q-learning target of every step; lambda 1: the bootstrapped
    returns; any lambda: GAE + V when V(s_t) is max Q(s_t) (an independent recursion)."""
    rng = np.random.default_rng(1)
    t = 9
    r = jnp.asarray(rng.normal(size=t), jnp.float32)
    nq = jnp.asarray(rng.normal(size=t), jnp.float32)
    term = jnp.asarray(rng.random(t) < 0.2)
    trunc = jnp.asarray(rng.random(t) < 0.2)
    gamma = 0.9
    one_step = jax.vmap(vt.q_learning_target)(r, gamma * (1.0 - term), nq[:, None])
    np.testing.assert_allclose(vt.q_lambda_returns(r, nq, term, trunc, gamma, 0.0), one_step,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(vt.q_lambda_returns(r, nq, term, trunc, gamma, 1.0),
                               returns.bootstrapped_returns(r, nq, term, trunc, gamma),
                               rtol=1e-5, atol=1e-6)
    # v_t = max Q(s_t): inside an episode the previous step's nq; at an episode's start
    # anything (GAE never reads it across the cut) but it must be the same value twice.
    done = np.asarray(term | trunc)
    v = np.asarray(rng.normal(size=t), np.float32)
    for i in range(1, t):
        if not done[i - 1]:
            v[i] = float(nq[i - 1])
    v = jnp.asarray(v)
    lam = 0.7
    np.testing.assert_allclose(vt.q_lambda_returns(r, nq, term, trunc, gamma, lam),
                               returns.gae(r, v, nq, term, trunc, gamma, lam) + v,
                               rtol=1e-5, atol=1e-5)


def test_q_lambda_returns_checks_inputs_and_stops_gradients():
    with pytest.raises(AssertionError):
        vt.q_lambda_returns(jnp.ones(3), jnp.ones(2), jnp.zeros(3, bool), jnp.zeros(3, bool),
                            0.9, 0.5)
    with pytest.raises(TypeError, match="terminated"):
        vt.q_lambda_returns(jnp.ones(3), jnp.ones(3), jnp.zeros(3), jnp.zeros(3, bool), 0.9, 0.5)
    grad = jax.grad(lambda q: jnp.sum(vt.q_lambda_returns(
        jnp.ones(3), q, jnp.zeros(3, bool), jnp.zeros(3, bool), 0.9, 0.5)))(jnp.ones(3))
    np.testing.assert_array_equal(grad, 0.0)
