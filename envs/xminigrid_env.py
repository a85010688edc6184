"""XLand-MiniGrid's MiniGrid ports (Nikulin et al., 2024) under jaxrl's contract, as
``xminigrid/<name>``.

XLand-MiniGrid re-implements MiniGrid's grid worlds in pure JAX::

    env, params = envs.make("xminigrid/MiniGrid-DoorKey-5x5")   # pip install 'jaxrl[xminigrid]'
    env, params = envs.make("xminigrid/MiniGrid-Empty-6x6", max_steps=50)

Names (``XMiniGridEnv.names()``): the library's ``MiniGrid-*`` environments (DoorKey,
Empty, EmptyRandom, FourRooms, LockedRoom, Memory, Playground, Unlock, ...: every name of
``xminigrid.registered_environments()`` that starts with ``MiniGrid-``). The
``XLand-MiniGrid-*`` meta-RL names are left out: their default params hold the empty
ruleset (a goal that is never reached, no objects, no reward), so they are only a task
once a ruleset from one of the library's benchmarks is put in.

``XMiniGridEnv`` calls the library's raw ``reset`` and ``step`` (no auto-reset wrapper of
the library runs), so auto-reset with ``info["final_observation"]`` is jaxrl's own. The
library marks an episode's last step ``LAST`` with ``discount`` 0 when the task's goal
(or, in Memory, either end of the corridor) is reached and ``discount`` 1 when only its
step limit is: here **terminated** is ``discount == 0`` and **truncated** is
``step_num >= max_steps`` (both on a goal reached on the last allowed step, as in
Gymnasium). The reward is the library's (``1 - 0.9 * step_num / max_steps`` on reaching
the goal, else 0). Its step uses no randomness (``stochastic_step`` is False).

Params: the library's params are all static configuration (``EnvParams`` has no pytree
leaves); ``XMiniGridParams`` holds ``max_steps`` (the library's per-environment default)
as a vmappable leaf, handed to the library's step, which reads it only as a number (a
limit traced at run time can round the goal's reward a few ulp apart from the library's
compiled-in one). Static option: ``view_size`` (odd, >= 3; the library's default: 7, 3 for
Memory), the side of the agent's view.

Actions (``Discrete(6)``): 0 forward, 1 turn right, 2 turn left, 3 pick up, 4 put down,
5 toggle. Observation (``uint8[view_size, view_size, 2]``): the agent's egocentric view,
facing up, one ``(tile, colour)`` pair a cell (tiles ``0..12``, colours ``0..11``; outside
the grid reads ``(0, 0)``); the library's view is transparent (walls hide nothing).
Pictures: ``render_image`` is the library's RGB drawing of the whole grid (32 pixels a
cell, the agent's view highlighted).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment
from .registry import _strongly_typed
from .validation import count

__all__ = ["XMINIGRID_PREFIX", "XMiniGridEnv", "XMiniGridParams"]

XMINIGRID_PREFIX = "xminigrid/"
ACTION_NAMES = ("forward", "turn right", "turn left", "pick up", "put down", "toggle")


@struct.dataclass
class XMiniGridParams:
    """The vmappable params: ``max_steps``, the step at which an episode is truncated."""

    max_steps: int


def _timestep(state: Any) -> Any:
    """A library ``TimeStep`` around ``state``: the library's step and drawing read only
    its state, the other fields are fillers."""
    from xminigrid.types import StepType, TimeStep

    fillers: Any = {"step_type": StepType.MID, "reward": jnp.float32(0.0),
                    "discount": jnp.float32(1.0), "observation": None}
    return TimeStep(state=state, **fillers)


def _import_xminigrid(name: str) -> Any:
    try:
        import xminigrid
    except ImportError:
        raise ValueError(f"{XMINIGRID_PREFIX}{name} needs the xminigrid package: "
                         "pip install 'jaxrl[xminigrid]'") from None
    return xminigrid


class XMiniGridEnv(Environment[Any, XMiniGridParams]):
    """One XLand-MiniGrid environment (see the module docstring); ``xminigrid_name`` is
    one of ``names()``, ``view_size`` the side of the agent's view (odd, >= 3)."""

    stochastic_step = False  # the library's step draws nothing
    render_fps = 6.0

    def __init__(self, xminigrid_name: str = "MiniGrid-Empty-6x6", view_size: int | None = None):
        xminigrid = _import_xminigrid(xminigrid_name)
        if xminigrid_name not in self.names():
            raise ValueError(f"unknown xminigrid environment {xminigrid_name!r}; choose from "
                             f"{', '.join(self.names())}")
        options = {}
        if view_size is not None:
            size = count("xminigrid", "view_size", view_size, 3, 255)
            if size % 2 == 0:
                raise ValueError(f"xminigrid view_size must be odd (the agent sits in the "
                                 f"middle of its view's bottom row), got {view_size!r}")
            options["view_size"] = size
        self._env, self._lib_params = xminigrid.make(xminigrid_name, **options)
        self._name = xminigrid_name
        self.view_size = int(self._lib_params.view_size)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The environments this adapter runs (``envs.make("xminigrid/" + name)``)."""
        import xminigrid

        return tuple(n for n in xminigrid.registered_environments() if n.startswith("MiniGrid-"))

    @property
    def name(self) -> str:
        return XMINIGRID_PREFIX + self._name

    @property
    def default_params(self) -> XMiniGridParams:
        return XMiniGridParams(max_steps=int(self._lib_params.max_steps))

    @property
    def action_names(self) -> tuple[str, ...]:
        return ACTION_NAMES

    def library_params(self, params: XMiniGridParams) -> Any:
        """The library's params for one step under ``params``. Its ``max_steps`` is a static
        field there; given a traced value inside the step it is read only as a number (the
        reward's ``step_num / max_steps``, the limit's ``step_num == max_steps``)."""
        return self._lib_params.replace(max_steps=params.max_steps)

    def reset_env(self, key: jax.Array, params: XMiniGridParams) -> tuple[jax.Array, Any]:
        timestep = self._env.reset(self._lib_params, key)
        return timestep.observation, _strongly_typed(timestep.state)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: XMiniGridParams):
        timestep = self._env.step(self.library_params(params), _timestep(state), action)
        state = _strongly_typed(timestep.state)
        terminated = jnp.asarray(timestep.discount) == 0.0
        truncated = state.step_num >= params.max_steps
        reward = jnp.asarray(timestep.reward, jnp.float32)
        return timestep.observation, state, reward, terminated, truncated, {}

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.Discrete(int(self._env.num_actions(self._lib_params)))

    def observation_space(self, params: Any = None) -> spaces.Space:
        from xminigrid.core.constants import NUM_COLORS, NUM_TILES

        v = self.view_size
        high = np.broadcast_to(np.array([NUM_TILES - 1, NUM_COLORS - 1], np.uint8), (v, v, 2))
        return spaces.Box(0, high, (v, v, 2), jnp.uint8)

    def render_image(self, state: Any, params: Any = None) -> np.ndarray:
        """The whole grid of one unbatched ``state``, ``uint8[H, W, 3]``, drawn by the
        library (32 pixels a cell, the agent's view highlighted)."""
        if np.ndim(state.step_num) != 0:
            raise ValueError(f"render_image draws one unbatched state; its step_num has shape "
                             f"{np.shape(state.step_num)}")
        state = state.replace(grid=np.asarray(state.grid),
                              agent=jax.tree.map(np.asarray, state.agent))
        pixels = self._env.render(self._lib_params.replace(render_mode="rgb_array"),
                                  _timestep(state))
        return np.asarray(pixels, np.uint8)

    def describe(self, state: Any, params: Any = None) -> str:
        from .drawing import scalar

        return f"step {int(scalar(state.step_num))}"
