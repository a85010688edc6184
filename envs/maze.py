"""Maze: a large sparse-reward board of rooms and doors (chapter 8's exploration task).

The book's curiosity chapter needs a world where reward is rare: jaxrl's stand-in for
Super Mario is a Gridworld-style board much larger than the book's 4x4, walled into
rooms, with one goal in the far corner and no reward anywhere else.

Board: a square of side ``size`` (static; ``size = 4 k - 1`` for ``k >= 2`` rooms a
    side: 7, 11, 15, 19, ...). Wall lines run along every row and column ``i`` with
    ``i % 4 == 3``, cutting the board into ``k x k`` rooms of 3x3 cells. Doors (one
    cell each) join neighbouring rooms: first a spanning tree of the rooms drawn by a
    randomised depth-first search, so every room is reachable, then each remaining
    pair of neighbours with probability ``extra_doors``. The layout is drawn once, in
    NumPy, from the static ``layout_seed``: every episode and every copy of the env
    plays the same board. ``layout_seed=0``, ``size=15`` is ``Maze-v0``'s board.
Start and goal: the player starts at (0, 0) (top left); the goal is (size-1, size-1).
Observation: ``float32[size, size, 3]``, 0/1 planes player, goal, wall (the book's
    Gridworld planes without the pit, which a maze has none of).
Actions: ``Discrete(4)``: 0 up (row - 1), 1 down (row + 1), 2 left, 3 right, as
    Gridworld. A move into a wall or off the board leaves the player in place.
Reward: ``goal_reward`` (1.0) on the step that enters the goal, ``step_reward`` (0.0)
    on every other step.
Termination: the player enters the goal.
Truncation: ``time >= max_steps_in_episode`` (default 200, a params field).

State (``MazeState``): ``player`` int32[2] (row, col), ``time`` int32[].
Params (``MazeParams``, every field vmappable): ``step_reward``, ``goal_reward``
    (float32[]), ``max_steps_in_episode`` (int32[]).

Extras: ``render(state) -> str`` (text board: ``P`` player, ``+`` goal, ``W`` wall),
``render_image(state, params=None, tile=24)`` (the board drawn, ``uint8[H, W, 3]``),
``walls`` (the layout, a NumPy ``bool[size, size]``), ``num_cells`` and
``cell_index(obs) -> int32[]`` (the player's cell ``row * size + col``, for visit
counts and tabular learners), ``shortest_path()`` (breadth-first search, in steps).
"""

from __future__ import annotations

import collections
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment
from .validation import MAX_SIDE

ROOM = 3  # cells per room side; wall lines every ROOM + 1 cells
ACTION_NAMES = ("up", "down", "left", "right")
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int32)  # (d_row, d_col)
PLAYER_CHAR, GOAL_CHAR, WALL_CHAR, EMPTY_CHAR = "P", "+", "W", " "


@struct.dataclass
class MazeState:
    player: jax.Array  # int32[2], (row, col)
    time: jax.Array  # int32[], steps taken in this episode


@struct.dataclass
class MazeParams:
    step_reward: float = 0.0
    goal_reward: float = 1.0
    max_steps_in_episode: int = 200


