"""NAVIX's MiniGrid ports (Pignatelli et al., 2024) under jaxrl's contract, as ``navix/<name>``.

NAVIX re-implements MiniGrid's grid worlds in pure JAX::

    env, params = envs.make("navix/Navix-DoorKey-5x5-v0")        # pip install 'jaxrl[navix]'
    env, params = envs.make("navix/Navix-Empty-8x8-v0", max_steps=256)
    env, params = envs.make("navix/Navix-Empty-8x8-v0", observation="symbolic_first_person")

Names (``NAVIX_NAMES``, ``NavixEnv.names()``): 35 of the 41 environments of navix 0.7.4's
``navix.registry()`` (DistShift, DoorKey, Dynamic-Obstacles, Empty, FourRooms, GoToDoor,
LavaGap, SimpleCrossing), each checked to construct and step under ``jit`` with jax 0.10.2
(navix needs no shim there: it uses ``jax.tree.map`` and typed keys, none of the removed
aliases). Left out (``LEFT_OUT``): the six KeyCorridor names. They run, but the library
builds their locked door with ``open=2`` where a bool belongs: a door is walkable where
``open`` is, so the player walks through the locked door without its key, and the door's
symbolic state reads 254 (its categorical observation turns float32).

Stepping: ``NavixEnv`` calls the library's ``reset`` and its raw ``_step``, never its
``step``, which auto-resets from a key kept in the state when the timestep it is handed
ended; auto-reset with ``info["final_observation"]`` is jaxrl's own. The library marks a
step TERMINATION (``step_type`` 2: the goal reached, lava stepped in, a ball hit, as the
environment's termination function says) or TRUNCATION (``step_type`` 1: the step count
reached ``max_steps``); a termination on the limit's step is TERMINATION only. Here
**terminated** is ``step_type == 2`` and **truncated** ``step_type == 1``: never both. The
reward is the library's, as float32: 1 on the step that reaches the goal (GoToDoor: that
says done in front of the asked-for door), else 0, with no step penalty (MiniGrid's
``1 - 0.9 * t / max_steps`` is not navix's); a ball hit (Dynamic-Obstacles) or lava
(LavaGap) terminates with reward 0 (MiniGrid's Dynamic-Obstacles gives -1).

Keys: ``reset``'s key goes to the library's ``reset``, which splits it in two: one draws
the layout, the other is kept in the library's state (``state.state.key``). The library's
step draws only from that key (Dynamic-Obstacles' balls move at random: it splits the key
each step, keeping one part for the next), so ``stochastic_step`` is False and jaxrl's
step key goes whole to the auto-reset's draw, as for Jumanji.

Params: ``NavixParams.max_steps``, the step at which an episode is truncated, a vmappable
leaf handed to the library's step (a static field there, read only as a number:
``t >= max_steps``); its default is ``navix.make``'s, 100 for every name (MiniGrid's own
limits differ: DoorKey-5x5 250). Static option ``observation``, one of ``OBSERVATIONS``, the
library's observation function: ``"symbolic"`` (the default, navix's own: the whole grid,
``uint8[H, W, 3]``, MiniGrid's ``(object, colour, state)`` triple a cell: objects 0..10
(wall 2, door 4, key 5, ball 6, box 7, goal 8, lava 9, player 10; floor 1), colours 0..5,
state 0..3 (a door's 0 open, 1 closed, 2 locked; the player's direction 0 east .. 3
north)), ``"symbolic_first_person"`` (the same triples in the player's 7x7 view, facing up,
``uint8[7, 7, 3]``), ``"categorical"`` (one object tag a cell, ``int32[H, W]``, -1 an
outer wall, 0 floor), ``"categorical_first_person"`` (``int32[7, 7]``, 100 outside the
grid), ``"rgb"`` and ``"rgb_first_person"`` (``uint8`` pictures, 8 pixels a cell). The
``Box`` bounds are those ranges (navix's own spaces say 0..8, which its player (10) and
lava (9) exceed).

Actions (``Discrete(7)``, MiniGrid's set): 0 turn left, 1 turn right, 2 forward, 3 pick up,
4 drop, 5 toggle, 6 done. Pictures: ``render_image`` is the library's RGB drawing of the
whole grid (its ``rgb`` observation, from sprites cached in the state), each cell scaled
from 8 to ``8 * scale`` pixels (``scale=4`` by default).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment
from .registry import _closest, _strongly_typed
from .validation import count

__all__ = ["LEFT_OUT", "NAVIX_NAMES", "NAVIX_PREFIX", "OBSERVATIONS", "NavixEnv", "NavixParams",
           "NavixState"]

NAVIX_PREFIX = "navix/"
#: navix 0.7.4's registered environments adapted here (each constructs and steps under jit).
NAVIX_NAMES = (
    "Navix-DistShift1-v0", "Navix-DistShift2-v0",
    "Navix-DoorKey-5x5-v0", "Navix-DoorKey-6x6-v0", "Navix-DoorKey-8x8-v0",
    "Navix-DoorKey-16x16-v0", "Navix-DoorKey-Random-5x5-v0", "Navix-DoorKey-Random-6x6-v0",
    "Navix-DoorKey-Random-8x8-v0", "Navix-DoorKey-Random-16x16-v0",
    "Navix-Dynamic-Obstacles-5x5-v0", "Navix-Dynamic-Obstacles-5x5-Random-v0",
    "Navix-Dynamic-Obstacles-6x6-v0", "Navix-Dynamic-Obstacles-6x6-Random-v0",
    "Navix-Dynamic-Obstacles-8x8-v0", "Navix-Dynamic-Obstacles-16x16-v0",
    "Navix-Empty-5x5-v0", "Navix-Empty-6x6-v0", "Navix-Empty-8x8-v0", "Navix-Empty-16x16-v0",
    "Navix-Empty-Random-5x5-v0", "Navix-Empty-Random-6x6-v0", "Navix-Empty-Random-8x8-v0",
    "Navix-Empty-Random-16x16-v0",
    "Navix-FourRooms-v0",
    "Navix-GoToDoor-5x5-v0", "Navix-GoToDoor-6x6-v0", "Navix-GoToDoor-8x8-v0",
    "Navix-LavaGapS5-v0", "Navix-LavaGapS6-v0", "Navix-LavaGapS7-v0",
    "Navix-SimpleCrossingS9N1-v0", "Navix-SimpleCrossingS9N2-v0",
    "Navix-SimpleCrossingS9N3-v0", "Navix-SimpleCrossingS11N5-v0",
)
#: navix's names not adapted, and why (the module docstring says more).
LEFT_OUT = {f"Navix-KeyCorridor{size}-v0": "its locked door is built open (open=2): "
            "walkable without the key" for size in ("S3R1", "S3R2", "S3R3", "S4R3", "S5R3",
                                                      "S6R3")}
#: observation -> (low, high) of every element (the last axis's, for a tuple).
OBSERVATIONS: dict[str, tuple[Any, Any]] = {
    "symbolic": (0, (10, 5, 3)),
    "symbolic_first_person": (0, (10, 5, 3)),
    "categorical": (-1, 10),
    "categorical_first_person": (-1, 100),
    "rgb": (0, 255),
    "rgb_first_person": (0, 255),
}
DEFAULT_MAX_STEPS = 100  # navix.make's default, the same for every name
TILE = 8  # navix's pixels a cell
ACTION_LABELS = {"rotate_ccw": "turn left", "rotate_cw": "turn right", "forward": "forward",
                 "pickup": "pick up", "drop": "drop", "toggle": "toggle", "done": "done"}


@struct.dataclass
class NavixParams:
    """The vmappable params: ``max_steps``, the step at which an episode is truncated."""

    max_steps: int


@struct.dataclass
class NavixState:
    """``t``: steps since the episode's reset; ``state``: the library's ``State`` (its
    grid, entities, events, the key its step draws from, and its sprite cache)."""

    t: jax.Array
    state: Any


def _import_navix(name: str) -> Any:
    try:
        import navix
    except ImportError:
        raise ValueError(f"{NAVIX_PREFIX}{name} needs the navix package: "
                         "pip install 'jaxrl[navix]'") from None
    return navix


def _timestep(state: NavixState) -> Any:
    """A library ``Timestep`` around ``state``: its raw step reads ``t``, ``state`` and
    ``info["return"]``; the other fields are fillers."""
    from navix.environments.environment import Timestep

    return Timestep(t=state.t, observation=jnp.zeros(()), action=jnp.int32(-1),
                    reward=jnp.float32(0.0), step_type=jnp.int32(0), state=state.state,
                    info={"return": jnp.float32(0.0)})


class NavixEnv(Environment[NavixState, NavixParams]):
    """One NAVIX environment (see the module docstring); ``navix_name`` is one of
    ``names()``, ``observation`` one of ``OBSERVATIONS``."""

    stochastic_step = False  # the library's step draws from the key kept in its state
    render_fps = 6.0

    def __init__(self, navix_name: str = "Navix-DoorKey-5x5-v0", observation: str = "symbolic"):
        if navix_name not in NAVIX_NAMES:
            if navix_name in LEFT_OUT:
                raise ValueError(f"navix environment {navix_name!r} is left out: "
                                 f"{LEFT_OUT[navix_name]}")
            raise ValueError(f"unknown navix environment {navix_name!r}."
                             + _closest(navix_name, NAVIX_NAMES))
        if observation not in OBSERVATIONS:
            raise ValueError(f"unknown navix observation {observation!r}."
                             + _closest(observation, OBSERVATIONS))
        navix = _import_navix(navix_name)
        from navix import observations

        self._obs_fn = getattr(observations, observation)
        self._env = navix.make(navix_name, max_steps=DEFAULT_MAX_STEPS,
                               observation_fn=self._obs_fn)
        self._name = navix_name
        self.observation = observation
        self._draw = jax.jit(observations.rgb)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The environments this adapter runs (``envs.make("navix/" + name)``)."""
        return NAVIX_NAMES

    @property
    def name(self) -> str:
        return NAVIX_PREFIX + self._name

    @property
    def library(self) -> Any:
        """The library's environment (built with the default ``max_steps``)."""
        return self._env

    @property
    def default_params(self) -> NavixParams:
        return NavixParams(max_steps=DEFAULT_MAX_STEPS)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(ACTION_LABELS.get(f.__name__, f.__name__) for f in self._env.action_set)

    def library_env(self, params: NavixParams) -> Any:
        """The library's environment stepping under ``params`` (its static ``max_steps``
        replaced by the param, which its step reads only as a number)."""
        return self._env.replace(max_steps=params.max_steps)

    def reset_env(self, key: jax.Array, params: NavixParams) -> tuple[jax.Array, NavixState]:
        timestep = self._env.reset(key)
        return timestep.observation, _strongly_typed(NavixState(t=timestep.t,
                                                                state=timestep.state))

    def step_env(self, key: jax.Array, state: NavixState, action: Any, params: NavixParams):
        from navix.environments.environment import StepType

        timestep = self.library_env(params)._step(_timestep(state), action)
        new = _strongly_typed(NavixState(t=timestep.t, state=timestep.state))
        terminated = timestep.step_type == StepType.TERMINATION
        truncated = timestep.step_type == StepType.TRUNCATION
        reward = jnp.asarray(timestep.reward, jnp.float32)
        return timestep.observation, new, reward, terminated, truncated, {}

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.Discrete(len(self._env.action_set))

    def observation_space(self, params: Any = None) -> spaces.Space:
        shaped = jax.eval_shape(self._env.reset, jax.random.key(0)).observation
        low, high = OBSERVATIONS[self.observation]
        high = np.broadcast_to(np.asarray(high), shaped.shape)
        return spaces.Box(low, high, shaped.shape, shaped.dtype)

    def render_image(self, state: NavixState, params: Any = None, scale: int = 4) -> np.ndarray:
        """The whole grid of one unbatched ``state``, ``uint8[H, W, 3]``, drawn by the
        library (its ``rgb`` observation, 8 pixels a cell) and scaled ``scale`` times."""
        if np.ndim(state.t) != 0:
            raise ValueError(f"render_image draws one unbatched state; its t has shape "
                             f"{np.shape(state.t)}")
        scale = count("navix", "scale", scale, 1, 64)
        pixels = np.asarray(self._draw(state.state), np.uint8)
        return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)

    def describe(self, state: NavixState, params: Any = None) -> str:
        from .drawing import scalar

        return f"step {int(scalar(state.t))}"
