"""Ising worlds (chapter 9): every spin is an agent that chooses its own direction.

Two lattices, both multi-agent environments (``envs.multiagent``: an agent axis on
observations, actions and rewards, shared scalar flags, auto-reset):

``Ising1D`` (``Ising1D-v0``): ``num_spins`` spins on a ring (default 20). Agent ``i``'s
neighbours are ``i - 1`` and ``i + 1`` (mod ``num_spins``).

``Ising2D`` (``Ising2D-v0``): a ``height x width`` torus (default 10 x 10); agent
``i = row * width + col``; its neighbours are the 8 cells around it, wrapping at the
edges (a corner's neighbours include the three other corners).

Spins are ``0`` (down) and ``1`` (up). Every step is synchronous: every agent's action
becomes its spin at once, and an agent is rewarded for how its new spin matches its
neighbours' new spins: the local energy of the configuration the step produced (Yang
et al., 2018), so an agent's reward depends on what its neighbours chose in the same
step. ``reward_after_move=False`` (a params field) compares the new spin with the
neighbourhood the agent observed when choosing (the neighbours' spins before the
move), as the book's code does. That timing has a defect under synchronous updates: a
ring of alternating spins that all flip every step matches every observed neighbour
and earns the maximum reward while no pair is ever aligned (measured: 1 seed in 16 of
``nq`` and of ``mfq``, 0 of 16 of ``iql``, learn this blinker on the 20-ring). With the default, alignment
is the only optimum.

Observation (per agent, computed from the configuration):
    1-D: ``float32[4]``, the outer product of the left and right neighbours' one-hot
    spins, flattened: a one-hot of ``2 * left + right`` (the book's 4-valued state).
    2-D: ``float32[2]``, the mean field of the 8 neighbours: the fraction of them
    pointing down and up (``mf[0] + mf[1] = 1``).
Action: ``Discrete(2)`` per agent: 0 down, 1 up; the agent's spin after the step.
Reward (per agent; the agent's new spin ``a`` against its neighbours' new spins, or
their spins before the move with ``reward_after_move=False``):
    1-D: ``scale * (base + match * number of neighbours with spin a)``, the book's
    ``2 * (-1 + 0.9 * matches)``: -2, -0.2 or 1.6 for 0, 1 or 2 matching neighbours.
    2-D: ``tanh(slope * (mf[a] - 0.5))`` with ``mf[a]`` the fraction of the 8 neighbours
    with spin ``a`` (the book's ``tanh(5 (mf[a] - 0.5))``).
    ``rewards(spins, params, neighbours_from)`` computes either for hand-set spins.
Termination: never. Truncation: ``time >= max_steps_in_episode`` (params, default
    50 in 1-D and 100 in 2-D); the next episode starts from uniformly random spins.
Params: ``Ising1DParams`` (``base``, ``match``, ``scale``, ``reward_after_move``,
    ``max_steps_in_episode``), ``Ising2DParams`` (``slope``, ``reward_after_move``,
    ``max_steps_in_episode``), all vmappable.
State: ``IsingState``: ``spins`` ``int32[num_agents]``, ``time`` ``int32[]``.
Info: ``aligned_fraction`` (``float32[]``) of the new configuration: in 1-D the share of
    neighbouring pairs with equal spins (two domains on the 20-ring: 0.9); in 2-D the
    share of spins agreeing with the majority ("all but 3 aligned": 0.97).

Pictures: ``render(state)`` is text (``↑``/``↓``, one row per lattice row; ASCII ``+``/
``-`` with ``ascii=True``); ``render_image(state, params=None)`` an RGB ``uint8`` array (up light,
down dark); ``jaxrl.output.plotting.spin_grids`` draws configurations side by side.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .multiagent import MultiAgentEnvironment
from .validation import MAX_COUNT, MAX_SIDE, count

ACTION_NAMES = ("down", "up")
UP_COLOUR, DOWN_COLOUR = (244, 200, 66), (38, 52, 110)


@struct.dataclass
class IsingState:
    spins: jax.Array  # int32[num_agents], 0 down / 1 up
    time: jax.Array  # int32[], steps taken in this episode


@struct.dataclass
class Ising1DParams:
    base: float = -1.0  # reward with no matching neighbour, before scaling
    match: float = 0.9  # added per matching neighbour
    scale: float = 2.0  # the whole reward is multiplied by this
    reward_after_move: bool = True  # False: against the spins observed before the move (book's code)
    max_steps_in_episode: int = 50


@struct.dataclass
class Ising2DParams:
    slope: float = 5.0  # reward tanh(slope * (mf[a] - 0.5))
    reward_after_move: bool = True  # False: against the spins observed before the move (book's code)
    max_steps_in_episode: int = 100


def _size(name: str, value: object, low: int = 3, high: int = MAX_SIDE) -> int:
    return count("Ising", name, value, low, high)


class _Ising(MultiAgentEnvironment):
    """What both lattices share: spins as state, actions as the new spins."""

    stochastic_step = False  # the transition is deterministic; the key seeds resets
    evaluate_on_training_state = False
    action_names = ACTION_NAMES
    shape: tuple[int, ...]

    def get_obs(self, state: IsingState, params: Any = None) -> jax.Array:
        """Every agent's observation of ``state`` (what ``reset`` and ``step`` return)."""
        return self.observe(state.spins)

    def reset_env(self, key, params):
        spins = jax.random.bernoulli(key, 0.5, (self.num_agents,)).astype(jnp.int32)
        state = IsingState(spins, jnp.zeros((), jnp.int32))
        return self.observe(state.spins), state

    def step_env(self, key, state, action, params):
        spins = jnp.asarray(action, jnp.int32).reshape(self.num_agents)
        time = state.time + 1
        new = IsingState(spins, time)
        info = {"aligned_fraction": self.aligned_fraction(new)}
        against = jnp.where(params.reward_after_move, spins, state.spins)
        return (self.observe(spins), new, self.rewards(spins, params, against),
                jnp.zeros((), bool), time >= params.max_steps_in_episode, info)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def neighbour_spins(self, spins: jax.Array) -> jax.Array:
        """``int32[num_agents, K]``: each agent's neighbours' spins, in ``neighbours`` order."""
        return jnp.asarray(spins)[jnp.asarray(self.neighbours)]

    def matches(self, spins: jax.Array, neighbours_from: jax.Array | None = None) -> jax.Array:
        """``int32[num_agents]``: how many neighbours have each agent's spin.

        The neighbours' spins are read from ``neighbours_from`` (default ``spins``).
        """
        spins = jnp.asarray(spins, jnp.int32)
        other = spins if neighbours_from is None else jnp.asarray(neighbours_from, jnp.int32)
        return jnp.sum(self.neighbour_spins(other) == spins[:, None], axis=1).astype(jnp.int32)

    # --- pictures --------------------------------------------------------------------
    def describe(self, state, params=None) -> str:
        """One line for a picture's caption: the aligned share and the magnetisation."""
        spins = self._grid(state).ravel()
        aligned = float(self.aligned_fraction(IsingState(jnp.asarray(spins), jnp.int32(0))))
        return f"aligned {aligned:.0%}, {int(spins.sum())} of {spins.size} up"

    def _grid(self, state_or_spins) -> np.ndarray:
        spins = getattr(state_or_spins, "spins", state_or_spins)
        spins = np.asarray(spins)
        if spins.shape != (self.num_agents,):
            raise ValueError(f"render takes one unbatched state ({self.num_agents} spins), "
                             f"got spins of shape {spins.shape}")
        return spins.reshape(self.shape if len(self.shape) == 2 else (1, self.num_agents))

    def render(self, state, ascii: bool = False) -> str:
        """The spins as text: ``↑`` up, ``↓`` down (``+``/``-`` with ``ascii=True``),
        one line per lattice row (the ring is one line)."""
        up, down = ("+", "-") if ascii else ("↑", "↓")
        return "\n".join("".join(up if s else down for s in row) for row in self._grid(state))

    def render_image(self, state, params=None, cell: int = 24) -> np.ndarray:
        """``uint8[rows * cell, cols * cell, 3]``: up spins light, down spins dark,
        with a one-pixel grid line between cells."""
        grid = self._grid(state)
        colours = np.array([DOWN_COLOUR, UP_COLOUR], np.uint8)
        img = np.repeat(np.repeat(colours[grid], cell, axis=0), cell, axis=1)
        img[::cell, :, :] = 90
        img[:, ::cell, :] = 90
        return img


