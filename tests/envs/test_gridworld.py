"""Gridworld: layouts, moves, rewards, episode ends, reset distributions, render, solvable."""

from __future__ import annotations

import itertools
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.gridworld import Gridworld, GridworldParams, GridworldState

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def board(player, goal=(0, 0), pit=(0, 1), wall=(1, 1), time=0) -> GridworldState:
    p = lambda rc: jnp.asarray(rc, jnp.int32)  # noqa: E731
    return GridworldState(p(player), p(goal), p(pit), p(wall), jnp.asarray(time, jnp.int32))


def planes(size, player, goal, pit, wall) -> np.ndarray:
    """The observation built by hand."""
    obs = np.zeros((size, size, 4), np.float32)
    for k, (r, c) in enumerate((player, goal, pit, wall)):
        obs[r, c, k] = 1.0
    return obs


@pytest.fixture(scope="module")
def static_env():
    return envs.make("Gridworld-v0")


@pytest.fixture(scope="module")
def jit_step(static_env):
    env, _ = static_env
    return jax.jit(env.step)


# --- layouts ------------------------------------------------------------------------------
def test_static_layout(static_env):
    env, params = static_env
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, planes(4, (0, 3), (0, 0), (0, 1), (1, 1)))
    assert obs.dtype == jnp.float32 and obs.shape == (4, 4, 4)
    assert state.player.dtype == jnp.int32 and int(state.time) == 0
    # The static board is the same whatever the key.
    obs2, _ = env.reset(jax.random.key(123), params)
    np.testing.assert_array_equal(obs, obs2)


def test_static_layout_on_a_larger_board():
    env, params = envs.make("Gridworld-v0", size=6)
    obs, _ = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, planes(6, (0, 3), (0, 0), (0, 1), (1, 1)))
    assert env.observation_space(params).shape == (6, 6, 4)


def test_default_params_are_the_book_rules(static_env):
    _, params = static_env
    assert (params.step_reward, params.goal_reward, params.pit_reward) == (-1.0, 10.0, -10.0)
    assert params.max_steps_in_episode == 50


def test_player_mode_never_overlaps_and_covers_every_free_cell():
    env, params = envs.make("Gridworld-v0", mode="player")
    n = 100_000
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(1), n), params
    )
    for name, rc in (("goal", (0, 0)), ("pit", (0, 1)), ("wall", (1, 1))):
        np.testing.assert_array_equal(np.asarray(getattr(states, name)), np.tile(rc, (n, 1)))
    cells = np.asarray(states.player[:, 0] * 4 + states.player[:, 1])
    counts = np.bincount(cells, minlength=16)
    assert counts[[0, 1, 5]].sum() == 0  # goal, pit, wall cells
    free = np.setdiff1d(np.arange(16), [0, 1, 5])
    assert np.all(counts[free] > 0)
    # Uniform over the 13 free cells: every count within 5 binomial sigmas.
    mean, sd = n / 13, np.sqrt(n * (1 / 13) * (12 / 13))
    assert np.all(np.abs(counts[free] - mean) < 5 * sd), counts


def test_random_mode_never_overlaps_and_is_uniform():
    env, params = envs.make("Gridworld-v0", mode="random", size=4)
    n = 100_000
    obs, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(2), n), params
    )
    pos = np.stack([np.asarray(getattr(states, k)) for k in ("player", "goal", "pit", "wall")], 1)
    cells = pos[..., 0] * 4 + pos[..., 1]  # [n, 4]
    assert cells.min() >= 0 and cells.max() < 16
    srt = np.sort(cells, axis=1)
    assert np.all(srt[:, 1:] != srt[:, :-1]), "two objects share a cell"
    # Observations agree with positions: exactly one 1 per plane, four distinct cells.
    flat = np.asarray(obs).reshape(n, 16, 4)
    assert np.all(flat.sum(axis=1) == 1)
    assert np.all(flat.sum(axis=2).max(axis=1) == 1)
    # Each object's marginal is uniform over the 16 cells.
    mean, sd = n / 16, np.sqrt(n / 16 * 15 / 16)
    for k in range(4):
        counts = np.bincount(cells[:, k], minlength=16)
        assert np.all(np.abs(counts - mean) < 5 * sd), (k, counts)
    # Distinct configurations among n uniform draws from N = 43,680:
    # E = N (1 - (1 - 1/N)^n), about 39,255; the spread is a few dozen.
    big_n = 16 * 15 * 14 * 13
    codes = ((cells[:, 0] * 16 + cells[:, 1]) * 16 + cells[:, 2]) * 16 + cells[:, 3]
    distinct = len(np.unique(codes))
    expected = big_n * (1 - (1 - 1 / big_n) ** n)
    assert abs(distinct - expected) < 0.01 * expected, (distinct, expected)


