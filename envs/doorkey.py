"""DoorKey: MiniGrid's key, locked door and goal (chapter 10), as pure functions.

The rules are MiniGrid 3.x's ``DoorKeyEnv`` exactly (``tests/envs/test_doorkey.py`` steps
this environment beside the ``minigrid`` package from copied states and compares every
observation, reward and flag):

Board: a ``size`` x ``size`` grid (static, >= 5) framed by walls. A vertical wall splits
    it at column ``split`` ~ U{2, ..., size - 3}; a locked yellow door sits in that wall
    at row ``door`` ~ U{1, ..., size - 3}; the green goal is in the bottom-right corner
    ``(size - 2, size - 2)``. The agent starts on a uniform free cell left of the wall,
    facing a uniform direction; a yellow key lies on a uniform free cell left of the wall
    other than the agent's. Every board is solvable (``solvable``).
Coordinates: MiniGrid's, ``(x, y)`` = (column, row), ``y`` down; directions 0 right,
    1 down, 2 left, 3 up. Grids and observations are indexed ``[x, y]`` as MiniGrid's
    ``Grid.encode`` indexes them.
Cells: MiniGrid's encoding ``(object, colour, state)``, ``uint8``: objects 0 unseen,
    1 empty, 2 wall, 4 door, 5 key, 8 goal, 10 agent (``OBJECT``); colours 0 red, 1 green,
    4 yellow, 5 grey (``COLOR``); a door's state 0 open, 1 closed, 2 locked.
Actions (``Discrete(7)``): 0 left, 1 right (turn), 2 forward (into an empty, open-door or
    goal cell), 3 pickup (the key in front, hands empty), 4 drop (onto the empty cell in
    front), 5 toggle (the door in front: a locked door opens with the yellow key in hand,
    an unlocked one opens or closes), 6 done (nothing). ``action_set="book"`` keeps the
    five the book's agent uses, ``Discrete(5)``: left, right, forward, pickup, toggle.
Observation (``uint8[7, 7, 3]``): the agent's egocentric view, MiniGrid's
    ``gen_obs()["image"]``: the 7x7 square ahead of the agent, rotated so the agent sits at
    ``[3, 6]`` facing up (``view[vx, vy]`` shows the cell ``pos + f * (6 - vy) + r * (vx - 3)``
    with ``f`` the facing and ``r`` the right-hand vector; outside the board: wall).
    Visibility follows MiniGrid's ``Grid.process_vis`` (walls and closed doors hide what
    is behind them; unseen cells encode as ``(0, 0, 0)``). The agent's own cell shows the
    object it carries, else empty. ``observation="full"``: MiniGrid's ``FullyObsWrapper``
    image instead, ``uint8[size, size, 3]`` with the agent as ``(10, 0, direction)``.
Reward: ``1 - 0.9 * step_count / max_steps_in_episode`` on the step that enters the goal
    (``step_count`` counting that step), ``step_reward`` on every other step (MiniGrid: 0;
    the book: -0.01).
Termination: entering the goal. Truncation: ``step_count >= max_steps_in_episode``
    (MiniGrid: ``10 * size**2``, 250 on 5x5; the book's run: 400). Both may be true.

State (``DoorKeyState``): ``grid`` uint8[size, size, 3] (the encoded board, ``[x, y]``,
    without the agent), ``agent_pos`` int32[2] ``(x, y)``, ``agent_dir`` int32[],
    ``carrying`` uint8[3] (the carried object's encoding, zeros when the hands are empty),
    ``step_count`` int32[].
Params (``DoorKeyParams``, vmappable): ``max_steps_in_episode``, ``step_reward``.

Extras: ``render(state) -> str`` (MiniGrid's ``pprint_grid`` text),
``render_image(state, params=None, tile=16) -> uint8[H, W, 3]`` (the board, the agent's
view highlighted),
``render_view(obs) -> uint8[H, W, 3]`` (an observation drawn as the agent sees it),
``solvable(state) -> bool[]`` (jittable), ``observe(state)``.
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

#: MiniGrid's object indices (``minigrid.core.constants.OBJECT_TO_IDX``).
OBJECT = {"unseen": 0, "empty": 1, "wall": 2, "floor": 3, "door": 4, "key": 5, "ball": 6,
          "box": 7, "goal": 8, "lava": 9, "agent": 10}
#: MiniGrid's colour indices (``COLOR_TO_IDX``).
COLOR = {"red": 0, "green": 1, "blue": 2, "purple": 3, "yellow": 4, "grey": 5}
#: Door states.
OPEN, CLOSED, LOCKED = 0, 1, 2
#: MiniGrid's action indices.
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
ACTION_SETS = {"minigrid": (0, 1, 2, 3, 4, 5, 6), "book": (0, 1, 2, 3, 5)}
OBSERVATIONS = ("partial", "full")
VIEW_SIZE = 7
#: Largest value of each observation channel (object, colour, state): partial view, full.
OBS_HIGH = {"partial": (10, 5, 2), "full": (10, 5, 3)}
# (dx, dy) per direction: right, down, left, up.
DIR_TO_VEC = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.int32)

WALL = (OBJECT["wall"], COLOR["grey"], 0)
EMPTY = (OBJECT["empty"], 0, 0)
GOAL = (OBJECT["goal"], COLOR["green"], 0)
KEY = (OBJECT["key"], COLOR["yellow"], 0)
LOCKED_DOOR = (OBJECT["door"], COLOR["yellow"], LOCKED)


@struct.dataclass
class DoorKeyState:
    grid: jax.Array  # uint8[size, size, 3], [x, y]: the board without the agent
    agent_pos: jax.Array  # int32[2], (x, y)
    agent_dir: jax.Array  # int32[], 0 right, 1 down, 2 left, 3 up
    carrying: jax.Array  # uint8[3], the carried object's encoding; zeros: nothing
    step_count: jax.Array  # int32[]


@struct.dataclass
class DoorKeyParams:
    max_steps_in_episode: int = 250  # MiniGrid: 10 * size**2 (set by the constructor)
    step_reward: float = 0.0  # reward of a step that does not reach the goal (book: -0.01)


class DoorKey(Environment[DoorKeyState, DoorKeyParams]):
    """MiniGrid's DoorKey (the module docstring has the full rules).

    Args:
        size: side of the board, an int >= 5 (MiniGrid registers 5, 6, 8 and 16).
        observation: ``"partial"`` (the 7x7x3 egocentric view) or ``"full"`` (the whole
            board, MiniGrid's ``FullyObsWrapper``).
        action_set: ``"minigrid"`` (all 7 actions) or ``"book"`` (left, right, forward,
            pickup, toggle: the 5 the book's agent chooses from).
    """

    def __init__(self, size: int = 5, observation: str = "partial", action_set: str = "minigrid"):
        count("DoorKey", "size", size, 5, MAX_SIDE)
        if observation not in OBSERVATIONS:
            raise ValueError(f"unknown DoorKey observation {observation!r}."
                             f"{_closest(observation, OBSERVATIONS)}"
                             f" Valid: {', '.join(OBSERVATIONS)}.")
        if action_set not in ACTION_SETS:
            raise ValueError(f"unknown DoorKey action_set {action_set!r}."
                             f"{_closest(action_set, ACTION_SETS)}"
                             f" Valid: {', '.join(ACTION_SETS)}.")
        self.size = int(size)
        self.observation = observation
        self.action_set = action_set
        self._actions = np.asarray(ACTION_SETS[action_set], np.int32)
        # The fixed frame: outer walls and the goal; the split wall is drawn per reset.
        frame = np.zeros((self.size, self.size, 3), np.uint8)
        frame[...] = EMPTY
        frame[[0, -1], :] = WALL
        frame[:, [0, -1]] = WALL
        frame[self.size - 2, self.size - 2] = GOAL
        self._frame = frame

    @property
    def name(self) -> str:
        return f"DoorKey-{self.size}x{self.size}-v0"

    def __repr__(self) -> str:
        return (f"<DoorKey size={self.size} observation={self.observation!r} "
                f"action_set={self.action_set!r}>")

    @property
    def default_params(self) -> DoorKeyParams:
        return DoorKeyParams(max_steps_in_episode=10 * self.size * self.size)

    @property
    def action_names(self) -> tuple[str, ...]:
        """The names of this action set's actions, in action order."""
        return tuple(ACTION_NAMES[a] for a in self._actions)

    def action_space(self, params=None):
        return spaces.Discrete(len(self._actions))

    def observation_space(self, params=None):
        side = VIEW_SIZE if self.observation == "partial" else self.size
        high = np.broadcast_to(np.asarray(OBS_HIGH[self.observation], np.uint8), (side, side, 3))
        return spaces.Box(0, high, (side, side, 3), jnp.uint8)

    # --- reset ------------------------------------------------------------------------
    def reset_env(self, key, params):
        n = self.size
        # One uniform draw for the five choices (one random call: cheaper under vmap than
        # five); floor(u * m) is uniform on {0, ..., m - 1} up to float32 rounding.
        u = jax.random.uniform(key, (5,))

        def pick(v, m):
            return jnp.minimum((v * m).astype(jnp.int32), m - 1)

        split = 2 + pick(u[0], n - 4)  # U{2, ..., n - 3}
        door = 1 + pick(u[1], n - 3)  # U{1, ..., n - 3}
        # Free cells left of the wall: x in [1, split), y in [1, n - 1), (split - 1) * (n - 2).
        rows = n - 2
        cells = (split - 1) * rows
        a = pick(u[2], cells)
        k = pick(u[3], cells - 1)
        k = k + (k >= a)  # uniform over the cells other than the agent's
        agent_pos = jnp.stack([1 + a // rows, 1 + a % rows])
        key_pos = jnp.stack([1 + k // rows, 1 + k % rows])
        xs = jnp.arange(n)[:, None]
        ys = jnp.arange(n)[None, :]
        grid = jnp.asarray(self._frame)
        grid = jnp.where(((xs == split) & (ys != door))[..., None],
                         jnp.asarray(WALL, jnp.uint8), grid)
        grid = jnp.where(((xs == split) & (ys == door))[..., None],
                         jnp.asarray(LOCKED_DOOR, jnp.uint8), grid)
        grid = jnp.where(((xs == key_pos[0]) & (ys == key_pos[1]))[..., None],
                         jnp.asarray(KEY, jnp.uint8), grid)
        state = DoorKeyState(
            grid=grid, agent_pos=agent_pos, agent_dir=pick(u[4], 4),
            carrying=jnp.zeros((3,), jnp.uint8), step_count=jnp.zeros((), jnp.int32),
        )
        return self.observe(state), state

    # --- step -------------------------------------------------------------------------
    stochastic_step = False

    def step_env(self, key, state, action, params):
        action = jnp.asarray(self._actions)[action]
        grid, pos, d = state.grid, state.agent_pos, state.agent_dir
        fwd = pos + jnp.asarray(DIR_TO_VEC)[d]
        cell = grid[fwd[0], fwd[1]]
        obj = cell[0]
        carrying = state.carrying
        holding = carrying[0] != 0

        is_empty = obj == OBJECT["empty"]
        is_door = obj == OBJECT["door"]
        overlap = is_empty | (obj == OBJECT["goal"]) | (obj == OBJECT["floor"]) | (
            obj == OBJECT["lava"]) | (is_door & (cell[2] == OPEN))
        can_pickup = (obj == OBJECT["key"]) | (obj == OBJECT["ball"]) | (obj == OBJECT["box"])

        new_dir = jnp.where(action == 0, (d + 3) % 4, jnp.where(action == 1, (d + 1) % 4, d))
        moved = (action == 2) & overlap
        new_pos = jnp.where(moved, fwd, pos)
        at_goal = (action == 2) & (obj == OBJECT["goal"])
        terminated = at_goal | ((action == 2) & (obj == OBJECT["lava"]))

        pickup = (action == 3) & can_pickup & ~holding
        drop = (action == 4) & is_empty & holding
        # Toggle a door: locked -> open with a key of its colour in hand; else open <-> closed.
        has_key = holding & (carrying[0] == OBJECT["key"]) & (carrying[1] == cell[1])
        locked = cell[2] == LOCKED
        toggled_state = jnp.where(locked, jnp.where(has_key, OPEN, LOCKED),
                                  jnp.where(cell[2] == OPEN, CLOSED, OPEN)).astype(jnp.uint8)
        toggle = (action == 5) & is_door
        new_cell = jnp.where(pickup, jnp.asarray(EMPTY, jnp.uint8),
                             jnp.where(drop, carrying,
                                       jnp.where(toggle, cell.at[2].set(toggled_state), cell)))
        grid = grid.at[fwd[0], fwd[1]].set(new_cell)
        carrying = jnp.where(pickup, cell, jnp.where(drop, jnp.zeros((3,), jnp.uint8), carrying))

        step_count = state.step_count + 1
        goal_reward = 1.0 - 0.9 * (step_count.astype(jnp.float32)
                                   / jnp.asarray(params.max_steps_in_episode, jnp.float32))
        reward = jnp.where(at_goal, goal_reward, params.step_reward).astype(jnp.float32)
        truncated = step_count >= params.max_steps_in_episode
        new_state = DoorKeyState(grid=grid, agent_pos=new_pos, agent_dir=new_dir,
                                 carrying=carrying, step_count=step_count)
        return self.observe(new_state), new_state, reward, terminated, truncated, {}

    # --- observation ------------------------------------------------------------------
    def observe(self, state: DoorKeyState) -> jax.Array:
        """The observation of ``state`` (``uint8[7, 7, 3]``, or the full board)."""
        if self.observation == "full":
            return self.full_view(state)
        return self.partial_view(state)

    def full_view(self, state: DoorKeyState) -> jax.Array:
        """MiniGrid's ``FullyObsWrapper`` image: the board, the agent as (10, red, dir)."""
        agent = jnp.stack([jnp.uint8(OBJECT["agent"]), jnp.uint8(COLOR["red"]),
                           state.agent_dir.astype(jnp.uint8)])
        return state.grid.at[state.agent_pos[0], state.agent_pos[1]].set(agent)

    def view_cells(self, state: DoorKeyState) -> tuple[jax.Array, jax.Array]:
        """``(x, y)`` board coordinates of the view's cells, ``int32[7, 7]`` each (``[vx, vy]``)."""
        f = jnp.asarray(DIR_TO_VEC)[state.agent_dir]
        r = jnp.stack([-f[1], f[0]])
        v = jnp.arange(VIEW_SIZE)
        ahead = (VIEW_SIZE - 1 - v)[None, :]  # by vy
        side = (v - VIEW_SIZE // 2)[:, None]  # by vx
        x = state.agent_pos[0] + f[0] * ahead + r[0] * side
        y = state.agent_pos[1] + f[1] * ahead + r[1] * side
        return x, y

    def partial_view(self, state: DoorKeyState) -> jax.Array:
        """MiniGrid's ``gen_obs()["image"]``: slice, rotate, ``process_vis``, carried object."""
        view = _view_of(self, state)  # [vx, vy, 3]
        mask = visibility(view)
        view = jnp.where(mask[..., None], view, jnp.uint8(0))
        held = state.carrying[0] != 0
        own = jnp.where(held, state.carrying, jnp.asarray(EMPTY, jnp.uint8))
        return view.at[VIEW_SIZE // 2, VIEW_SIZE - 1].set(own)

    # --- extras -----------------------------------------------------------------------
    def solvable(self, state: DoorKeyState) -> jax.Array:
        """Can the agent reach the key, then the door, and through it the goal? ``bool[]``.

        Flood fills from the agent: over walkable cells (empty, goal) the key must be next
        to a reached cell (or in hand); over walkable cells and the key's (picked up) the
        door must be; over those and the door (opened) the goal must be reached. Jittable.
        """
        g = state.grid
        n = self.size
        obj = g[..., 0]
        walk = (obj == OBJECT["empty"]) | (obj == OBJECT["goal"])
        door = obj == OBJECT["door"]
        key = obj == OBJECT["key"]
        start = (jnp.arange(n)[:, None] == state.agent_pos[0]) & (
            jnp.arange(n)[None, :] == state.agent_pos[1])

        def fill(passable):
            def grow(_, reach):
                p = jnp.pad(reach, 1)
                spread = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
                return reach | (spread & passable)
            return jax.lax.fori_loop(0, n * n, grow, start)

        def touches(reach, target):
            p = jnp.pad(reach, 1)
            near = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
            return jnp.any(near & target)

        held = state.carrying[0] == OBJECT["key"]
        goal = obj == OBJECT["goal"]
        return ((held | touches(fill(walk), key)) & touches(fill(walk | key), door)
                & jnp.any(fill(walk | key | door) & goal))

    def render(self, state: DoorKeyState) -> str:
        """The board as text, MiniGrid's ``pprint_grid``: two characters a cell, ``WG`` wall,
        ``LY`` locked door, ``DY`` closed door, ``__`` open door, ``KY`` key, ``GG`` goal,
        the agent as ``>>``, ``VV``, ``<<`` or ``^^``; rows top to bottom."""
        grid = np.asarray(state.grid)
        if grid.ndim != 3:
            raise ValueError(f"render takes one unbatched state, got a grid of shape {grid.shape}")
        pos = np.asarray(state.agent_pos)
        d = int(state.agent_dir)
        names = {v: k for k, v in OBJECT.items()}
        colors = {v: k for k, v in COLOR.items()}
        short = {"wall": "W", "floor": "F", "door": "D", "key": "K", "ball": "A", "box": "B",
                 "goal": "G", "lava": "V"}
        lines = []
        for j in range(self.size):
            row = ""
            for i in range(self.size):
                if i == pos[0] and j == pos[1]:
                    row += 2 * ">V<^"[d]
                    continue
                o, c, s = (int(v) for v in grid[i, j])
                name = names[o]
                if name in ("empty", "unseen"):
                    row += "  "
                elif name == "door":
                    shut = ("L" if s == LOCKED else "D") + colors[c][0].upper()
                    row += "__" if s == OPEN else shut
                else:
                    row += short[name] + colors[c][0].upper()
            lines.append(row)
        return "\n".join(lines)

    def render_image(self, state: DoorKeyState, params: DoorKeyParams | None = None,
                     tile: int = 16) -> np.ndarray:
        """The board as ``uint8[size * tile, size * tile, 3]`` (image rows = y), the cells the
        agent sees lightened, the agent a red triangle."""
        grid = np.asarray(state.grid)
        mask = np.zeros((self.size, self.size), bool)
        x, y = (np.asarray(a) for a in self.view_cells(state))
        seen = np.asarray(visibility(_view_of(self, state)))
        ok = (x >= 0) & (x < self.size) & (y >= 0) & (y < self.size) & seen
        mask[x[ok], y[ok]] = True
        pos = tuple(int(v) for v in np.asarray(state.agent_pos))
        return draw_cells(grid, tile, agent=(pos, int(state.agent_dir)), highlight=mask)

    def render_view(self, obs: jax.Array, tile: int = 16) -> np.ndarray:
        """An observation as the agent sees it, ``uint8[h * tile, w * tile, 3]`` (image rows
        = the view's y axis: the agent at the bottom centre, facing up; unseen cells dark)."""
        obs = np.asarray(obs)
        if self.observation == "full":
            return draw_cells(obs, tile)
        return draw_cells(obs, tile, agent=((VIEW_SIZE // 2, VIEW_SIZE - 1), 3),
                          carried_under_agent=True)


def _view_of(env: DoorKey, state: DoorKeyState) -> jax.Array:
    x, y = env.view_cells(state)
    n = env.size
    inside = (x >= 0) & (x < n) & (y >= 0) & (y < n)
    view = state.grid[jnp.clip(x, 0, n - 1), jnp.clip(y, 0, n - 1)]
    return jnp.where(inside[..., None], view, jnp.asarray(WALL, jnp.uint8))


def visibility(view: jax.Array) -> jax.Array:
    """MiniGrid's ``Grid.process_vis`` for a view ``[vx, vy, 3]`` (agent at the bottom
    centre): ``bool[vx, vy]``.

    MiniGrid sweeps the rows from the agent's (the bottom one) up. In each row a
    left-to-right pass, then a right-to-left one, carries visibility sideways from a
    visible cell that can be seen behind (anything but a wall or a closed or locked door)
    to its neighbour, and from it into the row above (straight up and diagonally towards
    the pass's direction). Here a row is a bit mask (bit ``i`` = column ``i``) and each
    pass, a chain of cell-to-cell steps in MiniGrid, is three shift-and-or steps (a
    Kogge-Stone prefix over "visible" and "can be seen behind"), exact for rows of up to
    8 cells. Same result as MiniGrid's loops, a few dozen integer operations a view.
    """
    w, h = view.shape[0], view.shape[1]
    if w > 8:
        raise ValueError(f"visibility handles views up to 8 cells wide, got {w}")
    obj = view[..., 0].astype(jnp.int32)
    clear = ~((obj == OBJECT["wall"]) | ((obj == OBJECT["door"]) & (view[..., 2] != OPEN)))
    col = jnp.arange(w, dtype=jnp.int32)
    clear_bits = jnp.sum(clear.astype(jnp.int32) << col[:, None], axis=0)  # [h]
    full = (1 << w) - 1
    rows = [None] * h
    m = jnp.int32(1 << (w // 2))
    for j in reversed(range(h)):
        c = clear_bits[j]
        # Left to right: column i + 1 from a visible, clear column i.
        g, p = m, c
        g = g | ((g & p) << 1)
        p2 = p & (p >> 1)
        g = g | ((g & p2) << 2)
        p4 = p2 & (p2 >> 2)
        left = (g | ((g & p4) << 4)) & full
        # Right to left on that: column i - 1 from a visible, clear column i.
        g = left | ((left & p) >> 1)
        q2 = p & (p << 1)
        g = g | ((g & q2) >> 2)
        q4 = q2 & (q2 << 2)
        right = (g | ((g & q4) >> 4)) & full
        go_left = left & c & (full >> 1)  # the left pass visits columns 0 .. w - 2
        go_right = right & c & (full - 1)  # the right pass visits columns w - 1 .. 1
        rows[j] = right
        m = (go_left | go_right | (go_left << 1) | (go_right >> 1)) & full
    bits = jnp.stack(rows)  # [h]
    return ((bits[None, :] >> col[:, None]) & 1).astype(bool)  # [vx, vy]


# --- drawing (numpy; plain Python, not jittable) ---------------------------------------
_RGB = {COLOR["red"]: (255, 0, 0), COLOR["green"]: (0, 255, 0), COLOR["blue"]: (0, 0, 255),
        COLOR["purple"]: (112, 39, 195), COLOR["yellow"]: (255, 255, 0),
        COLOR["grey"]: (100, 100, 100)}


def _tile(cell: tuple[int, int, int], tile: int) -> np.ndarray:
    o, c, s = cell
    img = np.zeros((tile, tile, 3), np.uint8)
    yy, xx = np.mgrid[0:tile, 0:tile] / tile  # row, column in [0, 1)
    col = np.asarray(_RGB.get(c, (100, 100, 100)), np.uint8)
    if o == OBJECT["unseen"]:
        img[:] = 25
        return img
    img[0, :] = img[:, 0] = 100  # grid lines
    if o in (OBJECT["wall"], OBJECT["goal"]):
        img[:] = col
    elif o == OBJECT["door"]:
        if s == OPEN:
            img[:, int(0.88 * tile):] = col
        else:
            ring = (xx < 0.08) | (xx > 0.92) | (yy < 0.08) | (yy > 0.92)
            img[ring] = col
            if s == LOCKED:
                img[~ring] = (0.45 * col).astype(np.uint8)
                img[(xx > 0.52) & (xx < 0.75) & (yy > 0.47) & (yy < 0.56)] = col
            else:
                img[(xx - 0.75) ** 2 + (yy - 0.5) ** 2 < 0.08 ** 2] = col
    elif o == OBJECT["key"]:
        shaft = (xx > 0.5) & (xx < 0.63) & (yy > 0.31) & (yy < 0.88)
        teeth = (xx > 0.38) & (xx < 0.5) & (
            ((yy > 0.59) & (yy < 0.66)) | ((yy > 0.81) & (yy < 0.88)))
        ring = ((xx - 0.56) ** 2 + (yy - 0.28) ** 2 < 0.19 ** 2) & (
            (xx - 0.56) ** 2 + (yy - 0.28) ** 2 > 0.064 ** 2)
        img[shaft | teeth | ring] = col
    elif o in (OBJECT["ball"], OBJECT["box"], OBJECT["floor"], OBJECT["lava"]):
        img[(xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.31 ** 2] = col
    return img


def _agent_mask(d: int, tile: int) -> np.ndarray:
    """A triangle pointing right, rotated to direction ``d`` (0 right, 1 down, 2 left, 3 up)."""
    yy, xx = (np.mgrid[0:tile, 0:tile] + 0.5) / tile
    tri = (xx > 0.12) & (xx < 0.87) & (np.abs(yy - 0.5) < 0.31 * (0.87 - xx) / 0.75)
    return np.rot90(tri, -d)  # rot90 is counter-clockwise; y points down


def draw_cells(cells: np.ndarray, tile: int = 16, agent: tuple | None = None,
               highlight: np.ndarray | None = None,
               carried_under_agent: bool = False) -> np.ndarray:
    """Encoded cells ``[w, h, 3]`` (indexed ``[x, y]``) as an RGB image ``[h * tile, w * tile, 3]``.

    ``agent``: ``((x, y), direction)`` drawn as a red triangle (over the cell's own picture
    when ``carried_under_agent``, else over an empty cell); ``highlight``: ``bool[w, h]``
    cells lightened (MiniGrid's highlight of the agent's view).
    """
    cells = np.asarray(cells)
    w, h = cells.shape[:2]
    img = np.zeros((h * tile, w * tile, 3), np.uint8)
    for i in range(w):
        for j in range(h):
            cell = tuple(int(v) for v in cells[i, j])
            if agent is not None and (i, j) == tuple(agent[0]):
                t = _tile(cell, tile) if carried_under_agent and cell[0] != OBJECT["agent"] else \
                    _tile(EMPTY, tile)
                t[_agent_mask(agent[1], tile)] = (255, 0, 0)
            else:
                t = _tile(cell, tile)
            if highlight is not None and highlight[i, j]:
                t = (t.astype(np.int32) + (255 - t.astype(np.int32)) * 3 // 10).astype(np.uint8)
            img[j * tile:(j + 1) * tile, i * tile:(i + 1) * tile] = t
    return img
