"""The Craftax adapter (``craftax/...``): 1,000 random transitions under ``jit`` and ``vmap``
identical to the library's own step (observations, rewards, and its one ``done`` split into
jaxrl's two flags), the time limit a truncation and a death a termination (one compiled program), and PQN
training on it briefly (``slow``: a minute of compiling). Skipped without the craftax package (``pip install 'jaxrl[craftax]'``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("craftax")

from jaxrl import envs  # noqa: E402
from jaxrl.envs.core import split_step_key  # noqa: E402

NAME = "craftax/Craftax-Classic-Symbolic-v1"


@pytest.mark.heavy
def test_transitions_match_the_library_and_the_flags_split_its_done():
    env, params = envs.make(NAME, max_timesteps=60)  # 60 steps: truncations in the run
    lib = env._env
    copies, steps = 4, 250  # 1,000 transitions

    def one_copy(key, dead):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        # copy 0 starts at zero health: its first step is a death (a termination)
        health = jnp.asarray(state.player_health)
        state = state.replace(player_health=jnp.where(dead, jnp.zeros_like(health), health))

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (), 0, 17)
            out = env.step(k_step, state, action, params)
            # the library's own step from the same state, with the key jaxrl's step gives it
            ref = lib.step_env(split_step_key(k_step, env.stochastic_step)[0], state, action,
                               params)
            return (out[0], out[1]), (out, ref, state.timestep)

        _, (out, ref, t) = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return out, ref, t

    dead = jnp.arange(copies) == 0
    out, ref, t = jax.jit(jax.vmap(one_copy))(jax.random.split(jax.random.key(0), copies), dead)
    obs, _, reward, terminated, truncated, info = out
    ref_obs, _, ref_reward, ref_done, _ = ref
    np.testing.assert_array_equal(info["final_observation"], ref_obs)
    np.testing.assert_array_equal(reward, ref_reward)
    np.testing.assert_array_equal(terminated | truncated, ref_done)
    assert reward.dtype == jnp.float32 and obs.shape == (copies, steps, 1345)
    # the split: a death terminates, the time limit (the 60th step) truncates, never both
    assert bool(terminated[0, 0]) and not bool(truncated[0, 0])
    assert not np.any(terminated & truncated)
    np.testing.assert_array_equal(truncated, (np.asarray(t) == 59) & ~np.asarray(terminated))
    assert truncated.sum() >= copies * (steps // 60 - 1)


@pytest.mark.slow  # about a minute of compiling on 2 cores
def test_pqn_trains_on_it_briefly():
    from jaxrl.algos import pqn

    env, params = envs.make(NAME)
    cfg = pqn.Config(num_envs=4, num_steps=8, epochs=1, minibatches=2, hidden=(16,),
                     total_timesteps=4 * 8 * 2)
    state, metrics = jax.jit(pqn.make(cfg, env, params).train)(jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["loss"])).all()
    assert int(metrics["env_steps"][-1]) == 64