def test_random_mode_reaches_all_43680_configurations():
    env, params = envs.make("Gridworld-v0", mode="random")
    n = 1_000_000  # P(some configuration missed) <= 43,680 * exp(-n / 43,680) ~ 5e-6
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(3), n), params
    )
    names = ("player", "goal", "pit", "wall")
    cells = [np.asarray(getattr(states, k) @ jnp.array([4, 1])) for k in names]
    codes = ((cells[0] * 16 + cells[1]) * 16 + cells[2]) * 16 + cells[3]
    assert len(np.unique(codes)) == 16 * 15 * 14 * 13


# --- moves --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start, action, end",
    [
        ((2, 2), UP, (1, 2)),
        ((2, 2), DOWN, (3, 2)),
        ((2, 2), LEFT, (2, 1)),
        ((2, 2), RIGHT, (2, 3)),
        ((0, 3), UP, (0, 3)),  # off the top edge
        ((0, 3), RIGHT, (0, 3)),  # off the right edge
        ((3, 0), DOWN, (3, 0)),  # off the bottom edge
        ((3, 0), LEFT, (3, 0)),  # off the left edge
        ((1, 2), LEFT, (1, 2)),  # into the wall at (1, 1)
        ((2, 1), UP, (2, 1)),  # into the wall from below
        ((1, 0), RIGHT, (1, 0)),  # into the wall from the left
    ],
)
def test_moves_and_blocking(static_env, jit_step, start, action, end):
    env, params = static_env
    obs, state, reward, terminated, truncated, info = jit_step(
        jax.random.key(0), board(start), action, params
    )
    assert tuple(np.asarray(state.player)) == end
    assert float(reward) == -1.0
    assert not bool(terminated) and not bool(truncated)
    np.testing.assert_array_equal(obs, planes(4, end, (0, 0), (0, 1), (1, 1)))
    assert int(state.time) == 1


def test_pit_ends_the_episode_with_its_reward(static_env, jit_step):
    env, params = static_env
    obs, state, reward, terminated, truncated, info = jit_step(
        jax.random.key(0), board((0, 2)), LEFT, params
    )
    assert float(reward) == -10.0 and bool(terminated) and not bool(truncated)
    # The final observation shows the player in the pit; the returned one is a new episode.
    np.testing.assert_array_equal(
        info["final_observation"], planes(4, (0, 1), (0, 0), (0, 1), (1, 1))
    )
    np.testing.assert_array_equal(obs, planes(4, (0, 3), (0, 0), (0, 1), (1, 1)))
    assert int(state.time) == 0


def test_goal_ends_the_episode_with_its_reward(static_env, jit_step):
    env, params = static_env
    obs, state, reward, terminated, truncated, info = jit_step(
        jax.random.key(0), board((1, 0)), UP, params
    )
    assert float(reward) == 10.0 and bool(terminated) and not bool(truncated)
    np.testing.assert_array_equal(
        info["final_observation"], planes(4, (0, 0), (0, 0), (0, 1), (1, 1))
    )


