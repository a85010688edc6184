"""PQN: the config's checks, the probe ladder (values known exactly, truncation included),
the schedules and metrics, and a run that stops, resumes bit-identically, evaluates and
exports through the command line. The Q(lambda) maths has its own hand fixtures in
test_value_targets.py."""

from __future__ import annotations

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe import state_bits

from jaxrl import algos, envs
from jaxrl.algos import pqn
from jaxrl.cli import main as cli
from jaxrl.envs import probes, spaces
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run

GAMMA = 0.5


def test_registered_and_validation():
    assert algos.get("pqn") is pqn.PQN and pqn.PQN.make is pqn.make
    cfg = pqn.Config()
    assert cfg.batch_size == cfg.num_envs * cfg.num_steps
    assert cfg.num_updates == cfg.total_timesteps // cfg.batch_size
    for overrides, message in [
        ({"minibatches": 7}, "minibatches=7 must divide"),
        ({"lr": -1e-3}, "lr must be finite and > 0"),
        ({"q_lambda": 1.5}, "q_lambda"),
        ({"epsilon_end": -0.1}, "epsilon_end"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"total_timesteps": 100}, "less than one batch"),
        ({"norm": "batch_norm"}, "norm 'batch_norm' unknown"),
        ({"optimizer": "sgd"}, "optimizer 'sgd' unknown"),
        ({"torso": "relational"}, "torso 'relational' unknown"),
        ({"hidden": [64]}, "hidden must be a tuple"),
    ]:
        with pytest.raises(ValueError, match=message):
            pqn.Config(**overrides).validate()
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="lr"):  # make validates before building anything
        pqn.make(pqn.Config(lr=float("nan")), env, params)
    with pytest.raises(TypeError, match="pqn.Config"):
        pqn.make({"lr": 1e-3}, env, params)


def test_continuous_actions_refused_before_compiling():
    class BoxActions(probes.Probe):
        def action_space(self, params=None):
            return spaces.Box(-1.0, 1.0, (1,))

    with pytest.raises(ValueError, match="pqn needs a single Discrete action"):
        pqn.make(pqn.Config(), BoxActions(), probes.ProbeParams())


def test_layer_norm_in_every_hidden_layer_of_both_torsos():
    mlp = pqn.QNetwork(hidden=(8, 8), num_actions=3)
    p = jax.eval_shape(mlp.init, jax.random.key(0), jnp.zeros((1, 4)))["params"]
    assert sorted(p) == ["Dense_0", "Dense_1", "Dense_2", "LayerNorm_0", "LayerNorm_1"]
    conv = pqn.QNetwork(hidden=(8,), num_actions=3, obs_ndim=3, torso="conv")
    p = jax.eval_shape(conv.init, jax.random.key(0), jnp.zeros((1, 10, 10, 4)))["params"]
    assert sorted(p) == ["Dense_0", "Dense_1", "LayerNorm_0", "LayerNorm_1", "PatchConv_0"]
    assert p["LayerNorm_0"]["scale"].shape == (16,)  # the conv layer's channels
    bare = pqn.QNetwork(hidden=(8,), num_actions=3, norm="none")
    assert "LayerNorm_0" not in jax.eval_shape(bare.init, jax.random.key(0), jnp.zeros((1, 4)))["params"]
    env, params = envs.make("CartPole-v1")
    assert pqn.q_network(pqn.Config(), env, params).torso == "mlp"
    with pytest.raises(ValueError, match="one_hot_cells needs"):
        pqn.q_network(pqn.Config(one_hot_cells=True), env, params)


def test_one_hot_cells_reads_minigrid_channels_as_categories():
    env, params = envs.make("DoorKey-5x5-v0")
    net = pqn.q_network(pqn.Config(one_hot_cells=True, hidden=(8,)), env, params)
    assert net.channel_categories == (11, 6, 3)  # object, colour, state
    obs = jnp.zeros((1, 7, 7, 3), jnp.uint8)
    p = jax.eval_shape(net.init, jax.random.key(0), obs)["params"]
    assert p["Dense_0"]["kernel"].shape == (7 * 7 * (11 + 6 + 3), 8)


# --------------------------------------------------------------------------------- probes
# The shared ladder (jaxrl.envs.probes), one-hot observations, exploring uniformly at
# random the whole run (Q-learning is off-policy, so Q* is still what is learned).
PROBE = pqn.Config(
    num_envs=16, num_steps=4, epochs=4, minibatches=2, total_timesteps=64 * 150,
    hidden=(32,), lr=3e-3, anneal_lr=False, gamma=GAMMA, q_lambda=0.5,
    epsilon_schedule="constant", epsilon_start=1.0, reward_scale=1.0,
)
S0, S1 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
CTX0, CTX1 = jnp.array([0.0, 0.0, 1.0]), jnp.array([0.0, 1.0, 0.0])


