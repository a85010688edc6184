"""DoorKey (envs/doorkey.py): hand-worked rules, layout statistics, and parity with the
``minigrid`` package (a test-only dependency, extra ``[minigrid]``)."""

from __future__ import annotations

from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import envs
from jaxrl.envs.doorkey import (
    CLOSED,
    COLOR,
    EMPTY,
    KEY,
    LOCKED,
    LOCKED_DOOR,
    OBJECT,
    OPEN,
    WALL,
    DoorKeyState,
    visibility,
)


def board5(door_row: int = 1, key=(1, 3), agent=(1, 1), direction: int = 0) -> DoorKeyState:
    """A hand-made 5x5 board (x, y): wall column 2, the door at (2, door_row), goal (3, 3)."""
    g = np.zeros((5, 5, 3), np.uint8)
    g[...] = EMPTY
    g[[0, 4], :] = WALL
    g[:, [0, 4]] = WALL
    g[2, :] = WALL
    g[2, door_row] = LOCKED_DOOR
    g[3, 3] = (OBJECT["goal"], COLOR["green"], 0)
    if key is not None:
        g[key] = KEY
    return DoorKeyState(grid=jnp.asarray(g), agent_pos=jnp.asarray(agent, jnp.int32),
                        agent_dir=jnp.int32(direction), carrying=jnp.zeros(3, jnp.uint8),
                        step_count=jnp.int32(0))


@pytest.fixture(scope="module")
def env5():
    env, params = envs.make("DoorKey-5x5-v0")
    step = jax.jit(env.step_env)
    return env, params, step


@pytest.fixture(scope="module")
def jitted5():
    """One compiled auto-resetting step and one observe for every 5x5 test."""
    env, _ = envs.make("DoorKey-5x5-v0")
    return jax.jit(env.step), jax.jit(env.observe)


def test_registered_sizes_and_spaces():
    for n in (5, 6, 8, 16):
        env, params = envs.make(f"DoorKey-{n}x{n}-v0")
        assert env.size == n and params.max_steps_in_episode == 10 * n * n
        assert env.action_space(params).n == 7
        assert env.observation_space(params).shape == (7, 7, 3)
    env, _ = envs.make("DoorKey-5x5-v0", action_set="book", observation="full")
    assert env.action_space().n == 5 and env.observation_space().shape == (5, 5, 3)
    with pytest.raises(ValueError, match="size"):
        envs.make("DoorKey-5x5-v0", size=4)
    with pytest.raises(ValueError, match="Did you mean: full"):
        envs.make("DoorKey-5x5-v0", observation="ful")


def test_the_solution_by_hand(env5):
    """Agent (1,1) facing down, key at (1,3) two cells below, door (2,1): a 10-step solution."""
    _, params, step = env5
    s1 = board5(agent=(1, 1), direction=1)
    rewards, terms = [], []
    for a in [2, 3, 1, 1, 2, 1, 5, 2, 2, 1, 2, 2]:
        _, s1, r, te, _, _ = step(jax.random.key(0), s1, jnp.int32(a), params)
        rewards.append(float(r))
        terms.append(bool(te))
    # 2: at (1, 2); 3: holding the key; 1, 1: facing up (down -> left -> up); 2: at (1, 1);
    # 1: facing right, the door in front; 5: unlocked and open; 2: on the door (2, 1);
    # 2: at (3, 1); 1: facing down; 2: (3, 2); 2: the goal (3, 3) on the 12th step.
    assert terms == [False] * 11 + [True]
    assert rewards[:11] == [0.0] * 11
    assert rewards[11] == pytest.approx(1 - 0.9 * 12 / 250)
    assert np.array_equal(np.asarray(s1.agent_pos), [3, 3])
    assert np.array_equal(np.asarray(s1.carrying), KEY)
    assert int(s1.grid[2, 1, 2]) == OPEN