def draw_layout(size: int, layout_seed: int, extra_doors: float) -> np.ndarray:
    """The walls ``bool[size, size]`` of a rooms-and-doors maze (see the module docstring)."""
    k = (size + 1) // (ROOM + 1)
    walls = np.zeros((size, size), bool)
    walls[ROOM :: ROOM + 1, :] = True
    walls[:, ROOM :: ROOM + 1] = True
    rng = np.random.default_rng(layout_seed)

    def open_door(a: tuple[int, int], b: tuple[int, int]) -> None:
        (r0, c0), (r1, _) = sorted([a, b])
        offset = int(rng.integers(ROOM))
        if r0 == r1:  # side by side: a door in the vertical wall between them
            walls[r0 * (ROOM + 1) + offset, c0 * (ROOM + 1) + ROOM] = False
        else:  # one above the other: a door in the horizontal wall
            walls[r0 * (ROOM + 1) + ROOM, c0 * (ROOM + 1) + offset] = False

    # A spanning tree of the k x k rooms (randomised depth-first search).
    seen, stack, tree = {(0, 0)}, [(0, 0)], set()
    while stack:
        r, c = stack[-1]
        nbrs = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                if 0 <= r + dr < k and 0 <= c + dc < k and (r + dr, c + dc) not in seen]
        if not nbrs:
            stack.pop()
            continue
        nxt = nbrs[int(rng.integers(len(nbrs)))]
        seen.add(nxt)
        stack.append(nxt)
        tree.add(frozenset([(r, c), nxt]))
        open_door((r, c), nxt)
    # Loops: every other pair of neighbouring rooms gets a door with probability extra_doors.
    for r in range(k):
        for c in range(k):
            for nxt in ((r + 1, c), (r, c + 1)):
                if nxt[0] < k and nxt[1] < k and frozenset([(r, c), nxt]) not in tree \
                        and rng.random() < extra_doors:
                    open_door((r, c), nxt)
    return walls


