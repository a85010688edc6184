"""The relational (attention) torso: its maths against numpy, its place in DQN, its pictures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.algos import dqn
from jaxrl.core.networks import (
    ObservationInput,
    attention_weights,
    channel_categories,
    choose_torso,
)


@pytest.fixture(scope="module")
def doorkey():
    env, params = envs.make("DoorKey-5x5-v0", action_set="book")
    obs, _ = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), 4), params)
    return env, params, obs


def test_choose_torso_relational():
    dk = ObservationInput((7, 7, 3))
    assert choose_torso("relational", dk, allowed=dqn.RELATIONAL_TORSOS) == "relational"
    assert choose_torso("auto", dk, allowed=dqn.RELATIONAL_TORSOS) == "mlp"  # auto never picks it
    with pytest.raises(ValueError, match="unknown"):
        choose_torso("relational", dk)  # only where offered (PPO does not)
    with pytest.raises(ValueError, match="needs image observations"):
        choose_torso("relational", ObservationInput((4,)), allowed=dqn.RELATIONAL_TORSOS)


def test_channel_categories(doorkey):
    env, params, _ = doorkey
    assert channel_categories(env.observation_space(params)) == (11, 6, 3)
    full, _ = envs.make("DoorKey-5x5-v0", observation="full")
    assert channel_categories(full.observation_space()) == (11, 6, 4)
    grid, _ = envs.make("Gridworld-v0")
    assert channel_categories(grid.observation_space()) == ()  # float planes: read as floats


def _numpy_attention(p: dict, obs: np.ndarray, heads: int, width: int) -> np.ndarray:
    """The documented formula, written again in numpy from the parameters."""
    cats = (11, 6, 3)
    one_hot = [np.eye(n)[obs[..., i].astype(int)] for i, n in enumerate(cats)]
    h, w = obs.shape[:2]
    coords = np.stack(np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij"), -1)
    feats = np.concatenate([*one_hot, coords], -1).reshape(h * w, -1)

    def dense(name, x):
        return x @ np.asarray(p[name]["kernel"], np.float64) + np.asarray(p[name]["bias"])

    e = np.maximum(dense("entity", feats), 0)
    q, k = (dense(n, e).reshape(h * w, heads, width) for n in ("query", "key"))
    s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(width)
    s = np.exp(s - s.max(-1, keepdims=True))
    return s / s.sum(-1, keepdims=True)


@pytest.mark.heavy
def test_attention_matches_numpy(doorkey):
    env, params, obs = doorkey
    config = dqn.Config(torso="relational", attention_heads=3, attention_width=8, hidden=(16,))
    net = dqn.q_network(config, env, params)
    variables = dqn.init_params(net, jax.random.key(1), obs[:1])
    assert set(variables["params"]) >= {"entity", "query", "key", "value", "attend", "entity_mlp"}
    w = np.asarray(attention_weights(net, variables, obs))
    assert w.shape == (4, 3, 49, 49)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    want = _numpy_attention(variables["params"], np.asarray(obs[2]), 3, 8)
    np.testing.assert_allclose(w[2], want, atol=2e-5)
    q = net.apply(variables, obs)
    assert q.shape == (4, 5) and np.all(np.isfinite(np.asarray(q)))
    flat = dqn.q_network(config.replace(attention_pool="flatten"), env, params)
    flat_vars = dqn.init_params(flat, jax.random.key(1), obs[:1])
    assert flat_vars["params"]["Dense_0"]["kernel"].shape == (49 * 8, 16)  # every entity kept
    # The PyTorch-style draw covers the attention layers too: U(-1/sqrt(fan_in), ...).
    k = np.asarray(variables["params"]["query"]["kernel"])
    bound = 1 / np.sqrt(k.shape[0])
    assert 0.8 * bound < np.abs(k).max() <= bound


def test_config_errors(doorkey):
    env, params, _ = doorkey
    with pytest.raises(ValueError, match="attention_heads must be a positive integer"):
        dqn.Config(torso="relational", attention_heads=0).validate()
    with pytest.raises(ValueError, match="attention_pool 'mean' unknown"):
        dqn.Config(torso="relational", attention_pool="mean").validate()
    with pytest.raises(ValueError, match="scale_obs does not apply"):
        dqn.q_network(dqn.Config(torso="relational", scale_obs=True), env, params)
    with pytest.raises(ValueError, match="needs image observations"):
        dqn.q_network(dqn.Config(torso="relational"), *envs.make("CartPole-v1"))
    plain = dqn.q_network(dqn.Config(), *envs.make("CartPole-v1"))
    assert plain.torso == "mlp"
    with pytest.raises(ValueError, match="no attention weights"):
        attention_weights(plain, dqn.init_params(plain, jax.random.key(0), jnp.zeros((1, 4))),
                          jnp.zeros((1, 4)))


def test_presets():
    book = dqn.PRESETS["doorkey_book"].config
    assert (book.torso, book.attention_heads, book.buffer_size, book.batch_size) == (
        "relational", 3, 9000, 50)
    assert (book.lr, book.gamma, book.target, book.target_update_period, book.double) == (
        5e-4, 0.99, "hard", 100, True)
    env, params = dqn.preset_env("doorkey_book")
    assert env.action_space(params).n == 5 and params.max_steps_in_episode == 400
    assert float(params.step_reward) == pytest.approx(-0.01)
    tuned = dqn.PRESETS["doorkey"].config  # jaxrl's: MiniGrid's rewards and cap, gamma 0.9
    assert (tuned.torso, tuned.attention_heads, tuned.attention_pool, tuned.gamma) == (
        "relational", 3, "flatten", 0.9)
    env, params = dqn.preset_env("doorkey")
    assert env.action_space(params).n == 5 and params.max_steps_in_episode == 250
    assert float(params.step_reward) == 0.0


def test_attention_maps_picture(doorkey, tmp_path):
    from jaxrl.output.plotting import attention_maps

    env, _, obs = doorkey
    w = np.zeros((3, 49, 49))
    w[:, :, 3 * 7 + 5] = 1.0  # every cell attends to the cell in front of the agent (3, 5)
    fig = attention_maps(env.render_view(obs[0]), w, tmp_path / "att.png")
    assert (tmp_path / "att.png").stat().st_size > 1000
    assert "x=3, y=5" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="heads, N, N"):
        attention_maps(env.render_view(obs[0]), w[0], None)


@pytest.mark.slow
def test_relational_dqn_updates(doorkey):
    """The torso inside the one DQN loop: a few updates run and change the parameters."""
    env, params, _ = doorkey
    config = dqn.Config(torso="relational", attention_width=8, hidden=(16,), num_envs=4,
                        total_timesteps=64, batch_size=8, buffer_size=64, learning_starts=8)
    agent = dqn.make(config, env, params)
    state = agent.init(jax.random.key(0))
    new, _ = jax.jit(lambda s: jax.lax.scan(lambda s, _: agent.update(s), s, None, 8))(state)
    before = np.asarray(state.params["params"]["query"]["kernel"])
    assert not np.allclose(before, np.asarray(new.params["params"]["query"]["kernel"]))


def test_epsilon_agent():
    """``evaluate.epsilon_agent``: argmax with probability 1 - eps, else uniform; counted
    over 4,000 keys against the exact probabilities (4 standard deviations)."""
    from jaxrl.core.agent import Agent
    from jaxrl.core.episodes import epsilon_agent

    q = jnp.array([0.1, 0.7, 0.3, 0.2, 0.0])  # argmax 1

    def values(state, obs):
        return q

    agent = Agent(init=None, update=None, num_updates=1, act=None, config=None, values=values)
    keys = jax.random.split(jax.random.key(3), 4000)
    for eps in (0.0, 0.05, 1.0):
        player = epsilon_agent(agent, eps)
        actions = jax.jit(jax.vmap(lambda k, p=player: p.act(None, None, k)))(keys)
        counts = np.bincount(np.asarray(actions), minlength=5) / len(keys)
        want = np.full(5, eps / 5)
        want[1] += 1 - eps
        tol = 4 * np.sqrt(want * (1 - want) / len(keys)) + 1e-9
        assert np.all(np.abs(counts - want) <= tol), (eps, counts, want)
    with pytest.raises(ValueError, match="epsilon in"):
        epsilon_agent(agent, 1.5)
    with pytest.raises(ValueError, match="per-action values"):
        epsilon_agent(Agent(init=None, update=None, num_updates=1, act=None, config=None), 0.05)
