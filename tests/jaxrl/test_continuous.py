"""SAC and TD3: the loss maths by hand (tanh correction, clipped double-Q target, temperature,
actor losses, target smoothing), the configs' checks, the probes (the optimal action and
a time limit's bootstrap learned), the replay of float actions, and a run that stops,
resumes bit-identically, evaluates, plays and exports through the command line."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe import state_bits

from jaxrl import algos, envs
from jaxrl.algos import continuous
from jaxrl.algos.continuous import losses
from jaxrl.algos.continuous.networks import ActionScale
from jaxrl.cli import main as cli
from jaxrl.core import replay
from jaxrl.core.distributions import (
    gaussian_log_prob,
    log_one_minus_tanh_squared,
    tanh_gaussian_log_prob,
    tanh_gaussian_sample,
)
from jaxrl.core.value_targets import clipped_double_q_target
from jaxrl.envs import probes, spaces
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run


# ------------------------------------------------------------------------- the maths
def test_log_one_minus_tanh_squared_is_exact_and_finite_where_the_direct_formula_is_not():
    u = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
    np.testing.assert_allclose(log_one_minus_tanh_squared(jnp.asarray(u)),
                               np.log(1 - np.tanh(u) ** 2), rtol=1e-5, atol=1e-6)
    far = np.asarray(log_one_minus_tanh_squared(jnp.array([20.0, -20.0], jnp.float32)))
    # 1 - tanh(20)^2 = 4 / (e^20 + e^-20)^2, so its log is 2 log 2 - 40 (+ e^-40 terms).
    np.testing.assert_allclose(far, 2 * math.log(2) - 40.0, rtol=1e-6)
    with np.errstate(divide="ignore"):
        assert np.isneginf(np.log(1 - np.tanh(np.float32(20.0)) ** 2))  # what it avoids


def test_tanh_gaussian_density_integrates_to_one_and_matches_the_change_of_variables():
    mean, log_std = jnp.array([0.3]), jnp.array([-0.2])
    # On a fine grid of a in (-1, 1): p(a) = N(atanh a) / (1 - a^2).
    a = np.linspace(-0.999999, 0.999999, 400_001)
    u = np.arctanh(a)
    logp = np.asarray(jax.vmap(lambda x: tanh_gaussian_log_prob(mean, log_std, x))(
        jnp.asarray(u[:, None], jnp.float32)))
    sigma = math.exp(-0.2)
    by_hand = (-0.5 * ((u - 0.3) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
               - np.log(1 - a ** 2))
    np.testing.assert_allclose(logp[::1000], by_hand[::1000], rtol=2e-4, atol=2e-4)
    assert abs(np.trapezoid(np.exp(logp), a) - 1.0) < 1e-3
    # Two dimensions: the corrections add up, and the Gaussian part is the plain one.
    m2, s2, u2 = jnp.array([0.1, -1.0]), jnp.array([0.0, 0.5]), jnp.array([0.4, -2.0])
    expected = gaussian_log_prob(m2, s2, u2) - np.sum(np.log(1 - np.tanh(np.asarray(u2)) ** 2))
    np.testing.assert_allclose(tanh_gaussian_log_prob(m2, s2, u2), expected, rtol=1e-5)


def test_tanh_gaussian_sample_is_reparameterised():
    mean, log_std = jnp.zeros((5000, 1)), jnp.full((5000, 1), math.log(0.5))
    a, logp = tanh_gaussian_sample(jax.random.key(0), mean, log_std)
    assert a.shape == (5000, 1) and logp.shape == (5000,) and float(jnp.max(jnp.abs(a))) < 1
    u = np.arctanh(np.asarray(a[:, 0], np.float64))
    assert abs(u.std() - 0.5) < 0.02 and abs(u.mean()) < 0.03
    # The draw moves with the mean: d tanh(m + s eps) / dm = 1 - a^2.
    grad = jax.grad(lambda m: tanh_gaussian_sample(jax.random.key(1), m, jnp.zeros(1))[0][0])(
        jnp.array([0.2]))
    a1 = tanh_gaussian_sample(jax.random.key(1), jnp.array([0.2]), jnp.zeros(1))[0][0]
    np.testing.assert_allclose(grad[0], 1 - a1 ** 2, rtol=1e-5)


def test_clipped_double_q_target_by_hand():
    r, d, q = jnp.float32(1.0), jnp.float32(0.9), jnp.array([3.0, 2.0])
    assert float(clipped_double_q_target(r, d, q)) == pytest.approx(1 + 0.9 * 2.0)  # TD3
    # SAC: minus alpha * log pi of the next action: 1 + 0.9 * (2 - 0.5 * -1) = 3.25.
    assert float(clipped_double_q_target(r, d, q, -1.0, 0.5)) == pytest.approx(3.25)
    assert float(clipped_double_q_target(r, jnp.float32(0.0), q, -1.0, 0.5)) == 1.0  # terminal
    assert float(clipped_double_q_target(r, d, jnp.array([4.0]))) == pytest.approx(4.6)  # DDPG
    g = jax.grad(lambda q: clipped_double_q_target(r, d, q))(q)
    np.testing.assert_array_equal(g, 0.0)  # a target: no gradient


def test_critic_and_actor_losses_by_hand():
    q = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    target = jnp.array([1.0, 1.0])
    # critic 0: mean(0.5 * [0, 1]) = 0.25; critic 1: mean(0.5 * [4, 9]) = 3.25.
    assert float(losses.critic_loss(q, target)) == pytest.approx(3.5)
    np.testing.assert_array_equal(jax.grad(losses.critic_loss, argnums=1)(q, target), 0.0)
    # SAC: min over critics [1, 0]; mean(0.2 * [0.5, -1] - [1, 0]) = mean(-0.9, -0.2).
    q2 = jnp.array([[1.0, 2.0], [3.0, 0.0]])
    assert float(losses.soft_actor_loss(q2, jnp.array([0.5, -1.0]), 0.2)) == pytest.approx(-0.55)
    assert float(losses.deterministic_actor_loss(jnp.array([1.0, 3.0]))) == -2.0


def test_temperature_loss_falls_while_entropy_is_above_its_target():
    logp, target_entropy = jnp.array([-1.0, -3.0]), -1.0
    # -0.3 * mean([-1 - 1, -3 - 1]) = 0.9; the gradient in log alpha is 3 > 0, so
    # gradient descent lowers alpha: the entropy (2) is above the target (-1).
    assert float(losses.temperature_loss(jnp.float32(0.3), logp, target_entropy)) == \
        pytest.approx(0.9)
    grad = jax.grad(losses.temperature_loss)(jnp.float32(0.3), logp, target_entropy)
    assert float(grad) == pytest.approx(3.0)
    low = jax.grad(losses.temperature_loss)(jnp.float32(0.3), jnp.array([2.0]), target_entropy)
    assert float(low) < 0  # entropy -2 below the target -1: alpha rises
    np.testing.assert_array_equal(
        jax.grad(losses.temperature_loss, argnums=1)(jnp.float32(0.3), logp, -1.0), 0.0)


def test_target_smoothing_clips_the_noise_then_the_action():
    out = losses.smoothed_target_action(jnp.array([0.9, -0.2, 0.0]), jnp.array([2.0, -3.0, 1.0]),
                                        0.2, 0.5)
    # noise 0.4, -0.6 -> -0.5 (clipped), 0.2; then 1.3 -> 1.0.
    np.testing.assert_allclose(out, [1.0, -0.7, 0.2], rtol=1e-6)


def test_action_scale_maps_the_unit_box_onto_the_bounds_and_back():
    scale = ActionScale(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))
    np.testing.assert_allclose(scale.to_env(jnp.array([-1.0, 1.0])), [-2.0, 10.0])
    np.testing.assert_allclose(scale.to_env(jnp.array([0.5, 0.0])), [1.0, 5.0])
    np.testing.assert_allclose(scale.from_env(scale.to_env(jnp.array([0.3, -0.7]))), [0.3, -0.7],
                               rtol=1e-6)


def test_replay_keeps_float_actions():
    example = replay.Transition(obs=jnp.zeros(3), action=jnp.zeros(2), reward=jnp.float32(0),
                                next_obs=jnp.zeros(3), terminated=jnp.bool_(False),
                                truncated=jnp.bool_(False))
    buf = replay.init(example, rows=4, num_envs=2, prioritized=False)
    assert (buf.rows, buf.num_envs) == (4, 2)
    batch = jax.tree.map(lambda x: jnp.stack([x, x]), example).replace(
        action=jnp.array([[0.25, -0.5], [1.0, 0.0]]), reward=jnp.array([1.0, 2.0]))
    buf = replay.add(buf, batch)
    index = replay.SampleIndex(row=jnp.array([0, 0]), env=jnp.array([1, 0]),
                               prob=jnp.ones(2), weight=jnp.ones(2))
    got = replay.n_step_batch(buf, index, 1, 0.9)
    np.testing.assert_array_equal(got.action, [[1.0, 0.0], [0.25, -0.5]])
    np.testing.assert_array_equal(got.reward, [2.0, 1.0])


# ------------------------------------------------------------------------- configs
def test_registered_with_presets_and_the_contract():
    assert algos.get("sac") is continuous.SAC and algos.get("td3") is continuous.TD3
    for record in (continuous.SAC, continuous.TD3):
        assert record.supports == {"continuous"} and record.default_env == "gymnax/Pendulum-v1"
        assert record.presets["pendulum"].config == record.config()
    ddpg = continuous.TD3.presets["ddpg"].config
    assert (ddpg.critics, ddpg.policy_delay, ddpg.target_noise) == (1, 1, 0.0)
    cfg = continuous.SACConfig(num_envs=4, train_every=2, gradient_steps=16)
    assert cfg.utd == 2.0 and cfg.num_updates == 5_000 and cfg.buffer_rows == 5_000


@pytest.mark.parametrize("bad, words", [
    ({"actor_lr": -1e-3}, "actor_lr must be finite and > 0"),
    ({"tau": 0.0}, "tau must be finite and in (0, 1]"),
    ({"gamma": 1.5}, "gamma must be finite and in [0, 1]"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"learning_starts": 20_000}, "learning_starts=20000 leaves no learning"),
    ({"hidden": ()}, "hidden must be a non-empty tuple"),
    ({"activation": "sigmoidal"}, "activation 'sigmoidal' unknown"),
    ({"critics": 0}, "critics must be a positive integer"),
    ({"log_std_min": 3.0}, "log_std_min=3.0 must be below log_std_max=2.0"),
    ({"init_alpha": 0.0}, "init_alpha must be finite and > 0"),
])
def test_sac_config_refuses_bad_values(bad, words):
    with pytest.raises(ValueError, match=None) as e:
        continuous.SACConfig(**bad).validate()
    assert words in str(e.value)


def test_td3_config_refuses_bad_values():
    with pytest.raises(ValueError, match="policy_delay must be a positive integer"):
        continuous.TD3Config(policy_delay=0).validate()
    with pytest.raises(ValueError, match="target_noise must be finite and >= 0"):
        continuous.TD3Config(target_noise=-0.1).validate()


def test_discrete_and_unbounded_actions_are_refused_before_compiling():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="sac needs continuous actions .* use dqn, pqn or ppo"):
        continuous.make_sac(continuous.SACConfig(), env, params)

    class Unbounded(probes.ContinuousProbe):
        def action_space(self, params=None):
            return spaces.Box(-np.inf, np.inf, (1,), jnp.float32)

    with pytest.raises(ValueError, match="td3 needs bounded actions"):
        continuous.make_td3(continuous.TD3Config(), Unbounded(), None)


# ------------------------------------------------------------------------- probes
class Truncating(probes.ContinuousProbe):
    """Observation 0, reward 1 whatever the action, every step cut by a time limit (never
    terminated): Q = 1 / (1 - gamma); treating the limit as an end would learn 1."""

    def reset_env(self, key, params):
        obs = jnp.zeros((1,), jnp.float32)
        return obs, probes.ContinuousProbeState(obs)

    def step_env(self, key, state, action, params):
        return state.obs, state, jnp.float32(1.0), jnp.asarray(False), jnp.asarray(True), {}


PROBE_SETTINGS = dict(total_timesteps=1_200, learning_starts=100, batch_size=32, hidden=(32,),
                      buffer_size=1_200, actor_lr=3e-3, critic_lr=3e-3, gamma=0.5, tau=0.05)
PROBE_CONFIGS = {
    # alpha kept tiny and fixed, so the soft values are the plain ones
    "sac": continuous.SACConfig(**PROBE_SETTINGS, autotune=False, init_alpha=1e-4),
    "td3": continuous.TD3Config(**PROBE_SETTINGS, exploration_noise=0.3),
}


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["sac", "td3"])
def test_probes_learn_the_best_action_and_bootstrap_through_a_time_limit(name):
    record, config = algos.get(name), PROBE_CONFIGS[name]
    gain_env = probes.ContinuousProbe()
    keys = jax.random.split(jax.random.key(3), 2)
    for env in (gain_env, Truncating()):
        agent = record.make(config, env, env.default_params)
        state, metrics = jax.jit(agent.train)(keys[0])
        obs = jnp.array([[1.0], [-1.0], [0.0]])
        greedy = jax.vmap(lambda o: agent.act(state, o, keys[1], True))(obs)
        from jaxrl.algos.continuous.networks import Critic, apply_critics
        critic = Critic(hidden=config.hidden, act=config.activation)
        q = apply_critics(critic, state.critic, obs, greedy)
        if env is gain_env:
            # reward -(a - 0.5 obs)^2: the best action is 0.5 obs, worth 0.
            np.testing.assert_allclose(greedy[:2, 0], [0.5, -0.5], atol=0.08)
            np.testing.assert_allclose(q[:, :2], 0.0, atol=0.05)
        else:
            np.testing.assert_allclose(q[:, 2], 1 / (1 - config.gamma), atol=0.15)
        loss = np.asarray(metrics["critic_loss"])
        assert np.all(np.isnan(loss[:99])) and np.all(np.isfinite(loss[99:]))


@pytest.mark.heavy
def test_warm_up_is_uniform_then_the_policy_explores():
    """Before learning_starts every action is uniform on the bounds; seeds differ."""
    env, params = envs.make("gymnax/Pendulum-v1")
    cfg = continuous.TD3Config(total_timesteps=64, learning_starts=60, batch_size=8,
                               buffer_size=64, hidden=(8,))
    agent = continuous.make_td3(cfg, env, params)
    state, metrics = jax.jit(jax.vmap(agent.train))(jax.random.split(jax.random.key(0), 2))
    actions = np.asarray(state.buffer.data.action[:, :60, 0, 0])  # seeds x steps, on [-1, 1]
    assert actions.min() >= -1 and actions.max() <= 1 and actions.std() > 0.45
    assert not np.array_equal(actions[0], actions[1])
    # Learning starts in the update whose step brings env_steps to 60 (index 59).
    critic_losses = np.asarray(metrics["critic_loss"])
    assert np.isnan(critic_losses[:, :59]).all() and np.isfinite(critic_losses[:, 59:]).all()
    np.testing.assert_array_equal(state.grad_steps, [5, 5])
    # TD3's delay: the actor moves on every second gradient step only.
    actor_losses = np.asarray(metrics["actor_loss"])[0, 59:]
    np.testing.assert_array_equal(np.isfinite(actor_losses), [False, True, False, True, False])


# --------------------------------------------------------------------------------- runs
TINY = ["--set", "hidden=[16]", "--set", "batch_size=16", "--set", "learning_starts=40",
        "--set", "buffer_size=200", "--total-steps", "120"]




@pytest.mark.heavy
def test_stop_resume_eval_play_export_through_the_cli(tmp_path, capsys):
    """SAC through every command (TD3 shares the loop, the run code and the checkpoint)."""
    name = "sac"
    full, part = tmp_path / "full", tmp_path / "part"
    base = ["train", name, "--seeds", "2", "--chunk", "20", "--quiet", *TINY]
    assert cli([*base, "--out", str(full)]) == 0
    assert cli([*base, "--out", str(part), "--stop-after", "60"]) == 0
    assert ckpt.read_header(part / ckpt.FILENAME)["updates_done"] == 60
    assert cli(["train", "--resume", str(part), "--quiet"]) == 0
    assert (full / "metrics.csv").read_bytes() == (part / "metrics.csv").read_bytes()
    a, b = run.load(full), run.load(part)
    assert a.updates_done == b.updates_done == 120
    assert state_bits(a.state) == state_bits(b.state)
    capsys.readouterr()
    assert cli(["eval", str(full), "--episodes", "2"]) == 0
    assert "return" in capsys.readouterr().out
    assert cli(["play", str(full), "--out", str(tmp_path / "p"), "--max-steps", "5"]) == 0
    assert (tmp_path / "p.gif").stat().st_size > 0 and (tmp_path / "p.png").stat().st_size > 0
    assert cli(["export", str(full), "--out", str(tmp_path / "policy.msgpack")]) == 0
    from jaxrl import load_policy

    policy = load_policy(tmp_path / "policy.msgpack")
    env, params = envs.make("gymnax/Pendulum-v1")
    obs, _ = env.reset(jax.random.key(0), params)
    action = np.asarray(policy(obs))
    assert action.shape == (1,) and action.dtype == np.float32 and abs(action[0]) <= 2.0
    config = json.loads((full / "config.json").read_text())
    assert config["algorithm"] == name and config["config"]["batch_size"] == 16


@pytest.mark.heavy
def test_a_sweep_vmaps_over_the_learning_rates_and_the_temperature():
    from jaxrl.runs.sweep import sweep

    env, params = envs.make("gymnax/Pendulum-v1")
    cfg = continuous.SACConfig(total_timesteps=48, learning_starts=32, batch_size=8,
                               buffer_size=48, hidden=(8,))
    result = sweep("sac", (env, params), cfg, {"actor_lr": [1e-3, 3e-3], "init_alpha": [0.1, 1.0]},
                   seeds=2)
    assert result.final_returns.shape == (4, 2)
    alpha = np.asarray(result.metrics["alpha"])[:, 0]
    # The first learning step (update 31, env_steps 32) uses each setting's own init_alpha;
    # Adam's first step (1e-3) moves log alpha by 1e-3 exactly.
    np.testing.assert_allclose(alpha[:, 31], [0.1, 1.0, 0.1, 1.0], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.log(alpha[:, 32] / alpha[:, 31])), 1e-3, rtol=1e-3)
