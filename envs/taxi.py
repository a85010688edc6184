"""Taxi-v3 with Gymnasium's semantics, as a table lookup.

The board (5x5, ``|`` is a wall, ``:`` an open border; R, G, Y, B the four stands)::

    +---------+
    |R: | : :G|
    | : | : : |
    | : : : : |
    | | : | : |
    |Y| : |B: |
    +---------+

Observation: ``int32`` scalar state index in ``Discrete(500)``, Gymnasium's encoding
    ``((taxi_row * 5 + taxi_col) * 5 + pass_loc) * 4 + dest``; ``pass_loc`` is 0..3
    (R, G, Y, B) or 4 (in the taxi), ``dest`` is 0..3. ``decode(obs)`` inverts it.
Actions: ``Discrete(6)``; 0 south (row + 1), 1 north, 2 east (col + 1), 3 west,
    4 pickup, 5 dropoff. A move into a wall or off the board leaves the taxi in place.
Reward: -1 per step; +20 for dropping the passenger at the destination; -10 for a
    pickup where the passenger is not waiting, or a dropoff with no passenger aboard
    or away from the four stands. Dropping the passenger at another stand is legal
    (-1) and leaves the passenger waiting there.
Termination: a successful dropoff.
Truncation: ``time >= max_steps_in_episode`` (200, Gymnasium's TimeLimit).
Reset: uniform over the 300 states with the passenger waiting at a stand other than
    the destination (taxi anywhere, passenger not in the taxi).
Info: ``info["action_mask"]``, ``int8[6]``, Gymnasium's mask of the actions that
    change the state, for the state the transition reached (that of
    ``info["final_observation"]``), and ``info["prob"]``, the probability of the
    branch taken (1.0 unless rainy). After an auto-reset, the mask of the returned
    observation is ``env.action_mask(obs)`` (a table lookup, jittable).

Gymnasium 1.2 options, both implemented (static, constructor arguments):
``is_rainy`` (a move goes in the intended direction with probability 0.8 and to either
side with 0.1 each, with Gymnasium's exact side-step rules) and ``fickle_passenger``
(with probability 0.3, drawn at reset, the passenger changes to one of the other three
destinations, uniformly, on the first step the taxi moves with the passenger aboard).
With either option on the transition uses its key (``stochastic_step`` is true).

All transitions are precomputed at construction with numpy (``next_state[500, 6, 3]``,
``reward[500, 6]``, ``terminated[500, 6]``), so a step is a gather.

Params (``TaxiParams``, vmappable): ``max_steps_in_episode`` 200.

Pictures: ``render(state)`` (text, Gymnasium's ``ansi`` with ``colors=True``) and
``render_image(state, params=None, tile=64)`` (the board drawn, ``uint8[H, W, 3]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment

MAP = (
    "+---------+",
    "|R: | : :G|",
    "| : | : : |",
    "| : : : : |",
    "| | : | : |",
    "|Y| : |B: |",
    "+---------+",
)
LOCS = ((0, 0), (0, 4), (4, 0), (4, 3))  # R, G, Y, B as (row, col)
ACTION_NAMES = ("South", "North", "East", "West", "Pickup", "Dropoff")
NUM_ROWS = NUM_COLS = 5
NUM_STATES = 500
NUM_ACTIONS = 6
RAIN_PROBS = (0.8, 0.1, 0.1)  # intended move, then the two side steps
FICKLE_PROB = 0.3


@struct.dataclass
class TaxiState:
    s: jax.Array  # int32 state index, the observation
    time: jax.Array  # steps taken in this episode, int32
    last_action: jax.Array  # int32, -1 before the first step (for render)
    fickle_step: jax.Array  # bool: the passenger may still change destination


@struct.dataclass
class TaxiParams:
    max_steps_in_episode: int = 200


def encode(taxi_row, taxi_col, pass_loc, dest):
    """Gymnasium's state index; works on Python ints, numpy and JAX arrays."""
    return ((taxi_row * 5 + taxi_col) * 5 + pass_loc) * 4 + dest


def decode(s):
    """``(taxi_row, taxi_col, pass_loc, dest)`` of a state index (ints or arrays)."""
    return s // 100, (s // 20) % 5, (s // 4) % 5, s % 4


