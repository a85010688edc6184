"""jaxrl environments behind Gymnasium's API: ``to_gymnasium`` and ``to_gymnasium_vector``.

Checks: Gymnasium's own ``check_env`` passes with no warning beyond the spec-less one;
a rollout through the adapter equals the jaxrl env driven by the documented key
sequence (rainy Taxi, so the step keys matter); the vector adapter equals ``VecEnv``
stepped directly, with Gymnasium 1.x same-step auto-reset info keys; bad input raises.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from jaxrl import envs
from jaxrl.envs.gymnasium_adapter import GymnasiumEnv, GymnasiumVectorEnv

SPECLESS = "Not able to test alternative render modes"  # no EnvSpec: expected


@pytest.fixture(scope="module")
def adapters():
    """One adapter per env, compiled once and shared by the tests below."""
    made = {}

    def get(name, render_mode=None, **options):
        key = (name, render_mode, tuple(sorted(options.items())))
        if key not in made:
            env, params = envs.make(name, **options)
            made[key] = envs.to_gymnasium(env, params, render_mode=render_mode)
        return made[key]

    return get


@pytest.mark.parametrize(
    "name, render_mode, options",
    [
        ("CartPole-v1", None, {}),
        ("MountainCar-v0", None, {}),
        ("Taxi-v3", "ansi", {"is_rainy": True, "max_steps_in_episode": 25}),
        ("Gridworld-v0", "ansi", {"mode": "random"}),
        ("gymnax/Acrobot-v1", None, {}),
    ],
)
def test_check_env_passes(adapters, name, render_mode, options):
    genv = adapters(name, render_mode, **options)
    assert isinstance(genv, gym.Env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(genv)
    unexpected = [str(w.message) for w in caught if SPECLESS not in str(w.message)]
    assert not unexpected, unexpected
    obs, info = genv.reset(seed=5)
    assert obs in genv.observation_space
    if render_mode == "ansi":
        text = genv.render()
        assert isinstance(text, str) and len(text.splitlines()) >= 4
    else:
        assert genv.metadata["render_modes"] == []


def test_rollout_equals_the_jaxrl_env_with_the_documented_keys(adapters):
    """Rainy Taxi (random transitions): the adapter's keys are split as documented."""
    genv = adapters("Taxi-v3", "ansi", is_rainy=True, max_steps_in_episode=25)
    env, params = genv.env, genv.params
    reset_env, step_env = jax.jit(env.reset_env), jax.jit(env.step_env)
    rng = np.random.default_rng(0)
    obs, info = genv.reset(seed=11)
    key = jax.random.PRNGKey(11)
    key, sub = jax.random.split(key)
    ref_obs, state = reset_env(sub, params)
    assert obs == int(ref_obs) and isinstance(obs, int)
    np.testing.assert_array_equal(info["action_mask"], env.action_mask(ref_obs))
    episodes = side_steps = 0
    while episodes < 4:
        action = int(rng.integers(6))
        obs, reward, term, trunc, info = genv.step(action)
        key, sub = jax.random.split(key)
        ref_obs, state, ref_rew, ref_term, ref_trunc, ref_info = step_env(
            sub, state, jnp.int32(action), params
        )
        assert (obs, reward, term, trunc) == (
            int(ref_obs), float(ref_rew), bool(ref_term), bool(ref_trunc)
        )
        np.testing.assert_array_equal(info["action_mask"], ref_info["action_mask"])
        side_steps += float(info["prob"]) == pytest.approx(0.1)
        assert isinstance(reward, float) and isinstance(term, bool) and isinstance(trunc, bool)
        if term or trunc:  # Gymnasium semantics: no auto-reset, the caller resets
            episodes += 1
            assert genv.render().endswith(")\n")
            obs, _ = genv.reset()  # unseeded: continues the key stream
            key, sub = jax.random.split(key)
            ref_obs, state = reset_env(sub, params)
            assert obs == int(ref_obs)
    assert side_steps > 0  # the rain did blow the taxi sideways


def test_reset_seeds(adapters):
    genv = adapters("CartPole-v1")
    a, _ = genv.reset(seed=0)
    b, _ = genv.reset(seed=0)
    c, _ = genv.reset(seed=1)
    d, _ = genv.reset(seed=2**40)  # beyond 32 bits: hashed, not truncated to seed 0
    e, _ = genv.reset(seed=2**40 + 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(d, a) and not np.array_equal(d, e)
    assert a.dtype == np.float32 and a.shape == (4,)


def test_bad_input_raises(adapters):
    genv = adapters("CartPole-v1")
    genv.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        genv.step(2)
    with pytest.raises(ValueError, match="render_mode"):
        envs.to_gymnasium(envs.make("CartPole-v1")[0], render_mode="rgb_array")
    with pytest.raises(TypeError, match="jaxrl Environment"):
        envs.to_gymnasium(gym.make("CartPole-v1"))
    fresh = GymnasiumEnv(envs.make("MountainCar-v0")[0])
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(0)
    vec = envs.to_gymnasium_vector(envs.make("Taxi-v3")[0], 3)
    with pytest.raises(ValueError, match="one int seed"):
        vec.reset(seed=[1, 2, 3])
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="outside the action space"):
        vec.step(np.array([0, 6, 1]))


