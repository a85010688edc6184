"""The JaxMARL adapter (``jaxmarl/...``): on MPE_simple_spread_v3 (ends only by time),
HeuristicEnemySMAX on the 3m scenario (a team wiped out ends an episode; units die) and
switch_riddle (a prisoner who speaks ends it), 1,000 random transitions each under
``jit(vmap(scan))`` identical, bit for bit, to the library's own raw ``step_env`` from the
same state with the same key (observations, rewards, next states, per-agent deaths) and to
its ``reset`` on the auto-reset's key; the flags split by cause (the library's end before
the limit terminated, the limit's step truncated) and its own time limit shown one step late
for MPE and SMAX; names, options and one-line errors; mean of the other living teammates;
iql and mfq briefly on MPE_simple_spread_v3 and SMAX's two teams; ``check_env`` (one name;
every name ``slow``). Skipped without the jaxmarl package (``pip install 'jaxrl[jaxmarl]'``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from jaxrl import envs  # noqa: E402
from jaxrl.envs.jaxmarl_env import JAXMARL_NAMES, JaxMARLEnv, _jaxmarl  # noqa: E402

jaxmarl = _jaxmarl()  # imported quietly (it prints two lines, and resets sys.stdout)


def _smax_ended(before, action, after):
    alive = after.state.unit_alive
    return ~jnp.any(alive[:3]) | ~jnp.any(alive[3:])


def _riddle_ended(before, action, after):
    return action[before.agent_in_room] == 2  # the prisoner in the room says TELL


# name -> (time limit, env_kwargs, the library's constructor arguments for that limit, the
#          task's own end: (library state before, actions, state after) -> bool, does the
#          library's own flag end the episode on the limit's step)
CASES = {
    "MPE_simple_spread_v3": (25, {}, {"max_steps": 25}, lambda s, a, s2: jnp.bool_(False),
                             False),
    "HeuristicEnemySMAX": (18, {"scenario": "3m"}, {"max_steps": 18, "scenario": "3m"},
                           _smax_ended, False),
    "switch_riddle": (6, {}, {}, _riddle_ended, True),
}


def _library(name, kwargs):
    kwargs = dict(kwargs)
    if "scenario" in kwargs:
        from jaxmarl.environments.smax.smax_env import map_name_to_scenario

        kwargs["scenario"] = map_name_to_scenario(kwargs["scenario"])
    return jaxmarl.make(name, **kwargs)


@pytest.mark.heavy  # 6 to 20 s each on 2 cores: the adapter and the library compiled
@pytest.mark.parametrize("name", list(CASES))
def test_transitions_match_the_library_and_the_flags_split_by_cause(name):
    limit, env_kwargs, ref_kwargs, ended_fn, ends_on_limit = CASES[name]
    env, params = envs.make("jaxmarl/" + name, time_limit=limit, env_kwargs=env_kwargs)
    ref = _library(name, ref_kwargs)  # the library's own, configured with that limit
    agents = ref.agents
    n, num_actions = env.num_agents, env.action_space(params).n
    assert env.agent_names == tuple(agents) and env.time_limit == limit
    stack = lambda d: jnp.stack([jnp.asarray(d[a], jnp.float32) for a in agents])
    copies, steps = 4, 250  # 1,000 transitions

    def one_copy(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params)
        first, first_state = ref.reset(k_reset)

        def body(carry, k):
            obs, state = carry
            k_act, k_step = jax.random.split(k)
            action = jax.random.randint(k_act, (n,), 0, num_actions)
            out = env.step(k_step, state, action, params)
            # the key discipline: split once, the first half to the step, the second to a reset
            key_step, key_reset = jax.random.split(k_step)
            ref_obs, ref_state, ref_reward, ref_dones, _ = ref.step_env(
                key_step, state.env_state, {a: action[i] for i, a in enumerate(agents)})
            fresh, fresh_state = ref.reset(key_reset)
            library = (stack(ref_obs), ref_state, stack(ref_reward), ref_dones["__all__"],
                       jnp.stack([ref_dones[a] for a in agents]), stack(fresh), fresh_state)
            ended = ended_fn(state.env_state, action, ref_state)
            return (out[0], out[1]), (out, library, ended, state.time, state.alive)

        _, rollout = jax.lax.scan(body, (obs, state), jax.random.split(k_run, steps))
        return obs, stack(first), state.env_state, first_state, rollout

    keys = jax.random.split(jax.random.key(0), copies)
    obs0, first, state0, first_state, rollout = jax.jit(jax.vmap(one_copy))(keys)
    out, library, ended, t, alive_before = rollout
    obs, state, reward, terminated, truncated, info = out
    ref_obs, ref_state, ref_reward, ref_done, ref_agent_done, fresh, fresh_state = library
    ended, t, alive_before = np.asarray(ended), np.asarray(t), np.asarray(alive_before)

    np.testing.assert_array_equal(obs0, first)
    for mine, theirs in zip(jax.tree.leaves(state0), jax.tree.leaves(first_state)):
        np.testing.assert_array_equal(mine, theirs)
    # the transition: the library's step_env from the same state with the same key
    np.testing.assert_array_equal(info["final_observation"], ref_obs)
    np.testing.assert_array_equal(info["library_reward"], ref_reward)
    np.testing.assert_array_equal(reward, np.where(alive_before, ref_reward, 0.0))
    alive = ~np.asarray(ref_agent_done) if name == "HeuristicEnemySMAX" else np.ones_like(
        alive_before)
    np.testing.assert_array_equal(info["alive"], alive)
    # the flags: the task's end terminates; the limit's step truncates unless the task ended
    at_limit = t == limit - 1
    np.testing.assert_array_equal(terminated, ended)
    np.testing.assert_array_equal(truncated, at_limit & ~ended)
    # the library's own flag: its task end, and its time limit only where it is punctual
    # (MPE and SMAX compare the step count before incrementing it: one step late)
    np.testing.assert_array_equal(ref_done, ended | (at_limit & ends_on_limit))
    # the auto-reset: the library's reset on the second half of the key, state and all
    done = np.asarray(terminated | truncated)
    np.testing.assert_array_equal(obs, np.where(done[..., None, None], fresh, ref_obs))
    expected = jax.tree.map(
        lambda f, s: np.where(done.reshape(done.shape + (1,) * (np.ndim(s) - 2)), f, s),
        fresh_state, ref_state)
    for mine, theirs in zip(jax.tree.leaves(state.env_state), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(state.time, np.where(done, 0, t + 1))
    assert obs.dtype == jnp.float32 and reward.dtype == jnp.float32
    assert obs.shape == (copies, steps, n) + env.observation_space(params).shape
    assert bool(jnp.all(env.joint_observation_space(params).contains(obs[0, 0])))
    if name == "MPE_simple_spread_v3":  # ends only by time
        assert not terminated.any() and truncated.sum() == copies * steps // limit
    else:
        assert terminated.sum() > 10 and truncated.sum() > 10
        assert np.any(terminated & at_limit)  # a task's end on the limit's step: terminated
    if name == "HeuristicEnemySMAX":  # units died; the dead see zeros and earn nothing
        dead = ~np.asarray(info["alive"])
        assert dead.sum() > 100 and (~alive_before).sum() > 100
        assert not np.asarray(info["final_observation"])[dead].any()
        assert np.asarray(ref_reward)[~alive_before].any()  # the library pays the dead
        assert not np.asarray(reward)[~alive_before].any()
        shape = env.observation_space(params).shape
        final = np.asarray(info["final_observation"]).reshape(-1, n, *shape)
        live = np.stack([np.asarray(env.alive_from_obs(o)) for o in final])
        np.testing.assert_array_equal(live, np.asarray(info["alive"]).reshape(-1, n))


def test_names_and_one_line_errors():
    names = JaxMARLEnv.names()
    assert names == JAXMARL_NAMES
    assert set(names) <= set(jaxmarl.registered_envs)
    listed = [n for n in envs.registered() if n.startswith("jaxmarl/")]
    assert listed == ["jaxmarl/" + n for n in names]
    for bad, close in (("jaxmarl/MPE_simple_spread_v2", "jaxmarl/MPE_simple_spread_v3"),
                       ("jaxmarl/smax", "jaxmarl/SMAX")):
        with pytest.raises(ValueError, match=f"Did you mean: {close}") as e:
            envs.make(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown jaxmarl environment 'MPE_simple_tag_v3'"):
        envs.make("jaxmarl/MPE_simple_tag_v3")  # heterogeneous agents: left out
    errors = [
        ({"time_limit": 0}, "positive integer"),
        ({"env_kwargs": {"max_steps": 10}}, "time_limit=..., not max_steps"),
    ]
    for options, message in errors:
        with pytest.raises(ValueError, match=message) as e:
            envs.make("jaxmarl/MPE_simple_spread_v3", **options)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="coin_game: TypeError.*num_inner") as e:
        envs.make("jaxmarl/coin_game", env_kwargs={"num_inner": 3})
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown SMAX scenario '3M'.*3m"):
        envs.make("jaxmarl/SMAX", env_kwargs={"scenario": "3M"})
    with pytest.raises(ValueError, match="action spaces differ.*as many allies as enemies"):
        envs.make("jaxmarl/SMAX", env_kwargs={"scenario": "5m_vs_6m"})
    with pytest.raises(ValueError, match="needs one Discrete action per agent"):
        envs.make("jaxmarl/MPE_simple_v3", env_kwargs={"action_type": "Continuous"})


@pytest.mark.heavy  # about 6 s: five environments built, SMAX's reset compiled
def test_spaces_limits_teams_and_neighbours():
    env, params = envs.make("jaxmarl/MPE_simple_spread_v3", env_kwargs={"num_agents": 4})
    assert env.num_agents == 4 and env.time_limit == 25 and env.library.max_steps == 25
    assert env._env.max_steps == 26  # the library's own clock never ends an episode
    assert env.observation_space(params).shape == (4 + 3 * 4 + 3 * 2,)
    assert env.action_space(params).n == 5 and env.num_teams == 1
    values = jnp.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(env.neighbour_mean(values),
                               (values.sum(0) - values) / 3)  # the other three
    assert env.render_image(None) is None  # no pictures (module docstring)

    env, params = envs.make("jaxmarl/switch_riddle", env_kwargs={"num_agents": 4})
    assert env.time_limit == 10 and env._env.max_steps == 11
    space = env.observation_space(params)  # MultiDiscrete([2, 2]) as a Box
    assert space.shape == (2,) and space.high.tolist() == [1.0, 1.0]

    env, params = envs.make("jaxmarl/coin_game", time_limit=35)
    assert env.time_limit == 35 and env._env.num_outer_steps == 4  # 40 steps > 35
    assert env.agent_names == ("0", "1")

    env, params = envs.make("jaxmarl/SMAX", time_limit=30, env_kwargs={"scenario": "3m"})
    assert env.num_teams == 2 and env.team.tolist() == [0, 0, 0, 1, 1, 1]
    assert env.agent_names[:1] == ("ally_0",) and env._env.max_steps == 31
    obs, state = env.reset(jax.random.key(0), params)
    obs = obs.at[1].set(0.0)  # ally_1 dead: zeros
    assert env.alive_from_obs(obs).tolist() == [True, False, True, True, True, True]
    mean = env.neighbour_mean(jnp.eye(6), obs)
    np.testing.assert_allclose(mean[0], [0, 0, 1, 0, 0, 0])  # ally_2 only: living, its team
    np.testing.assert_allclose(mean[3], [0, 0, 0, 0, 0.5, 0.5])
    np.testing.assert_array_equal(env.get_obs(state, params), env.reset(jax.random.key(0))[0])


@pytest.mark.heavy  # about 40 s on 2 cores (SMAX's two teams the most)
def test_iql_and_mfq_train_briefly():
    from jaxrl.algos import marl

    env, params = envs.make("jaxmarl/MPE_simple_spread_v3")
    for algo in ("iql", "mfq"):
        cfg = marl.Config(algorithm=algo, num_envs=4, num_steps=25, total_timesteps=4 * 25 * 3,
                          hidden=(16,))
        _, metrics = jax.jit(marl.make(cfg, env, params).train)(jax.random.key(0))
        assert np.isfinite(np.asarray(metrics["loss"])).all(), algo
        np.testing.assert_array_equal(metrics["env_steps"], [100, 200, 300])
        assert np.isfinite(np.asarray(metrics["episode_return"])).all()  # 4 episodes each
    # SMAX's two teams: mfq against iql, each on its side
    env, params = envs.make("jaxmarl/SMAX", time_limit=20, env_kwargs={"scenario": "3m"})
    cfg = marl.Config(algorithm="mfq", opponent="iql", num_envs=2, num_steps=5,
                      total_timesteps=20, hidden=(16,))
    _, metrics = jax.jit(marl.make(cfg, env, params).train)(jax.random.key(1))
    assert np.isfinite(np.asarray(metrics["loss"])).all()


@pytest.mark.heavy  # about 17 s on 2 cores
def test_check_env_on_spread():
    env, params = envs.make("jaxmarl/MPE_simple_spread_v3", time_limit=5)
    report = envs.check_env(env, params, num_steps=12, batch=2)
    assert "auto_reset" in report.checks


@pytest.mark.slow  # 10 to 40 s of compiling each on 2 cores
@pytest.mark.parametrize("name", [n for n in JAXMARL_NAMES if n != "MPE_simple_spread_v3"])
def test_every_name_keeps_the_contract(name):
    env, params = envs.make("jaxmarl/" + name, time_limit=8)
    report = envs.check_env(env, params, num_steps=16, batch=2)
    assert "auto_reset" in report.checks