class Maze(Environment[MazeState, MazeParams]):
    """A rooms-and-doors maze with one far goal (see the module docstring).

    Args:
        size: board side, ``4 k - 1`` with ``k >= 2`` (7, 11, 15, 19, ...); static.
        layout_seed: the seed the walls are drawn from (a non-negative int); static.
        extra_doors: probability of a door between neighbouring rooms not joined by the
            spanning tree (0: a tree of rooms, one route to the goal); static.

    Raises:
        ValueError: a bad size, seed or door probability.
    """

    stochastic_step = False  # the transition is deterministic; reset is fixed too
    render_fps = 2.5  # a board game: one move every 0.4 s

    def __init__(self, size: int = 15, layout_seed: int = 0, extra_doors: float = 0.2):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 7 \
                or (size + 1) % (ROOM + 1) or size > MAX_SIDE:
            raise ValueError(f"Maze size must be 4 k - 1 for an int k >= 2 (7, 11, 15, 19, "
                             f"..., at most {MAX_SIDE - 1}), got {size!r}")
        if isinstance(layout_seed, bool) or not isinstance(layout_seed, numbers.Integral) \
                or layout_seed < 0:
            raise ValueError(f"Maze layout_seed must be an int >= 0, got {layout_seed!r}")
        if isinstance(extra_doors, bool) or not isinstance(extra_doors, numbers.Real) \
                or not 0.0 <= extra_doors <= 1.0:
            raise ValueError(
                f"Maze extra_doors must be a probability in [0, 1], got {extra_doors!r}")
        self.size = int(size)
        self.layout_seed = int(layout_seed)
        self.extra_doors = float(extra_doors)
        self.walls = draw_layout(self.size, self.layout_seed, self.extra_doors)
        self.walls.setflags(write=False)
        self.start = (0, 0)
        self.goal = (self.size - 1, self.size - 1)

    @property
    def name(self) -> str:
        return "Maze-v0"

    def __repr__(self) -> str:
        return (f"<Maze size={self.size} layout_seed={self.layout_seed} "
                f"extra_doors={self.extra_doors}>")

    @property
    def default_params(self) -> MazeParams:
        return MazeParams()

    def reset_env(self, key, params):
        state = MazeState(jnp.asarray(self.start, jnp.int32), jnp.zeros((), jnp.int32))
        return self.observe(state), state

    def step_env(self, key, state, action, params):
        target = state.player + jnp.asarray(MOVES)[action]
        on_board = jnp.all((target >= 0) & (target < self.size))
        inside = jnp.clip(target, 0, self.size - 1)
        blocked = ~on_board | jnp.asarray(self.walls)[inside[0], inside[1]]
        player = jnp.where(blocked, state.player, target)
        at_goal = jnp.all(player == jnp.asarray(self.goal, jnp.int32))
        reward = jnp.where(at_goal, params.goal_reward, params.step_reward).astype(jnp.float32)
        new_state = MazeState(player, state.time + 1)
        truncated = new_state.time >= params.max_steps_in_episode
        return self.observe(new_state), new_state, reward, at_goal, truncated, {}

    def observe(self, state: MazeState) -> jax.Array:
        """``float32[size, size, 3]`` planes (player, goal, wall)."""
        idx = jnp.arange(self.size)
        player = (idx[:, None] == state.player[0]) & (idx[None, :] == state.player[1])
        goal = np.zeros((self.size, self.size), bool)
        goal[self.goal] = True
        planes = [player, jnp.asarray(goal), jnp.asarray(self.walls)]
        return jnp.stack(planes, axis=-1).astype(jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(4)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (self.size, self.size, 3), jnp.float32)

    # --- extras -----------------------------------------------------------------------
    @property
    def num_cells(self) -> int:
        """Size of the ``cell_index`` range, ``size**2``."""
        return self.size * self.size

    def cell_index(self, obs: jax.Array) -> jax.Array:
        """The player's cell ``row * size + col`` from one observation (``int32[]``)."""
        return jnp.argmax(jnp.reshape(obs[..., 0], (-1,))).astype(jnp.int32)

    def shortest_path(self) -> int:
        """Fewest steps from the start to the goal (breadth-first search; plain Python)."""
        dist = {self.start: 0}
        queue = collections.deque([self.start])
        while queue:
            r, c = queue.popleft()
            if (r, c) == self.goal:
                return dist[(r, c)]
            for dr, dc in MOVES:
                nxt = (r + int(dr), c + int(dc))
                if 0 <= nxt[0] < self.size and 0 <= nxt[1] < self.size \
                        and not self.walls[nxt] and nxt not in dist:
                    dist[nxt] = dist[(r, c)] + 1
                    queue.append(nxt)
        raise AssertionError("the maze layout always joins start and goal")

    def render(self, state: MazeState) -> str:
        """The board as text: ``size`` lines of ``size`` characters, ``P`` the player,
        ``+`` the goal, ``W`` a wall, a space for an empty cell (the player wins a shared
        cell). Plain Python, one unbatched state."""
        pos = np.asarray(state.player)
        if pos.shape != (2,):
            raise ValueError(f"render takes one unbatched state (player of shape (2,)), "
                             f"got {pos.shape}")
        board = [[WALL_CHAR if w else EMPTY_CHAR for w in row] for row in self.walls]
        board[self.goal[0]][self.goal[1]] = GOAL_CHAR
        board[int(pos[0])][int(pos[1])] = PLAYER_CHAR
        return "\n".join("".join(row) for row in board)

    def render_image(self, state: MazeState, params: MazeParams | None = None,
                     tile: int = 24) -> np.ndarray:
        """The maze as ``uint8[size * tile + 1, size * tile + 1, 3]``: walls dark grey, the
        goal green, the player a blue disc (``envs.gridworld``'s colours)."""
        from .drawing import disc, fill_cell, tiles
        from .gridworld import GOAL_COLOUR, PLAYER_COLOUR, WALL_COLOUR

        pos = np.asarray(state.player)
        if pos.shape != (2,):
            raise ValueError(f"render takes one unbatched state (player of shape (2,)), "
                             f"got {pos.shape}")
        img = tiles(self.size, self.size, tile)
        for r, c in zip(*np.nonzero(self.walls)):
            fill_cell(img, int(r), int(c), tile, WALL_COLOUR, inset=0)
        fill_cell(img, *self.goal, tile, GOAL_COLOUR)
        disc(img, int(pos[0]), int(pos[1]), tile, PLAYER_COLOUR)
        return img
