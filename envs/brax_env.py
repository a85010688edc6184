"""Brax (Freeman et al., 2021) under jaxrl's contract, as ``brax/<name>``.

Brax's continuous-control tasks (MuJoCo's locomotion and manipulation suite, simulated
in JAX) with a ``Box(-1, 1)`` action per actuator and a float vector observation::

    env, params = envs.make("brax/hopper")       # pip install 'jaxrl[brax]'
    env, params = envs.make("brax/ant", backend="mjx", max_steps_in_episode=500)

Names (``BRAX_NAMES``): ``ant``, ``halfcheetah``, ``hopper``, ``humanoid``,
``humanoidstandup``, ``inverted_pendulum``, ``inverted_double_pendulum``, ``pusher``,
``reacher``, ``walker2d``: Brax's registry without its ``fast`` test stub and without
``swimmer``, whose fluid model calls ``jnp.clip(a_min=...)``, which JAX no longer takes
(verified with brax 0.14.2 and jax 0.10.2).

``BraxEnv`` runs the library's raw environment (``brax.envs.get_environment``), without
its ``EpisodeWrapper`` and ``AutoResetWrapper``: auto-reset with
``info["final_observation"]`` is jaxrl's own, and the time limit is a params field,
``max_steps_in_episode`` (1,000 steps, as Brax's training uses), counted in the state.
The task's own ``done`` (hopper, walker2d, ant and humanoid falling, a pendulum's pole
past its limit) is **terminated**; reaching the time limit without it is **truncated**;
never both. The reward is the library's (float32); ``info`` holds its ``metrics`` (the
reward's terms, positions, velocities). Brax's steps draw no random numbers (only
its resets do), so ``stochastic_step`` is False. Actions reach Brax unclipped, as in
Brax's own training (whose policies squash them into the box, as SAC's here do).

The physics backend is a static option, ``backend``: ``"generalized"`` (the default,
Brax's own), ``"positional"``, ``"spring"`` (coarser physics) or ``"mjx"`` (MuJoCo's JAX
port). Compiling a 100-step rollout of inverted_pendulum on two busy CPU cores took about
8 s with generalized, 7 s spring, 9 s mjx and 15 s positional (and generalized was the
quickest for reacher, ant and inverted_double_pendulum). Brax changes some tasks' time step and motor
gears with the backend, so returns differ between backends.

Pictures: ``render_image`` draws a state with MuJoCo's renderer (Brax's
``brax.io.image``), which needs an OpenGL context; on a machine without a display the
adapter asks MuJoCo for EGL (``MUJOCO_GL=egl``, which needs the system's libEGL) when
this module is imported, unless ``MUJOCO_GL`` is set or MuJoCo is already imported (import
brax after jaxrl's adapter, or set ``MUJOCO_GL`` yourself). Where no context can be made
it returns None (cannot draw), with a warning.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment

__all__ = ["BACKENDS", "BRAX_NAMES", "BRAX_PREFIX", "BraxEnv", "BraxParams", "BraxState"]

BRAX_PREFIX = "brax/"
BRAX_NAMES = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
              "inverted_pendulum", "inverted_double_pendulum", "pusher", "reacher", "walker2d")
#: Brax's physics pipelines, the default first.
BACKENDS = ("generalized", "positional", "spring", "mjx")


@struct.dataclass
class BraxParams:
    """The vmappable options: the time limit (steps after which an episode is truncated)."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class BraxState:
    """Brax's own ``State`` (physics, obs, reward, done, metrics, info) and the steps
    taken in this episode."""

    brax: Any
    time: jax.Array


def _strongly_typed(tree: Any) -> Any:
    """``tree`` with no weakly typed leaves: some of Brax's steps set a field from a Python
    number (inverted_pendulum's reward) that its reset builds as an array, so the state
    would change type after one step (and a jitted step called in a loop compile twice)."""

    def strong(x: Any) -> Any:
        dtype = jnp.result_type(x)
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):
            return x
        return jax.lax.convert_element_type(x, dtype)

    return jax.tree.map(strong, tree)