def test_optimal_static_path_returns_four(static_env, jit_step):
    """By hand: around the wall, 7 moves (6 steps at -1, then +10 on the goal)."""
    env, params = static_env
    _, state = env.reset(jax.random.key(0), params)
    total = 0.0
    path = [LEFT, DOWN, DOWN, LEFT, LEFT, UP, UP]
    for i, a in enumerate(path):
        _, state, reward, terminated, truncated, _ = jit_step(jax.random.key(i), state, a, params)
        total += float(reward)
        assert bool(terminated) == (i == len(path) - 1)
    assert total == 4.0


def test_truncation_at_the_cap_is_not_termination(jit_step):
    env, params = envs.make("Gridworld-v0", max_steps_in_episode=3)
    _, state = env.reset(jax.random.key(0), params)
    flags = []
    for i in range(3):
        _, state, reward, terminated, truncated, info = jit_step(
            jax.random.key(i), state, UP, params  # bumps the top edge
        )
        flags.append((float(reward), bool(terminated), bool(truncated)))
    assert flags == [(-1.0, False, False), (-1.0, False, False), (-1.0, False, True)]
    assert int(state.time) == 0  # auto-reset began a new episode


def test_terminal_step_on_the_cap_sets_both_flags(jit_step):
    env, params = envs.make("Gridworld-v0", max_steps_in_episode=5)
    _, _, reward, terminated, truncated, _ = jit_step(
        jax.random.key(0), board((1, 0), time=4), UP, params
    )
    assert float(reward) == 10.0 and bool(terminated) and bool(truncated)


def test_sparse_rewards():
    env, params = envs.make("Gridworld-v0", rewards="sparse")
    assert (params.step_reward, params.goal_reward, params.pit_reward) == (0.0, 1.0, -1.0)
    step = jax.jit(env.step)
    k = jax.random.key(0)
    assert float(step(k, board((2, 2)), UP, params)[2]) == 0.0
    assert float(step(k, board((1, 0)), UP, params)[2]) == 1.0
    assert float(step(k, board((0, 2)), LEFT, params)[2]) == -1.0


def test_reward_schemes_side_by_side_under_vmap(static_env):
    env, _ = static_env
    params = GridworldParams(
        step_reward=jnp.array([-1.0, 0.0]),
        goal_reward=jnp.array([10.0, 1.0]),
        pit_reward=jnp.array([-10.0, -1.0]),
        max_steps_in_episode=jnp.array([50, 50]),
    )
    state = jax.tree.map(lambda x: jnp.stack([x, x]), board((0, 2)))
    out = jax.jit(jax.vmap(env.step, in_axes=(None, 0, None, 0)))(
        jax.random.key(0), state, LEFT, params
    )
    np.testing.assert_array_equal(out[2], [-10.0, -1.0])


def test_spaces_and_no_retrace(static_env):
    env, params = static_env
    assert env.action_space(params).n == 4
    obs, state = env.reset(jax.random.key(0), params)
    assert bool(env.observation_space(params).contains(obs))
    step = jax.jit(env.step)
    for a in range(4):
        obs, state, *_ = step(jax.random.key(a), state, jnp.int32(a), params)
    assert step._cache_size() == 1
    assert bool(env.observation_space(params).contains(obs))


# --- render -------------------------------------------------------------------------------
def test_static_board_renders_like_the_book(static_env):
    env, params = static_env
    _, state = env.reset(jax.random.key(0), params)
    assert env.render(state) == "+- P\n W  \n    \n    "


def test_render_any_board():
    env = Gridworld(size=5, mode="random")
    text = env.render(board((4, 4), goal=(2, 3), pit=(0, 0), wall=(3, 1)))
    assert text.split("\n") == ["-    ", "     ", "   + ", " W   ", "    P"]
    with pytest.raises(ValueError, match="unbatched"):
        env.render(jax.tree.map(lambda x: jnp.stack([x, x]), board((4, 4))))


# --- solvable -----------------------------------------------------------------------------
def bfs_solvable(size, player, goal, pit, wall) -> bool:
    """Reference: breadth-first search in plain Python."""
    seen, todo = {player}, deque([player])
    while todo:
        r, c = todo.popleft()
        if (r, c) == goal:
            return True
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nxt = (r + dr, c + dc)
            inside = 0 <= nxt[0] < size and 0 <= nxt[1] < size
            if inside and nxt not in seen and nxt not in (pit, wall):
                seen.add(nxt)
                todo.append(nxt)
    return False


