"""The Jumanji adapter (``jumanji/...``): on Snake-v1 (one Discrete) and Tetris-v0 (a
MultiDiscrete, rotation x column, as one Discrete(40)), 1,000 transitions each under
``jit`` and ``vmap`` identical to the library's own step from the same state (observations,
rewards, its LAST steps) and to its reset on the auto-reset's key, the flags split by
cause (the task's end terminated, a short time limit truncated, an end on the limit's own
step terminated); joint actions and masks of a per-agent MultiDiscrete (Cleaner-v0); bad
names and options; PPO training on Snake briefly; every name through ``check_env``
(``slow``). Skipped without the jumanji package or with chex older than 0.1.90
(``pip install 'jaxrl[jumanji]'``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jumanji")
# chex 0.1.89 (CI's oldest pin) flattens its dataclasses, Jumanji's states, with jax.util,
# which jax 0.8 removed; the jumanji extra asks for chex >= 0.1.90
pytest.importorskip("chex", minversion="0.1.90")

import jumanji  # noqa: E402

from jaxrl import envs  # noqa: E402

f32 = jnp.float32


def _snake_flat(o):
    return jnp.concatenate([o.grid.ravel(), o.step_count[None].astype(f32),
                            o.action_mask.astype(f32)])


def _tetris_flat(o):
    return jnp.concatenate([o.grid.ravel().astype(f32), o.tetromino.ravel().astype(f32),
                            o.action_mask.ravel().astype(f32), o.step_count[None].astype(f32)])


# name -> (time limit, how often an illegal move is played where there is one (an end), the
#          library's action for jaxrl's, the observation flattened by hand, the task's own
#          end: (state before, library action, state after) -> bool)
CASES = {
    "Snake-v1": (10, 0.6, lambda a: a, _snake_flat,
                 lambda s, a, s2: ~s.action_mask[a] | jnp.all(s2.body)),
    "Tetris-v0": (10, 0.15, lambda a: jnp.stack([a // 10, a % 10]), _tetris_flat,
                  lambda s, a, s2: ~s.action_mask[a[0], a[1]] | ~jnp.any(s2.action_mask)),
}


@pytest.mark.heavy
@pytest.mark.parametrize("name", list(CASES))
def test_transitions_match_the_library_and_the_flags_split_by_cause(name):
    limit, p_illegal, to_library, flat, ended_fn = CASES[name]
    env, params = envs.make("jumanji/" + name, time_limit=limit)
    ref = jumanji.make(name, time_limit=limit)  # the library's own, with the same limit
    copies, steps = 4, 250  # 1,000 transitions

    def one_copy(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        first = flat(ref.reset(k_reset)[1].observation)

        def body(carry, k):
            obs, state = carry
            k_act, k_legal, k_illegal, k_step = jax.random.split(k, 4)
            # a legal move (long episodes: truncations) or, now and then, an illegal one (an end)
            mask = env.action_mask(state)
            legal = jax.random.categorical(k_legal, jnp.where(mask, 0.0, -jnp.inf))
            illegal = jax.random.categorical(k_illegal, jnp.where(mask, -jnp.inf, 0.0))
            pick_illegal = (jax.random.uniform(k_act) < p_illegal) & ~jnp.all(mask)
            action = jnp.where(pick_illegal, illegal, legal)
            out = env.step(k_step, state, action, params)
            lib_action = to_library(action)
            ref_state, ref_ts = ref.step(state.env_state, lib_action)
            # jaxrl's step key goes whole to the reset (the library's state has its own key)
            fresh = flat(ref.reset(k_step)[1].observation)
            ended = ended_fn(state.env_state, lib_action, ref_state)
            return (out[0], out[1]), (out, ref_ts, fresh, ended, state.env_state.step_count)

        _, rollout = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return obs, first, rollout

    keys = jax.random.split(jax.random.key(0), copies)
    obs0, first, (out, ref_ts, fresh, ended, t) = jax.jit(jax.vmap(one_copy))(keys)
    obs, _, reward, terminated, truncated, info = out
    np.testing.assert_array_equal(obs0, first)
    ref_obs = jax.vmap(jax.vmap(flat))(ref_ts.observation)
    np.testing.assert_array_equal(info["final_observation"], ref_obs)
    for mine, theirs in zip(jax.tree.leaves(info["observation"]),
                            jax.tree.leaves(ref_ts.observation)):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(reward, ref_ts.reward)
    done = np.asarray(ref_ts.step_type) == 2  # the library's LAST
    np.testing.assert_array_equal(terminated | truncated, done)
    np.testing.assert_array_equal(obs, np.where(done[..., None], fresh, ref_obs))
    assert reward.dtype == jnp.float32 and obs.shape == (copies, steps) + env.observation_space().shape
    assert bool(jnp.all(env.observation_space().contains(obs[0, 0])))
    # the split: the task's end terminates, the limit's step truncates unless the task ended
    at_limit = np.asarray(t) == limit - 1
    np.testing.assert_array_equal(terminated, ended)
    np.testing.assert_array_equal(truncated, at_limit & ~np.asarray(ended))
    assert terminated.sum() > 10 and truncated.sum() > 10
    assert np.any(terminated & at_limit)  # an end on the limit's own step: terminated
    np.testing.assert_array_equal(info["action_mask"].reshape(copies, steps, -1),
                                  ref_ts.observation.action_mask.reshape(copies, steps, -1))


@pytest.mark.heavy  # about 4 s
def test_joint_actions_of_a_per_agent_multidiscrete():
    env, params = envs.make("jumanji/Cleaner-v0")  # 3 agents x 4 moves: Discrete(64)
    assert env.action_space(params).n == 64
    actions = np.asarray(jax.vmap(env.library_action)(jnp.arange(64)))
    np.testing.assert_array_equal(actions, np.stack(np.unravel_index(np.arange(64), (4, 4, 4)), -1))
    _, state = env.reset(jax.random.key(3), params)
    per_agent = np.asarray(state.observation.action_mask)  # (3 agents, 4 moves)
    mask = np.asarray(env.action_mask(state))
    expected = [all(per_agent[i, m] for i, m in enumerate(ms)) for ms in actions]
    np.testing.assert_array_equal(mask, expected)
    assert 0 < mask.sum() < 64


@pytest.mark.heavy  # about 4 s: six environments built
def test_names_and_options():
    names = envs.registered()
    assert "jumanji/Snake-v1" in names and "jumanji/Tetris-v0" in names
    assert not any(n.startswith("jumanji/Sokoban") or n.startswith("jumanji/Connector")
                   for n in names)
    with pytest.raises(ValueError, match="Did you mean: jumanji/Snake-v1"):
        envs.make("jumanji/Snake-v2")
    with pytest.raises(ValueError, match="no observation array 'board'.*grid"):
        envs.make("jumanji/Snake-v1", observation="board")
    with pytest.raises(ValueError, match="no observation array 'agent_position'.*walls"):
        envs.make("jumanji/Maze-v0", observation="agent_position")  # a NamedTuple, not an array
    with pytest.raises(ValueError, match="has no time limit"):
        envs.make("jumanji/Game2048-v1", time_limit=10)
    with pytest.raises(ValueError, match="positive integer"):
        envs.make("jumanji/Snake-v1", time_limit=0)
    env, params = envs.make("jumanji/Snake-v1", observation="grid",
                            env_kwargs={"num_rows": 6, "num_cols": 7})
    space = env.observation_space(params)
    assert space.shape == (6, 7, 5) and space.dtype == jnp.float32
    assert env.time_limit == 4000 and env.library.time_limit == 4000
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs.shape == (6, 7, 5)
    assert env.render_image(None) is None  # no pictures (see the module docstring)


@pytest.mark.heavy  # about 11 s on 2 cores
def test_ppo_trains_on_snake_briefly():
    from jaxrl.algos import ppo

    env, params = envs.make("jumanji/Snake-v1", time_limit=50)
    cfg = ppo.Config(num_envs=4, num_steps=16, epochs=1, minibatches=2, actor_hidden=(32,),
                     critic_hidden=(32,), total_timesteps=4 * 16 * 3)
    _, metrics = jax.jit(ppo.make(cfg, env, params).train)(jax.random.key(0))
    for k in ("policy_loss", "value_loss", "entropy"):
        assert np.isfinite(np.asarray(metrics[k])).all(), k
    np.testing.assert_array_equal(metrics["env_steps"], [64, 128, 192])


@pytest.mark.slow  # 10 to 80 s of compiling each on 2 cores, 19 names
@pytest.mark.parametrize("name", [n for n in envs.registered() if n.startswith("jumanji/")])
def test_every_name_keeps_the_contract(name):
    env, params = envs.make(name)
    report = envs.check_env(env, params, num_steps=16, batch=2)
    assert "auto_reset" in report.checks