class _Tables:
    """Gymnasium's Taxi dynamics, enumerated once with numpy."""

    def __init__(self, is_rainy: bool):
        desc = np.asarray(MAP, dtype="c")
        self.next_state = np.zeros((NUM_STATES, NUM_ACTIONS, 3), np.int32)
        self.reward = np.zeros((NUM_STATES, NUM_ACTIONS), np.float32)
        self.terminated = np.zeros((NUM_STATES, NUM_ACTIONS), bool)
        self.action_mask = np.zeros((NUM_STATES, NUM_ACTIONS), np.int8)
        probs = np.zeros((NUM_ACTIONS, 3), np.float32)
        probs[:, 0] = 1.0
        if is_rainy:
            probs[:4] = RAIN_PROBS
        self.probs = probs
        starts = []

        def open_east(r, c):  # no wall between (r, c) and (r, c + 1)
            return desc[1 + r, 2 * c + 2] == b":"

        def open_west(r, c):
            return desc[1 + r, 2 * c] == b":"

        def side_step(r, c, dr, dc, offset):
            # Gymnasium's rainy side step: clamp to the board, then test the border
            # character at ``2 * new_col + offset`` of the new row; stay if it is a wall.
            nr = max(0, min(r + dr, NUM_ROWS - 1))
            nc = max(0, min(c + dc, NUM_COLS - 1))
            return (nr, nc) if desc[1 + nr, 2 * nc + offset] == b":" else (r, c)

        # side steps per move: ((dr, dc) of the intended move, left, right)
        moves = {
            0: ((1, 0), (0, -1), (0, 1)),
            1: ((-1, 0), (0, -1), (0, 1)),
            2: ((0, 1), (1, 0), (-1, 0)),
            3: ((0, -1), (1, 0), (-1, 0)),
        }
        for r in range(NUM_ROWS):
            for c in range(NUM_COLS):
                for p in range(5):
                    for d in range(4):
                        s = encode(r, c, p, d)
                        if p < 4 and p != d:
                            starts.append(s)
                        self.action_mask[s] = [
                            r < NUM_ROWS - 1,
                            r > 0,
                            c < NUM_COLS - 1 and open_east(r, c),
                            c > 0 and open_west(r, c),
                            p < 4 and (r, c) == LOCS[p],
                            p == 4 and (r, c) in LOCS,
                        ]
                        for a in range(NUM_ACTIONS):
                            nxt, rew, term = self._transition(
                                r, c, p, d, a, is_rainy, moves, open_east, open_west, side_step
                            )
                            self.next_state[s, a] = nxt
                            self.reward[s, a] = rew
                            self.terminated[s, a] = term
        self.starts = np.asarray(starts, np.int32)

    @staticmethod
    def _transition(r, c, p, d, a, is_rainy, moves, open_east, open_west, side_step):
        """((next states of the 3 branches), reward, terminated) of one (state, action)."""
        if a == 4:  # pickup
            if p < 4 and (r, c) == LOCS[p]:
                s = encode(r, c, 4, d)
                return (s, s, s), -1.0, False
            s = encode(r, c, p, d)
            return (s, s, s), -10.0, False
        if a == 5:  # dropoff
            if p == 4 and (r, c) == LOCS[d]:
                s = encode(r, c, d, d)
                return (s, s, s), 20.0, True
            if p == 4 and (r, c) in LOCS:
                s = encode(r, c, LOCS.index((r, c)), d)
                return (s, s, s), -1.0, False
            s = encode(r, c, p, d)
            return (s, s, s), -10.0, False
        # a move: north/south never test walls (the board has no horizontal walls)
        allowed = a in (0, 1) or (a == 2 and open_east(r, c)) or (a == 3 and open_west(r, c))
        if not allowed:
            s = encode(r, c, p, d)
            return (s, s, s), -1.0, False
        dr, dc = moves[a][0]
        nr = max(0, min(r + dr, NUM_ROWS - 1))
        nc = max(0, min(c + dc, NUM_COLS - 1))
        intended = encode(nr, nc, p, d)
        if not is_rainy:
            return (intended, intended, intended), -1.0, False
        lr, lc = side_step(r, c, *moves[a][1], offset=2)
        rr, rc = side_step(r, c, *moves[a][2], offset=0)
        return (intended, encode(lr, lc, p, d), encode(rr, rc, p, d)), -1.0, False


