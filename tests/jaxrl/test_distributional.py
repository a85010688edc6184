"""Distributional value learning: C51's projection and QR-DQN's loss by hand, greedy
action by expected value, and a probe with a known stochastic return that both agents
must recover.

Fixtures are small enough to check on paper; each is worked out in its comment.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algos import dqn, ppo
from jaxrl.core import value_targets as vt
from jaxrl.envs import probes

MODES = ["eager", "jit"]

Z5 = jnp.array([-2.0, -1.0, 0.0, 1.0, 2.0])  # support, dz = 1
P5 = jnp.array([0.1, 0.2, 0.3, 0.2, 0.2])


def run(mode, fn, *args):
    return jax.jit(fn)(*args) if mode == "jit" else fn(*args)


def discount(terminated: bool, truncated: bool, gamma: float) -> jax.Array:
    """The discount DQN's replay hands the targets, from the real code path
    (``value_targets.n_step_return`` with one step): 0 at termination, gamma otherwise."""
    done = terminated or truncated
    return vt.n_step_return(
        jnp.zeros(1), jnp.array([terminated]), jnp.array([done]), gamma
    ).discount


# ------------------------------------------------------------------------ C51 projection
@pytest.mark.parametrize("mode", MODES)
def test_projection_shift_and_scale_with_exact_hits(mode):
    # Tz = 0.5 + 0.5 z = [-0.5, 0, 0.5, 1, 1.5]:
    #   -0.5 (0.1) splits 0.05 / 0.05 onto -1 and 0;  0 (0.2) hits 0 exactly;
    #    0.5 (0.3) splits 0.15 / 0.15 onto 0 and 1;   1 (0.2) hits 1 exactly;
    #    1.5 (0.2) splits 0.1 / 0.1 onto 1 and 2.
    m = run(mode, vt.categorical_projection, 0.5 + 0.5 * Z5, P5, Z5)
    np.testing.assert_allclose(m, [0.0, 0.05, 0.4, 0.45, 0.1], atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_projection_mass_outside_the_support_goes_to_the_ends(mode):
    # Tz = 1.25 + z = [-0.75, 0.25, 1.25, 2.25, 3.25]:
    #   -0.75 (0.1): 0.075 onto -1, 0.025 onto 0;  0.25 (0.2): 0.15 onto 0, 0.05 onto 1;
    #    1.25 (0.3): 0.225 onto 1, 0.075 onto 2;   2.25 and 3.25 (0.2 each) clip to 2.
    m = run(mode, vt.categorical_projection, 1.25 + Z5, P5, Z5)
    np.testing.assert_allclose(m, [0.0, 0.075, 0.175, 0.275, 0.475], atol=1e-6)
    # Everything below v_min lands on v_min.
    m = run(mode, vt.categorical_projection, -3.0 + 0.5 * Z5, P5, Z5)
    np.testing.assert_allclose(m, [1.0, 0.0, 0.0, 0.0, 0.0], atol=1e-6)


# Next-state distributions of two actions whose mode and mean disagree:
#   action 0: 0.45 on -2, 0.55 on +1  -> mode +1, mean -0.35
#   action 1: 0.3 on -1, 0.4 on 0, 0.3 on +1 -> mode 0, mean 0
# Greedy by the mean is action 1; by the most likely return (or its probability) action 0.
P_T = jnp.array([[0.45, 0.0, 0.0, 0.55, 0.0], [0.0, 0.3, 0.4, 0.3, 0.0]])


@pytest.mark.parametrize("mode", MODES)
def test_categorical_target_uses_the_greedy_action_by_expected_value(mode):
    np.testing.assert_allclose(vt.categorical_expectation(Z5, P_T), [-0.35, 0.0], atol=1e-6)
    # Terminated: discount 0, all mass on r = 0.3 -> 0.7 on 0, 0.3 on 1, whatever p_t says.
    m = run(mode, vt.categorical_q_learning_target, 0.3, discount(True, False, 0.5), Z5, P_T)
    np.testing.assert_allclose(m, [0.0, 0.0, 0.7, 0.3, 0.0], atol=1e-6)
    # Truncated (a time limit): bootstraps with gamma = 0.5 from action 1 (greedy by mean):
    # Tz = 0.5 * [-1, 0, 1] on (0.3, 0.4, 0.3): -0.5 -> 0.15 / 0.15 onto -1 / 0,
    # 0 -> 0.4 onto 0, 0.5 -> 0.15 / 0.15 onto 0 / 1.
    expected_a1 = [0.0, 0.15, 0.7, 0.15, 0.0]
    m = run(mode, vt.categorical_q_learning_target, 0.0, discount(False, True, 0.5), Z5, P_T)
    np.testing.assert_allclose(m, expected_a1, atol=1e-6)
    # A plain non-terminal step: the same.
    m = run(mode, vt.categorical_q_learning_target, 0.0, discount(False, False, 0.5), Z5, P_T)
    np.testing.assert_allclose(m, expected_a1, atol=1e-6)
    # Double: the online network's values pick action 0 even though p_t prefers 1.
    # Tz = 0.5 * [-2, 1] on (0.45, 0.55): -1 gets 0.45, 0.5 splits 0.275 / 0.275.
    m = run(mode, vt.categorical_q_learning_target, 0.0, 0.5, Z5, P_T, jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(m, [0.0, 0.45, 0.275, 0.275, 0.0], atol=1e-6)


def test_categorical_cross_entropy_value_and_gradient():
    logits = jnp.zeros(4)  # uniform p = 1/4
    target = jnp.array([0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(vt.categorical_cross_entropy(logits, target), np.log(4.0),
                               rtol=1e-6)
    # d/dlogits = softmax(logits) - m; no gradient reaches the target.
    g = jax.grad(vt.categorical_cross_entropy)(logits, target)
    np.testing.assert_allclose(g, [0.25, -0.75, 0.25, 0.25], atol=1e-6)
    g_target = jax.grad(vt.categorical_cross_entropy, argnums=1)(logits, target)
    np.testing.assert_array_equal(g_target, 0.0)


def test_distributional_functions_check_shapes():
    with pytest.raises(AssertionError):
        vt.categorical_projection(Z5, P5[:4], Z5)
    with pytest.raises(AssertionError):
        vt.categorical_q_learning_target(0.0, 0.9, Z5, P_T[:, :4])
    with pytest.raises(AssertionError):
        vt.quantile_huber_loss(jnp.zeros(3), jnp.zeros(2), jnp.zeros(2))


# ------------------------------------------------------------------------ QR-DQN
def test_quantile_midpoints():
    np.testing.assert_allclose(vt.quantile_midpoints(4), [0.125, 0.375, 0.625, 0.875])


@pytest.mark.parametrize("mode", MODES)
def test_quantile_huber_loss_by_hand(mode):
    theta = jnp.array([0.0, 1.0])  # tau = 0.25, 0.75
    target = jnp.array([0.5, 3.0])
    tau = vt.quantile_midpoints(2)
    # kappa = 1, u_ij = target_j - theta_i:
    #   i = 0: u = (0.5, 3), both >= 0, weight 0.25; Huber (0.125, 2.5) -> mean 0.328125
    #   i = 1: u = (-0.5, 2), weights (0.25, 0.75); Huber (0.125, 1.5) -> mean 0.578125
    loss = run(mode, vt.quantile_huber_loss, theta, target, tau, 1.0)
    np.testing.assert_allclose(loss, 0.90625, rtol=1e-6)
    # kappa = 2 (Huber_2 / 2): i = 0: 0.25 * (0.0625, 2) -> 0.2578125;
    #                          i = 1: (0.25 * 0.0625, 0.75 * 1) -> 0.3828125.
    loss = run(mode, vt.quantile_huber_loss, theta, target, tau, 2.0)
    np.testing.assert_allclose(loss, 0.640625, rtol=1e-6)


def test_quantile_huber_gradient_is_the_quantile_regression_step():
    # Far from the target (|u| > kappa) the gradient of quantile i is
    # (1/M) sum_j (1{u_ij < 0} - tau_i): pushes theta_i to the tau_i-quantile.
    theta = jnp.array([0.0, 0.0])
    target = jnp.array([-5.0, 5.0, 6.0, 7.0])
    tau = vt.quantile_midpoints(2)  # 0.25, 0.75
    g = jax.grad(vt.quantile_huber_loss)(theta, target, tau, 1.0)
    np.testing.assert_allclose(g, [(0.75 - 3 * 0.25) / 4, (0.25 - 3 * 0.75) / 4], atol=1e-6)
    g_target = jax.grad(vt.quantile_huber_loss, argnums=1)(theta, target, tau, 1.0)
    np.testing.assert_array_equal(g_target, 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_quantile_target_uses_the_greedy_action_by_mean(mode):
    # action 0: quantiles (0, 1, 2), mean 1; action 1: (-3, 2, 2.5), mean 0.5 but larger
    # upper quantiles (and a larger median). Greedy by the mean: action 0.
    theta_t = jnp.array([[0.0, 1.0, 2.0], [-3.0, 2.0, 2.5]])
    y = run(mode, vt.quantile_q_learning_target, 1.0, discount(False, True, 0.5), theta_t)
    np.testing.assert_allclose(y, [1.0, 1.5, 2.0])
    y = run(mode, vt.quantile_q_learning_target, 1.0, discount(True, False, 0.5), theta_t)
    np.testing.assert_allclose(y, [1.0, 1.0, 1.0])
    y = run(mode, vt.quantile_q_learning_target, 1.0, 0.5, theta_t, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(y, [-0.5, 2.0, 2.25])


# ------------------------------------------------------------------------ the agent
# The coin probe (``envs.probes.Coin``): one step, two actions, reward +1 with probability
# ``p_win[a]`` (0.5, 0.8), else -1; then the episode terminates. obs ``float32[1]`` (always
# 1). The return of action ``a`` is +1 w.p. ``p_win[a]`` and -1 otherwise: a distribution
# with a known shape.
Coin = probes.Coin


P_WIN = np.array([0.5, 0.8])
PROBE = {
    "num_envs": 16, "total_timesteps": 6_000, "hidden": (16,), "batch_size": 128,
    "buffer_size": 2_048, "learning_starts": 256, "n_steps": 1, "target": "hard",
    "target_update_period": 50, "lr": 1e-2, "anneal_lr": True, "epsilon_schedule": "constant",
    "epsilon_start": 1.0,
}


def _learned(config: dqn.Config):
    env = Coin()
    agent = dqn.make(config, env)
    state, _ = jax.jit(agent.train)(jax.random.key(3))
    obs = jnp.ones(1, jnp.float32)
    return agent, state, jax.device_get(agent.distribution(state, obs))


def test_c51_learns_the_coin_distribution():
    """The book's support (51 atoms on [-10, 10], dz = 0.4) does not hold +-1, so the true
    target is the projection: -1 splits evenly onto -1.2 / -0.8, +1 onto 0.8 / 1.2.
    Learned masses within 0.04 of (1 - p) / 2 and p / 2; everything else below 0.01."""
    agent, state, d = _learned(dqn.Config(distribution="categorical", **PROBE))
    z = d.atoms[0]
    idx = [int(np.argmin(np.abs(z - v))) for v in (-1.2, -0.8, 0.8, 1.2)]
    np.testing.assert_allclose(z[idx], [-1.2, -0.8, 0.8, 1.2], atol=1e-5)
    for a, p in enumerate(P_WIN):
        want = [(1 - p) / 2, (1 - p) / 2, p / 2, p / 2]
        np.testing.assert_allclose(d.probs[a, idx], want, atol=0.04)
        rest = np.delete(d.probs[a], idx)
        assert rest.max() < 0.01, rest.max()
    # Expected values 2p - 1 = (0, 0.6): greedy is action 1, values() the means.
    np.testing.assert_allclose(agent.values(state, jnp.ones(1)), 2 * P_WIN - 1, atol=0.08)
    assert int(agent.act(state, jnp.ones(1), jax.random.key(0), True)) == 1


def test_qrdqn_learns_the_coin_quantiles():
    """10 quantiles at tau = 0.05, 0.15, ..., 0.95: the true tau-quantile is -1 below
    1 - p and +1 above it. kappa = 0.02 (nearly plain quantile regression; a larger
    kappa moves the minimiser of a two-point target towards its centre by about
    kappa / 3). Learned quantiles within 0.15."""
    config = dqn.Config(distribution="quantile", num_quantiles=10, kappa=0.02, **PROBE)
    agent, state, d = _learned(config)
    tau = np.asarray(vt.quantile_midpoints(10))
    for a, p in enumerate(P_WIN):
        want = np.where(tau < 1 - p, -1.0, 1.0)
        np.testing.assert_allclose(d.atoms[a], want, atol=0.15)
        np.testing.assert_allclose(d.probs[a], 0.1)
    assert int(agent.act(state, jnp.ones(1), jax.random.key(0), True)) == 1


def _hand_set(config: dqn.Config, bias: jax.Array):
    """The agent for ``config`` on ``Coin`` and parameters that ignore the observation:
    zero weights, output bias ``bias`` (``[num_actions * atoms]``). Greedy ``act``,
    ``values`` and ``distribution`` read only ``state.params``."""
    agent = dqn.make(config, Coin())
    network = dqn.q_network(config, Coin())
    params = dqn.init_params(network, jax.random.key(0), jnp.ones((1, 1)))
    params = jax.tree.map(jnp.zeros_like, params)
    params["params"]["Dense_1"]["bias"] = bias
    return agent, types.SimpleNamespace(params=params)


def test_greedy_action_and_values_follow_the_expected_value_not_the_mode():
    """Hand-set C51 parameters give every state P_T: action 0 has the more likely return
    (+1 w.p. 0.55), action 1 the higher mean."""
    small = {"hidden": (4,), "buffer_size": 64, "batch_size": 8}
    config = dqn.Config(distribution="categorical", num_atoms=5, v_min=-2.0, v_max=2.0, **small)
    agent, state = _hand_set(config, jnp.log(jnp.clip(P_T, 1e-9, 1.0)).reshape(-1))
    obs = jnp.ones(1, jnp.float32)
    d = agent.distribution(state, obs)
    np.testing.assert_allclose(d.probs, P_T, atol=1e-6)
    np.testing.assert_allclose(d.atoms, np.broadcast_to(Z5, P_T.shape))
    np.testing.assert_allclose(agent.values(state, obs), [-0.35, 0.0], atol=1e-6)
    assert int(agent.act(state, obs, jax.random.key(0), True)) == 1
    # Quantiles: action 0 (0, 1, 2) has the mean, action 1 (-3, 2, 2.5) the larger median.
    config = dqn.Config(distribution="quantile", num_quantiles=3, **small)
    agent, state = _hand_set(config, jnp.array([0.0, 1.0, 2.0, -3.0, 2.0, 2.5]))
    np.testing.assert_allclose(agent.values(state, obs), [1.0, 0.5], atol=1e-6)
    assert int(agent.act(state, obs, jax.random.key(0), True)) == 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"distribution": "gaussian"}, "distribution"),
        ({"v_min": 10.0, "v_max": 10.0}, "v_min"),
        ({"v_min": 5.0, "v_max": -5.0}, "v_min"),
        ({"num_atoms": 1}, "num_atoms"),
        ({"num_quantiles": 0}, "num_quantiles"),
        ({"kappa": 0.0}, "kappa"),
        ({"kappa": -1.0}, "kappa"),
        ({"torso": "resnet"}, "torso"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        dqn.Config(**overrides).validate()


def test_registry_serves_c51_and_qrdqn_from_dqn():
    from jaxrl import algos

    c51, qr = algos.get("c51"), algos.get("qrdqn")
    assert c51.config().distribution == "categorical"
    assert qr.config().distribution == "quantile"
    assert c51.make is dqn.make and qr.make is dqn.make
    assert isinstance(c51.config(), dqn.Config)
    assert c51.default_env == "gymnax/Freeway-MinAtar"
    for view in (c51, qr):
        assert set(view.presets) >= {"freeway", "cartpole"}
        for preset in view.presets.values():
            assert isinstance(preset.config, view.config)
            assert preset.config.distribution == view.config().distribution
            preset.config.validate()
    assert dqn.Config().distribution == "none"
    # The book's support stays a preset; the tuned one holds Freeway's returns (+1 a
    # crossing, never negative, at most 1 / (1 - 0.99**27) = 4.2 with a crossing every 27
    # steps) on atoms 0.1 apart instead of 0.4.
    book, tuned = c51.presets["freeway_book"].config, c51.presets["freeway"].config
    assert (book.v_min, book.v_max, book.num_atoms) == (-10.0, 10.0, 51)
    assert tuned.v_min == 0.0 and 1 / (1 - tuned.gamma**27) < tuned.v_max <= 5.0
    assert (tuned.v_max - tuned.v_min) / (tuned.num_atoms - 1) == pytest.approx(0.1)


def test_freeway_presets_differ_from_plain_dqn_only_in_the_value_head():
    """benchmarks/distributional.py compares plain DQN built from ``dqn.FREEWAY`` with the
    c51 / qrdqn ``freeway`` presets: a fair comparison needs every other field (optimiser,
    learning rate, replay, targets, exploration, budget) to be equal."""
    from jaxrl import algos

    head = {"distribution", "num_atoms", "num_quantiles", "v_min", "v_max", "kappa", "loss",
            "huber_delta"}
    plain = dqn.Config(**dqn.FREEWAY)
    for name in ("c51", "qrdqn"):
        preset = algos.get(name).presets["freeway"].config
        differ = {f for f in plain.__dataclass_fields__
                  if getattr(preset, f) != getattr(plain, f)}
        assert differ <= head, (name, differ - head)
        assert preset.distribution != "none"
    # The CartPole presets keep dqn's tuned CartPole optimiser, not Freeway's.
    assert algos.get("qrdqn").presets["cartpole"].config.lr == dqn.Config().lr
    assert algos.get("c51").presets["cartpole"].config.lr == dqn.Config().lr


# ------------------------------------------------------------------------ pictures
@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_return_distribution_plot(tmp_path, kind):
    from jaxrl.output.plotting import return_distribution

    if kind == "categorical":
        dist = dqn.ReturnDistribution(jnp.broadcast_to(Z5, P_T.shape), P_T, kind)
    else:
        dist = dqn.ReturnDistribution(jnp.array([[0.0, 1.0, 2.0], [-3.0, 2.0, 2.5]]),
                                      jnp.full((2, 3), 1 / 3), kind)
    fig = return_distribution(dist, tmp_path / "d.png", action_names=["left", "right"])
    assert (tmp_path / "d.png").stat().st_size > 5_000
    legend = " ".join(t.get_text() for ax in fig.axes if ax.get_legend()
                      for t in ax.get_legend().get_texts())
    # The greedy action (by mean) is starred: action 1 for P_T, action 0 for the quantiles.
    assert ("right *" in legend) == (kind == "categorical")
    assert ("left *" in legend) == (kind == "quantile")


def test_play_draws_the_distribution_of_a_distributional_agent(tmp_path):
    """``jaxrl play``'s hook: an agent with ``distribution`` gets ``<out>_distribution.png``
    for the episode's first state (here a stand-in result; the CLI run is in the report)."""
    from jaxrl.output import play

    seen = []

    def distribution(state, obs):
        seen.append(np.asarray(obs))
        return dqn.ReturnDistribution(jnp.broadcast_to(Z5, P_T.shape), P_T, "categorical")

    agent = types.SimpleNamespace(distribution=distribution)
    result = types.SimpleNamespace(agent=agent, algorithm="c51", env_name="Coin")
    episode = play.Episode([None], [np.full(1, 7.0)], np.zeros(0), np.zeros(0), True, False)
    path = play.distribution_chart(result, Coin(), None, episode, tmp_path / "x.png")
    assert path.stat().st_size > 5_000
    np.testing.assert_array_equal(seen, [[7.0]])