@pytest.fixture(scope="module")
def ladder():
    env = probes.Probe("one_hot")
    params = probes.ladder()

    def train(p, key):
        return pqn.make(PROBE, env, p).train(key)

    state, metrics = jax.jit(jax.vmap(train))(params, jax.random.split(jax.random.key(0), 6))
    agent = pqn.make(PROBE, env, env.default_params)

    def q(kind, obs):
        return np.asarray(agent.values(jax.tree.map(lambda x: x[kind], state), obs))

    return q, metrics


def test_probe_values_are_learned_exactly(ladder):
    q, _ = ladder
    tol = 0.1
    np.testing.assert_allclose(q(probes.CONSTANT, S0), [1.0, 1.0], atol=tol)
    np.testing.assert_allclose(q(probes.ACTION, S0), [-1.0, 1.0], atol=tol)
    np.testing.assert_allclose(q(probes.OBS_ACTION, CTX1), [-1.0, 1.0], atol=tol)
    np.testing.assert_allclose(q(probes.OBS_ACTION, CTX0), [1.0, -1.0], atol=tol)
    np.testing.assert_allclose(q(probes.DISCOUNT, S0), [GAMMA, GAMMA], atol=tol)
    np.testing.assert_allclose(q(probes.DISCOUNT, S1), [1.0, 1.0], atol=tol)
    # A time limit bootstraps: 1 / (1 - gamma) = 2, not the 1 of treating it as an end.
    np.testing.assert_allclose(q(probes.TRUNCATION, S0), [2.0, 2.0], atol=2 * tol)


def test_probe_metrics(ladder):
    _, metrics = ladder
    n = PROBE.num_updates
    chex.assert_shape(metrics["loss"], (6, n))
    np.testing.assert_array_equal(metrics["env_steps"][0], np.arange(1, n + 1) * PROBE.batch_size)
    np.testing.assert_array_equal(metrics["epsilon"], 1.0)
    np.testing.assert_allclose(metrics["lr"], PROBE.lr, rtol=1e-6)
    # CONSTANT: every step ends a one-step episode of return 1.
    np.testing.assert_array_equal(metrics["episodes"][probes.CONSTANT], PROBE.batch_size)
    np.testing.assert_allclose(metrics["episode_return"][probes.CONSTANT], 1.0)
    assert np.all(np.isfinite(metrics["loss"])) and metrics["loss"][:, -1].max() < 0.05


def test_schedules_follow_the_update_count():
    """Epsilon decays over environment steps, the learning rate over updates, both read at
    the start of each update."""
    env, params = envs.make("CartPole-v1")
    cfg = pqn.Config(num_envs=4, num_steps=8, epochs=1, minibatches=1, hidden=(8,),
                     total_timesteps=32 * 5, epsilon_decay_steps=64.0, epsilon_end=0.1)
    _, metrics = jax.jit(pqn.make(cfg, env, params).train)(jax.random.key(1))
    np.testing.assert_allclose(metrics["epsilon"], [1.0, 0.55, 0.1, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(metrics["lr"], cfg.lr * (1 - np.arange(5) / 5), rtol=1e-5)


# --------------------------------------------------------------------------------- runs
TINY = ["--set", "num_envs=4", "--set", "num_steps=8", "--set", "epochs=1",
        "--set", "minibatches=2", "--set", "hidden=[16]", "--total-steps", "320"]




@pytest.mark.heavy
def test_stop_resume_eval_export_through_the_cli(tmp_path, capsys):
    full, part = tmp_path / "full", tmp_path / "part"
    base = ["train", "pqn", "--seeds", "2", "--chunk", "2", "--quiet", *TINY]
    assert cli([*base, "--out", str(full)]) == 0
    assert cli([*base, "--out", str(part), "--stop-after", "3"]) == 0
    assert ckpt.read_header(part / ckpt.FILENAME)["updates_done"] == 3
    assert cli(["train", "--resume", str(part), "--quiet"]) == 0
    assert (full / "metrics.csv").read_bytes() == (part / "metrics.csv").read_bytes()
    a, b = run.load(full), run.load(part)
    assert a.updates_done == b.updates_done == 10
    assert state_bits(a.state) == state_bits(b.state)
    capsys.readouterr()
    assert cli(["eval", str(full), "--episodes", "3"]) == 0
    assert "return" in capsys.readouterr().out
    assert cli(["export", str(full), "--out", str(tmp_path / "policy.msgpack")]) == 0
    from jaxrl import load_policy

    policy = load_policy(tmp_path / "policy.msgpack")
    env, params = envs.make("CartPole-v1")
    obs, _ = env.reset(jax.random.key(0), params)
    action = policy(obs)
    assert int(action) in (0, 1)
    config = json.loads((full / "config.json").read_text())
    assert config["algorithm"] == "pqn" and config["config"]["num_steps"] == 8