class Ising1D(_Ising):
    """A ring of ``num_spins`` spin agents (see the module docstring).

    Args:
        num_spins: ring length, an int >= 3 (static: the number of agents).

    Raises:
        ValueError: a ring smaller than 3.
    """

    def __init__(self, num_spins: int = 20):
        self.num_agents = _size("num_spins", num_spins, high=MAX_COUNT)
        self.shape = (self.num_agents,)
        i = np.arange(self.num_agents)
        self.neighbours = np.stack([(i - 1) % self.num_agents, (i + 1) % self.num_agents], 1)

    @property
    def name(self) -> str:
        return "Ising1D-v0"

    def __repr__(self) -> str:
        return f"<Ising1D num_spins={self.num_agents}>"

    @property
    def default_params(self) -> Ising1DParams:
        return Ising1DParams()

    def observe(self, spins: jax.Array) -> jax.Array:
        """``float32[num_agents, 4]``: one-hot of ``2 * left + right`` per agent."""
        nb = self.neighbour_spins(spins)
        return jax.nn.one_hot(2 * nb[:, 0] + nb[:, 1], 4, dtype=jnp.float32)

    def rewards(self, spins: jax.Array, params: Ising1DParams,
                neighbours_from: jax.Array | None = None) -> jax.Array:
        """``float32[num_agents]``: ``scale * (base + match * matches)``: agent ``i``
        holding ``spins[i]``, its neighbours holding ``neighbours_from`` (default ``spins``)."""
        m = self.matches(spins, neighbours_from).astype(jnp.float32)
        return (params.scale * (params.base + params.match * m)).astype(jnp.float32)

    def aligned_fraction(self, state: IsingState) -> jax.Array:
        """``float32[]``: share of neighbouring pairs ``(i, i + 1)`` with equal spins."""
        s = state.spins
        return jnp.mean((s == jnp.roll(s, -1)).astype(jnp.float32))

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (4,), jnp.float32)