class Taxi(Environment[TaxiState, TaxiParams]):
    """Dietterich's taxi domain, Gymnasium's Taxi-v3 (see the module docstring)."""

    render_fps = 2.5  # one move every 0.4 s

    def __init__(self, is_rainy: bool = False, fickle_passenger: bool = False):
        for name, flag in (("is_rainy", is_rainy), ("fickle_passenger", fickle_passenger)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        self.is_rainy = bool(is_rainy)
        self.fickle_passenger = bool(fickle_passenger)
        self.stochastic_step = self.is_rainy or self.fickle_passenger
        self.tables = _Tables(self.is_rainy)

    @property
    def name(self) -> str:
        return "Taxi-v3"

    @property
    def default_params(self) -> TaxiParams:
        return TaxiParams()

    # --- dynamics ---------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: TaxiParams) -> tuple[jax.Array, TaxiState]:
        k_start, k_fickle = jax.random.split(key)
        starts = jnp.asarray(self.tables.starts)
        s = starts[jax.random.randint(k_start, (), 0, starts.shape[0])]
        if self.fickle_passenger:
            fickle = jax.random.uniform(k_fickle) < FICKLE_PROB
        else:
            fickle = jnp.zeros((), bool)
        state = TaxiState(
            s=s.astype(jnp.int32),
            time=jnp.zeros((), jnp.int32),
            last_action=jnp.full((), -1, jnp.int32),
            fickle_step=fickle,
        )
        return state.s, state

    def step_env(self, key, state, action, params):
        t = self.tables
        a = jnp.asarray(action, jnp.int32)
        # The key is only consumed when an option makes the step random (otherwise
        # ``Environment.step`` hands the same key to the reset draw).
        k_rain, k_fickle = jax.random.split(key) if self.stochastic_step else (None, None)
        probs = jnp.asarray(t.probs)[a]
        if self.is_rainy:
            # Gymnasium's categorical_sample: first branch whose cumulative p exceeds u.
            u = jax.random.uniform(k_rain)
            branch = jnp.argmax(jnp.cumsum(probs) > u)
        else:
            branch = jnp.zeros((), jnp.int32)
        s = jnp.asarray(t.next_state)[state.s, a, branch]
        reward = jnp.asarray(t.reward)[state.s, a]
        terminated = jnp.asarray(t.terminated)[state.s, a]
        fickle = state.fickle_step
        if self.fickle_passenger:
            row0, col0, pass0, dest0 = decode(state.s)
            row, col, pass_loc, _ = decode(s)
            trigger = fickle & (pass0 == 4) & ((row != row0) | (col != col0))
            pick = jax.random.randint(k_fickle, (), 0, 3)
            new_dest = pick + (pick >= dest0)  # uniform over the three other stands
            s = jnp.where(trigger, encode(row, col, pass_loc, new_dest), s)
            fickle = fickle & ~trigger
        new_state = TaxiState(
            s=s.astype(jnp.int32), time=state.time + 1, last_action=a, fickle_step=fickle
        )
        truncated = new_state.time >= params.max_steps_in_episode
        info = {"action_mask": self.action_mask(new_state.s), "prob": probs[branch]}
        return new_state.s, new_state, reward, terminated, truncated, info

    def action_mask(self, obs: jax.Array) -> jax.Array:
        """Gymnasium's ``int8[6]`` mask (1 = the action changes the state) of ``obs``."""
        return jnp.asarray(self.tables.action_mask)[jnp.asarray(obs, jnp.int32)]

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    def decode(obs) -> tuple:
        """``(taxi_row, taxi_col, pass_loc, dest)`` of a state index (int or array)."""
        return decode(obs)

    @staticmethod
    def encode(taxi_row, taxi_col, pass_loc, dest):
        """The state index of ``(taxi_row, taxi_col, pass_loc, dest)``."""
        return encode(taxi_row, taxi_col, pass_loc, dest)

    def render(self, state: TaxiState, colors: bool = False) -> str:
        """The board as text.

        With ``colors=True`` the string is exactly Gymnasium's ``ansi`` rendering
        (taxi highlighted yellow, or green with the passenger aboard; passenger's stand
        blue; destination magenta; then the last action). Without colours, the taxi is
        drawn as ``T`` (``@`` with the passenger aboard) and a legend line names the
        passenger's and destination's stands.
        """
        s = int(np.asarray(state.s))
        last = int(np.asarray(state.last_action))
        row, col, p, d = decode(s)
        out = [list(line) for line in MAP]
        if colors:
            if p < 4:
                out[1 + row][2 * col + 1] = _ansi(out[1 + row][2 * col + 1], 43)
                pr, pc = LOCS[p]
                out[1 + pr][2 * pc + 1] = _ansi(out[1 + pr][2 * pc + 1], 34, bold=True)
            else:
                cell = out[1 + row][2 * col + 1]
                out[1 + row][2 * col + 1] = _ansi("_" if cell == " " else cell, 42)
            dr, dc = LOCS[d]
            out[1 + dr][2 * dc + 1] = _ansi(out[1 + dr][2 * dc + 1], 35)
        else:
            out[1 + row][2 * col + 1] = "@" if p == 4 else "T"
        text = "\n".join("".join(line) for line in out) + "\n"
        if not colors:
            where = "in taxi" if p == 4 else "RGYB"[p]
            text += f"taxi ({row}, {col}), passenger: {where}, destination: {'RGYB'[d]}\n"
        text += f"  ({ACTION_NAMES[last]})\n" if last >= 0 else "\n"
        return text

    def render_image(self, state: TaxiState, params: TaxiParams | None = None,
                     tile: int = 64) -> np.ndarray:
        """The board as ``uint8[5 * tile + 8, 5 * tile + 8, 3]``: walls as thick lines, the
        four stands tinted and lettered (R red, G green, Y yellow, B blue), the destination
        framed in magenta, a waiting passenger as a dark figure, the taxi yellow (green with
        the passenger aboard)."""
        from PIL import Image, ImageDraw

        from .drawing import font

        s = np.asarray(state.s)
        if s.size != 1:
            raise ValueError(f"render takes one unbatched state, got s of shape {s.shape}")
        row, col, p, d = decode(int(s.reshape(())))
        pad = 4
        size = NUM_COLS * tile + 2 * pad
        img = Image.new("RGB", (size, size), (250, 250, 248))
        draw = ImageDraw.Draw(img)

        def box(r, c, inset=0):
            x, y = pad + c * tile, pad + r * tile
            return [x + inset, y + inset, x + tile - inset, y + tile - inset]

        letters = font(max(10, tile // 4))
        for k, (r, c) in enumerate(LOCS):
            draw.rectangle(box(r, c), fill=_STAND_TINTS[k])
            draw.text((box(r, c)[0] + 5, box(r, c)[1] + 3), "RGYB"[k], fill=_STAND_COLOURS[k],
                      font=letters)
        for r in range(NUM_ROWS + 1):  # the grid
            draw.line([(pad, pad + r * tile), (size - pad, pad + r * tile)], fill=(215, 215, 210))
        for c in range(NUM_COLS + 1):
            draw.line([(pad + c * tile, pad), (pad + c * tile, size - pad)], fill=(215, 215, 210))
        draw.rectangle(box(*LOCS[d], inset=3), outline=(200, 0, 200), width=max(2, tile // 16))
        wall = max(3, tile // 10)
        for r in range(NUM_ROWS):
            for c in range(NUM_COLS - 1):
                if MAP[1 + r][2 * c + 2] == "|":
                    x = pad + (c + 1) * tile
                    draw.line([(x, pad + r * tile), (x, pad + (r + 1) * tile)], fill=(60, 60, 60),
                              width=wall)
        draw.rectangle([pad - 2, pad - 2, size - pad + 1, size - pad + 1], outline=(60, 60, 60),
                       width=wall)
        x0, y0, _, _ = box(row, col)
        draw.rounded_rectangle([x0 + 0.12 * tile, y0 + 0.32 * tile, x0 + 0.66 * tile,
                                y0 + 0.72 * tile], radius=tile // 10,
                               fill=(60, 170, 60) if p == 4 else (245, 200, 0),
                               outline=(60, 60, 60), width=2)
        if p < 4:  # the passenger waits at a stand: a small figure in the cell's corner
            x0, y0, _, _ = box(*LOCS[p])
            cx, cy, u = x0 + 0.83 * tile, y0 + 0.55 * tile, max(2, tile // 16)
            draw.ellipse([cx - u, cy - 2 * u, cx + u, cy], fill=(30, 40, 120))
            draw.polygon([(cx - 2 * u, cy + 4 * u), (cx + 2 * u, cy + 4 * u), (cx, cy)],
                         fill=(30, 40, 120))
        return np.asarray(img, np.uint8).copy()

    # --- spaces -----------------------------------------------------------------------
    def action_space(self, params: TaxiParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: TaxiParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_STATES)


_STAND_COLOURS = ((214, 39, 40), (44, 160, 44), (170, 130, 0), (31, 119, 180))  # R, G, Y, B
_STAND_TINTS = ((250, 215, 215), (215, 240, 215), (250, 240, 200), (210, 225, 245))


def _ansi(text: str, code: int, bold: bool = False) -> str:
    return f"\x1b[{code}{';1' if bold else ''}m{text}\x1b[0m"
