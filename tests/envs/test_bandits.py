"""Bandit and ContextualBandit: reward laws, observations, drift, truncation, options.

Statistical checks use fixed seeds and a tolerance of 4 standard errors computed
from the definition (a correct env fails one such check with probability ~6e-5).
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.bandits import (
    NUM_TRIALS,
    Bandit,
    BanditState,
    ContextualBandit,
    ContextualBanditState,
)

N_PULLS = 20_000
BANDIT3 = Bandit(num_arms=3)  # shared so that its compiled pull function is reused


def binomial_pmf(p: float) -> np.ndarray:
    return np.array([math.comb(NUM_TRIALS, k) * p**k * (1 - p) ** (NUM_TRIALS - k)
                     for k in range(NUM_TRIALS + 1)])


_PULLS: dict[int, object] = {}


def pull_many(env, state, action, params, seed=0, n=N_PULLS):
    """``n`` independent pulls of ``action`` from the same ``state``.

    Returns ``(rewards, info, new_states, terminated, truncated)``, batched over pulls.
    One compiled function per env object (action, state and params are traced).
    """
    if id(env) not in _PULLS:
        def pulls(keys, state, action, params):
            return jax.vmap(env.step_env, in_axes=(0, None, None, None))(
                keys, state, action, params)
        _PULLS[id(env)] = (env, jax.jit(pulls))
    keys = jax.random.split(jax.random.key(seed), n)
    _, new_state, reward, terminated, truncated, info = _PULLS[id(env)][1](
        keys, state, jnp.asarray(action, jnp.int32), params)
    return np.asarray(reward), info, new_state, terminated, truncated


# --- Bandit: reward law -------------------------------------------------------------
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_binomial_reward_distribution(p):
    env = BANDIT3
    params = env.default_params
    arms = jnp.array([0.5, p, 0.2], jnp.float32)
    state = BanditState(arms, jnp.zeros((), jnp.int32))
    rewards, info, *_ = pull_many(env, state, 1, params, seed=int(p * 100))

    assert set(np.unique(rewards)) <= set(range(NUM_TRIALS + 1))
    # Mean within 4 standard errors of 10 p.
    var = NUM_TRIALS * p * (1 - p)
    assert abs(rewards.mean() - NUM_TRIALS * p) < 4 * math.sqrt(var / N_PULLS)
    # Every value's frequency within 4 standard errors of the binomial pmf.
    freq = np.bincount(rewards.astype(int), minlength=NUM_TRIALS + 1) / N_PULLS
    pmf = binomial_pmf(p)
    se = np.sqrt(pmf * (1 - pmf) / N_PULLS) + 1e-12
    assert np.all(np.abs(freq - pmf) < 4 * se + 1e-4), (freq, pmf)
    # Variance of Binomial(10, p): sample variance within 10 % (n = 20,000 gives a
    # relative standard error of ~1 % for these p).
    assert rewards.var() == pytest.approx(var, rel=0.1)
    # Info describes this pull.
    np.testing.assert_allclose(info["expected_reward"], NUM_TRIALS * p, rtol=1e-6)
    np.testing.assert_allclose(info["best_expected_reward"], NUM_TRIALS * max(0.5, p), rtol=1e-6)
    assert bool(np.all(info["optimal_action"])) == (p >= 0.5)  # a tie is optimal too


def test_per_arm_means_from_a_reset():
    env = Bandit(num_arms=10)
    params = env.default_params
    _, state = env.reset(jax.random.key(3), params)
    p = np.asarray(state.arms)
    for a in range(10):
        rewards, info, *_ = pull_many(env, state, a, params, seed=a)
        se = math.sqrt(NUM_TRIALS * p[a] * (1 - p[a]) / N_PULLS) + 1e-9
        assert abs(rewards.mean() - NUM_TRIALS * p[a]) < 4 * se
        assert bool(info["optimal_action"][0]) == (a == int(np.argmax(p)))


def test_reset_draws_uniform_probabilities():
    env = Bandit(num_arms=10)
    keys = jax.random.split(jax.random.key(7), 2000)
    _, states = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(keys, env.default_params)
    p = np.asarray(states.arms).ravel()
    assert p.min() >= 0.0 and p.max() <= 1.0
    n = p.size
    assert abs(p.mean() - 0.5) < 4 * math.sqrt(1 / 12 / n)
    for q in (0.1, 0.25, 0.75):  # CDF of U(0, 1) at a few points
        assert abs(np.mean(p < q) - q) < 4 * math.sqrt(q * (1 - q) / n)
    # Arms within a problem differ, and so do problems from different keys.
    arms = np.asarray(states.arms)
    assert all(len(np.unique(row)) == 10 for row in arms)
    assert len(np.unique(arms[:, 0])) > 0.99 * len(arms)
    assert np.all(np.asarray(states.time) == 0)


def test_observation_constant_and_spaces():
    env, params = envs.make("Bandit-v0")
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == (1,) and obs.dtype == jnp.float32 and float(obs[0]) == 0.0
    assert bool(env.observation_space(params).contains(obs))
    assert env.action_space(params).n == 10
    assert env.stochastic_step
    obs2, *_ = env.step(jax.random.key(1), state, 4, params)
    np.testing.assert_array_equal(obs2, obs)


def test_stationary_arms_do_not_move_and_time_counts():
    env = Bandit(num_arms=5)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    arms0 = np.asarray(state.arms)

    def body(s, k):
        _, s, *_ = env.step(k, s, 2, params)
        return s, None

    final, _ = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 50))
    np.testing.assert_array_equal(final.arms, arms0)
    assert int(final.time) == 50


def test_truncation_at_cap_never_terminated_then_new_problem():
    env, params = envs.make("Bandit-v0", max_steps_in_episode=3)
    _, state = env.reset(jax.random.key(0), params)
    arms0 = np.asarray(state.arms)
    flags = []
    for i in range(3):
        _, state, _, terminated, truncated, _ = env.step(jax.random.key(10 + i), state, 0, params)
        flags.append((bool(terminated), bool(truncated)))
    assert flags == [(False, False), (False, False), (False, True)]
    # Auto-reset drew a fresh problem and restarted the clock.
    assert int(state.time) == 0
    assert not np.allclose(np.asarray(state.arms), arms0)


def test_gaussian_testbed():
    env, params = envs.make("Bandit-v0", reward="gaussian", q_mean=4.0)
    keys = jax.random.split(jax.random.key(0), 1000)
    _, states = jax.vmap(env.reset_env, in_axes=(0, None))(keys, params)
    q = np.asarray(states.arms).ravel()
    assert abs(q.mean() - 4.0) < 4 * math.sqrt(1 / q.size)
    assert q.std() == pytest.approx(1.0, rel=0.05)
    state = BanditState(jnp.array([1.5, -0.3], jnp.float32), jnp.zeros((), jnp.int32))
    rewards, info, *_ = pull_many(env, state, 1, params)
    assert abs(rewards.mean() + 0.3) < 4 / math.sqrt(N_PULLS)
    assert rewards.var() == pytest.approx(1.0, rel=0.05)
    np.testing.assert_allclose(info["expected_reward"], -0.3, rtol=1e-6)
    np.testing.assert_allclose(info["best_expected_reward"], 1.5, rtol=1e-6)
    assert not np.any(info["optimal_action"])


# --- Bandit: non-stationary drift ---------------------------------------------------
def test_nonstationary_drift_moves_arms_with_the_stated_std():
    env, params = envs.make("Bandit-v0", num_arms=4, nonstationary=True, drift_std=0.02)
    state = BanditState(jnp.full((4,), 0.5, jnp.float32), jnp.zeros((), jnp.int32))
    _, _, new_state, *_ = pull_many(env, state, 0, params)
    steps = np.asarray(new_state.arms) - 0.5  # [N_PULLS, 4] one-step increments
    assert np.all(steps != 0.0)
    assert abs(steps.mean()) < 4 * 0.02 / math.sqrt(steps.size)
    assert steps.std() == pytest.approx(0.02, rel=0.05)


def test_nonstationary_drift_stays_in_unit_interval():
    env, params = envs.make("Bandit-v0", num_arms=3, nonstationary=True, drift_std=0.2)
    # Start on the edges so that clipping is exercised on the first step.
    state = BanditState(jnp.array([0.0, 1.0, 0.5], jnp.float32), jnp.zeros((), jnp.int32))

    def body(s, k):
        _, s, _, _, _, info = env.step_env(k, s, 1, params)
        return s, (s.arms, info["expected_reward"])

    _, (path, expected) = jax.jit(lambda s, ks: jax.lax.scan(body, s, ks))(
        state, jax.random.split(jax.random.key(0), 500)
    )
    path = np.asarray(path)
    assert path.min() >= 0.0 and path.max() <= 1.0
    assert np.any(path == 0.0) and np.any(path == 1.0)  # clipping happened
    assert np.abs(path[-1] - path[0]).max() > 0.1  # the walk went somewhere
    # The info reports the probability at the time of the pull (before the drift).
    np.testing.assert_allclose(expected[1:], NUM_TRIALS * path[:-1, 1], rtol=1e-6)


# --- ContextualBandit ---------------------------------------------------------------
def test_contextual_one_hot_observation_and_spaces():
    env, params = envs.make("ContextualBandit-v0", num_states=6, num_arms=3)
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == (6,) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, np.eye(6)[int(state.context)])
    assert bool(env.observation_space(params).contains(obs))
    assert env.action_space(params).n == 3
    assert np.asarray(state.arms).shape == (6, 3)


def test_contextual_states_are_uniform_and_change_every_pull():
    env = ContextualBandit(num_states=5, num_arms=2)
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)

    def body(s, k):
        obs, s, *_ = env.step(k, s, 0, params)
        return s, (obs, s.context)

    n = 20_000
    _, (obs, ctx) = jax.jit(lambda s, ks: jax.lax.scan(body, s, ks))(
        state, jax.random.split(jax.random.key(1), n)
    )
    obs, ctx = np.asarray(obs), np.asarray(ctx)
    np.testing.assert_array_equal(obs, np.eye(5)[ctx])  # obs is the new state's one-hot
    freq = np.bincount(ctx, minlength=5) / n
    assert np.all(np.abs(freq - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n))
    # Successive states are independent: the state repeats with probability 1/5.
    repeat = np.mean(ctx[1:] == ctx[:-1])
    assert abs(repeat - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)


def test_contextual_reward_uses_the_current_state_row():
    env = ContextualBandit(num_states=3, num_arms=2)
    params = env.default_params
    arms = jnp.array([[0.1, 0.2], [0.9, 0.4], [0.5, 0.6]], jnp.float32)
    for s in range(3):
        state = ContextualBanditState(arms, jnp.asarray(s, jnp.int32), jnp.zeros((), jnp.int32))
        for a in range(2):
            p = float(arms[s, a])
            rewards, info, new_state, *_ = pull_many(env, state, a, params, seed=10 * s + a)
            assert abs(rewards.mean() - NUM_TRIALS * p) < 4 * math.sqrt(
                NUM_TRIALS * p * (1 - p) / N_PULLS)
            np.testing.assert_allclose(info["expected_reward"], NUM_TRIALS * p, rtol=1e-6)
            np.testing.assert_allclose(
                info["best_expected_reward"], NUM_TRIALS * float(arms[s].max()), rtol=1e-6)
            assert bool(info["optimal_action"][0]) == (a == int(np.argmax(arms[s])))
            # p[s, a] is fixed for the episode; the clock advances.
            np.testing.assert_array_equal(new_state.arms[0], arms)
            assert int(new_state.time[0]) == 1


def test_contextual_truncation():
    env, params = envs.make("ContextualBandit-v0", max_steps_in_episode=2)
    _, state = env.reset(jax.random.key(0), params)
    _, state, _, te1, tr1, _ = env.step(jax.random.key(1), state, 0, params)
    _, state, _, te2, tr2, _ = env.step(jax.random.key(2), state, 0, params)
    assert [bool(te1), bool(tr1), bool(te2), bool(tr2)] == [False, False, False, True]
    assert int(state.time) == 0
    assert envs.make("ContextualBandit-v0")[1].max_steps_in_episode == 10_000


# --- construction, options, jit/vmap ------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [dict(num_arms=1), dict(num_arms=0), dict(num_arms=2.5), dict(num_arms=True),
     dict(reward="poisson"), dict(nonstationary="yes")],
)
def test_bandit_construction_errors(kwargs):
    with pytest.raises(ValueError):
        Bandit(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(num_states=0), dict(num_arms=1), dict(num_states=1.5)])
def test_contextual_construction_errors(kwargs):
    with pytest.raises(ValueError):
        ContextualBandit(**kwargs)


def test_make_options():
    env, params = envs.make(
        "Bandit-v0", num_arms=5, nonstationary=True, drift_std=0.05, max_steps_in_episode=7
    )
    assert env.num_arms == 5 and env.nonstationary and env.reward == "binomial"
    assert params.drift_std == 0.05 and params.max_steps_in_episode == 7
    env, params = envs.make("ContextualBandit-v0", num_states=4, num_arms=6)
    assert (env.num_states, env.num_arms) == (4, 6)
    with pytest.raises(ValueError, match="drift_std"):
        envs.make("Bandit-v0", drift_sd=0.1)
    with pytest.raises(ValueError):
        envs.make("ContextualBandit-v0", num_arms=1)


@pytest.mark.heavy
def test_jit_vmap_batches_and_params():
    env = Bandit(num_arms=4, nonstationary=True)
    vec = envs.VecEnv(env, 8)
    obs, state = jax.jit(vec.reset)(jax.random.key(0))
    chex.assert_shape(obs, (8, 1))
    chex.assert_shape(state.arms, (8, 4))

    # vmap over params too: each copy drifts with its own std (0 leaves it still).
    params = jax.tree.map(lambda x: jnp.full((8,), x), env.default_params)
    params = params.replace(drift_std=jnp.linspace(0.0, 0.1, 8))
    batched = envs.VecEnv(env, 8, batched_params=True)
    step = jax.jit(chex.assert_max_traces(batched.step, n=1))
    actions = jnp.arange(8) % 4
    obs2, state2, reward, terminated, truncated, info = step(
        jax.random.key(1), state, actions, params)
    _ = step(jax.random.key(2), state2, actions, params)  # no retrace
    chex.assert_shape([reward, terminated, truncated, info["expected_reward"]], (8,))
    assert reward.dtype == jnp.float32
    moved = np.abs(np.asarray(state2.arms) - np.asarray(state.arms)).max(axis=1)
    assert moved[0] == 0.0 and np.all(moved[1:] > 0.0)
    np.testing.assert_allclose(
        info["expected_reward"], NUM_TRIALS * np.asarray(state.arms)[np.arange(8), actions],
        rtol=1e-6)

    cenv = ContextualBandit(num_states=3, num_arms=4)
    cvec = envs.VecEnv(cenv, 16)
    obs, cstate = jax.jit(cvec.reset)(jax.random.key(3))
    chex.assert_shape(obs, (16, 3))
    obs, cstate, reward, *_ = jax.jit(cvec.step)(jax.random.key(4), cstate, jnp.zeros(16, int))
    np.testing.assert_array_equal(obs, np.eye(3)[np.asarray(cstate.context)])
    assert np.all(np.isfinite(reward))