# ------------------------------------------------------------------------ conv torso
def test_torso_choice():
    from jaxrl.core.networks import ObservationInput, choose_torso

    assert choose_torso("auto", ObservationInput((10, 10, 7))) == "conv"  # MinAtar planes
    assert choose_torso("auto", ObservationInput((4, 4, 4))) == "mlp"  # the book's Gridworld
    assert choose_torso("auto", ObservationInput((4,))) == "mlp"  # CartPole
    assert choose_torso("auto", ObservationInput((), 500)) == "mlp"  # Taxi's state index
    assert choose_torso("conv", ObservationInput((4, 4, 4))) == "conv"
    assert choose_torso("mlp", ObservationInput((10, 10, 7))) == "mlp"
    with pytest.raises(ValueError, match="needs image observations"):
        choose_torso("conv", ObservationInput((4,)))
    with pytest.raises(ValueError, match="unknown"):
        choose_torso("cnn", ObservationInput((4,)))


def test_patch_conv_is_a_valid_convolution():
    import flax.linen as nn

    from jaxrl.core.networks import PatchConv

    x = jax.random.normal(jax.random.key(0), (2, 10, 10, 7))
    conv = PatchConv(16)
    params = conv.init(jax.random.key(1), x)
    reference = nn.Conv(16, (3, 3), padding="VALID").apply(params, x)
    np.testing.assert_allclose(conv.apply(params, x), reference, atol=1e-5)
    assert conv.apply(params, x).shape == (2, 8, 8, 16)


