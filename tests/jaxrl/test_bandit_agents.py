"""Bandit agents: hand-computed updates, action laws, the testbed's textbook shape,
a probe with a known best arm, and the contextual bandit agent.

Compiles are the cost here, so the testbed is run once per module (four agents,
500 runs x 1000 pulls) and every shape assertion reads that one result.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import algos, envs
from jaxrl.algos import bandit_agents as ba
from jaxrl.core.agent import Agent
from jaxrl.envs.bandits import Bandit, BanditState


# ============================================================================ fixtures
def test_sample_average_update_by_hand():
    cfg = ba.EpsilonGreedyConfig()
    s = cfg.init(3)
    for a, r in [(0, 4.0), (0, 2.0), (1, 6.0), (0, 9.0)]:
        s = cfg.update(s, jnp.int32(a), jnp.float32(r))
    # Q(0) = mean(4, 2, 9) = 5, Q(1) = 6, Q(2) untouched.
    np.testing.assert_allclose(s.estimates, [5.0, 6.0, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(s.counts, [3.0, 1.0, 0.0])
    assert int(s.step) == 4
    assert float(s.mean_reward) == pytest.approx((4 + 2 + 6 + 9) / 4)


def test_constant_step_update_by_hand():
    cfg = ba.EpsilonGreedyConfig(estimator="constant", step_size=0.5)
    s = cfg.init(2)
    for r in (4.0, 4.0, 0.0):
        s = cfg.update(s, jnp.int32(0), jnp.float32(r))
    # 0 -> 2 -> 3 -> 1.5: exponential recency weighting, not the mean 8/3.
    np.testing.assert_allclose(s.estimates, [1.5, 0.0], rtol=1e-6)
    # Optimistic start: Q1 = 5, one reward of 1 with alpha 0.5 gives 3.
    cfg = ba.SoftmaxConfig(estimator="constant", step_size=0.5, initial_value=5.0)
    s = cfg.update(cfg.init(2), jnp.int32(1), jnp.float32(1.0))
    np.testing.assert_allclose(s.estimates, [5.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(
        ba.incremental_update(jnp.array([1.0, 2.0]), jnp.int32(1), jnp.float32(4.0), 0.25),
        [1.0, 2.5])


def test_ucb_bonus_by_hand():
    q = jnp.array([1.0, 1.5, 0.8])
    n = jnp.array([2.0, 8.0, 1.0])
    # t = 11, c = 2: Q + 2 sqrt(ln 11 / N).
    expected = [1.0 + 2 * math.sqrt(math.log(11) / 2),   # 3.18993
                1.5 + 2 * math.sqrt(math.log(11) / 8),   # 2.59496
                0.8 + 2 * math.sqrt(math.log(11) / 1)]   # 3.89703
    np.testing.assert_allclose(ba.ucb_scores(q, n, 11, 2.0), expected, rtol=1e-5)
    cfg = ba.UCBConfig(c=2.0)
    state = ba.BanditAgentState(q, n, jnp.int32(10), jnp.float32(0.0))  # next pull is t = 11
    assert int(cfg.select(jax.random.key(0), state)) == 2
    # With c = 0 UCB is greedy.
    assert int(ba.UCBConfig(c=0.0).select(jax.random.key(0), state)) == 1
    # An untried arm scores +inf and is pulled first.
    scores = ba.ucb_scores(q, jnp.array([3.0, 0.0, 2.0]), 6, 2.0)
    scores = np.asarray(scores)
    assert np.isinf(scores[1]) and np.all(np.isfinite(scores[[0, 2]]))
    state = ba.BanditAgentState(q, jnp.array([3.0, 0.0, 2.0]), jnp.int32(5), jnp.float32(0.0))
    assert int(cfg.select(jax.random.key(1), state)) == 1


def test_gradient_bandit_update_by_hand():
    # pi = (1/3, 1/3, 1/3); A = 1, R = 5, baseline 2, alpha 0.1:
    # H(1) += 0.1 * 3 * (2/3) = 0.2; H(others) -= 0.1 * 3 * (1/3) = 0.1.
    h = ba.gradient_bandit_update(jnp.zeros(3), jnp.int32(1), jnp.float32(5.0), 2.0, 0.1)
    np.testing.assert_allclose(h, [-0.1, 0.2, -0.1], rtol=1e-6)
    # pi = (2/3, 1/3): A = 0, R = 1, baseline 0, alpha 0.3.
    h = ba.gradient_bandit_update(
        jnp.array([math.log(2.0), 0.0]), jnp.int32(0), jnp.float32(1.0), 0.0, 0.3)
    np.testing.assert_allclose(h, [math.log(2.0) + 0.1, -0.1], rtol=1e-5)

    # The config's baseline is the mean of earlier rewards, R_bar_1 = R_1.
    cfg = ba.GradientBanditConfig(step_size=0.1)
    s = cfg.update(cfg.init(2), jnp.int32(0), jnp.float32(1.0))
    np.testing.assert_allclose(s.estimates, [0.0, 0.0])  # R - R_bar = 0 on the first pull
    s = cfg.update(s, jnp.int32(1), jnp.float32(3.0))  # R - R_bar = 3 - 1 = 2, pi = 1/2
    np.testing.assert_allclose(s.estimates, [-0.1, 0.1], rtol=1e-6)
    assert float(s.mean_reward) == pytest.approx(2.0)
    # Without a baseline the raw reward drives the step.
    cfg = ba.GradientBanditConfig(step_size=0.1, baseline=False)
    s = cfg.update(cfg.init(2), jnp.int32(0), jnp.float32(1.0))
    np.testing.assert_allclose(s.estimates, [0.05, -0.05], rtol=1e-6)


def test_softmax_and_epsilon_greedy_probabilities_by_hand():
    q = jnp.array([1.0, 2.0, 3.0])
    for tau in (1.0, 1.12, 2.0):
        e = [math.exp(v / tau) for v in (1.0, 2.0, 3.0)]
        np.testing.assert_allclose(ba.softmax_probabilities(q, tau), [x / sum(e) for x in e],
                                   rtol=1e-5)
    # Two maximisers share 1 - eps; every arm gets eps / n.
    np.testing.assert_allclose(
        ba.epsilon_greedy_probabilities(jnp.array([1.0, 1.0, 0.0]), 0.3), [0.45, 0.45, 0.1],
        rtol=1e-6)


def _frequencies(cfg, state, n=20_000, seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    actions = jax.jit(jax.vmap(cfg.select, in_axes=(0, None)))(keys, state)
    return np.bincount(np.asarray(actions), minlength=state.estimates.shape[0]) / n


def _close_to(freq, probs, n=20_000):
    probs = np.asarray(probs)
    se = np.sqrt(probs * (1 - probs) / n)
    return np.all(np.abs(freq - probs) <= 4 * se + 1e-9)


def test_action_choices_follow_their_laws():
    q = jnp.array([0.0, 2.0, 1.0])
    state = ba.BanditAgentState(q, jnp.ones(3), jnp.int32(3), jnp.float32(0.0))
    freq = _frequencies(ba.EpsilonGreedyConfig(epsilon=0.3), state)
    assert _close_to(freq, [0.1, 0.8, 0.1]), freq
    freq = _frequencies(ba.SoftmaxConfig(temperature=1.12), state)
    assert _close_to(freq, ba.softmax_probabilities(q, 1.12)), freq
    # Greedy ties are broken uniformly, not towards the lowest index.
    tied = ba.BanditAgentState(jnp.array([1.0, 1.0, 0.0]), jnp.ones(3), jnp.int32(3),
                               jnp.float32(0.0))
    freq = _frequencies(ba.greedy(), tied)
    assert _close_to(freq, [0.5, 0.5, 0.0]), freq
    # Gradient bandit: pi = softmax(H).
    h = jnp.array([0.5, -0.2, 0.1])
    freq = _frequencies(ba.GradientBanditConfig(), state.replace(estimates=h))
    assert _close_to(freq, ba.softmax_probabilities(h, 1.0)), freq


def test_pulled_arm_loss_by_hand():
    q = jnp.array([1.0, 2.0, 3.0])
    assert float(ba.pulled_arm_loss(q, jnp.int32(2), jnp.float32(5.0))) == pytest.approx(4.0)
    grad = jax.grad(ba.pulled_arm_loss)(q, jnp.int32(2), jnp.float32(5.0))
    np.testing.assert_allclose(grad, [0.0, 0.0, -4.0])  # only the pulled arm learns


# ============================================================================ validation
@pytest.mark.parametrize("bad", [
    ba.EpsilonGreedyConfig(epsilon=1.5),
    ba.EpsilonGreedyConfig(epsilon=-0.1),
    ba.EpsilonGreedyConfig(estimator="mean"),
    ba.EpsilonGreedyConfig(estimator="constant", step_size=0.0),
    ba.SoftmaxConfig(temperature=0.0),
    ba.UCBConfig(c=-1.0),
    ba.UCBConfig(c=float("nan")),
    ba.GradientBanditConfig(step_size=0.0),
    ba.ContextualBanditConfig(total_timesteps=10, num_envs=3),
    ba.ContextualBanditConfig(total_timesteps=0),
    ba.ContextualBanditConfig(lr=-1e-3),
    ba.ContextualBanditConfig(temperature=0.0),
    ba.ContextualBanditConfig(hidden=(100, 0)),
])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        bad.validate()


def test_run_testbed_refuses_bad_input_before_compiling():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_runs"):
        ba.run_testbed([ba.greedy()], key, num_runs=0)
    with pytest.raises(ValueError, match="not a bandit agent"):
        ba.run_testbed([ba.ContextualBanditConfig()], key)
    with pytest.raises(ValueError, match="unique"):
        ba.run_testbed([ba.greedy(), ba.greedy()], key)  # both labelled "greedy"
    with pytest.raises(ValueError, match="epsilon"):
        ba.run_testbed([ba.EpsilonGreedyConfig(epsilon=2.0)], key)
    with pytest.raises(ValueError, match="at least one"):
        ba.run_testbed([], key)


# ============================================================================ the testbed
TESTBED_AGENTS = {
    "greedy": ba.greedy(),
    "eps": ba.EpsilonGreedyConfig(epsilon=0.1),
    "softmax": ba.SoftmaxConfig(temperature=1.12),
    "ucb": ba.UCBConfig(c=2.0),
}


@pytest.fixture(scope="module")
def testbed():
    return ba.run_testbed(TESTBED_AGENTS, jax.random.key(42), num_runs=500, num_pulls=1000)


def test_testbed_shapes_and_bounds(testbed):
    assert testbed.labels == tuple(TESTBED_AGENTS)
    for arr in (testbed.average_reward, testbed.optimal_action, testbed.expected_reward):
        assert arr.shape == (4, 1000) and np.all(np.isfinite(arr))
    assert np.all((testbed.optimal_action >= 0) & (testbed.optimal_action <= 1))
    # Rewards are 0..10; the ceiling is 10 E[max of 10 U(0,1)] = 100/11 = 9.09
    # (500 problems: standard error of the mean ~ 0.04).
    assert np.all((testbed.average_reward >= 0) & (testbed.average_reward <= 10))
    assert testbed.best_expected_reward.mean() == pytest.approx(100 / 11, abs=0.2)
    assert np.all(testbed.expected_reward <= testbed.best_expected_reward[None] + 1e-4)
    # The first pull of greedy/eps-greedy is uniform over arms: expected reward ~ 5.
    assert testbed.expected_reward[0, 0] == pytest.approx(5.0, abs=0.4)


def test_softmax_and_eps_greedy_beat_greedy(testbed):
    final = testbed.final(last=100)
    assert final["eps"]["average_reward"] > final["greedy"]["average_reward"] + 1.0
    assert final["softmax"]["average_reward"] > final["greedy"]["average_reward"] + 1.0
    assert final["eps"]["optimal_percent"] > final["greedy"]["optimal_percent"] + 30


def test_ucb_beats_eps_greedy_after_the_first_hundred_pulls(testbed):
    i_ucb, i_eps = testbed.labels.index("ucb"), testbed.labels.index("eps")
    assert testbed.average_reward[i_ucb, 100:].mean() > testbed.average_reward[i_eps, 100:].mean()
    assert testbed.optimal_action[i_ucb, 100:].mean() > testbed.optimal_action[i_eps, 100:].mean()


def test_eps_greedy_respects_its_exploration_ceiling(testbed):
    # With eps = 0.1 at most 0.9 + 0.1/10 = 91 % of pulls can be optimal; after 1000
    # pulls most runs have found the best arm (S&B figure 2.2 shows ~80 %).
    final = testbed.final(last=100)["eps"]["optimal_percent"]
    assert 70.0 < final <= 91.0 + 3.0


def test_probe_known_best_arm_is_found():
    class Probe(Bandit):
        """Arm 3 pays p = 0.9, every other arm p = 0.5."""

        def reset_env(self, key, params):
            arms = jnp.full((self.num_arms,), 0.5).at[3].set(0.9)
            state = BanditState(arms, jnp.zeros((), jnp.int32))
            return self.observe(state), state

    agents = {"eps": ba.EpsilonGreedyConfig(epsilon=0.1), "gradient": ba.GradientBanditConfig()}
    result = ba.run_testbed(agents, jax.random.key(0), num_runs=200, num_pulls=500, env=Probe())
    np.testing.assert_allclose(result.best_expected_reward, 9.0, rtol=1e-6)
    final = result.final(last=100)
    assert final["eps"]["optimal_percent"] > 80.0
    assert final["gradient"]["optimal_percent"] > 80.0
    assert final["eps"]["average_reward"] > 8.0  # best 9.0, any other arm 5.0


@pytest.mark.slow
def test_sutton_barto_gaussian_testbed_numbers():
    """S&B figures 2.2 and 2.4 (2000 runs, q* ~ N(0, 1)): their curves at pull 1000."""
    agents = {
        "greedy": ba.greedy(),
        "eps0.1": ba.EpsilonGreedyConfig(epsilon=0.1),
        "eps0.01": ba.EpsilonGreedyConfig(epsilon=0.01),
        "ucb": ba.UCBConfig(c=2.0),
    }
    r = ba.run_testbed(agents, jax.random.key(1), num_runs=2000, num_pulls=1000,
                       env=Bandit(reward="gaussian"))
    f = r.final(last=100)
    assert f["greedy"]["average_reward"] == pytest.approx(1.0, abs=0.1)
    assert f["eps0.1"]["average_reward"] == pytest.approx(1.35, abs=0.1)
    assert f["greedy"]["optimal_percent"] == pytest.approx(36, abs=5)
    assert f["eps0.1"]["optimal_percent"] == pytest.approx(80, abs=5)
    assert f["eps0.01"]["optimal_percent"] < f["eps0.1"]["optimal_percent"]
    assert f["ucb"]["average_reward"] > f["eps0.1"]["average_reward"]


# ============================================================================ contextual
def test_contextual_agent_is_registered_and_acts():
    module = algos.get("contextual_bandit")
    assert module.config is ba.ContextualBanditConfig
    env, params = envs.make("ContextualBandit-v0", num_states=4, num_arms=3)
    agent = module.make(module.config(total_timesteps=8, num_envs=2), env, params)
    assert isinstance(agent, Agent) and agent.num_updates == 4

    def first_update(key):
        k_init, k_greedy, k_sample = jax.random.split(key, 3)
        state = agent.init(k_init)
        state, metrics = agent.update(state)
        greedy = agent.act(state, jnp.eye(4), k_greedy, True)  # a batch of all 4 states
        sampled = agent.act(state, jnp.eye(4)[1], k_sample, False)
        values = jax.vmap(agent.values, in_axes=(None, 0))(state, jnp.eye(4))
        return state, metrics, greedy, sampled, values

    state, metrics, greedy, sampled, values = jax.jit(first_update)(jax.random.key(0))
    assert greedy.shape == (4,) and sampled.shape == () and values.shape == (4, 3)
    np.testing.assert_array_equal(greedy, np.argmax(values, axis=1))  # greedy = best value
    assert np.all((np.asarray(greedy) >= 0) & (np.asarray(greedy) < 3))
    for name in ("env_steps", "episode_return", "episodes", "reward", "loss",
                 "expected_reward", "best_expected_reward", "optimal_action"):
        assert name in metrics, name
    assert int(metrics["env_steps"]) == 2 and int(state.env_steps) == 2

    class BoxActions(Bandit):
        def action_space(self, params=None):
            return envs.spaces.Box(-1.0, 1.0, (1,))

    with pytest.raises(ValueError, match="Discrete"):
        module.make(module.config(), BoxActions(), BoxActions().default_params)


def test_train_contextual_keeps_one_problem_per_seed():
    env, params = envs.make("ContextualBandit-v0", max_steps_in_episode=100)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        ba.train_contextual(ba.ContextualBanditConfig(total_timesteps=100), jax.random.key(0),
                            env=env, env_params=params)


@pytest.mark.slow  # a learning run (the probes above check the maths in the default run)
def test_contextual_bandit_learns():
    """Random play earns 5.0; the softmax(tau=2) policy on perfect estimates ~7.8."""
    cfg = ba.ContextualBanditConfig(total_timesteps=2000)
    result = ba.train_contextual(cfg, jax.random.key(0), num_seeds=4, window=500)
    # Close to what its own policy can earn, and far above random.
    assert result.final_reward.mean() > 7.2
    assert np.all(result.final_reward > result.softmax_ceiling - 0.6)
    # Acting greedily on the learned estimates is close to the best arm in every state.
    assert np.all(result.greedy_reward > 0.93 * result.best_reward)
    np.testing.assert_allclose(result.best_reward.mean(), 100 / 11, atol=0.5)
