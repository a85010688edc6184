"""The NAVIX adapter (``navix/...``): 1,000 random transitions per environment under
``jit(vmap(scan))`` identical, bit for bit, to the library's own step from the same state
(observations, rewards, states, and its TERMINATION/TRUNCATION step type as jaxrl's two
flags, never both; jaxrl's resets equal to the library's reset with the auto-reset's key),
with goal ends (terminated, one on the limit's own step) and step-limit ends (truncated) in
the run; ``max_steps`` vmapped against the library built with each limit; names, spaces,
pictures and one-line errors; ``check_env`` and PPO training briefly. Skipped without the
navix package (``pip install 'jaxrl[navix]'``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

navix = pytest.importorskip("navix")

from navix.environments.environment import StepType, Timestep  # noqa: E402

from jaxrl import envs  # noqa: E402
from jaxrl.envs.core import split_step_key, tree_where  # noqa: E402
from jaxrl.envs.navix_env import LEFT_OUT, NAVIX_NAMES, NavixEnv  # noqa: E402

SOUTH, FORWARD, DONE = 1, 2, 6  # the library's direction; MiniGrid's action numbers


def _key_data(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x)
                        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, tree)


def _library_step(lib, state, action):
    """The library's public (auto-resetting) step from a mid-episode timestep: its raw step."""
    before = Timestep(t=state.t, observation=jnp.zeros(()), action=jnp.int32(-1),
                      reward=jnp.float32(0.0), step_type=jnp.int32(0), state=state.state)
    return lib.step(before, action)


def _above_the_goal(state, height, width):
    """``state`` with the player on the cell above the goal (bottom-right), facing it."""
    inner = state.state
    player = inner.entities["player"]
    player = player.replace(position=jnp.array([[height - 3, width - 2]], jnp.int32),
                            direction=jnp.array([SOUTH], jnp.int32))
    return state.replace(state=inner.replace(entities={**inner.entities, "player": player}))


def test_names_spaces_and_options():
    assert set(NAVIX_NAMES) | set(LEFT_OUT) == set(navix.registry()) and len(NAVIX_NAMES) == 35
    assert NavixEnv.names() == NAVIX_NAMES
    listed = [n for n in envs.registered() if n.startswith("navix/")]
    assert sorted(listed) == sorted("navix/" + n for n in NAVIX_NAMES)

    env, params = envs.make("navix/Navix-DoorKey-5x5-v0")
    assert params.max_steps == 100 and env.name == "navix/Navix-DoorKey-5x5-v0"
    assert env.action_space(params).n == 7 == len(env.action_names)
    assert env.action_names[:3] == ("turn left", "turn right", "forward")
    space = env.observation_space(params)
    assert space.shape == (5, 5, 3) and space.dtype == jnp.uint8
    assert tuple(space.high[0, 0]) == (10, 5, 3) and not space.low.any()

    env, params = envs.make("navix/Navix-Empty-8x8-v0", max_steps=9,
                            observation="symbolic_first_person")
    assert params.max_steps == 9 and env.observation_space(params).shape == (7, 7, 3)
    env, _ = envs.make("navix/Navix-Empty-5x5-v0", observation="categorical")
    space = env.observation_space()
    assert space.shape == (5, 5) and space.dtype == jnp.int32 and space.low.min() == -1


def test_a_reset_and_its_picture():
    env, params = envs.make("navix/Navix-DoorKey-5x5-v0")
    obs, state = jax.jit(env.reset)(jax.random.key(0), params)
    assert obs.shape == (5, 5, 3) and obs.dtype == jnp.uint8
    assert bool(env.observation_space(params).contains(obs))
    image = env.render_image(state)
    assert image.shape == (5 * 32, 5 * 32, 3) and image.dtype == np.uint8
    assert env.render_image(state, scale=1).shape == (40, 40, 3)
    assert env.describe(state) == "step 0"


def test_bad_names_and_options_say_what_is_wrong():
    for call, pattern in [
        (lambda: envs.make("navix/Navix-DoorKey-5X5-v0"),
         "unknown navix environment 'Navix-DoorKey-5X5-v0'. Did you mean: navix/Navix-DoorKey-5x5-v0"),
        (lambda: envs.make("navix/Navix-Empty-5x5-v0", observation="symbolc"),
         "unknown navix observation 'symbolc'. Did you mean: symbolic"),
        (lambda: envs.make("navix/Navix-Empty-5x5-v0", max_step=9), "Did you mean: max_steps"),
        (lambda: envs.make("navix/Navix-KeyCorridorS3R1-v0"), "unknown navix environment"),
        (lambda: NavixEnv("Navix-KeyCorridorS3R1-v0"), "left out: its locked door"),
    ]:
        with pytest.raises(ValueError, match=pattern) as error:
            call()
        assert "\n" not in str(error.value)


@pytest.mark.heavy  # 20 to 45 s of compiling on 2 busy cores
@pytest.mark.parametrize("name, max_steps", [("Navix-DoorKey-5x5-v0", 20),
                                              ("Navix-Empty-5x5-v0", 30)])