def test_door_key_rules(env5):
    _, params, step = env5
    k = jax.random.key(0)
    s = board5(agent=(1, 1), direction=0)  # facing the locked door, hands empty
    _, s2, *_ = step(k, s, jnp.int32(5), params)  # toggle without the key: still locked
    assert int(s2.grid[2, 1, 2]) == LOCKED
    _, s2, *_ = step(k, s, jnp.int32(2), params)  # forward into a locked door: no move
    assert np.array_equal(np.asarray(s2.agent_pos), [1, 1])
    held = s.replace(carrying=jnp.asarray(KEY, jnp.uint8))
    _, s3, *_ = step(k, held, jnp.int32(5), params)
    assert int(s3.grid[2, 1, 2]) == OPEN
    _, s4, *_ = step(k, s3, jnp.int32(5), params)  # an unlocked door closes ...
    assert int(s4.grid[2, 1, 2]) == CLOSED
    _, s5, *_ = step(k, s4.replace(carrying=jnp.zeros(3, jnp.uint8)), jnp.int32(5), params)
    assert int(s5.grid[2, 1, 2]) == OPEN  # ... and opens again without the key
    # drop onto the door cell: refused (not empty); drop onto an empty cell: placed.
    _, s6, *_ = step(k, s3, jnp.int32(4), params)
    assert np.array_equal(np.asarray(s6.carrying), KEY)
    down = held.replace(agent_dir=jnp.int32(1))  # (1, 2) below is empty
    _, s7, *_ = step(k, down, jnp.int32(4), params)
    assert np.array_equal(np.asarray(s7.grid[1, 2]), KEY) and int(s7.carrying[0]) == 0
    # pickup with full hands: nothing
    _, s8, *_ = step(k, s7.replace(carrying=jnp.asarray(KEY, jnp.uint8)), jnp.int32(3), params)
    assert np.array_equal(np.asarray(s8.grid[1, 2]), KEY)


def test_truncation_and_step_reward(jitted5):
    _, params = envs.make("DoorKey-5x5-v0", max_steps_in_episode=3, step_reward=-0.01)
    s = board5()
    step = jitted5[0]
    for t in range(3):
        _, s2, r, te, tr, info = step(jax.random.key(t), s, jnp.int32(0), params)
        assert float(r) == pytest.approx(-0.01) and not bool(te)
        assert bool(tr) == (t == 2)
        s = s2
    # auto-reset: a fresh board, the final observation kept
    assert int(s.step_count) == 0
    assert info["final_observation"].shape == (7, 7, 3)


def test_view_by_hand(jitted5):
    """Agent (1, 1) facing right on board5: the view's bottom row (vy = 6) is the board's
    column x = 1, with y growing to the agent's right (facing +x, the right hand is +y)."""
    obs = np.asarray(jitted5[1](board5(agent=(1, 1), direction=0)))
    # view[vx, vy] = cell (1 + (6 - vy), 1 + (vx - 3)): the agent's column at vy = 6.
    assert tuple(obs[3, 6]) == EMPTY  # the agent's own cell, hands empty
    assert tuple(obs[3, 5]) == LOCKED_DOOR  # (2, 1), straight ahead
    assert tuple(obs[2, 6]) == WALL  # (1, 0), on the left
    assert tuple(obs[5, 6]) == KEY  # (1, 3), two to the right
    # the locked door and the wall column hide everything beyond x = 2
    assert np.all(obs[:, :5, 0] == 0)


def test_visibility_by_hand():
    """A 7x7 view of empty cells with a wall row at vy = 4 except a gap at vx = 3."""
    v = np.zeros((7, 7, 3), np.uint8)
    v[...] = EMPTY
    v[:, 4] = WALL
    v[3, 4] = EMPTY
    m = np.asarray(visibility(jnp.asarray(v)))
    assert m[:, 5:].all() and m[:, 4].all()  # rows 5, 6 and the wall row itself
    # through the gap (3, 4): row 3 gets 2, 3, 4 (straight and diagonal), spreading sideways
    assert m[:, 3].all() and m[:, :3].all()
    v[3, 4] = WALL  # no gap: nothing above the wall row
    m = np.asarray(visibility(jnp.asarray(v)))
    assert m[:, 4:].all() and not m[:, :4].any()


def bfs_solvable(grid: np.ndarray, agent: tuple[int, int]) -> bool:
    """Key reachable, then the door next to a reached cell, then the goal with the door open."""
    n = grid.shape[0]

    def reach(passable, start):
        seen = {start}
        q = deque([start])
        while q:
            x, y = q.popleft()
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                c = (x + dx, y + dy)
                if 0 <= c[0] < n and 0 <= c[1] < n and c not in seen and passable[c]:
                    seen.add(c)
                    q.append(c)
        return seen

    obj = grid[..., 0]
    walk = (obj == OBJECT["empty"]) | (obj == OBJECT["goal"])
    is_key, is_door = obj == OBJECT["key"], obj == OBJECT["door"]

    def next_to(cells, target):
        return any((x + dx, y + dy) == target for x, y in cells
                   for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)))

    key = tuple(np.argwhere(is_key)[0])
    door = tuple(np.argwhere(is_door)[0])
    goal = tuple(np.argwhere(obj == OBJECT["goal"])[0])
    return (next_to(reach(walk, agent), key) and next_to(reach(walk | is_key, agent), door)
            and goal in reach(walk | is_key | is_door, agent))


