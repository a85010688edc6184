"""Smoke harness over every registered environment name.

For each name: jitted reset and step, no retrace on the second call, a vmapped batch of
1,024 copies, spaces contain what the env returns, every output finite, flags boolean.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.multiagent import is_multiagent

BATCH = 1024
OWN = envs.registered(include_gymnax=False)
GYMNAX = [n for n in envs.registered() if n not in OWN]
# One of each light gymnax family in the default run; the rest (MinAtar: slow to compile) with -m slow.
GYMNAX_FAST = ["gymnax/Acrobot-v1", "gymnax/Pendulum-v1", "gymnax/Catch-bsuite"]


def _finite(tree):
    for leaf in jax.tree.leaves(tree):
        leaf = np.asarray(leaf)
        if np.issubdtype(leaf.dtype, np.floating):
            assert np.all(np.isfinite(leaf)), "non-finite output"


def _check(name):
    env, params = envs.make(name)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    if is_multiagent(env):  # spaces are one agent's; step takes and returns the agent axis
        obs_space, act_space = env.joint_observation_space(params), env.joint_action_space(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def reset(key):
        return env.reset(key, params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state, action):
        return env.step(key, state, action, params)

    chex.clear_trace_counter()
    key = jax.random.key(0)
    for i in range(2):  # the second round must hit the cache (assert_max_traces)
        k_reset, k_act, k_step, key = jax.random.split(key, 4)
        obs, state = reset(k_reset)
        assert bool(obs_space.contains(obs)), f"{name}: reset obs outside {obs_space}"
        action = act_space.sample(k_act)
        assert bool(act_space.contains(action))
        obs, state, reward, terminated, truncated, info = step(k_step, state, action)
        assert bool(obs_space.contains(obs)), f"{name}: step obs outside {obs_space}"
        assert bool(obs_space.contains(info["final_observation"]))
        assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
        assert terminated.shape == () and truncated.shape == ()
        _finite((obs, reward, info))

    # A vmapped batch in one compiled program, stepped a few times so some copies
    # end and auto-reset; returns what the asserts need.
    @jax.jit
    def batch(key):
        k_reset, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, BATCH), params)
        ok = jnp.all(jax.vmap(obs_space.contains)(obs))

        def body(carry, key):
            state, ok = carry
            k_act, k_step = jax.random.split(key)
            actions = jax.vmap(act_space.sample)(jax.random.split(k_act, BATCH))
            obs, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(k_step, BATCH), state, actions, params)
            ok = ok & jnp.all(jax.vmap(obs_space.contains)(obs))
            finite = jnp.array(True)
            for leaf in jax.tree.leaves((obs, reward)):
                if jnp.issubdtype(leaf.dtype, jnp.floating):
                    finite = finite & jnp.all(jnp.isfinite(leaf))
            shapes_ok = (reward.shape[0] == BATCH) and (terminated.shape == (BATCH,))
            return (state, ok), (finite, jnp.asarray(shapes_ok))

        (state, ok), (finite, shapes_ok) = jax.lax.scan(body, (state, ok), jax.random.split(key, 3))
        return ok, jnp.all(finite), jnp.all(shapes_ok)

    ok, finite, shapes_ok = batch(key)
    assert bool(ok), f"{name}: a batched observation lies outside {obs_space}"
    assert bool(finite), f"{name}: non-finite batched output"
    assert bool(shapes_ok)


# DoorKey's larger boards compile the same code as 5x5: default run 5x5, the rest slow.
OWN_SLOW = {"DoorKey-6x6-v0", "DoorKey-8x8-v0", "DoorKey-16x16-v0"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in OWN_SLOW else n for n in OWN]
)
def test_own_env(name):
    _check(name)


@pytest.mark.parametrize(
    "name", [n if n in GYMNAX_FAST else pytest.param(n, marks=pytest.mark.slow) for n in GYMNAX]
)
def test_gymnax_env_through_bridge(name):
    _check(name)


def test_every_own_env_has_a_documented_module():
    for name in OWN:
        env, _ = envs.make(name)
        doc = type(env.unwrapped).__module__
        module = __import__(doc, fromlist=["_"])
        text = (module.__doc__ or "").lower()
        for word in ("observation", "action", "reward", "params"):
            assert word in text, f"{name}: module docstring does not describe {word}"
