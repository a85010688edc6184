"""Maze-v0 (chapter 8's sparse-reward board) and MountainCar's sparse option."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.maze import Maze, MazeState
from jaxrl.envs.mountain_car import MountainCarState


def _state(r: int, c: int, t: int = 0) -> MazeState:
    return MazeState(jnp.asarray([r, c], jnp.int32), jnp.asarray(t, jnp.int32))


def _reachable(walls: np.ndarray) -> set[tuple[int, int]]:
    n = walls.shape[0]
    seen, queue = {(0, 0)}, collections.deque([(0, 0)])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < n and 0 <= nc < n and not walls[nr, nc] and (nr, nc) not in seen:
                seen.add((nr, nc))
                queue.append((nr, nc))
    return seen


@pytest.mark.parametrize("size,seed,extra",
                         [(7, 0, 0.0), (15, 0, 0.2), (15, 1, 0.0), (19, 3, 0.5)])
def test_layout_rooms_doors_and_connected(size, seed, extra):
    env = Maze(size=size, layout_seed=seed, extra_doors=extra)
    w = env.walls
    k = (size + 1) // 4
    lines = np.zeros_like(w)
    lines[3::4, :] = True
    lines[:, 3::4] = True
    assert not np.any(w & ~lines)  # walls only on the wall lines
    assert np.all(w[3::4, 3::4])  # crossings are always wall
    # A door is a free cell on a wall line; a spanning tree of k*k rooms has k*k - 1 of them.
    doors = int(np.sum(lines & ~w))
    assert doors >= k * k - 1
    if extra == 0.0:
        assert doors == k * k - 1
    free = {tuple(x) for x in np.argwhere(~w)}
    assert _reachable(w) == free  # every free cell (the goal too) reachable from the start
    assert env.shortest_path() >= 2 * (size - 1)
    # The same seed draws the same board; another seed another board.
    assert np.array_equal(Maze(size, seed, extra).walls, w)


def test_layouts_differ_by_seed():
    assert not np.array_equal(Maze(15, 0).walls, Maze(15, 1).walls)


def test_registered_observation_and_render():
    env, params = envs.make("Maze-v0")
    assert env.size == 15 and params.max_steps_in_episode == 200
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == (15, 15, 3) and obs.dtype == jnp.float32
    assert env.observation_space(params).contains(obs)
    assert obs[0, 0, 0] == 1 and obs[..., 0].sum() == 1  # player plane
    assert obs[14, 14, 1] == 1 and obs[..., 1].sum() == 1  # goal plane
    assert np.array_equal(np.asarray(obs[..., 2], bool), env.walls)  # wall plane
    assert int(env.cell_index(obs)) == 0
    text = env.render(state).split("\n")
    assert len(text) == 15 and all(len(line) == 15 for line in text)
    assert text[0][0] == "P" and text[14][14] == "+" and text[3][3] == "W"
    assert sum(line.count("W") for line in text) == int(env.walls.sum())


@pytest.mark.parametrize("bad", [{"size": 8}, {"size": 3}, {"size": True},
                                 {"layout_seed": -1}, {"extra_doors": 1.5}])
def test_bad_options_refused(bad):
    with pytest.raises(ValueError, match="Maze"):
        envs.make("Maze-v0", **bad)


def test_walls_edges_goal_and_reward():
    env = Maze(size=7, layout_seed=0, extra_doors=0.0)
    params = env.default_params
    step = jax.jit(env.step_env)
    key = jax.random.key(0)
    # Off the board: up and left from the start stay put, cost nothing.
    for action in (0, 2):
        _, s, r, term, trunc, _ = step(key, _state(0, 0), action, params)
        assert s.player.tolist() == [0, 0] and float(r) == 0.0 and not term and not trunc
    # Into a wall: every free cell next to a wall, pushed into it, stays put.
    moves = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}
    checked = 0
    for r, c in np.argwhere(~env.walls):
        for a, (dr, dc) in moves.items():
            nr, nc = r + dr, c + dc
            if 0 <= nr < 7 and 0 <= nc < 7 and env.walls[nr, nc]:
                _, s, *_ = step(key, _state(int(r), int(c)), a, params)
                assert s.player.tolist() == [r, c]
                checked += 1
    assert checked > 10
    # A free move moves; the step counter counts.
    _, s, r, term, _, _ = step(key, _state(0, 0, 5), 3, params)
    assert s.player.tolist() == [0, 1] and int(s.time) == 6 and float(r) == 0.0 and not term
    # Entering the goal pays goal_reward and terminates; from either side.
    for start, action in (((6, 5), 3), ((5, 6), 1)):
        obs, s, r, term, trunc, _ = step(key, _state(*start), action, params)
        assert s.player.tolist() == [6, 6] and float(r) == 1.0 and bool(term) and not trunc
        assert int(env.cell_index(obs)) == 48
    # Reward values come from params (vmappable fields).
    p2 = params.replace(goal_reward=5.0, step_reward=-0.1)
    assert float(step(key, _state(6, 5), 3, p2)[2]) == 5.0
    assert float(step(key, _state(0, 0), 3, p2)[2]) == pytest.approx(-0.1)


def test_truncation_and_auto_reset():
    env, params = envs.make("Maze-v0", size=7, max_steps_in_episode=3)
    key = jax.random.key(1)
    _, state = env.reset(key, params)
    flags = []
    for _ in range(3):
        _, state, _, term, trunc, info = env.step(key, state, 3, params)  # right
        flags.append((bool(term), bool(trunc)))
    assert flags == [(False, False), (False, False), (False, True)]
    # Auto-reset: back at the start; final_observation holds where the player was.
    assert state.player.tolist() == [0, 0] and int(state.time) == 0
    assert int(env.cell_index(info["final_observation"])) != 0


def test_mountain_car_sparse_reward():
    dense, params = envs.make("MountainCar-v0")
    sparse, _ = envs.make("MountainCar-v0", sparse=True)
    key = jax.random.key(0)
    near = MountainCarState(jnp.float32(0.49), jnp.float32(0.02), jnp.int32(0))
    far = MountainCarState(jnp.float32(-0.5), jnp.float32(0.0), jnp.int32(0))
    _, s, r, term, _, _ = sparse.step_env(key, near, 2, params)
    assert bool(term) and float(r) == 1.0 and float(s.position) >= 0.5
    _, _, r, term, _, _ = sparse.step_env(key, far, 2, params)
    assert not term and float(r) == 0.0
    # The dense default is unchanged (-1 every step, the terminating one too).
    for st in (near, far):
        assert float(dense.step_env(key, st, 2, params)[2]) == -1.0
    # Same dynamics either way.
    a = sparse.step_env(key, far, 0, params)[1]
    b = dense.step_env(key, far, 0, params)[1]
    assert float(a.position) == float(b.position) and float(a.velocity) == float(b.velocity)
    with pytest.raises(TypeError, match="sparse"):
        envs.make("MountainCar-v0", sparse="yes")