@pytest.mark.parametrize("size", [5, pytest.param(8, marks=pytest.mark.slow)])
def test_layouts_over_100k_resets(size):
    env, params = envs.make(f"DoorKey-{size}x{size}-v0")
    n = 100_000
    keys = jax.random.split(jax.random.key(size), n)
    _, s = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    ok = np.asarray(jax.jit(jax.vmap(env.solvable))(s))
    assert ok.all()
    g = np.asarray(s.grid)
    obj = g[..., 0]
    pos = np.asarray(s.agent_pos)
    # the wall column: all walls but one locked yellow door, at x in [2, size - 3]
    inner = obj[:, 1:-1, 1:-1]  # [n, x - 1, y - 1]
    column = np.all((inner == OBJECT["wall"]) | (inner == OBJECT["door"]), axis=2)
    assert np.all(column.sum(axis=1) == 1)
    split = np.argmax(column, axis=1) + 1
    assert split.min() == 2 and split.max() == size - 3
    assert (obj == OBJECT["door"]).sum(axis=(1, 2)).tolist() == [1] * n
    door = np.argwhere(obj == OBJECT["door"])
    assert np.array_equal(door[:, 1], split) and np.all(g[obj == OBJECT["door"]] == LOCKED_DOOR)
    assert door[:, 2].min() == 1 and door[:, 2].max() == size - 3
    key = np.argwhere(obj == OBJECT["key"])
    assert len(key) == n and np.all(key[:, 1] < split) and np.all(key[:, 1] >= 1)
    assert np.all((pos[:, 0] >= 1) & (pos[:, 0] < split))
    assert np.all((pos[:, 1] >= 1) & (pos[:, 1] <= size - 2))
    assert not np.any((key[:, 1] == pos[:, 0]) & (key[:, 2] == pos[:, 1]))
    assert np.all(obj[:, size - 2, size - 2] == OBJECT["goal"])
    d = np.asarray(s.agent_dir)
    assert np.all(np.bincount(d, minlength=4) / n > 0.24)
    if size == 5:  # 3 free cells: 6 (agent, key) pairs x 2 door rows, each 1/12
        combo = (pos[:, 1] - 1) * 3 + (key[:, 2] - 1)
        counts = np.bincount(combo * 2 + (door[:, 2] - 1), minlength=18)
        counts = counts[counts > 0]
        assert len(counts) == 12 and np.all(np.abs(counts / n - 1 / 12) < 0.005)
    # an independent BFS agrees with the jitted check on the first 1,000 boards
    assert all(bfs_solvable(g[i], tuple(pos[i])) for i in range(1000))


def test_render_text_and_images(env5, jitted5):
    env, _, _ = env5
    text = env.render(board5(agent=(1, 1), direction=0))
    assert text.splitlines() == ["WGWGWGWGWG", "WG>>LY  WG", "WG  WG  WG", "WGKYWGGGWG",
                                 "WGWGWGWGWG"]
    img = env.render_image(board5())
    assert img.shape == (80, 80, 3) and img.dtype == np.uint8
    view = env.render_view(jitted5[1](board5()))
    assert view.shape == (112, 112, 3)


# --- parity with MiniGrid -----------------------------------------------------------
def _their_state(u) -> dict:
    carried = u.carrying.encode() if u.carrying else (0, 0, 0)
    return {"grid": u.grid.encode(), "agent_pos": np.asarray(u.agent_pos, np.int32),
            "agent_dir": np.int32(u.agent_dir), "step_count": np.int32(u.step_count),
            "carrying": np.asarray(carried, np.uint8)}


def _helpful(u, rng) -> int:
    """An action that makes progress when one is at hand (else random): so the random
    walk opens doors, carries keys and reaches goals often enough to test them."""
    front = u.grid.get(*u.front_pos)
    if front is not None and rng.random() < 0.7:
        if front.type == "key":
            return 3
        if front.type == "door" and not front.is_open:
            return 5
        if front.type == "goal" or (front.type == "door" and front.is_open):
            return 2
    return int(rng.integers(7))