def _headless_gl() -> None:
    """Ask MuJoCo for EGL on a machine without a display (its default, GLFW, needs one)."""
    if ("MUJOCO_GL" not in os.environ and "mujoco" not in sys.modules
            and sys.platform.startswith("linux")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        os.environ["MUJOCO_GL"] = "egl"


_headless_gl()


class BraxEnv(Environment):
    """One Brax task (see the module docstring); ``brax_name`` is one of ``BRAX_NAMES``,
    ``backend`` one of ``BACKENDS``."""

    stochastic_step = False  # Brax's steps are deterministic given the state

    def __init__(self, brax_name: str = "inverted_pendulum", backend: str = "generalized"):
        if brax_name not in BRAX_NAMES:
            raise ValueError(f"unknown Brax task {brax_name!r}; choose from "
                             f"{', '.join(BRAX_NAMES)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown Brax backend {backend!r}; choose from "
                             f"{', '.join(BACKENDS)}")
        try:
            from brax import envs as brax_envs
        except ImportError:
            raise ValueError(f"{BRAX_PREFIX}{brax_name} needs the brax package: "
                             "pip install 'jaxrl[brax]'") from None
        self._env = brax_envs.get_environment(brax_name, backend=backend)
        self._name = brax_name
        self._backend = backend
        self._obs_shape: tuple[int, ...] | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The tasks this adapter runs (``envs.make("brax/" + name)``)."""
        return BRAX_NAMES

    @property
    def name(self) -> str:
        return BRAX_PREFIX + self._name

    @property
    def backend(self) -> str:
        """The physics pipeline (``BACKENDS``)."""
        return self._backend

    @property
    def render_fps(self) -> float:  # type: ignore[override]
        return float(1.0 / self._env.dt)  # real time: one step is dt seconds

    @property
    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        inner = _strongly_typed(self._env.reset(key))
        return inner.obs, BraxState(brax=inner, time=jnp.zeros((), jnp.int32))

    def step_env(self, key: jax.Array, state: BraxState, action: Any, params: BraxParams):
        before = state.brax
        # A fresh metrics dict: some steps update theirs in place (reacher's).
        before = before.replace(metrics=dict(before.metrics))
        inner = _strongly_typed(self._env.step(before, jnp.asarray(action, jnp.float32)))
        time = state.time + 1
        terminated = jnp.asarray(inner.done, bool)  # Brax's 0.0 / 1.0
        truncated = jnp.logical_and(time >= params.max_steps_in_episode,
                                    jnp.logical_not(terminated))
        reward = jnp.asarray(inner.reward, jnp.float32)
        return (inner.obs, BraxState(brax=inner, time=time), reward, terminated, truncated,
                dict(inner.metrics))

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.Box(-1.0, 1.0, (self._env.action_size,), jnp.float32)

    def observation_space(self, params: Any = None) -> spaces.Space:
        if self._obs_shape is None:  # traced once, never run
            shape = jax.eval_shape(self._env.reset, jax.random.key(0)).obs.shape
            self._obs_shape = tuple(shape)
        return spaces.Box(-np.inf, np.inf, self._obs_shape, jnp.float32)

    def render_image(self, state: BraxState, params: Any = None) -> np.ndarray | None:
        """One unbatched ``state`` drawn by MuJoCo's renderer, ``uint8[240, 320, 3]``, or
        None where no OpenGL context can be made (with a warning)."""
        if getattr(self, "_cannot_draw", False):
            return None
        from brax.io import image

        physics = jax.tree.map(np.asarray, state.brax.pipeline_state)
        if np.ndim(physics.q) != 1:
            raise ValueError(f"render_image draws one unbatched state; its positions have "
                             f"shape {np.shape(physics.q)}")
        try:
            pixels = image.render_array(self._env.sys, physics)
        except Exception as e:  # noqa: BLE001 - no OpenGL context (no display, no EGL)
            self._cannot_draw = True
            warnings.warn(f"{self.name}: MuJoCo cannot draw here ({type(e).__name__}: {e}); "
                          "set MUJOCO_GL (egl, osmesa) before importing brax",
                          RuntimeWarning, stacklevel=2)
            return None
        return np.asarray(pixels, np.uint8)

    def describe(self, state: BraxState, params: Any = None) -> str:
        from .drawing import scalar

        return f"step {int(scalar(state.time))}   reward {scalar(state.brax.reward):+.3f}"
