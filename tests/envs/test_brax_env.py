"""The Brax adapter (``brax/...``): 1,000 transitions of inverted_pendulum under ``jit`` and
``vmap`` identical to the library's own step from the same states (observations, rewards,
its ``done`` a termination, the time limit a truncation, never both, and the next state or
the library's reset where an episode ends), and a picture where MuJoCo can draw (``heavy``);
reacher's episodes ending by the time limit alone, the contract (``check_env``) and SAC
training on it briefly (``slow``: each compiles for half a minute or more). Skipped without
the brax package (``pip install 'jaxrl[brax]'``).
"""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

if importlib.util.find_spec("brax") is None:
    pytest.skip("needs brax (pip install 'jaxrl[brax]')", allow_module_level=True)

# The adapter's module before brax itself: on a machine without a display it asks MuJoCo
# for EGL, which it can only do before MuJoCo is imported.
from jaxrl import envs  # noqa: E402
from jaxrl.envs import spaces  # noqa: E402
from jaxrl.envs.brax_env import BRAX_NAMES, BraxEnv  # noqa: E402


@pytest.mark.heavy  # importing brax and loading a model: seconds
def test_names_spaces_and_bad_options():
    assert [n for n in envs.registered() if n.startswith("brax/")] == [
        "brax/" + n for n in BRAX_NAMES]
    env, params = envs.make("brax/inverted_pendulum", max_steps_in_episode=50)
    assert isinstance(env, BraxEnv) and env.backend == "generalized"
    assert params.max_steps_in_episode == 50 and not env.stochastic_step
    assert repr(env.action_space(params)) == repr(spaces.Box(-1.0, 1.0, (1,)))
    assert repr(env.observation_space(params)) == repr(spaces.Box(-np.inf, np.inf, (4,)))
    with pytest.raises(ValueError, match="Did you mean: brax/inverted_pendulum"):
        envs.make("brax/invertedpendulum")
    with pytest.raises(ValueError, match="unknown Brax backend 'gen'; choose from generalized"):
        envs.make("brax/hopper", backend="gen")
    with pytest.raises(ValueError, match="unknown brax environment 'swimmer'"):
        envs.make("brax/swimmer")  # left out: it fails under this JAX (the module docstring)
    with pytest.raises(ValueError, match="has no option 'max_steps'"):
        envs.make("brax/inverted_pendulum", max_steps=10)


def _run_against_the_library(env, params, copies, steps, action_of):
    """``copies`` episodes' worth of ``env.step`` under jit(vmap(scan)), and at every step
    the library's own step (and reset, with the key the adapter's reset gets) from the
    same state."""
    lib = env._env

    def one_copy(key, index):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            action = action_of(index, k_act, obs)
            out = env.step(k_step, state, action, params)
            ref = lib.step(state.brax, action)  # from the same state
            ref_reset = lib.reset(k_step)  # a deterministic step: the whole key resets
            return (out[0], out[1]), (out, ref, ref_reset, state.time)

        _, traj = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return traj

    keys = jax.random.split(jax.random.key(0), copies)
    return jax.jit(jax.vmap(one_copy))(keys, jnp.arange(copies))