def test_solvable_on_hand_built_boards():
    env = Gridworld(mode="random")
    solvable = jax.jit(env.solvable)
    assert bool(solvable(board((0, 3))))  # the static board
    # Goal walled into its corner by the pit and the wall.
    assert not bool(solvable(board((3, 3), goal=(0, 0), pit=(0, 1), wall=(1, 0))))
    assert not bool(solvable(board((2, 2), goal=(3, 3), pit=(2, 3), wall=(3, 2))))
    # Player walled into its corner.
    assert not bool(solvable(board((0, 3), goal=(3, 0), pit=(1, 3), wall=(0, 2))))
    # A pit and wall beside the goal but leaving one way in.
    assert bool(solvable(board((3, 3), goal=(0, 1), pit=(0, 0), wall=(1, 1))))
    # A long detour on a big board still counts (flood fill runs size**2 rounds).
    big = Gridworld(size=6)
    assert bool(jax.jit(big.solvable)(board((5, 5), goal=(0, 0), pit=(0, 1), wall=(1, 1))))


def test_solvable_on_every_4x4_configuration():
    """Exhaustive: 43,680 boards; a board is unwinnable exactly when the goal or the
    player sits in a corner whose two neighbours are the pit and the wall:
    4 corners x 2 orders x 13 cells for the other object, twice = 208 (by hand)."""
    configs = np.array(list(itertools.permutations(range(16), 4)), np.int32)
    assert len(configs) == 43_680
    rc = np.stack([configs // 4, configs % 4], axis=-1)  # [N, 4, 2]
    states = GridworldState(
        jnp.asarray(rc[:, 0]), jnp.asarray(rc[:, 1]), jnp.asarray(rc[:, 2]),
        jnp.asarray(rc[:, 3]), jnp.zeros(len(rc), jnp.int32),
    )
    got = np.asarray(jax.jit(jax.vmap(Gridworld(mode="random").solvable))(states))
    assert (~got).sum() == 208
    # And agrees board by board with a plain BFS (on the unsolvable ones and a sample).
    rng = np.random.default_rng(0)
    check = np.concatenate([np.flatnonzero(~got), rng.choice(len(rc), 2000, replace=False)])
    for i in check:
        p, g, t, w = (tuple(int(v) for v in x) for x in rc[i])
        assert got[i] == bfs_solvable(4, p, g, t, w), rc[i]


# --- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 0, -4, 4.5, "4", True])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size must be an int >= 4"):
        envs.make("Gridworld-v0", size=size)


def test_unknown_mode_names_the_closest():
    with pytest.raises(ValueError,
                       match=r"'randm'.*Did you mean: random\?.*static, player, random"):
        envs.make("Gridworld-v0", mode="randm")


def test_unknown_reward_scheme():
    with pytest.raises(ValueError, match=r"reward scheme 'spars'.*Did you mean: sparse\?"):
        envs.make("Gridworld-v0", rewards="spars")


def test_unknown_option():
    with pytest.raises(ValueError, match="no option 'max_step'"):
        envs.make("Gridworld-v0", max_step=10)


# --- state index --------------------------------------------------------------------------
def test_state_index():
    env, params = envs.make("Gridworld-v0", mode="player")
    obs = env.observe(board((2, 3)))
    assert int(env.state_index(obs)) == 2 * 4 + 3
    assert int(env.state_index(obs.reshape(-1))) == 11  # flattened obs work too
    assert env.num_states == 16
    rnd = Gridworld(mode="random")
    obs = rnd.observe(board((3, 3), goal=(0, 2), pit=(1, 0), wall=(2, 1)))
    assert int(rnd.state_index(obs)) == ((15 * 16 + 2) * 16 + 4) * 16 + 9
    assert rnd.num_states == 16**4
