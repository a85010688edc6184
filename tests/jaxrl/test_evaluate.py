"""jaxrl.evaluate: episode bookkeeping against hand-counted outcomes on a corridor with
scripted agents, vmapping over seeds, and the move-by-move text replay of Gridworld."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs
from envs import spaces
from envs.core import Environment
from envs.gridworld import ACTION_NAMES
from jaxrl import evaluate as ev
from jaxrl.agent import Agent


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

    def go(agent_state, agent=from_state, params=CorridorParams(), n=64, max_steps=10, win_fn=None):
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
