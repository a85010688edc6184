"""Hostile environment options and actions (issue 25, items 16 and 17).

* sizes are bounded ints (``size=100000``, ``num_arms=10**9`` refused in the
  constructor, before anything is allocated), params values finite (``gravity=nan``);
* checked mode refuses a fractional or wrongly shaped action with a plain
  ``ValueError`` while tracing (under ``jit`` too), and an out-of-range concrete action
  at once.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs import validation


@pytest.mark.parametrize("name, options, match", [
    ("Gridworld-v0", {"size": 100_000}, "Gridworld size must be an int >= 4 and <= 1,024"),
    ("Gridworld-v0", {"size": 4.0}, "Gridworld size"),
    ("Gridworld-v0", {"size": True}, "Gridworld size"),
    ("Bandit-v0", {"num_arms": 10**9}, "num_arms must be an int >= 2"),
    ("ContextualBandit-v0", {"num_states": 10**12}, "num_states"),
    ("Ising1D-v0", {"num_spins": 10**9}, "Ising num_spins"),
    ("Ising2D-v0", {"height": 10**5, "width": 10**5}, "Ising height"),
    ("Maze-v0", {"size": 4 * 10**5 - 1}, "Maze size"),
    ("DoorKey-5x5-v0", {"size": 10**5}, "DoorKey size"),
    ("Battle-v0", {"size": 10**6}, "Battle size"),
    ("CartPole-v1", {"gravity": math.nan}, "'gravity' must be a finite number"),
    ("CartPole-v1", {"gravity": math.inf}, "'gravity' must be a finite number"),
    ("CartPole-v1", {"max_steps_in_episode": math.inf}, "finite"),
])
def test_sizes_and_values_out_of_bounds_are_refused(name, options, match):
    with pytest.raises(ValueError, match=match):
        envs.make(name, **options)


def test_bounds_leave_normal_sizes_alone():
    assert envs.make("Gridworld-v0", size=validation.MAX_SIDE)[0].size == validation.MAX_SIDE
    assert envs.make("Bandit-v0", num_arms=1000)[0].num_arms == 1000
    assert envs.make("CartPole-v1", gravity=3.7)[1].gravity == pytest.approx(3.7)


def _cartpole():
    env, params = envs.make("CartPole-v1", checked=True)
    return env, params, env.reset(jax.random.key(0), params)[1]


@pytest.mark.parametrize("action", [0.7, 1.0, np.float32(0.0), np.array([0, 1]),
                                    np.zeros((1,), np.int32), True])
def test_checked_mode_refuses_a_wrong_dtype_or_shape_eagerly_and_under_jit(action):
    env, params, state = _cartpole()
    with pytest.raises(ValueError, match="Discrete\\(2\\) action"):
        env.step(jax.random.key(1), state, action, params)
    with pytest.raises(ValueError, match="Discrete\\(2\\) action"):  # not a JaxRuntimeError
        jax.jit(env.step)(jax.random.key(1), state, jnp.asarray(action), params)


def test_checked_mode_refuses_an_out_of_range_concrete_action_at_once():
    env, params, state = _cartpole()
    for bad in (2, -1, np.int32(7)):
        with pytest.raises(ValueError, match="outside the action space Discrete\\(2\\)"):
            env.step(jax.random.key(1), state, bad, params)
    for good in (0, 1, np.int32(1), jnp.int32(0)):
        env.step(jax.random.key(1), state, good, params)
    out = jax.jit(env.step)(jax.random.key(1), state, 1, params)  # a valid traced action
    assert float(out[2]) == 1.0


def test_checked_mode_takes_a_multi_agent_joint_action():
    env, params = envs.make("Ising1D-v0", checked=True)
    state = env.reset(jax.random.key(0), params)[1]
    out = env.step(jax.random.key(1), state, jnp.zeros(20, jnp.int32), params)
    assert out[2].shape == (20,)
    with pytest.raises(ValueError, match="shape"):
        env.step(jax.random.key(1), state, jnp.zeros(3, jnp.int32), params)
