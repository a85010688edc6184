"""The MuJoCo Playground adapter (``playground/...``): on CartpoleBalance (and
PendulumSwingup, ``slow``), 1,000 transitions under ``jit(vmap(scan))`` identical to the
library's own step from the same state (observations, rewards, metrics, physics, its
``done`` a termination) and to its reset on the auto-reset's key, a short time limit
truncating, never both (a diverged physics state, NaN velocities put in by hand, ends
the library's episode: terminated, on the limit's own step too); names, spaces and bad
options with one-line errors; a picture where MuJoCo can draw; every name's spaces and
state types traced without compiling (``slow``); PPO training briefly and ``check_env``
(``slow``: each compiles for half a minute or more). Skipped without the playground
package (``pip install 'jaxrl[playground]'``).
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# The adapter's module (which imports no MuJoCo) before mujoco_playground itself: on a
# machine without a display it asks MuJoCo for EGL, which it can only do before MuJoCo is
# imported.
from jaxrl import envs
from jaxrl.envs import spaces
from jaxrl.envs.playground_env import PLAYGROUND_NAMES, PlaygroundEnv

pytest.importorskip("mujoco_playground")

LIMIT = 40


def _run_against_the_library(name, copies=4, steps=250):
    """``copies x steps`` transitions of ``env.step`` under jit(vmap(scan)) with random
    actions, and at every step the library's own step (and its reset, with the whole step
    key: the auto-reset's draw) from the same state. Copy 2 makes its physics diverge (NaN
    velocities) on the time limit's last step of each episode, copy 3 on its 18th step."""
    env, params = envs.make("playground/" + name, max_steps_in_episode=LIMIT)
    lib = env.library
    low, high = env.action_space(params).low, env.action_space(params).high

    def one_copy(key, index):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        first = lib.reset(k_reset)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            diverge = (((index == 2) & (state.time == LIMIT - 1))
                       | ((index == 3) & (state.time == 17)))
            data = state.library.data
            qvel = jnp.where(diverge, jnp.nan, data.qvel)
            state = state.replace(library=state.library.replace(data=data.replace(qvel=qvel)))
            action = jax.random.uniform(k_act, low.shape, minval=low, maxval=high)
            out = env.step(k_step, state, action, params)
            ref = lib.step(state.library, action)  # from the same state
            ref_reset = lib.reset(k_step)  # a deterministic step: the whole key resets
            return (out[0], out[1]), (out, ref, ref_reset, state.time, diverge)

        _, traj = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return obs, first.obs, traj

    keys = jax.random.split(jax.random.key(0), copies)
    return env, jax.jit(jax.vmap(one_copy))(keys, jnp.arange(copies))