def test_freeway_networks_use_the_conv_torso():
    from jaxrl import envs
    env, params = envs.make("gymnax/Freeway-MinAtar")
    obs = jnp.zeros((5, 10, 10, 7), bool)
    network = dqn.q_network(dqn.C51Config(), env, params)
    assert network.torso == "conv"
    p = dqn.init_params(network, jax.random.key(0), obs[:1])
    conv = p["params"]["PatchConv_0"]
    assert conv["kernel"].shape == (3, 3, 7, 16)
    # PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 3 * 7.
    bound = 1 / np.sqrt(63)
    assert np.abs(conv["kernel"]).max() <= bound and np.abs(conv["kernel"]).max() > 0.9 * bound
    assert network.apply(p, obs).shape == (5, 3, 51)
    nets = ppo.networks(ppo.Config(), env, params)
    assert nets.actor.torso == nets.critic.torso == "conv"
    cartpole, cp_params = envs.make("CartPole-v1")
    assert ppo.networks(ppo.Config(), cartpole, cp_params).actor.torso == "mlp"
    with pytest.raises(ValueError, match="needs image observations"):
        dqn.make(dqn.Config(torso="conv"), cartpole, cp_params)
    with pytest.raises(ValueError, match="torso"):
        ppo.Config(torso="resnet").validate()


# ------------------------------------------------------------------------ slow
@pytest.mark.slow
def test_c51_cartpole_greedy_500_on_8_of_8_seeds():
    """The ``c51`` ``cartpole`` preset: 8 seeds, 10 greedy episodes each, all at 500."""
    config = dqn.C51.presets["cartpole"].config
    env, params = dqn.preset_env("cartpole", dqn.C51.presets)
    agent = dqn.make(config, env, params)
    from jaxrl.runs import evaluation
    keys = jax.random.split(jax.random.key(2024), 8)
    _, _, result, _ = evaluation.train_and_evaluate(agent, env, params, keys, jax.random.key(99), 10,
                                            max_steps=500)
    returns = np.asarray(result.returns)
    assert (returns.mean(axis=1) == 500.0).all(), returns.mean(axis=1)