@pytest.mark.heavy  # about 30 s of compiling on 2 busy cores
def test_transitions_match_the_library_and_both_ends_are_kept_apart():
    limit = 40
    env, params = envs.make("brax/inverted_pendulum", max_steps_in_episode=limit)
    copies, steps = 4, 250  # 1,000 transitions

    def action_of(index, key, obs):
        # copies 0 and 1 push at random (the pole falls: terminations); 2 and 3 hold the
        # pole up with a PD law (the time limit ends their episodes: truncations)
        random = jax.random.uniform(key, (1,), minval=-1.0, maxval=1.0)
        hold = jnp.clip(jnp.array([0.5 * obs[0] + 8.0 * obs[1] + 0.5 * obs[2]
                                   + 1.0 * obs[3]]), -1.0, 1.0)
        return jnp.where(index < 2, random, hold)

    out, ref, ref_reset, t = _run_against_the_library(env, params, copies, steps, action_of)
    obs, state, reward, terminated, truncated, info = out
    done = np.asarray(ref.done) > 0
    np.testing.assert_array_equal(info["final_observation"], ref.obs)
    np.testing.assert_array_equal(reward, ref.reward)
    np.testing.assert_array_equal(terminated, done)
    np.testing.assert_array_equal(truncated, (np.asarray(t) + 1 >= limit) & ~done)
    assert not np.any(np.asarray(terminated) & np.asarray(truncated))
    ended = np.asarray(terminated | truncated)
    # the next state: the library's where the episode goes on, its reset where it ended
    expected_obs = np.where(ended[..., None], ref_reset.obs, ref.obs)
    np.testing.assert_array_equal(obs, expected_obs)
    for got, lib_next, lib_new in zip(jax.tree.leaves(state.brax.pipeline_state),
                                      jax.tree.leaves(ref.pipeline_state),
                                      jax.tree.leaves(ref_reset.pipeline_state)):
        shaped = ended.reshape(ended.shape + (1,) * (np.ndim(got) - 2))
        np.testing.assert_array_equal(got, np.where(shaped, lib_new, lib_next))
    np.testing.assert_array_equal(np.where(ended, 0, np.asarray(t) + 1), state.time)
    assert obs.dtype == reward.dtype == jnp.float32 and obs.shape == (copies, steps, 4)
    # both kinds of end, from the copies meant to show them
    assert np.asarray(terminated)[:2].sum() >= 10 and np.asarray(truncated)[2:].sum() >= 10


@pytest.mark.slow  # 30-45 s of compiling on 2 busy cores
def test_reacher_ends_only_by_its_time_limit_and_matches_the_library():
    limit = 50
    env, params = envs.make("brax/reacher", max_steps_in_episode=limit)
    copies, steps = 4, 100

    def action_of(index, key, obs):
        return jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)

    out, ref, ref_reset, t = _run_against_the_library(env, params, copies, steps, action_of)
    obs, state, reward, terminated, truncated, info = out
    np.testing.assert_array_equal(info["final_observation"], ref.obs)
    np.testing.assert_array_equal(reward, ref.reward)
    np.testing.assert_array_equal(info["reward_dist"], ref.metrics["reward_dist"])
    assert not np.asarray(terminated).any()
    np.testing.assert_array_equal(truncated, (np.asarray(t) + 1) % limit == 0)
    ended = np.asarray(truncated)[..., None]
    np.testing.assert_array_equal(obs, np.where(ended, ref_reset.obs, ref.obs))


@pytest.mark.slow  # more than a minute of compiling on 2 busy cores
def test_it_keeps_the_contract():
    env, params = envs.make("brax/inverted_pendulum", max_steps_in_episode=10)
    report = envs.check_env(env, params, num_steps=24, batch=2)
    assert "auto_reset" in report.checks and report.terminated_seen


@pytest.mark.heavy
def test_render_image_draws_a_state_where_mujoco_can():
    env, params = envs.make("brax/inverted_pendulum")
    reset = jax.jit(env.reset)
    _, first = reset(jax.random.key(0), params)
    picture = env.render_image(first, params)
    if picture is None:
        pytest.skip("MuJoCo cannot make an OpenGL context here")
    assert picture.shape == (240, 320, 3) and picture.dtype == np.uint8
    tilted = first.replace(brax=first.brax.replace(pipeline_state=first.brax.pipeline_state
                                                   .replace(q=jnp.array([0.5, 0.8]))))
    assert not np.array_equal(env.render_image(tilted, params), picture)
    assert env.describe(first).startswith("step 0")
    two = jax.tree.map(lambda x: jnp.stack([x, x]), first)
    with pytest.raises(ValueError, match="unbatched"):
        env.render_image(two, params)


@pytest.mark.slow  # 20-40 s of compiling on 2 busy cores
def test_sac_trains_on_it_briefly():
    from jaxrl import algos

    sac = algos.get("sac")
    env, params = envs.make("brax/inverted_pendulum")
    cfg = sac.config(num_envs=2, total_timesteps=64, learning_starts=32, batch_size=16,
                     buffer_size=64, hidden=(16,))
    state, metrics = jax.jit(sac.make(cfg, env, params).train)(jax.random.key(0))
    loss = np.asarray(metrics["critic_loss"])
    assert np.isfinite(loss[-8:]).all() and np.isfinite(np.asarray(metrics["actor_loss"])[-8:]).all()
    assert int(metrics["env_steps"][-1]) == 64