def _reference_rollout(env, params, num_envs, seed, actions):
    """``VecEnv`` stepped directly with the key sequence the vector adapter documents."""
    vec = envs.VecEnv(env, num_envs)
    step = jax.jit(vec.step)
    key = jax.random.PRNGKey(seed)
    key, sub = jax.random.split(key)
    obs, state = vec.reset(sub, params)
    out = [np.asarray(obs)]
    for a in actions:
        key, sub = jax.random.split(key)
        obs, state, reward, term, trunc, info = step(sub, state, jnp.asarray(a, jnp.int32), params)
        out.append(jax.tree.map(np.asarray, (obs, reward, term, trunc, info)))
    return out


@pytest.mark.parametrize("name, limit", [("CartPole-v1", 30), ("Taxi-v3", 15)])
def test_vector_env_matches_vecenv(name, limit):
    """Same-step auto-reset: a short time limit (a params field) gives both kinds of end."""
    num_envs, steps = 8, 60
    env, params = envs.make(name, max_steps_in_episode=limit)
    genv = envs.to_gymnasium_vector(env, num_envs, params)
    assert isinstance(genv, gym.vector.VectorEnv) and isinstance(genv, GymnasiumVectorEnv)
    assert genv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert genv.observation_space.shape[0] == num_envs == genv.action_space.shape[0]
    genv.action_space.seed(1)
    actions = [genv.action_space.sample() for _ in range(steps)]
    ref = _reference_rollout(env, params, num_envs, 4, actions)

    obs, info = genv.reset(seed=4)
    np.testing.assert_array_equal(obs, ref[0])
    assert obs in genv.observation_space
    n_term = n_trunc = 0
    for t, a in enumerate(actions):
        obs, reward, term, trunc, info = genv.step(a)
        r_obs, r_rew, r_term, r_trunc, r_info = ref[t + 1]
        np.testing.assert_array_equal(obs, r_obs)
        np.testing.assert_array_equal(reward, r_rew)
        np.testing.assert_array_equal(term, r_term)
        np.testing.assert_array_equal(trunc, r_trunc)
        assert reward.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
        done = term | trunc
        n_term, n_trunc = n_term + term.sum(), n_trunc + trunc.sum()
        if not done.any():
            assert "final_obs" not in info and "_final_obs" not in info
            continue
        np.testing.assert_array_equal(info["_final_obs"], done)
        np.testing.assert_array_equal(info["_final_info"], done)
        for i in range(num_envs):
            if done[i]:
                np.testing.assert_array_equal(info["final_obs"][i], r_info["final_observation"][i])
                assert info["final_obs"][i] in genv.single_observation_space
            else:
                assert info["final_obs"][i] is None
        if name == "Taxi-v3":
            # top level describes the returned obs; final_info the finished episode
            np.testing.assert_array_equal(info["action_mask"], env.action_mask(obs))
            assert info["_action_mask"].all()
            np.testing.assert_array_equal(info.get("_prob", np.zeros(num_envs, bool)), ~done)
            fin = info["final_info"]
            np.testing.assert_array_equal(fin["_action_mask"], done)
            np.testing.assert_array_equal(
                fin["action_mask"][done], env.action_mask(r_info["final_observation"][done])
            )
    assert n_term > 0 or name == "Taxi-v3"  # random Taxi play rarely delivers
    assert n_trunc > 0


def test_gymnax_env_with_box_actions_converts_to_vector():
    """gymnax Pendulum: continuous float32 actions through the vector adapter."""
    env, params = envs.make("gymnax/Pendulum-v1")
    genv = envs.to_gymnasium_vector(env, 3, params)
    assert isinstance(genv.single_action_space, gym.spaces.Box)
    obs, _ = genv.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32 and obs in genv.observation_space
    genv.action_space.seed(0)
    obs, reward, term, trunc, info = genv.step(genv.action_space.sample())
    assert obs.shape == (3, 3) and reward.shape == (3,) and np.all(reward <= 0)
    assert not (term | trunc).any()
