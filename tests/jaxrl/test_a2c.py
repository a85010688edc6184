"""Advantage actor-critic: config checks, the loss by hand, probe environments, CartPole."""

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
from jaxrl.algos import a2c


# --------------------------------------------------------------------------------- probes
@struct.dataclass
class ProbeState:
    obs: jax.Array  # float32[1]
    t: jax.Array  # int32[], steps into the episode


@struct.dataclass
class ProbeParams:
    max_steps_in_episode: int = 2


class Probe(Environment):
    """Tiny environments with known answers.

    ``kind``:
      * ``"constant"``: obs 0, reward 1, terminates after one step. V(0) = 1.
      * ``"action"``: obs -1 or +1 at random; reward 1 if the action equals
        ``obs > 0`` else 0; terminates. The policy must read the observation.
      * ``"two_step"``: obs 0 then obs 1; reward 0 then 1; terminates after the second
        step. V(1) = 1 and V(0) = gamma: the critic must discount and bootstrap.
      * ``"truncate"``: obs 0, reward 1 per step, every episode cut by a time limit
        after one step (``truncated``, never ``terminated``). V(0) = 1 / (1 - gamma);
        an agent that treats the cut as a termination learns 1 instead.
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
            obs = jnp.zeros((1,))
        state = ProbeState(obs.astype(jnp.float32), jnp.zeros((), jnp.int32))
        return state.obs, state

    def step_env(self, key, state, action, params):
        t = state.t + 1
        false, true = jnp.array(False), jnp.array(True)
        obs = state.obs
        if self.kind == "constant":
            reward, term, trunc = jnp.float32(1.0), true, false
        elif self.kind == "action":
            reward, term, trunc = (action == (state.obs[0] > 0)).astype(jnp.float32), true, false
        elif self.kind == "two_step":
            reward = jnp.where(t == 2, 1.0, 0.0).astype(jnp.float32)
            term, trunc = t == 2, false
            obs = jnp.ones((1,), jnp.float32)
        else:  # truncate
            reward, term, trunc = jnp.float32(1.0), false, true
        new = ProbeState(obs, t)
        return new.obs, new, reward, term, trunc, {}

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)


# A plain, fast-learning setting for the probes: linear critic, no book scaling.
PROBE = a2c.Config(
    num_envs=8, num_steps=4, total_timesteps=8 * 4 * 400, trunk=(), actor_hidden=(16,),
    critic_hidden=(16,), activation="tanh", critic_output="linear", detach_critic=False,
    obs_normalization="none", return_normalization="none", loss_reduction="mean",
    terminal_reward=None, lr=1e-2, gamma=0.5, critic_coef=0.5,
)


def _value(agent, state, obs):
    return float(agent_value(agent, state, jnp.array([obs], jnp.float32)))


def agent_value(agent, state, obs):
    learner = a2c.make_learner(agent.config, (1,), 2)
    return learner.network.apply(state.params, obs)[1]


# --------------------------------------------------------------------------------- config
def test_registry_finds_a2c():
    assert algos.get("a2c") is a2c


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(mode="td"), "mode"),
        (dict(num_envs=0), "num_envs"),
        (dict(num_steps=-1), "num_steps"),
        (dict(trunk=(25, -50)), "trunk"),
        (dict(activation="swish"), "activation"),
        (dict(critic_output="sigmoid"), "critic_output"),
        (dict(obs_normalization="z"), "obs_normalization"),
        (dict(return_normalization="max"), "return_normalization"),
        (dict(loss_reduction="max"), "loss_reduction"),
        (dict(terminal_reward=float("nan")), "terminal_reward"),
        (dict(reset_pool=99), "reset_pool"),
        (dict(lr=0.0), "lr"),
        (dict(gamma=-0.1), "gamma"),
        (dict(critic_coef=-1.0), "critic_coef"),
        (dict(max_grad_norm=0.0), "max_grad_norm"),
    ],
)
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        a2c.Config(**bad).validate()


def test_make_rejects_a_run_shorter_than_one_update():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="less than one update"):
        a2c.make(a2c.Config(num_envs=7, num_steps=10, total_timesteps=69), env, params)
    # Monte Carlo rollouts are one time limit long: 7 * 500 steps per update
    with pytest.raises(ValueError, match="less than one update"):
        a2c.make(a2c.Config(mode="monte_carlo", total_timesteps=3000), env, params)


def test_presets_validate_and_book_settings():
    for cfg in a2c.PRESETS.values():
        cfg.validate()
    book = a2c.PRESETS["book"]
    assert (book.trunk, book.actor_hidden, book.critic_hidden) == ((25, 50), (), (25,))
    assert (book.num_steps, book.lr, book.gamma, book.critic_coef) == (10, 1e-4, 0.95, 0.1)
    assert book.critic_output == "tanh" and book.detach_critic


def test_book_network_shapes_and_detached_critic():
    net = a2c.ActorCritic(num_actions=2)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros(4))
    shapes = jax.tree.map(jnp.shape, params["params"])
    assert shapes["trunk_0"]["kernel"] == (4, 25)
    assert shapes["trunk_1"]["kernel"] == (25, 50)
    assert shapes["actor_out"]["kernel"] == (50, 2)
    assert shapes["critic_0"]["kernel"] == (50, 25)
    assert shapes["critic_out"]["kernel"] == (25, 1)
    obs = jnp.array([[0.3, -2.0, 0.1, 1.0], [1.0, 0.0, 0.0, 0.0]])
    logits, value = net.apply(params, obs)
    assert logits.shape == (2, 2) and value.shape == (2,)
    assert np.all(np.abs(value) < 1)  # tanh output
    # l2 observation normalisation: scaling an observation changes nothing
    np.testing.assert_allclose(net.apply(params, 10 * obs)[0], logits, rtol=1e-5)
    # the critic's gradient does not reach the shared trunk
    g = jax.grad(lambda p: net.apply(p, obs)[1].sum())(params)["params"]
    assert float(jnp.abs(g["trunk_0"]["kernel"]).sum()) == 0.0
    assert float(jnp.abs(g["critic_0"]["kernel"]).sum()) > 0.0


# --------------------------------------------------------------------------------- loss
def test_actor_critic_loss_by_hand():
    logp = jnp.log(jnp.array([0.5, 0.25, 0.9]))
    ent = jnp.array([0.6, 0.5, 0.1])
    values = jnp.array([1.0, 2.0, 3.0])
    returns = jnp.array([2.0, 1.0, 0.0])
    adv = returns - values  # [1, -1, -3]
    mask = jnp.array([True, True, False])
    terms = a2c.actor_critic_loss(logp, ent, values, returns, adv, mask, 0.1, 0.01, "sum")
    actor = -(np.log(0.5) * 1.0 + np.log(0.25) * -1.0)
    critic = (1.0 - 2.0) ** 2 + (2.0 - 1.0) ** 2
    entropy = 0.6 + 0.5
    np.testing.assert_allclose(terms.actor, actor, rtol=1e-6)
    np.testing.assert_allclose(terms.critic, critic, rtol=1e-6)
    np.testing.assert_allclose(terms.entropy, entropy, rtol=1e-6)
    np.testing.assert_allclose(terms.total, actor + 0.1 * critic - 0.01 * entropy, rtol=1e-6)
    mean = a2c.actor_critic_loss(logp, ent, values, returns, adv, mask, 0.1, 0.01, "mean")
    np.testing.assert_allclose(mean.total, terms.total / 2, rtol=1e-6)
    # gradients: advantages and returns are constants; d critic / dV = 2 (V - G)
    g = jax.grad(
        lambda v, a, r: a2c.actor_critic_loss(logp, ent, v, r, a, mask, 1.0, 0.0).total,
        argnums=(0, 1, 2),
    )(values, adv, returns)
    np.testing.assert_allclose(g[0], [-2.0, 2.0, 0.0])
    np.testing.assert_allclose(g[1], 0.0)
    np.testing.assert_allclose(g[2], 0.0)


def test_windowed_mean():
    steps = np.array([10, 20, 30, 40])
    ret = np.array([1.0, np.nan, 3.0, 5.0])
    count = np.array([2, 0, 1, 1])
    # window 15: update u covers updates with steps in (s_u - 15, s_u]
    got = a2c.windowed_mean(steps, ret, count, 15)
    np.testing.assert_allclose(got, [1.0, 1.0, 3.0, 4.0])
    got = a2c.windowed_mean(steps, ret, count, 100)
    np.testing.assert_allclose(got, [1.0, 1.0, 5 / 3, 10 / 4])


# --------------------------------------------------------------------------------- probes
def _train(kind, cfg=PROBE, seed=0):
    env = Probe(kind)
    agent = a2c.make(cfg, env, env.default_params)
    state, metrics = jax.jit(agent.train)(jax.random.PRNGKey(seed))
    return agent, state, metrics


def test_probe_constant_reward_value():
    agent, state, _ = _train("constant")
    np.testing.assert_allclose(_value(agent, state, 0.0), 1.0, atol=0.05)


def test_probe_action_dependent_reward():
    agent, state, metrics = _train("action")
    for sign in (-1.0, 1.0):
        assert int(agent.act(state, jnp.array([sign]), jax.random.PRNGKey(1), True)) == int(sign > 0)
    assert float(np.nanmean(metrics["episode_return"][-20:])) > 0.95


def test_probe_two_step_discounting():
    agent, state, _ = _train("two_step")
    np.testing.assert_allclose(_value(agent, state, 1.0), 1.0, atol=0.05)
    np.testing.assert_allclose(_value(agent, state, 0.0), PROBE.gamma, atol=0.05)


def test_probe_truncation_is_bootstrapped():
    agent, state, _ = _train("truncate")
    np.testing.assert_allclose(_value(agent, state, 0.0), 1 / (1 - PROBE.gamma), atol=0.1)


def test_probe_two_step_monte_carlo_mode():
    cfg = PROBE.replace(mode="monte_carlo", total_timesteps=8 * 2 * 400)
    agent, state, metrics = _train("two_step", cfg)
    assert agent.num_updates == 400
    np.testing.assert_allclose(_value(agent, state, 1.0), 1.0, atol=0.05)
    np.testing.assert_allclose(_value(agent, state, 0.0), PROBE.gamma, atol=0.05)
    # one episode of two steps per copy per update, all counted
    np.testing.assert_array_equal(metrics["episodes"], 8)
    assert int(metrics["env_steps"][-1]) == 8 * 2 * 400


# --------------------------------------------------------------------------------- CartPole
@pytest.fixture(scope="module")
def cartpole_v1():
    return envs.make("CartPole-v1")


def test_book_preset_runs_and_counts_steps(cartpole_v1):
    env, params = cartpole_v1
    cfg = a2c.PRESETS["book"].replace(total_timesteps=7 * 10 * 5)
    agent = a2c.make(cfg, env, params)
    state, m = jax.jit(agent.train)(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(m["env_steps"], 70 * np.arange(1, 6))
    assert np.all(np.isfinite(m["loss"]))
    assert state.obs.shape == (7, 4)


def test_cartpole_learns_fast(cartpole_v1):
    """A small budget (tuned preset, 40k steps, 4 seeds) must clearly beat random (~22)."""
    env, params = cartpole_v1
    cfg = a2c.PRESETS["tuned"].replace(total_timesteps=40_000)
    agent = a2c.make(cfg, env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 4))
    curves = [a2c.windowed_mean(m["env_steps"][i], m["episode_return"][i], m["episodes"][i],
                                5000) for i in range(4)]
    final = np.array([c[-1] for c in curves])
    assert final.mean() > 80, final


@pytest.mark.slow
def test_cartpole_reproduction(cartpole_v1):
    """The target: mean episode length 450 on CartPole-v1, 16 seeds trained together."""
    env, params = cartpole_v1
    agent = a2c.make(a2c.PRESETS["tuned"], env, params)
    _, m = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.PRNGKey(0), 16))
    curves = np.stack([a2c.windowed_mean(m["env_steps"][i], m["episode_return"][i],
                                         m["episodes"][i], 10_000) for i in range(16)])
    assert np.nanmax(np.nanmean(curves, axis=0)) >= 450
