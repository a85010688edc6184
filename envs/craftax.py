"""Craftax (Matthews et al., 2024) under jaxrl's contract, as ``craftax/<name>``.

Craftax is an open-ended survival game in pure JAX, Minecraft-like (Classic: Crafter's
22 achievements on a 64x64 world; the full game: 9 floors and 43 actions)::

    env, params = envs.make("craftax/Craftax-Classic-Symbolic-v1")   # pip install 'jaxrl[craftax]'

Names (``CRAFTAX_NAMES``): ``Craftax-Classic-Symbolic-v1`` (a 1,345-float vector),
``Craftax-Classic-Pixels-v1`` (a 63x63x3 image), ``Craftax-Symbolic-v1`` and
``Craftax-Pixels-v1``. ``CraftaxEnv`` runs the library's no-auto-reset environment, so
auto-reset with ``info["final_observation"]`` is jaxrl's own, and splits its one
``done`` flag: **terminated** when the game itself ends (death, lava, the full game's
boss beaten), **truncated** when only the time limit (``params.max_timesteps``: 10,000
steps for Classic, 100,000 for the full game) ends it. The reward and ``info`` (the
achievements, ``discount``) are the library's, unchanged; its params stay vmappable
params (``max_timesteps=1000`` as an ``envs.make`` option). Pictures: ``render_image``
draws the agent's view with the game's own textures (16 pixels a block).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import spaces
from .core import Environment

__all__ = ["CRAFTAX_NAMES", "CRAFTAX_PREFIX", "CraftaxEnv"]

CRAFTAX_PREFIX = "craftax/"
CRAFTAX_NAMES = ("Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1",
                 "Craftax-Symbolic-v1", "Craftax-Pixels-v1")
_NO_LIMIT = np.iinfo(np.int32).max


class CraftaxEnv(Environment):
    """One Craftax game (see the module docstring); ``craftax_name`` is one of
    ``CRAFTAX_NAMES``."""

    render_fps = 8.0

    def __init__(self, craftax_name: str = "Craftax-Classic-Symbolic-v1"):
        if craftax_name not in CRAFTAX_NAMES:
            raise ValueError(f"unknown Craftax game {craftax_name!r}; choose from "
                             f"{', '.join(CRAFTAX_NAMES)}")
        try:
            from craftax.craftax_env import make_craftax_env_from_name
        except ImportError:
            raise ValueError(f"{CRAFTAX_PREFIX}{craftax_name} needs the craftax package: "
                             "pip install 'jaxrl[craftax]'") from None
        self._env = make_craftax_env_from_name(craftax_name, auto_reset=False)
        self._name = craftax_name
        self._classic = "Classic" in craftax_name

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The games this adapter runs (``envs.make("craftax/" + name)``)."""
        return CRAFTAX_NAMES

    @property
    def name(self) -> str:
        return CRAFTAX_PREFIX + self._name

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        return self._env.reset_env(key, params)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any):
        obs, state, reward, done, info = self._env.step_env(key, state, action, params)
        # The game's own end, without the time limit: is_terminal under an endless limit.
        ended = self._env.is_terminal(state, params.replace(max_timesteps=_NO_LIMIT))
        terminated = jnp.asarray(ended, bool)
        truncated = jnp.logical_and(jnp.asarray(done, bool), jnp.logical_not(terminated))
        return (obs, state, jnp.asarray(reward, jnp.float32), terminated, truncated, info)

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.from_gymnax(self._env.action_space(params))

    def observation_space(self, params: Any = None) -> spaces.Space:
        params = self.default_params if params is None else params
        return spaces.from_gymnax(self._env.observation_space(params))

    def render_image(self, state: Any, params: Any = None) -> np.ndarray:
        """The agent's view of one unbatched ``state``, ``uint8[H, W, 3]``, drawn with the
        game's textures (16 pixels a block)."""
        if not hasattr(self, "_draw"):
            if self._classic:
                from craftax.craftax_classic.constants import BLOCK_PIXEL_SIZE_IMG
                from craftax.craftax_classic.renderer import make_craftax_pixel_renderer
            else:
                from craftax.craftax.constants import BLOCK_PIXEL_SIZE_IMG
                from craftax.craftax.renderer import make_craftax_pixel_renderer
            self._draw = jax.jit(make_craftax_pixel_renderer(BLOCK_PIXEL_SIZE_IMG))
        pixels = np.asarray(self._draw(state))
        return np.clip(pixels, 0, 255).astype(np.uint8)

    def describe(self, state: Any, params: Any = None) -> str:
        from .drawing import scalar

        return (f"health {scalar(state.player_health):.0f}   food "
                f"{scalar(state.player_food):.0f}   step {int(scalar(state.timestep))}")
