"""REINFORCE: config checks, the loss by hand, probe environments, CartPole learning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs
from envs import spaces
from envs.core import Environment
from jaxrl import algos
from jaxrl.algos import reinforce
from jaxrl.networks import MLP


# --------------------------------------------------------------------------------- probes
@struct.dataclass
class ProbeState:
    obs: jax.Array  # float32[1]
    t: jax.Array  # int32[]


@struct.dataclass
class ProbeParams:
    max_steps_in_episode: int = 1


class Probe(Environment):
    """One-step probes (after the "probe environments" of Andy Jones' RL debugging notes).

    ``kind``:
      * ``"action"``: obs is -1 or +1 at random; reward 1 if the action equals
        ``obs > 0`` else 0; the episode terminates. The policy must read the obs.
      * ``"truncate"``: obs 0, reward 1 every step, and the time limit cuts every
        episode after one step (``truncated``, never ``terminated``): the true value
        is ``1 / (1 - gamma)``.
    """

    stochastic_step = False

    def __init__(self, kind: str):
        self.kind = kind

    @property
    def default_params(self):
        return ProbeParams()

    def reset_env(self, key, params):
        if self.kind == "action":
            obs = jnp.where(jax.random.bernoulli(key), 1.0, -1.0)[None]
        else:
            obs = jnp.zeros((1,), jnp.float32)
        state = ProbeState(obs.astype(jnp.float32), jnp.zeros((), jnp.int32))
        return state.obs, state

    def step_env(self, key, state, action, params):
        if self.kind == "action":
            reward = (action == (state.obs[0] > 0)).astype(jnp.float32)
            term, trunc = jnp.array(True), jnp.array(False)
        else:
            reward = jnp.ones((), jnp.float32)
            term, trunc = jnp.array(False), jnp.array(True)
        new = ProbeState(state.obs, state.t + 1)
        return new.obs, new, reward, term, trunc, {}

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


# --------------------------------------------------------------------------------- config
def test_registry_finds_reinforce():
    assert algos.get("reinforce") is reinforce


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(num_episodes=0), "num_episodes"),
        (dict(num_envs=3), "divide"),
        (dict(max_episode_steps=0), "max_episode_steps"),
        (dict(hidden=(150, 0)), "hidden"),
        (dict(activation="swish"), "activation"),
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
    env = Probe("action")

    class NoLimit(Probe):
        @property
        def default_params(self):
            return None

    with pytest.raises(ValueError, match="max_episode_steps"):
        reinforce.make(reinforce.Config(), NoLimit("action"), None)

    class Continuous(Probe):
        def action_space(self, params=None):
            return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    with pytest.raises(ValueError, match="Discrete"):
        reinforce.make(reinforce.Config(), Continuous("action"), env.default_params)


def test_presets_validate():
    for cfg in reinforce.PRESETS.values():
        cfg.validate()
    assert reinforce.PRESETS["book"].lr == pytest.approx(9e-4)
    assert reinforce.PRESETS["book"].hidden == (150,)
    assert reinforce.PRESETS["book"].activation == "leaky_relu"


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
def test_probe_action_dependent_reward():
    env = Probe("action")
    cfg = reinforce.Config(
        num_episodes=2400, num_envs=8, max_episode_steps=1, hidden=(16,), lr=1e-2,
        standardize="batch", loss_reduction="mean",
    )
    agent = reinforce.make(cfg, env, env.default_params)
    state, metrics = jax.jit(agent.train)(jax.random.PRNGKey(0))
    # the right action from either observation, greedy and (almost always) sampled
    for sign in (-1.0, 1.0):
        a = agent.act(state, jnp.array([sign]), jax.random.PRNGKey(1), True)
        assert int(a) == int(sign > 0)
    assert float(np.mean(metrics["episode_return"][-20:])) > 0.95
    # episodes are one step each, all counted
    assert int(metrics["env_steps"][-1]) == 2400
    np.testing.assert_array_equal(metrics["episode_lengths"], 1)


def test_probe_truncation_bootstraps_the_baseline():
    """A time limit is not a failure: the baseline must learn 1 / (1 - gamma) = 2, not 1."""
    env = Probe("truncate")
    cfg = reinforce.Config(
        num_episodes=3000, num_envs=10, max_episode_steps=1, hidden=(8,), baseline=True,
        baseline_hidden=(8,), baseline_lr=3e-2, gamma=0.5, standardize="none",
    )
    agent = reinforce.make(cfg, env, env.default_params)
    state, _ = jax.jit(agent.train)(jax.random.PRNGKey(0))
    mlp = MLP(cfg.baseline_hidden, 1, act=cfg.activation)
    value = mlp.apply(state.baseline_params, jnp.zeros((1,)))[0]
    np.testing.assert_allclose(value, 2.0, atol=0.1)


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


def test_cartpole_learns_fast(cartpole_v0):
    """A small budget: 150 episodes of the tuned agent, 4 seeds, must clearly beat random (~22)."""
    env, params = cartpole_v0
    agent = reinforce.make(reinforce.PRESETS["tuned"].replace(num_episodes=150), env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 4))
    lengths = np.asarray(m["episode_lengths"]).reshape(4, -1)
    last = reinforce.moving_average(lengths, 50)[:, -1]
    assert last.mean() > 60, last


@pytest.mark.slow
def test_cartpole_reproduction(cartpole_v0):
    """The target: window-50 moving average >= 190 by episode 500, mean of 16 seeds."""
    env, params = cartpole_v0
    agent = reinforce.make(reinforce.PRESETS["tuned"], env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 16))
    lengths = np.asarray(m["episode_lengths"]).reshape(16, -1)
    assert lengths.shape[1] == 500
    last = reinforce.moving_average(lengths, 50)[:, -1]
    assert last.mean() >= 190, last
