"""Which algorithm trains on which environment: every pairing either builds, or is
refused at ``make`` with a one-line ``ValueError`` naming the algorithm and the env;
Discrete observations (Taxi's state index) are one-hot encoded; presets and default
environments are well-formed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import algos, envs
from jaxrl.core.networks import encode_observation, observation_input
from jaxrl.core.presets import Preset


def _make(algorithm, env_name, **config):
    module = algos.get(algorithm)
    return module.make(module.config(**config), *envs.make(env_name))


@pytest.mark.parametrize(
    "algorithm, env_name, config, message",
    [
        ("dqn", "gymnax/Pendulum-v1", {}, r"dqn needs a single Discrete action.*Pendulum-v1"),
        ("a2c", "gymnax/Pendulum-v1", {}, r"a2c needs a single Discrete action.*Pendulum-v1"),
        ("reinforce", "gymnax/Pendulum-v1", {}, r"reinforce needs a single Discrete.*Pendulum"),
        ("q_learning", "CartPole-v1", {}, r"q_learning needs a state index for CartPole-v1"),
        ("sarsa", "MountainCar-v0", {}, r"sarsa needs a state index for MountainCar-v0"),
        ("q_learning", "gymnax/Pendulum-v1", {}, r"q_learning needs a state index"),
        ("contextual_bandit", "CartPole-v1", {}, r"contextual_bandit needs a bandit.*CartPole"),
        ("contextual_bandit", "Taxi-v3", {}, r"contextual_bandit needs a bandit environment.*Taxi"),
        ("dqn", "Taxi-v3", {"scale_obs": True}, r"scale_obs needs a Box.*Taxi-v3"),
        ("ppo", "Taxi-v3", {"normalize_obs": True}, r"normalize_obs needs a Box.*Taxi-v3"),
    ],
)
def test_unsupported_pairings_are_refused_in_one_line(algorithm, env_name, config, message):
    with pytest.raises(ValueError, match=message) as info:
        _make(algorithm, env_name, **config)
    assert "\n" not in str(info.value)


def test_observation_input_refuses_what_networks_cannot_read():
    from jaxrl.envs import spaces

    assert observation_input(spaces.Box(0.0, 1.0, (3, 2)), "x", "E").ndim == 2
    assert observation_input(spaces.Discrete(7), "x", "E").num_categories == 7
    for space in (spaces.Dict({"a": spaces.Discrete(2)}), spaces.Discrete(3, shape=(2,))):
        with pytest.raises(ValueError, match="ppo cannot read the observations of Odd"):
            observation_input(space, "ppo", "Odd")


def test_encode_observation_one_hot_by_hand():
    x = encode_observation(jnp.array([[2, 0], [1, 1]], jnp.int32), 0, 3)
    assert x.dtype == jnp.float32 and x.shape == (2, 2, 3)
    np.testing.assert_array_equal(x[0], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(x[1], [[0, 1, 0], [0, 1, 0]])
    # A Box observation is flattened over its own axes only; booleans become 0.0/1.0.
    y = encode_observation(jnp.ones((5, 2, 3), bool), 2)
    assert y.dtype == jnp.float32 and y.shape == (5, 6) and float(y.sum()) == 30.0


@pytest.mark.heavy
def test_dqn_trains_on_taxi_one_hot():
    """Taxi's observation is one integer; the Q-network reads it one-hot (500 inputs)."""
    from jaxrl.algos import dqn

    env, params = envs.make("Taxi-v3")
    config = dqn.Config(num_envs=4, total_timesteps=160, learning_starts=40, batch_size=16,
                        buffer_size=80, hidden=(16,))
    agent = dqn.make(config, env, params)
    state, metrics = jax.jit(agent.train)(jax.random.key(0))
    assert state.params["params"]["Dense_0"]["kernel"].shape == (500, 16)
    assert state.buffer.data.obs.dtype == jnp.uint16  # 500 states fit 16 bits
    loss = np.asarray(metrics["loss"])
    assert np.isnan(loss[0]) and np.all(np.isfinite(loss[10:]))  # learning from step 40
    a = agent.act(state, jnp.int32(123), jax.random.key(1), True)
    assert a.shape == () and 0 <= int(a) < 6


@pytest.mark.parametrize("algorithm", ["ppo", "a2c", "reinforce"])
def test_policy_methods_build_on_taxi(algorithm):
    """By shapes only (no compile): init, one update and an action on Discrete observations."""
    agent = _make(algorithm, "Taxi-v3")
    state = jax.eval_shape(agent.init, jax.random.key(0))
    jax.eval_shape(agent.update, state)
    action = jax.eval_shape(lambda s: agent.act(s, jnp.int32(3), jax.random.key(1), True), state)
    assert action.shape == ()


@pytest.mark.parametrize("algorithm", algos.names())
def test_presets_and_default_env(algorithm):
    module = algos.get(algorithm)
    registered = envs.registered()
    assert module.default_env in registered
    assert module.presets, f"{algorithm} has no presets"
    for name, preset in module.presets.items():
        assert isinstance(preset, Preset), name
        assert isinstance(preset.config, module.config), name
        assert preset.env in registered and preset.description, name
        preset.config.validate()
        env, params = envs.make(preset.env, **preset.env_options)
        module.make(preset.config, env, params)  # builds (nothing is compiled)
    # The default environment suits the algorithm too.
    module.make(module.config(), *envs.make(module.default_env))