def _check_transitions(name):
    env, (obs0, first, (out, ref, ref_reset, t, diverged)) = _run_against_the_library(name)
    obs, state, reward, terminated, truncated, info = out
    copies, steps = reward.shape
    np.testing.assert_array_equal(obs0, first)
    # the transition itself: the library's (NaNs where the physics diverged, in both)
    np.testing.assert_array_equal(info["final_observation"], ref.obs)
    np.testing.assert_array_equal(reward, ref.reward)
    for key, value in ref.metrics.items():
        np.testing.assert_array_equal(info[key], value)
    done = np.asarray(ref.done) > 0
    np.testing.assert_array_equal(done, np.asarray(diverged))  # the library's only end here
    # the flags: the library's done terminates, the limit truncates, never both
    np.testing.assert_array_equal(terminated, done)
    at_limit = np.asarray(t) + 1 >= LIMIT
    np.testing.assert_array_equal(truncated, at_limit & ~done)
    assert not np.any(np.asarray(terminated) & np.asarray(truncated))
    # the next state: the library's where the episode goes on, its reset where it ended
    ended = np.asarray(terminated | truncated)
    np.testing.assert_array_equal(obs, np.where(ended[..., None], ref_reset.obs, ref.obs))
    for got, lib_next, lib_new in zip(jax.tree.leaves(state.library.data),
                                      jax.tree.leaves(ref.data),
                                      jax.tree.leaves(ref_reset.data)):
        shaped = ended.reshape(ended.shape + (1,) * (np.ndim(got) - 2))
        np.testing.assert_array_equal(got, np.where(shaped, lib_new, lib_next))
    np.testing.assert_array_equal(state.time, np.where(ended, 0, np.asarray(t) + 1))
    assert obs.dtype == reward.dtype == jnp.float32
    assert obs.shape == (copies, steps) + env.observation_space().shape
    assert np.isfinite(np.asarray(obs)).all()  # a diverged state is never handed on
    # both kinds of end, and an end on the limit's own step terminated
    terminated, truncated = np.asarray(terminated), np.asarray(truncated)
    assert truncated[:2].sum() == 2 * (steps // LIMIT) and not terminated[:2].any()
    assert terminated[2].sum() >= 5 and (terminated[2] & at_limit[2]).sum() >= 5
    assert terminated[3].sum() >= 10 and not truncated[2:].any()


@pytest.mark.heavy  # about 25 s of compiling on 2 busy cores
def test_cartpole_transitions_match_the_library_and_both_ends_are_kept_apart():
    _check_transitions("CartpoleBalance")


@pytest.mark.slow  # another 25 s of compiling
def test_pendulum_transitions_match_the_library():
    _check_transitions("PendulumSwingup")


@pytest.mark.heavy  # importing the library, loading models: seconds
def test_names_spaces_and_bad_options():
    names = [n for n in envs.registered() if n.startswith("playground/")]
    assert names == ["playground/" + n for n in PLAYGROUND_NAMES]
    env, params = envs.make("playground/CartpoleBalance")
    assert isinstance(env, PlaygroundEnv) and not env.stochastic_step
    assert params.max_steps_in_episode == 1000 and env.config.impl == "jax"
    assert env.dt == 0.01 and env.render_fps == pytest.approx(100.0)
    assert repr(env.action_space(params)) == repr(spaces.Box(-1.0, 1.0, (1,)))
    assert repr(env.observation_space(params)) == repr(spaces.Box(-np.inf, np.inf, (5,)))
    env, params = envs.make("playground/PendulumSwingup", max_steps_in_episode=50,
                            config_overrides={"sim_dt": 0.005})
    assert params.max_steps_in_episode == 50 and env.library.n_substeps == 4

    def one_line_error(match, name, **options):
        with pytest.raises(ValueError, match=match) as caught:
            envs.make(name, **options)
        assert "\n" not in str(caught.value)

    one_line_error("Did you mean: playground/CartpoleBalance", "playground/CartpolBalance")
    one_line_error("Did you mean: playground/HopperHop", "playground/hopperhop")
    one_line_error("unknown playground environment 'Go1JoystickFlatTerrain'",
                   "playground/Go1JoystickFlatTerrain")  # left out (the module docstring)
    one_line_error("has no option 'max_steps'", "playground/CartpoleBalance", max_steps=10)
    one_line_error("only impl='jax'", "playground/CartpoleBalance",
                   config_overrides={"impl": "warp"})
    one_line_error("vision variants", "playground/CartpoleBalance",
                   config_overrides={"vision": True})
    one_line_error("action_repeat is applied", "playground/CartpoleBalance",
                   config_overrides={"action_repeat": 2})
    one_line_error("max_steps_in_episode", "playground/CartpoleBalance",
                   config_overrides={"episode_length": 10})
    one_line_error(r"bad config_overrides \(Key \"ctrl_dtt\" does not exist",
                   "playground/CartpoleBalance", config_overrides={"ctrl_dtt": 0.1})
    one_line_error("bad config_overrides", "playground/CartpoleBalance",
                   config_overrides={"ctrl_dt": "fast"})


def test_errors_before_the_library_loads(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown Playground task 'WalkerWalkk'\. Did you mean: WalkerWalk\?$"):
        PlaygroundEnv("WalkerWalkk")
    monkeypatch.setitem(sys.modules, "mujoco_playground", None)  # as if not installed
    with pytest.raises(ValueError, match=r"needs the playground package: pip install 'jaxrl\[playground\]'$"):
        PlaygroundEnv("CartpoleBalance")
    assert PlaygroundEnv.names() == PLAYGROUND_NAMES  # listed without the library


@pytest.mark.heavy
def test_render_image_draws_a_state_where_mujoco_can():
    env, params = envs.make("playground/CartpoleBalance")
    _, first = jax.jit(env.reset)(jax.random.key(0), params)
    picture = env.render_image(first, params)
    if picture is None:
        pytest.skip("MuJoCo cannot make an OpenGL context here")
    assert picture.shape == (240, 320, 3) and picture.dtype == np.uint8
    data = first.library.data
    tilted = first.replace(library=first.library.replace(
        data=data.replace(qpos=jnp.array([0.2, 0.8]))))
    assert not np.array_equal(env.render_image(tilted, params), picture)
    assert env.describe(first).startswith("step 0")
    two = jax.tree.map(lambda x: jnp.stack([x, x]), first)
    with pytest.raises(ValueError, match="unbatched"):
        env.render_image(two, params)


@pytest.mark.slow  # traces every task's reset and step (no compiling): about 2 minutes
def test_every_name_has_box_spaces_and_a_stable_state(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs CheetahRun's model warning to ./MUJOCO_LOG.TXT
    for name in PLAYGROUND_NAMES:
        env, params = envs.make("playground/" + name)
        action, obs_space = env.action_space(params), env.observation_space(params)
        assert isinstance(action, spaces.Box) and isinstance(obs_space, spaces.Box)
        np.testing.assert_array_equal(action.low, -1.0)
        np.testing.assert_array_equal(action.high, 1.0)
        assert params.max_steps_in_episode == 1000
        obs, state = jax.eval_shape(env.reset, jax.random.key(0), params)
        after = jax.eval_shape(env.step, jax.random.key(1), state, action.sample(
            jax.random.key(2)), params)
        assert obs.dtype == jnp.float32 and obs.shape == obs_space.shape, name
        # the state keeps its structure and types through a step (a scan's carry)
        assert jax.tree.structure(after[1]) == jax.tree.structure(state), name
        for a, b in zip(jax.tree.leaves(after[1]), jax.tree.leaves(state)):
            assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type), name
        assert after[2].dtype == jnp.float32 and after[3].dtype == after[4].dtype == jnp.bool_


@pytest.mark.slow  # about a minute of compiling on 2 busy cores
def test_ppo_trains_on_it_briefly():
    from jaxrl.algos import ppo

    env, params = envs.make("playground/CartpoleBalance", max_steps_in_episode=20)
    cfg = ppo.Config(num_envs=2, num_steps=16, epochs=1, minibatches=2, actor_hidden=(16,),
                     critic_hidden=(16,), total_timesteps=2 * 16 * 3)
    _, metrics = jax.jit(ppo.make(cfg, env, params).train)(jax.random.key(0))
    for k in ("policy_loss", "value_loss", "entropy"):
        assert np.isfinite(np.asarray(metrics[k])).all(), k
    np.testing.assert_array_equal(metrics["env_steps"], [32, 64, 96])


@pytest.mark.slow  # more than a minute of compiling on 2 busy cores
def test_it_keeps_the_contract():
    env, params = envs.make("playground/CartpoleBalance", max_steps_in_episode=10)
    report = envs.check_env(env, params, num_steps=24, batch=2)
    assert "auto_reset" in report.checks
