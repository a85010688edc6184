"""The XLand-MiniGrid adapter (``xminigrid/...``): 1,000 random transitions per environment
under ``jit(vmap(scan))`` identical, bit for bit, to the library's own raw step (observations,
rewards, states, and its ``LAST``/``discount`` split into jaxrl's two flags; jaxrl's resets
equal to the library's reset with the same key), with goal ends (terminated) and step-limit
ends (truncated) in the run; ``max_steps`` vmapped against the library at each static
value; ``check_env``; PQN training on it briefly (``slow``). Skipped without the xminigrid
package (``pip install 'jaxrl[xminigrid]'``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

xminigrid = pytest.importorskip("xminigrid")

from xminigrid.types import StepType, TimeStep  # noqa: E402

from jaxrl import envs  # noqa: E402
from jaxrl.envs.core import split_step_key, tree_where  # noqa: E402
from jaxrl.envs.xminigrid_env import XMiniGridEnv  # noqa: E402

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3  # the library's directions; (row, column) positions


def _key_data(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x)
                        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _library_step(lib, lib_params, state, obs, action):
    before = TimeStep(state=state, step_type=StepType.MID, reward=jnp.float32(0.0),
                      discount=jnp.float32(1.0), observation=obs)
    return lib.step(lib_params, before, action)


def _above_the_goal(state, lib_params):
    """``state`` with the agent on the cell above the goal (bottom-right), facing it."""
    pos = jnp.array([lib_params.height - 3, lib_params.width - 2], jnp.int32)
    agent = state.agent.replace(position=pos, direction=jnp.int32(DOWN))
    return state.replace(agent=agent)


def test_names_spaces_and_options():
    names = XMiniGridEnv.names()
    assert "MiniGrid-DoorKey-5x5" in names and "MiniGrid-Empty-6x6" in names
    assert not any(n.startswith("XLand") for n in names)  # no task without a ruleset
    listed = [n for n in envs.registered() if n.startswith("xminigrid/")]
    assert listed == ["xminigrid/" + n for n in names]

    env, params = envs.make("xminigrid/MiniGrid-DoorKey-5x5")
    assert params.max_steps == 250 and env.name == "xminigrid/MiniGrid-DoorKey-5x5"
    assert env.action_space(params).n == 6 == len(env.action_names)
    space = env.observation_space(params)
    assert space.shape == (7, 7, 2) and space.dtype == jnp.uint8
    assert tuple(space.high[0, 0]) == (12, 11) and not space.low.any()

    env, params = envs.make("xminigrid/MiniGrid-Empty-6x6", max_steps=9, view_size=5)
    assert params.max_steps == 9 and env.observation_space(params).shape == (5, 5, 2)


def test_a_reset_and_its_picture():
    env, params = envs.make("xminigrid/MiniGrid-Empty-6x6", view_size=5)
    obs, state = jax.jit(env.reset)(jax.random.key(0), params)
    assert obs.shape == (5, 5, 2) and obs.dtype == jnp.uint8
    assert bool(env.observation_space(params).contains(obs))
    image = env.render_image(state)
    assert image.shape == (6 * 32, 6 * 32, 3) and image.dtype == np.uint8
    assert env.describe(state) == "step 0"


def test_bad_names_and_options_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown xminigrid environment.*MiniGrid-DoorKey-5x5"):
        envs.make("xminigrid/MiniGrid-DoorKey-5X5")
    with pytest.raises(ValueError, match="unknown xminigrid environment"):
        envs.make("xminigrid/XLand-MiniGrid-R1-9x9")
    with pytest.raises(ValueError, match="Did you mean: max_steps"):
        envs.make("xminigrid/MiniGrid-Empty-6x6", max_step=9)
    with pytest.raises(ValueError, match="view_size must be odd"):
        envs.make("xminigrid/MiniGrid-Empty-6x6", view_size=6)
    with pytest.raises(TypeError, match="integer"):
        envs.make("xminigrid/MiniGrid-Empty-6x6", max_steps=9.5)


@pytest.mark.heavy
@pytest.mark.parametrize("name, max_steps", [("MiniGrid-DoorKey-5x5", 20),
                                              ("MiniGrid-Empty-6x6", 30)])
def test_transitions_match_the_library_and_the_flags_split_its_last_step(name, max_steps):
    env, params = envs.make("xminigrid/" + name, max_steps=max_steps)  # truncations in the run
    lib, lib_params = xminigrid.make(name, max_steps=max_steps)  # the library's own, static
    copies, steps = 4, 250  # 1,000 transitions

    def one_copy(key, placed):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        # copy 0 starts above the goal, facing it, and steps forward first: a termination
        state = jax.lax.cond(placed, lambda s: _above_the_goal(s, lib_params), lambda s: s,
                             state)

        def body(carry, xs):
            obs, state = carry
            k, t = xs
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (), 0, 6)
            action = jnp.where(placed & (t == 0), 0, action)
            out = env.step(k_step, state, action, params)
            # the library's raw step from the same state, and its reset with the key
            # jaxrl's auto-reset draws from
            ref = _library_step(lib, lib_params, state, obs, action)
            fresh = lib.reset(lib_params, split_step_key(k_step, env.stochastic_step)[1])
            return (out[0], out[1]), (out, ref, fresh, state.step_num)

        xs = (jax.random.split(k_run, steps), jnp.arange(steps))
        _, per_step = jax.lax.scan(body, (obs, state), xs)
        return per_step

    placed = jnp.arange(copies) == 0
    keys = jax.random.split(jax.random.key(0), copies)
    out, ref, fresh, t = jax.jit(jax.vmap(one_copy))(keys, placed)
    obs, state, reward, terminated, truncated, info = out
    done = terminated | truncated

    np.testing.assert_array_equal(info["final_observation"], ref.observation)
    np.testing.assert_array_equal(reward, ref.reward)
    np.testing.assert_array_equal(terminated, ref.discount == 0)
    np.testing.assert_array_equal(done, ref.step_type == StepType.LAST)
    # the step limit truncates, also on a step that reaches the goal (both flags then)
    np.testing.assert_array_equal(truncated, np.asarray(t) + 1 == max_steps)
    # past a step: the library's state; past an episode's end: the library's fresh episode
    expected = tree_where(done, fresh.state, ref.state)
    for got, want in zip(jax.tree.leaves(_key_data(state)), jax.tree.leaves(_key_data(expected))):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(obs, tree_where(done, fresh.observation, ref.observation))

    assert obs.dtype == jnp.uint8 and reward.dtype == jnp.float32
    assert bool(terminated[0, 0]) and not bool(truncated[0, 0])
    np.testing.assert_allclose(reward[0, 0], 1 - 0.9 / max_steps, rtol=1e-6)
    assert truncated.sum() >= copies * (steps // max_steps - 1)
    assert np.all(reward[~terminated] == 0) and np.all(reward[terminated] > 0)


@pytest.mark.heavy
def test_max_steps_is_a_vmappable_param_read_as_the_library_reads_it():
    name, limits = "MiniGrid-Empty-6x6", (5, 8)
    env, params = envs.make("xminigrid/" + name)
    many = jax.tree.map(lambda _: jnp.asarray(limits), params)
    # from above the goal: turn right, left, right, left, then forward into the goal on
    # step 5 (a termination under limit 8; a termination and a truncation under limit 5),
    # then turn on past the limits (step_env: no reset)
    actions = jnp.array([1, 2, 1, 2, 0, 1, 1, 1, 1, 1], jnp.int32)

    def run(p, key):
        _, state = env.reset(key, p)
        state = _above_the_goal(state, xminigrid.make(name)[1])

        def body(state, a):
            out = env.step_env(key, state, a, p)
            return out[1], out[2:5]

        return jax.lax.scan(body, state, actions)[1]

    key = jax.random.key(3)
    reward, terminated, truncated = jax.jit(jax.vmap(run, in_axes=(0, None)))(many, key)
    for i, limit in enumerate(limits):
        lib, lib_params = xminigrid.make(name, max_steps=limit)
        state = _above_the_goal(lib.reset(lib_params, key).state, lib_params)
        obs = lib.reset(lib_params, key).observation
        for s, a in enumerate(np.asarray(actions)):
            ts = jax.jit(_library_step, static_argnums=(0, 1))(lib, lib_params, state, obs,
                                                               jnp.int32(a))
            # a limit known when compiling (the library's, static) lets XLA fold the
            # reward's arithmetic (2 ulp apart from a traced limit here)
            np.testing.assert_allclose(reward[i, s], ts.reward, rtol=1e-6, atol=0)
            assert bool(terminated[i, s]) == (float(ts.discount) == 0.0)
            assert bool(truncated[i, s]) == (s + 1 >= limit)
            state, obs = ts.state, ts.observation
    assert bool(terminated[0, 4]) and bool(truncated[0, 4])  # the goal on the last step
    assert bool(terminated[1, 4]) and not bool(truncated[1, 4])
    assert terminated.sum() == 2  # turning on the goal does not end an episode
    np.testing.assert_allclose(reward[:, 4], [1 - 0.9 * 5 / 5, 1 - 0.9 * 5 / 8], rtol=1e-6)


@pytest.mark.slow  # 35-50 s on 2 busy cores: check_env compiles a dozen programs
def test_it_keeps_the_contract():
    env, params = envs.make("xminigrid/MiniGrid-DoorKey-5x5", max_steps=16)
    report = envs.check_env(env, params, num_steps=48, batch=3)
    assert report.truncated_seen


@pytest.mark.heavy  # about 15 s: compiling the training program
def test_pqn_trains_on_it_briefly():
    from jaxrl.algos import pqn

    env, params = envs.make("xminigrid/MiniGrid-Empty-6x6")
    cfg = pqn.Config(num_envs=8, num_steps=16, epochs=1, minibatches=2, hidden=(32,),
                     torso="mlp", one_hot_cells=True, total_timesteps=8 * 16 * 4)
    _, metrics = jax.jit(pqn.make(cfg, env, params).train)(jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["loss"])).all()
    np.testing.assert_array_equal(metrics["env_steps"], [128, 256, 384, 512])
