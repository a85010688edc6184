"""REINFORCE: config checks, the loss by hand, probe environments, CartPole learning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import algos, envs
from jaxrl.algos import reinforce
from jaxrl.core.networks import MLP
from jaxrl.envs import probes as probe_envs  # "probes" is the fixture below

# --------------------------------------------------------------------------------- probes
# One-step probes with known answers: three rungs of the shared ladder
# (``envs.probes.Probe``, observation ``float32[1]``) with 1/0 rewards (``wrong_reward=0``),
# at these positions along the vmapped axis:
# * ``CONSTANT``: obs 0, reward 1, terminates. The baseline must learn V(0) = 1.
# * ``ACTION`` (the ladder's ``OBS_ACTION``): obs -1 or +1 at random; reward 1 if the
#   action equals ``obs > 0`` else 0; terminates. The policy must read the observation.
# * ``TRUNCATE`` (``TRUNCATION``): obs 0, reward 1, and a time limit cuts every episode
#   after one step (``truncated``, never ``terminated``): V(0) = 1 / (1 - gamma). A learner
#   that treats the cut as a termination learns 1.
CONSTANT, ACTION, TRUNCATE = 0, 1, 2
RUNGS = jnp.array([probe_envs.CONSTANT, probe_envs.OBS_ACTION, probe_envs.TRUNCATION])


PROBE = reinforce.Config(
    num_episodes=3200, num_envs=8, max_episode_steps=1, hidden=(16,), lr=1e-2,
    standardize="batch", loss_reduction="mean", baseline=True, baseline_hidden=(16,),
    baseline_lr=3e-2, gamma=0.5,
)


@pytest.fixture(scope="module")
def probes():
    """Per kind: baseline value at obs (0, 1, -1), greedy actions there, metrics."""
    env = probe_envs.Probe()
    obs = jnp.array([[0.0], [1.0], [-1.0]])
    baseline = MLP(PROBE.baseline_hidden, 1, act=PROBE.activation)

    def one(kind, key):
        params = probe_envs.ProbeParams(kind=RUNGS[kind], wrong_reward=0.0)
        agent = reinforce.make(PROBE, env, params)
        state, metrics = agent.train(key)
        values = baseline.apply(state.baseline_params, obs)[:, 0]
        greedy = jax.vmap(lambda o: agent.act(state, o, key, True))(obs)
        return values, greedy, metrics

    kinds = jnp.array([CONSTANT, ACTION, TRUNCATE])
    return jax.jit(jax.vmap(one))(kinds, jax.random.split(jax.random.PRNGKey(0), 3))


# --------------------------------------------------------------------------------- config
def test_registry_finds_reinforce():
    assert algos.get("reinforce") is reinforce.REINFORCE and reinforce.REINFORCE.make is reinforce.make


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(num_episodes=0), "num_episodes"),
        (dict(num_envs=3), "divide"),
        (dict(max_episode_steps=0), "max_episode_steps"),
        (dict(hidden=(150, 0)), "hidden"),
        (dict(activation="sigmoidal"), "activation"),
        (dict(standardize="yes"), "standardize"),
        (dict(loss_reduction="max"), "loss_reduction"),
        (dict(lr=-1e-3), "lr"),
        (dict(gamma=1.5), "gamma"),
    ],
)
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        reinforce.Config(**bad).validate()


def test_make_rejects_unknown_horizon_and_continuous_actions():
    class NoLimit(probe_envs.Probe):
        @property
        def default_params(self):
            return None

    with pytest.raises(ValueError, match="max_episode_steps"):
        reinforce.make(reinforce.Config(), NoLimit(), None)

    continuous = probe_envs.ContinuousProbe()
    with pytest.raises(ValueError, match="Discrete"):
        reinforce.make(reinforce.Config(), continuous, continuous.default_params)


def test_presets_validate():
    for preset in reinforce.PRESETS.values():
        preset.config.validate()
        assert preset.env == "CartPole-v0"  # the book's environment
    assert reinforce.DEFAULT_ENV == "CartPole-v1"
    book = reinforce.PRESETS["book"].config
    assert book.lr == pytest.approx(9e-4)
    assert book.hidden == (150,)
    assert book.activation == "leaky_relu"


# --------------------------------------------------------------------------------- loss
def test_policy_gradient_loss_by_hand():
    logp = jnp.log(jnp.array([0.5, 0.25, 0.1]))
    adv = jnp.array([2.0, -1.0, 5.0])
    mask = jnp.array([True, True, False])
    # -(2 log .5 + (-1) log .25); the masked step (adv 5) does not count
    expected_sum = -(2.0 * np.log(0.5) + (-1.0) * np.log(0.25))
    got = reinforce.policy_gradient_loss(logp, adv, mask, "sum")
    np.testing.assert_allclose(got, expected_sum, rtol=1e-6)
    got = reinforce.policy_gradient_loss(logp, adv, mask, "mean")
    np.testing.assert_allclose(got, expected_sum / 2, rtol=1e-6)
    # The gradient flows through log-probs only: d/dlogp = -adv * mask.
    g = jax.grad(lambda lp, a: reinforce.policy_gradient_loss(lp, a, mask), argnums=(0, 1))(
        logp, adv)
    np.testing.assert_allclose(g[0], [-2.0, 1.0, 0.0])
    np.testing.assert_allclose(g[1], [0.0, 0.0, 0.0])


def test_moving_average():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(reinforce.moving_average(x, 2), [1.0, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(reinforce.moving_average(x, 50), np.cumsum(x) / np.arange(1, 6))


# --------------------------------------------------------------------------------- probes
def test_probe_constant_reward_baseline(probes):
    values, _, _ = probes
    np.testing.assert_allclose(values[CONSTANT, 0], 1.0, atol=0.05)


def test_probe_action_dependent_reward(probes):
    _, greedy, metrics = probes
    assert int(greedy[ACTION, 1]) == 1 and int(greedy[ACTION, 2]) == 0  # +1 -> 1, -1 -> 0
    assert float(np.mean(metrics["episode_return"][ACTION, -20:])) > 0.95
    # episodes are one step each, all counted
    assert int(metrics["env_steps"][ACTION, -1]) == PROBE.num_episodes
    np.testing.assert_array_equal(metrics["episode_lengths"][ACTION], 1)


def test_probe_truncation_bootstraps_the_baseline(probes):
    """A time limit is not a failure: the baseline must learn 1 / (1 - gamma) = 2, not 1."""
    values, _, _ = probes
    np.testing.assert_allclose(values[TRUNCATE, 0], 1 / (1 - PROBE.gamma), atol=0.1)


def test_per_episode_standardisation_of_one_step_episodes_is_zero():
    """A documented trap: standardising a one-step episode by itself leaves nothing."""
    from jaxrl.core.returns import standardize

    np.testing.assert_array_equal(standardize(jnp.array([3.0])), [0.0])


# --------------------------------------------------------------------------------- CartPole
@pytest.fixture(scope="module")
def cartpole_v0():
    return envs.make("CartPole-v0")


def test_cartpole_episode_bookkeeping(cartpole_v0):
    env, params = cartpole_v0
    agent = reinforce.make(reinforce.Config(num_episodes=6, num_envs=3), env, params)
    state, m = jax.jit(agent.train)(jax.random.PRNGKey(3))
    lengths = np.asarray(m["episode_lengths"])
    assert lengths.shape == (2, 3)
    assert np.all((lengths >= 1) & (lengths <= 200))
    # CartPole pays 1 per step: an episode's return is its length
    np.testing.assert_allclose(m["episode_return"], lengths.mean(axis=1))
    np.testing.assert_array_equal(m["episodes"], [3, 3])
    np.testing.assert_array_equal(m["env_steps"], np.cumsum(lengths.sum(axis=1)))


@pytest.mark.slow  # a learning run (the probes above check the maths in the default run)
def test_cartpole_learns_fast(cartpole_v0):
    """A small budget: 160 episodes of the tuned agent (lr annealed over them), 4 seeds.

    Random play averages about 22; this gave moving averages 192, 193, 194, 196.
    """
    env, params = cartpole_v0
    agent = reinforce.make(reinforce.PRESETS["tuned"].config.replace(num_episodes=160), env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 4))
    lengths = np.asarray(m["episode_lengths"]).reshape(4, -1)
    last = reinforce.moving_average(lengths, 50)[:, -1]
    assert last.mean() > 150, last


@pytest.mark.slow
def test_cartpole_reproduction(cartpole_v0):
    """The target: window-50 moving average >= 190 by episode 500, mean of 16 seeds."""
    env, params = cartpole_v0
    agent = reinforce.make(reinforce.PRESETS["tuned"].config, env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 16))
    lengths = np.asarray(m["episode_lengths"]).reshape(16, -1)
    assert lengths.shape[1] == 500
    last = reinforce.moving_average(lengths, 50)[:, -1]
    assert last.mean() >= 190, last