class Ising2D(_Ising):
    """A ``height x width`` torus of spin agents (see the module docstring).

    Args:
        height, width: lattice sides, ints >= 3 (static: ``height * width`` agents).

    Raises:
        ValueError: a side smaller than 3.
    """

    #: Neighbour offsets (d_row, d_col), in ``neighbours`` column order.
    OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))

    def __init__(self, height: int = 10, width: int = 10):
        h, w = _size("height", height), _size("width", width)
        self.shape = (h, w)
        self.num_agents = h * w
        r, c = np.divmod(np.arange(h * w), w)
        self.neighbours = np.stack(
            [((r + dr) % h) * w + (c + dc) % w for dr, dc in self.OFFSETS], axis=1)

    @property
    def name(self) -> str:
        return "Ising2D-v0"

    def __repr__(self) -> str:
        return f"<Ising2D {self.shape[0]}x{self.shape[1]}>"

    @property
    def default_params(self) -> Ising2DParams:
        return Ising2DParams()

    def mean_field(self, spins: jax.Array) -> jax.Array:
        """``float32[num_agents, 2]``: fraction of the 8 neighbours down and up."""
        up = jnp.mean(self.neighbour_spins(spins).astype(jnp.float32), axis=1)
        return jnp.stack([1.0 - up, up], axis=1)

    observe = mean_field

    def rewards(self, spins: jax.Array, params: Ising2DParams,
                neighbours_from: jax.Array | None = None) -> jax.Array:
        """``float32[num_agents]``: ``tanh(slope * (mf[a] - 0.5))``: agent ``i`` holding
        ``a = spins[i]``, the mean field of ``neighbours_from`` (default ``spins``)."""
        mf = self.mean_field(spins if neighbours_from is None else neighbours_from)
        own = jnp.take_along_axis(mf, jnp.asarray(spins, jnp.int32)[:, None], axis=1)[:, 0]
        return jnp.tanh(params.slope * (own - 0.5)).astype(jnp.float32)

    def aligned_fraction(self, state: IsingState) -> jax.Array:
        """``float32[]``: share of spins agreeing with the majority direction."""
        up = jnp.mean(state.spins.astype(jnp.float32))
        return jnp.maximum(up, 1.0 - up)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)
