"""Gridworld: the book's four-object board game (chapter 3), as pure functions.

A square board of side ``size`` (static, >= 4) holds four objects: the player, a
goal, a pit and a wall. The player moves one cell per step; the episode ends when
it steps onto the goal or the pit.

Observation: ``float32[size, size, 4]``, one 0/1 plane per object in the order
    player, goal, pit, wall (plane ``k`` is 1 at that object's cell). Agents that
    want the book's 64-vector flatten it (``wrappers.FlattenObservation``); the
    book's U(0, 1)/100 noise is an agent choice (``wrappers.ObservationNoise``).
Actions: ``Discrete(4)``: 0 up (row - 1), 1 down (row + 1), 2 left (col - 1),
    3 right (col + 1). A move into the wall or off the board leaves the player in
    place (the step still costs ``step_reward``).
Reward: ``goal_reward`` on the step that enters the goal, ``pit_reward`` on the step
    that enters the pit, ``step_reward`` on every other step. ``rewards="book"``
    (default) sets -1 / +10 / -10; ``rewards="sparse"`` sets 0 / +1 / -1.
Termination: the player enters the goal or the pit.
Truncation: ``time >= max_steps_in_episode`` (default 50). The book uses 15 moves
    when testing a trained agent, 50 with experience replay and 100 with a target
    network; pass ``max_steps_in_episode=`` to ``envs.make`` (a params field).
Modes (static, constructor ``mode``), positions as (row, col):
    ``"static"``: goal (0, 0), pit (0, 1), wall (1, 1), player (0, 3), every episode.
    ``"player"``: the static goal, pit and wall; the player uniform over the
    ``size**2 - 3`` free cells.
    ``"random"``: the four objects on four distinct cells drawn uniformly
    (``16 * 15 * 14 * 13 = 43,680`` ordered configurations on 4x4). A few have the
    goal cut off from the player; ``Gridworld.solvable(state)`` tells them apart.

State (``GridworldState``): ``player``, ``goal``, ``pit``, ``wall``: ``int32[2]``
    (row, col) each; ``time``: ``int32[]`` steps taken in the episode. The
    observation is built from these positions on demand (``Gridworld.observe``).
Params (``GridworldParams``, every field vmappable): ``step_reward`` float32[],
    ``goal_reward`` float32[], ``pit_reward`` float32[], ``max_steps_in_episode``
    int32[].

Extras: ``render(state) -> str`` (text board, see ``Gridworld.render``),
``render_image(state, params=None, tile=48) -> uint8[H, W, 3]`` (the board drawn),
``solvable(state) -> bool[]`` (jittable flood fill), ``state_index(obs) -> int32[]``
and ``num_states`` (a table index for tabular learners).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment
from .registry import _closest
from .validation import MAX_SIDE, count

MODES = ("static", "player", "random")
REWARD_SCHEMES = {
    # name: (step_reward, goal_reward, pit_reward)
    "book": (-1.0, 10.0, -10.0),
    "sparse": (0.0, 1.0, -1.0),
}
ACTION_NAMES = ("up", "down", "left", "right")
# (d_row, d_col) per action, in action order.
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int32)

# The static board, (row, col).
STATIC_GOAL = (0, 0)
STATIC_PIT = (0, 1)
STATIC_WALL = (1, 1)
STATIC_PLAYER = (0, 3)

# Characters used by ``render``.
PLAYER_CHAR, GOAL_CHAR, PIT_CHAR, WALL_CHAR, EMPTY_CHAR = "P", "+", "-", "W", " "
# Colours used by ``render_image`` (also ``envs.maze``'s).
PLAYER_COLOUR, GOAL_COLOUR, PIT_COLOUR, WALL_COLOUR = (31, 119, 180), (44, 160, 44), \
    (214, 39, 40), (85, 85, 85)


def _cell(pos) -> tuple[int, int]:
    """``(row, col)`` of one unbatched position ``int32[2]`` (ValueError for a batch)."""
    pos = np.asarray(pos)
    if pos.shape != (2,):
        raise ValueError(f"render takes one unbatched state (positions of shape (2,)), "
                         f"got {pos.shape}")
    return int(pos[0]), int(pos[1])


@struct.dataclass
class GridworldState:
    player: jax.Array  # int32[2], (row, col)
    goal: jax.Array  # int32[2]
    pit: jax.Array  # int32[2]
    wall: jax.Array  # int32[2]
    time: jax.Array  # int32[], steps taken in this episode


@struct.dataclass
class GridworldParams:
    step_reward: float = -1.0
    goal_reward: float = 10.0
    pit_reward: float = -10.0
    max_steps_in_episode: int = 50


def _insert_distinct(r: jax.Array, taken_sorted: list[jax.Array]) -> jax.Array:
    """Map ``r`` in ``[0, n - k)`` to the ``r``-th cell of ``[0, n)`` not in ``taken``.

    ``taken_sorted`` must be ascending and distinct; walking it in order and stepping
    over every taken cell at or below the running value gives a bijection onto the
    free cells, so a uniform ``r`` gives a uniform free cell.
    """
    c = r
    for t in taken_sorted:
        c = c + (c >= t).astype(c.dtype)
    return c


class Gridworld(Environment[GridworldState, GridworldParams]):
    """The book's Gridworld (see the module docstring for the full rules).

    Args:
        size: side of the square board, an int >= 4 (static: fixes the obs shape).
        mode: ``"static"``, ``"player"`` or ``"random"`` (static: fixes the reset).
        rewards: ``"book"`` (-1 / +10 / -10) or ``"sparse"`` (0 / +1 / -1); sets the
            default params' step, goal and pit rewards.

    Raises:
        ValueError: a bad size, mode or reward scheme.
    """

    # The transition is deterministic: step's whole key goes to the reset draw.
    stochastic_step = False
    render_fps = 2.5  # a board game: one move every 0.4 s

    def __init__(self, size: int = 4, mode: str = "static", rewards: str = "book"):
        count("Gridworld", "size", size, 4, MAX_SIDE)
        if mode not in MODES:
            raise ValueError(
                f"unknown Gridworld mode {mode!r}.{_closest(mode, MODES)}"
                f" Valid modes: {', '.join(MODES)}."
            )
        if rewards not in REWARD_SCHEMES:
            raise ValueError(
                f"unknown Gridworld reward scheme {rewards!r}.{_closest(rewards, REWARD_SCHEMES)}"
                f" Valid schemes: {', '.join(REWARD_SCHEMES)}."
            )
        self.size = int(size)
        self.mode = mode
        self.rewards = rewards

    @property
    def name(self) -> str:
        return "Gridworld-v0"

    def __repr__(self) -> str:
        return f"<Gridworld size={self.size} mode={self.mode!r} rewards={self.rewards!r}>"

    @property
    def default_params(self) -> GridworldParams:
        step, goal, pit = REWARD_SCHEMES[self.rewards]
        return GridworldParams(step_reward=step, goal_reward=goal, pit_reward=pit)

    # --- reset ------------------------------------------------------------------------
    def _cell(self, index: jax.Array) -> jax.Array:
        """Flat cell index -> int32[2] (row, col)."""
        index = jnp.asarray(index, jnp.int32)
        return jnp.stack([index // self.size, index % self.size])

    def static_state(self) -> GridworldState:
        """The static board (the start of every ``"static"`` episode)."""
        pos = lambda rc: jnp.asarray(rc, jnp.int32)  # noqa: E731
        return GridworldState(
            pos(STATIC_PLAYER), pos(STATIC_GOAL), pos(STATIC_PIT), pos(STATIC_WALL),
            jnp.zeros((), jnp.int32),
        )

    def reset_env(self, key, params):
        state = self.static_state()
        n = self.size * self.size
        if self.mode == "player":
            occupied = sorted(r * self.size + c for r, c in (STATIC_GOAL, STATIC_PIT, STATIC_WALL))
            r = jax.random.randint(key, (), 0, n - 3, dtype=jnp.int32)
            cell = _insert_distinct(r, [jnp.int32(t) for t in occupied])
            state = state.replace(player=self._cell(cell))
        elif self.mode == "random":
            # Four distinct cells, uniform over ordered 4-tuples: draw the k-th object's
            # rank among the n - k cells still free, then map it past the taken ones.
            ranks = jax.random.randint(
                key, (4,), 0, jnp.arange(n, n - 4, -1, dtype=jnp.int32), dtype=jnp.int32
            )
            cells = [ranks[0]]
            for k in range(1, 4):
                taken = jnp.sort(jnp.stack(cells))
                cells.append(_insert_distinct(ranks[k], [taken[i] for i in range(k)]))
            player, goal, pit, wall = (self._cell(c) for c in cells)
            state = state.replace(player=player, goal=goal, pit=pit, wall=wall)
        return self.observe(state), state

    # --- step -------------------------------------------------------------------------
    def step_env(self, key, state, action, params):
        move = jnp.asarray(MOVES)[action]
        target = state.player + move
        on_board = jnp.all((target >= 0) & (target < self.size))
        blocked = ~on_board | jnp.all(target == state.wall)
        player = jnp.where(blocked, state.player, target)
        at_goal = jnp.all(player == state.goal)
        at_pit = jnp.all(player == state.pit)
        reward = jnp.where(
            at_goal, params.goal_reward, jnp.where(at_pit, params.pit_reward, params.step_reward)
        ).astype(jnp.float32)
        time = state.time + 1
        new_state = state.replace(player=player, time=time)
        terminated = at_goal | at_pit
        truncated = time >= params.max_steps_in_episode
        return self.observe(new_state), new_state, reward, terminated, truncated, {}

    # --- observation ------------------------------------------------------------------
    def observe(self, state: GridworldState) -> jax.Array:
        """``float32[size, size, 4]`` planes (player, goal, pit, wall) from positions."""
        pos = jnp.stack([state.player, state.goal, state.pit, state.wall])  # [4, 2]
        idx = jnp.arange(self.size)
        rows = idx[:, None] == pos[:, 0][None, :]  # [size, 4]
        cols = idx[:, None] == pos[:, 1][None, :]  # [size, 4]
        return (rows[:, None, :] & cols[None, :, :]).astype(jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(4)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (self.size, self.size, 4), jnp.float32)

    # --- extras -----------------------------------------------------------------------
    def solvable(self, state: GridworldState) -> jax.Array:
        """Can the player reach the goal without entering the pit or the wall? ``bool[]``.

        A flood fill from the player over cells that are neither pit nor wall,
        ``size * size`` rounds (enough for the longest simple path). Jittable and
        vmappable over states.
        """
        n = self.size
        idx = jnp.arange(n)

        def plane(rc):
            return (idx[:, None] == rc[0]) & (idx[None, :] == rc[1])

        passable = ~plane(state.pit) & ~plane(state.wall)

        def grow(_, reach):
            p = jnp.pad(reach, 1)
            spread = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
            return reach | (spread & passable)

        reach = jax.lax.fori_loop(0, n * n, grow, plane(state.player))
        return jnp.any(reach & plane(state.goal))

    @property
    def num_states(self) -> int:
        """Size of the ``state_index`` range: ``size**2`` on a fixed board, else ``size**8``."""
        cells = self.size * self.size
        return cells if self.mode in ("static", "player") else cells**4

    def state_index(self, obs: jax.Array) -> jax.Array:
        """A table index for an observation (any shape holding ``size * size * 4`` values).

        Static and player modes: the board is fixed, so the player's cell
        ``row * size + col`` identifies the state. Random mode: the whole
        configuration, ``((player * n + goal) * n + pit) * n + wall`` with
        ``n = size**2`` cell indices. Returns ``int32[]``.
        """
        planes = jnp.reshape(obs, (self.size * self.size, 4))
        cells = jnp.argmax(planes, axis=0).astype(jnp.int32)  # [4]
        if self.mode in ("static", "player"):
            return cells[0]
        n = self.size * self.size
        return ((cells[0] * n + cells[1]) * n + cells[2]) * n + cells[3]

    def render(self, state: GridworldState) -> str:
        """The board as text, like the book's display (plain Python; not jittable).

        Format: ``size`` lines joined by ``"\\n"`` (no trailing newline), line ``r``
        holding exactly ``size`` characters, one per column: ``P`` player, ``+``
        goal, ``-`` pit, ``W`` wall, a space for an empty cell. Where two objects
        share a cell (the player on the goal or pit at the end of an episode) the
        player's ``P`` wins. The static board renders as::

            "+- P"
            " W  "
            "    "
            "    "
        """
        board = [[EMPTY_CHAR] * self.size for _ in range(self.size)]
        for char, pos in (
            (WALL_CHAR, state.wall), (PIT_CHAR, state.pit),
            (GOAL_CHAR, state.goal), (PLAYER_CHAR, state.player),
        ):
            pos = np.asarray(pos)
            if pos.shape != (2,):
                raise ValueError(
                    f"render takes one unbatched state (positions of shape (2,)), got {pos.shape}"
                )
            board[int(pos[0])][int(pos[1])] = char
        return "\n".join("".join(row) for row in board)

    def render_image(self, state: GridworldState, params: GridworldParams | None = None,
                     tile: int = 48) -> np.ndarray:
        """The board as ``uint8[size * tile + 1, size * tile + 1, 3]``: the goal green, the
        pit red, the wall dark grey, the player a blue disc (drawn over the goal or pit it
        stepped on)."""
        from .drawing import disc, fill_cell, tiles

        img = tiles(self.size, self.size, tile)
        for pos, colour in ((state.wall, WALL_COLOUR), (state.pit, PIT_COLOUR),
                            (state.goal, GOAL_COLOUR)):
            r, c = _cell(pos)
            fill_cell(img, r, c, tile, colour)
        r, c = _cell(state.player)
        disc(img, r, c, tile, PLAYER_COLOUR)
        return img
