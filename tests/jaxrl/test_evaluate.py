"""jaxrl.core.episodes: episode bookkeeping against hand-counted outcomes on a corridor with
scripted agents, vmapping over seeds, starts from a given state, recorded trajectories,
the per-seed evaluation of a run (bandit runs on the bandit they trained on), and the
move-by-move text replay of Gridworld."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import envs
from jaxrl.core import episodes as ev
from jaxrl.core.agent import Agent
from jaxrl.envs import spaces
from jaxrl.envs.core import Environment
from jaxrl.envs.gridworld import ACTION_NAMES
from jaxrl.runs import evaluation


@struct.dataclass
class CorridorState:
    pos: jax.Array
    time: jax.Array


@struct.dataclass
class CorridorParams:
    max_steps_in_episode: int = 100


class Corridor(Environment):
    """Cells 0..4; start uniformly in 1..3. Action 0 stays, 1 left, 2 right.
    Cell 0 is a pit (-1, terminated), cell 4 the goal (+1, terminated); 0 otherwise.
    Truncation at ``max_steps_in_episode``. Obs: float32[1] position."""

    @property
    def default_params(self):
        return CorridorParams()

    def reset_env(self, key, params):
        pos = jax.random.randint(key, (), 1, 4)
        return jnp.array([pos], jnp.float32), CorridorState(pos, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        pos = state.pos + jnp.where(action == 2, 1, jnp.where(action == 1, -1, 0))
        reward = jnp.where(pos == 4, 1.0, jnp.where(pos == 0, -1.0, 0.0))
        time = state.time + 1
        terminated = (pos == 0) | (pos == 4)
        truncated = time >= params.max_steps_in_episode
        obs = jnp.array([pos], jnp.float32)
        return obs, CorridorState(pos, time), reward, terminated, truncated, {}

    def action_space(self, params=None):
        return spaces.Discrete(3)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 4.0, (1,), jnp.float32)


def scripted(policy):
    """An Agent whose 'state' is ignored except through ``policy(state, obs, key, greedy)``."""
    return Agent(init=None, update=None, num_updates=0, act=policy, config=None)


always = lambda a: scripted(lambda s, obs, k, g: jnp.int32(a))  # noqa: E731
from_state = scripted(lambda s, obs, k, g: jnp.asarray(s, jnp.int32))


@pytest.fixture(scope="module")
def run():
    env = Corridor()
    compiled = {}

    def go(agent_state, agent=from_state, params=CorridorParams(), n=64, max_steps=10,  # noqa: B008
           win_fn=None):
        key = (n, max_steps, win_fn)
        if key not in compiled:
            compiled[key] = jax.jit(
                lambda s, p, k: ev.evaluate(agent, s, env, p, k, n, max_steps, win_fn=win_fn)
            )
        return compiled[key](agent_state, params, jax.random.key(0))

    return go


def start_positions(result):
    return np.asarray(result.initial_state.pos)


def test_going_right_wins_in_4_minus_start_steps(run):
    r = run(jnp.int32(2))
    start = start_positions(r)
    assert set(start) == {1, 2, 3}  # 64 fresh episodes cover every start
    np.testing.assert_array_equal(r.lengths, 4 - start)
    np.testing.assert_array_equal(r.returns, 1.0)
    np.testing.assert_array_equal(r.wins, True)
    np.testing.assert_array_equal(r.terminated, True)
    np.testing.assert_allclose(r.win_rate, 1.0)
    np.testing.assert_allclose(r.mean_length, np.mean(4 - start))


def test_going_left_loses(run):
    r = run(jnp.int32(1))
    np.testing.assert_array_equal(r.lengths, start_positions(r))
    np.testing.assert_array_equal(r.returns, -1.0)
    np.testing.assert_array_equal(r.wins, False)
    np.testing.assert_array_equal(r.terminated, True)
    np.testing.assert_allclose(r.mean_return, -1.0)


def test_step_cap_and_env_truncation_are_not_terminations(run):
    r = run(jnp.int32(0), max_steps=10)  # staying put: cut by the evaluation's cap
    np.testing.assert_array_equal(r.lengths, 10)
    np.testing.assert_array_equal(r.terminated, False)
    np.testing.assert_array_equal(r.wins, False)
    np.testing.assert_array_equal(r.returns, 0.0)
    r = run(jnp.int32(0), params=CorridorParams(max_steps_in_episode=3))  # the env's own limit
    np.testing.assert_array_equal(r.lengths, 3)
    np.testing.assert_array_equal(r.terminated, False)


def test_custom_win_predicate(run):
    # "Win" = ended in the pit: the predicate sees the final state, reward and flag.
    pit = lambda state, reward, terminated: terminated & (state.pos == 0)  # noqa: E731
    r = run(jnp.int32(1), win_fn=pit)
    np.testing.assert_array_equal(r.wins, True)


def test_vmaps_over_seeds_on_the_same_episodes(run):
    env = Corridor()
    evaluate = jax.jit(jax.vmap(
        lambda s: ev.evaluate(from_state, s, env, CorridorParams(), jax.random.key(0), 64, 10)
    ))
    r = evaluate(jnp.array([2, 1, 0], jnp.int32))
    assert r.returns.shape == (3, 64)
    np.testing.assert_allclose(r.win_rate, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(r.mean_return, [1.0, -1.0, 0.0])
    # The same key gives every seed the same starts.
    np.testing.assert_array_equal(r.initial_state.pos[0], r.initial_state.pos[1])


def test_greedy_flag_reaches_act():
    env = Corridor()
    # Greedy: go right; exploring: go left. Nothing else differs.
    agent = scripted(lambda s, obs, k, greedy: jnp.int32(2 if greedy else 1))
    key = jax.random.key(1)
    greedy = ev.evaluate(agent, None, env, CorridorParams(), key, 8, 10, greedy=True)
    explore = ev.evaluate(agent, None, env, CorridorParams(), key, 8, 10, greedy=False)
    np.testing.assert_allclose(greedy.win_rate, 1.0)
    np.testing.assert_allclose(explore.win_rate, 0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_episodes"):
        ev.evaluate(always(0), None, Corridor(), CorridorParams(), jax.random.key(0), 0)
    with pytest.raises(ValueError, match="max_steps"):
        ev.evaluate(
            always(0), None, Corridor(), CorridorParams(), jax.random.key(0), 4, max_steps=0
        )


# --------------------------------------------------------------------------------- replay
# A path around the static board's pit and wall, by the player's cell (row, col).
SAFE_PATH = {(0, 3): 1, (1, 3): 1, (2, 3): 2, (2, 2): 2, (2, 1): 2, (2, 0): 0, (1, 0): 0}


def path_policy(state, obs, key, greedy):
    player = jnp.argmax(jnp.reshape(obs, (16, 4))[:, 0])
    table = jnp.zeros(16, jnp.int32)
    for (row, col), action in SAFE_PATH.items():
        table = table.at[row * 4 + col].set(action)
    return table[player]


def test_replay_text_of_a_won_static_game():
    env, params = envs.make("Gridworld-v0", mode="static")
    env = envs.wrappers.ObservationNoise(env, 0.01)
    text = ev.replay_text(
        env, params, scripted(path_policy), None, jax.random.key(0), action_names=ACTION_NAMES
    )
    lines = text.split("\n")
    assert lines[:5] == ["start:", "+- P", " W  ", "    ", "    "]
    assert lines[5] == "move 1: down, reward -1"
    assert lines[6:10] == ["+-  ", " W P", "    ", "    "]
    moves = [line for line in lines if line.startswith("move")]
    assert [m.split(":")[1].split(",")[0].strip() for m in moves] == [
        "down", "down", "left", "left", "left", "up", "up"
    ]
    assert moves[-1] == "move 7: up, reward +10"
    assert lines[-5:-1] == ["P-  ", " W  ", "    ", "    "]  # the player on the goal
    assert lines[-1] == "won after 7 moves, return +4"  # 6 x -1 + 10


def test_replay_text_of_a_lost_game_and_the_move_cap():
    env, params = envs.make("Gridworld-v0", mode="static")
    text = ev.replay_text(env, params, always(2), None, jax.random.key(0))
    assert text.split("\n")[-1] == "lost after 2 moves, return -11"  # left, left into the pit
    assert "move 2: 2, reward -10" in text  # no names given: the action numbers
    text = ev.replay_text(env, params, always(3), None, jax.random.key(0), max_steps=4)
    assert text.split("\n")[-1] == "stopped after 4 moves, return -4"


def test_replay_text_without_render_prints_observations():
    text = ev.replay_text(Corridor(), CorridorParams(), always(2), None, jax.random.key(0))
    assert text.split("\n")[-1].startswith("won after")
    assert "[4.]" in text


# --------------------------------------------------------------------------------- starts
def start_at(pos):
    return jnp.array([pos], jnp.float32), CorridorState(jnp.int32(pos), jnp.zeros((), jnp.int32))


def test_start_state_replaces_the_reset():
    r = ev.evaluate(always(2), None, Corridor(), CorridorParams(), jax.random.key(0), 5, 10,
                    start=start_at(1))
    np.testing.assert_array_equal(r.initial_state.pos, 1)  # every episode, not the resets
    np.testing.assert_array_equal(r.lengths, 3)  # 1 -> 4
    np.testing.assert_array_equal(r.returns, 1.0)
    # vmapped over starts: one episode from each cell.
    starts = jax.vmap(start_at)(jnp.array([1, 2, 3]))
    r = jax.vmap(lambda o, s: ev.evaluate(always(2), None, Corridor(), CorridorParams(),
                                          jax.random.key(0), 1, 10, start=(o, s)))(*starts)
    np.testing.assert_array_equal(r.lengths[:, 0], [3, 2, 1])


def test_record_keeps_every_step_and_marks_the_end():
    # Episodes from cells 1 and 3 going left: 1 step into the pit, or 3 steps.
    agent = always(1)

    def one(pos):
        o, s = start_at(pos)
        return ev.evaluate(agent, None, Corridor(), CorridorParams(), jax.random.key(0), 1, 5,
                           start=(o, s), record=True)

    r = jax.jit(jax.vmap(one))(jnp.array([1, 3]))
    traj = r.trajectory
    assert traj.states.pos.shape == (2, 1, 6) and traj.rewards.shape == (2, 1, 5)
    np.testing.assert_array_equal(r.lengths[:, 0], [1, 3])
    np.testing.assert_array_equal(traj.states.pos[1, 0, :4], [3, 2, 1, 0])
    np.testing.assert_array_equal(traj.observations[1, 0, :4, 0], [3, 2, 1, 0])
    np.testing.assert_array_equal(traj.actions[1, 0, :3], 1)
    np.testing.assert_array_equal(traj.rewards[1, 0], [0, 0, -1, 0, 0])  # filler after the end
    np.testing.assert_array_equal(traj.terminated[1, 0], [False, False, True, False, False])
    np.testing.assert_array_equal(traj.truncated, False)
    ep = ev.Episode.from_result(jax.tree.map(lambda x: x[1], r))
    assert ep.length == 3 and ep.terminated and not ep.truncated and ep.total_return == -1.0
    assert [int(s.pos) for s in ep.states] == [3, 2, 1, 0]


def test_record_reports_the_env_time_limit_and_needs_a_static_cap():
    ep = ev.record_episode(always(0), None, Corridor(), CorridorParams(max_steps_in_episode=4),
                           jax.random.key(0))  # the cap: the params' time limit
    assert ep.length == 4 and ep.truncated and not ep.terminated
    with pytest.raises(ValueError, match="static episode cap"):
        jax.jit(lambda p: ev.evaluate(always(0), None, Corridor(), p, jax.random.key(0), 1,
                                      record=True))(CorridorParams())


def test_episode_cap():
    assert ev.episode_cap(CorridorParams(max_steps_in_episode=7)) == 7
    assert ev.episode_cap(CorridorParams(), 3) == 3
    assert ev.episode_cap(None) == ev.DEFAULT_CAP
    with pytest.raises(ValueError, match="max_steps"):
        ev.episode_cap(CorridorParams(), 0)


# --------------------------------------------------------------------------------- seeds
def test_evaluate_seeds_plays_every_seed_on_the_same_episodes():
    states = jnp.array([2, 1, 0], jnp.int32)  # the scripted policy reads its action here
    r = evaluation.evaluate_seeds(from_state, states, Corridor(), CorridorParams(), episodes=16,
                          max_steps=10, seed=3)
    assert r.returns.shape == (3, 16) and isinstance(r.returns, np.ndarray)
    np.testing.assert_array_equal(r.initial_state.pos[0], r.initial_state.pos[2])
    np.testing.assert_allclose(np.mean(r.returns, axis=1), [1.0, -1.0, 0.0])
    np.testing.assert_array_equal(r.lengths[2], 10)  # staying put: cut at max_steps
    with pytest.raises(ValueError, match="episodes"):
        evaluation.evaluate_seeds(from_state, states, Corridor(), CorridorParams(), episodes=0)
    with pytest.raises(ValueError, match="start must be one of"):
        evaluation.evaluate_seeds(from_state, states, Corridor(), CorridorParams(), start="random")


def test_eval_row_by_hand():
    r = ev.EvalResult(returns=np.array([[1.0, 3.0], [5.0, 7.0]]), lengths=np.array([[2, 4]] * 2),
                      terminated=None, wins=None, initial_state=None)
    # Seed means 2 and 6: mean 4, std over seeds 2.
    assert evaluation.eval_row(r, greedy=True) == ["greedy", "2", "4.00 ± 2.00", "1.00", "7.00", "3.0"]
    assert evaluation.eval_row(r, greedy=False)[0] == "stochastic"
    assert len(evaluation.EVAL_HEADERS) == 6


# --------------------------------------------------------------------------------- bandits
def bandit_training_state(arms):
    """A stand-in training state as a run keeps it: ``[seeds, copies]`` bandit states
    after 900 pulls, inside wrapper states and other fields."""
    from jaxrl.envs.bandits import BanditState
    from jaxrl.envs.wrappers import EpisodeStatisticsState

    seeds, copies = arms.shape[:2]
    inner = BanditState(jnp.asarray(arms, jnp.float32), jnp.full((seeds, copies), 900, jnp.int32))
    env_state = EpisodeStatisticsState(inner, jnp.zeros((seeds, copies)),
                                       jnp.zeros((seeds, copies), jnp.int32))
    return {"best_arm": jnp.argmax(arms[:, 0], axis=-1).astype(jnp.int32), "env": env_state}


def test_bandit_runs_are_evaluated_on_the_bandit_they_trained_on():
    from jaxrl import envs as envs_mod

    env, params = envs_mod.make("Bandit-v0", num_arms=4)
    arms = np.array([[[0.1, 0.9, 0.2, 0.3], [0.5, 0.5, 0.5, 0.5]],
                     [[0.8, 0.1, 0.1, 0.05], [0.5, 0.5, 0.5, 0.5]]], np.float32)
    states = bandit_training_state(arms)
    # An agent that learned its bandit perfectly: it pulls the best arm of copy 0.
    oracle = scripted(lambda s, obs, k, g: s["best_arm"])
    r = evaluation.evaluate_seeds(oracle, states, env, params, episodes=3, max_steps=400)
    assert ev.resolve_start(env, params, states) == "trained"
    np.testing.assert_allclose(r.initial_state.arms, np.repeat(arms[:, :1], 3, axis=1))
    np.testing.assert_array_equal(r.initial_state.time, 0)  # a full episode on those arms
    np.testing.assert_array_equal(r.lengths, 400)
    # Binomial(10, p) per pull: 9 for seed 0, 8 for seed 1 (400 pulls: sd of the mean 0.05).
    np.testing.assert_allclose(r.returns.mean(axis=1) / 400, [9.0, 8.0], atol=0.2)
    assert ev.resolve_start(env, params, states, "fresh") == "fresh"  # resets, if asked


def test_training_env_state_concrete_and_traced():
    from jaxrl import envs as envs_mod

    env, params = envs_mod.make("Bandit-v0", num_arms=4)
    arms = np.arange(16, dtype=np.float32).reshape(2, 2, 4) / 16
    states = jax.tree.map(np.asarray, bandit_training_state(arms))  # as loaded from disk
    one = jax.tree.map(lambda x: x[1], states)
    found = ev.training_env_state(one, env, params)
    np.testing.assert_array_equal(found.arms, arms[1, 0])
    assert int(found.time) == 0
    traced = jax.jit(jax.vmap(lambda s: ev.training_env_state(s, env, params).arms))(states)
    np.testing.assert_array_equal(traced, arms[:, 0])
    assert ev.training_env_state({"q": np.zeros(3)}, env, params) is None
    assert ev.resolve_start(env, params, {"q": np.zeros(3)}) == "fresh"  # nothing to resume
    with pytest.raises(ValueError, match="holds no state"):
        ev.resolve_start(env, params, {"q": np.zeros(3)}, "trained")
    assert ev.resolve_start(Corridor(), CorridorParams(), one) == "fresh"  # not a bandit


def test_a_bandit_reset_on_the_last_training_step_is_reported():
    from jaxrl import envs as envs_mod

    env, params = envs_mod.make("Bandit-v0", num_arms=4)
    states = bandit_training_state(np.full((1, 2, 4), 0.5, np.float32))
    states["env"] = states["env"].replace(env_state=states["env"].env_state.replace(
        time=jnp.zeros((1, 2), jnp.int32)))  # the run ended as the episode did
    assert ev.task_just_reset(jax.tree.map(lambda x: x[0], states), env, params)
    assert not ev.task_just_reset(jax.tree.map(lambda x: x[0], bandit_training_state(
        np.full((1, 2, 4), 0.5, np.float32))), env, params)  # 900 pulls in
    oracle = scripted(lambda s, obs, k, g: s["best_arm"])
    with pytest.warns(RuntimeWarning, match="never acted on it"):
        evaluation.evaluate_seeds(oracle, states, env, params, episodes=1, max_steps=5)