def test_transitions_match_the_library_and_the_flags_split_its_step_type(name, max_steps):
    env, params = envs.make("navix/" + name, max_steps=max_steps)  # truncations in the run
    lib = navix.make(name, max_steps=max_steps)  # the library's own, its limit static
    copies, steps = 4, 250  # 1,000 transitions

    def one_copy(key, placed, late):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        # copies 0 and 1 start above the goal, facing it: copy 0 steps forward first (a
        # termination), copy 1 says "done" (nothing happens) until the limit's own step,
        # and steps into the goal on it (a termination, not a truncation)
        state = jax.lax.cond(placed, lambda s: _above_the_goal(s, lib.height, lib.width),
                             lambda s: s, state)

        def body(carry, xs):
            obs, state = carry
            k, t = xs
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (), 0, 7)
            action = jnp.where(placed & ~late & (t == 0), FORWARD, action)
            action = jnp.where(late & (t < max_steps), jnp.where(t == max_steps - 1, FORWARD,
                                                                 DONE), action)
            out = env.step(k_step, state, action, params)
            # the library's step from the same state, and its reset with the key
            # jaxrl's auto-reset draws from (the whole step key: stochastic_step is False)
            ref = _library_step(lib, state, action)
            fresh = lib.reset(split_step_key(k_step, env.stochastic_step)[1])
            return (out[0], out[1]), (out, ref, fresh, state.t)

        xs = (jax.random.split(k_run, steps), jnp.arange(steps))
        _, per_step = jax.lax.scan(body, (obs, state), xs)
        return per_step

    placed = jnp.arange(copies) < 2
    late = jnp.arange(copies) == 1
    keys = jax.random.split(jax.random.key(0), copies)
    out, ref, fresh, t = jax.jit(jax.vmap(one_copy))(keys, placed, late)
    obs, state, reward, terminated, truncated, info = out
    done = terminated | truncated

    np.testing.assert_array_equal(info["final_observation"], ref.observation)
    np.testing.assert_array_equal(reward, ref.reward)
    np.testing.assert_array_equal(terminated, ref.step_type == StepType.TERMINATION)
    np.testing.assert_array_equal(truncated, ref.step_type == StepType.TRUNCATION)
    assert not np.any(terminated & truncated)
    # the step limit truncates unless the step terminates
    np.testing.assert_array_equal(truncated, (np.asarray(t) + 1 == max_steps) & ~terminated)
    # past a step: the library's state; past an episode's end: the library's fresh episode
    expected = tree_where(done, fresh.state, ref.state)
    for got, want in zip(jax.tree.leaves(_key_data(state.state)),
                         jax.tree.leaves(_key_data(expected))):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(state.t, np.where(done, 0, ref.t))
    np.testing.assert_array_equal(obs, tree_where(done, fresh.observation, ref.observation))

    assert obs.dtype == jnp.uint8 and reward.dtype == jnp.float32
    assert bool(terminated[0, 0]) and reward[0, 0] == 1.0
    # copy 1: the goal on the limit's step ends its first episode terminated, not truncated
    assert bool(terminated[1, max_steps - 1]) and not done[1, :max_steps - 1].any()
    assert not truncated[1, :max_steps].any()
    assert truncated.sum() >= 2 * (steps // max_steps - 1)
    assert np.all(reward[~terminated] == 0) and np.all(reward[terminated] == 1)
    space = env.observation_space(params)
    assert np.all(np.asarray(obs) <= space.high) and np.all(np.asarray(obs) >= space.low)


@pytest.mark.heavy  # a few seconds of compiling
def test_max_steps_is_a_vmappable_param_read_as_the_library_reads_it():
    name, limits = "Navix-Empty-5x5-v0", (3, 7)
    env, params = envs.make("navix/" + name)
    many = jax.tree.map(lambda _: jnp.asarray(limits), params)
    actions = jnp.full((9,), DONE, jnp.int32)  # nothing happens; step_env: no reset

    def run(p, key):
        _, state = env.reset(key, p)

        def body(state, a):
            out = env.step_env(key, state, a, p)
            return out[1], out[3:5]

        return jax.lax.scan(body, state, actions)[1]

    terminated, truncated = jax.jit(jax.vmap(run, in_axes=(0, None)))(many, jax.random.key(3))
    assert not terminated.any()
    for i, limit in enumerate(limits):
        lib = navix.make(name, max_steps=limit)
        timestep = lib.reset(jax.random.key(3))
        for s in range(len(actions)):
            timestep = lib._step(timestep, jnp.int32(DONE))  # the raw step, past the end
            assert bool(truncated[i, s]) == bool(timestep.is_truncation()) == (s + 1 >= limit)


@pytest.mark.heavy  # about 25 s of compiling on 2 busy cores
def test_it_keeps_the_contract():
    env, params = envs.make("navix/Navix-Dynamic-Obstacles-5x5-v0", max_steps=12)
    report = envs.check_env(env, params, num_steps=36, batch=3)
    assert report.truncated_seen


@pytest.mark.slow  # 35 names, 10 to 30 s of compiling each on 2 busy cores
@pytest.mark.parametrize("name", NAVIX_NAMES)
def test_every_name_keeps_the_contract(name):
    env, params = envs.make("navix/" + name, max_steps=12)
    envs.check_env(env, params, num_steps=16, batch=2)


@pytest.mark.heavy  # 15 to 22 s: compiling the training program
def test_ppo_trains_on_it_briefly():
    from jaxrl.algos import ppo

    env, params = envs.make("navix/Navix-Empty-5x5-v0", max_steps=20)
    cfg = ppo.Config(num_envs=4, num_steps=16, epochs=1, minibatches=2, actor_hidden=(32,),
                     critic_hidden=(32,), total_timesteps=4 * 16 * 3)
    _, metrics = jax.jit(ppo.make(cfg, env, params).train)(jax.random.key(0))
    for k in ("policy_loss", "value_loss", "entropy"):
        assert np.isfinite(np.asarray(metrics[k])).all(), k
    np.testing.assert_array_equal(metrics["env_steps"], [64, 128, 192])