@pytest.mark.parametrize("size,transitions", [
    (5, 4000), pytest.param(8, 5000, marks=pytest.mark.slow),
    pytest.param(6, 5000, marks=pytest.mark.slow),
    pytest.param(16, 5000, marks=pytest.mark.slow)])
def test_parity_with_minigrid(size, transitions):
    """Copy MiniGrid's state into ours, take the same action, compare the observation,
    reward and flags; every reset MiniGrid makes is copied in and observed too. Doors and
    carried keys are also set at random between steps (states a random walk rarely reaches)."""
    pytest.importorskip("minigrid")
    import gymnasium as gym
    from minigrid.core.world_object import Key

    env, params = envs.make(f"DoorKey-{size}x{size}-v0")
    u = gym.make(f"MiniGrid-DoorKey-{size}x{size}-v0").unwrapped
    rng = np.random.default_rng(size)
    obs, _ = u.reset(seed=size)
    pre, actions, post, resets = [], [], [], [(_their_state(u), obs["image"])]
    for _ in range(transitions):
        if rng.random() < 0.05:
            door = next(c for c in u.grid.grid if c is not None and c.type == "door")
            r = rng.integers(3)
            door.is_open, door.is_locked = bool(r == 0), bool(r == 2)
        if rng.random() < 0.03 and u.carrying is None:
            u.carrying = Key("yellow")
        pre.append(_their_state(u))
        a = _helpful(u, rng)
        obs, r, term, trunc, _ = u.step(a)
        actions.append(a)
        post.append((obs["image"], r, term, trunc))
        if term or trunc:
            obs, _ = u.reset(seed=int(rng.integers(1 << 30)))
            resets.append((_their_state(u), obs["image"]))

    def stack(states):
        return DoorKeyState(**{k: jnp.asarray(np.stack([s[k] for s in states])) for k in states[0]})

    step = jax.jit(jax.vmap(env.step_env, in_axes=(None, 0, 0, None)))
    o, _, r, te, tr, _ = step(jax.random.key(0), stack(pre), jnp.asarray(actions), params)
    o, r, te, tr = (np.asarray(x) for x in (o, r, te, tr))
    want_o = np.stack([p[0] for p in post])
    want_r = np.asarray([p[1] for p in post], np.float32)
    assert np.array_equal(o, want_o), np.argwhere(np.any(o != want_o, axis=(1, 2, 3)))[:5]
    np.testing.assert_allclose(r, want_r, rtol=0, atol=1e-6)  # float32 vs MiniGrid's float64
    assert np.array_equal(te, [p[2] for p in post]) and np.array_equal(tr, [p[3] for p in post])
    assert te.sum() >= (5 if size == 5 else 1 if size < 16 else 0)  # the goal was reached
    ro = np.asarray(jax.jit(jax.vmap(env.observe))(stack([s for s, _ in resets])))
    assert np.array_equal(ro, np.stack([im for _, im in resets]))


def test_our_resets_in_minigrid(jitted5):
    """Ours into theirs: our reset boards, written into MiniGrid's grid, give MiniGrid's
    observation; then 1,000 random actions step both from there."""
    pytest.importorskip("minigrid")
    import gymnasium as gym
    from minigrid.core.grid import Grid

    env, params = envs.make("DoorKey-5x5-v0")
    u = gym.make("MiniGrid-DoorKey-5x5-v0").unwrapped
    u.reset(seed=0)
    step, observe = jitted5
    rng = np.random.default_rng(1)
    key = jax.random.key(3)
    k0, key = jax.random.split(key)
    _, s = env.reset(k0, params)
    obs = observe(s)
    done = True
    for _ in range(1000):
        if done:
            u.grid, _ = Grid.decode(np.asarray(s.grid))
            u.agent_pos = tuple(int(v) for v in np.asarray(s.agent_pos))
            u.agent_dir = int(s.agent_dir)
            u.carrying, u.step_count = None, 0
            assert np.array_equal(u.gen_obs()["image"], np.asarray(obs))
        a = int(rng.integers(7))
        theirs, r_t, te_t, tr_t, _ = u.step(a)
        k, key = jax.random.split(key)
        obs, s, r, te, tr, info = step(k, s, jnp.int32(a), params)
        assert np.array_equal(np.asarray(info["final_observation"]), theirs["image"])
        assert (float(r), bool(te), bool(tr)) == (np.float32(r_t), te_t, tr_t)
        done = bool(te) or bool(tr)
