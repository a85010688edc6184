"""MuJoCo Playground's DM Control Suite under jaxrl's contract, as ``playground/<name>``.

MuJoCo Playground (Zakka et al., 2025) ports DeepMind's Control Suite to MJX, MuJoCo's
JAX implementation; each task has a ``Box`` action per actuator and a float vector
observation::

    env, params = envs.make("playground/CartpoleBalance")     # pip install 'jaxrl[playground]'
    env, params = envs.make("playground/WalkerWalk", max_steps_in_episode=500,
                            config_overrides={"sim_dt": 0.005})

Names (``PLAYGROUND_NAMES``): the 25 tasks of ``mujoco_playground.dm_control_suite``
(AcrobotSwingup, BallInCup, CartpoleBalance, CheetahRun, FingerSpin, FishSwim,
HopperHop, HumanoidWalk, PendulumSwingup, PointMass, ReacherEasy, SwimmerSwimmer6,
WalkerWalk and their variants), all built and stepped on a CPU with MJX's JAX
implementation (verified with playground 0.2.0, mujoco 4.0.1, mujoco-mjx 3.17.0 and jax
0.10.2; compiling a task's jitted reset and its step took 4-8 s each for the cartpoles,
acrobot, pendulum and point mass, 8-25 s for ball-in-cup, fish, finger, reacher, cheetah
and hopper, 25-37 s for the walkers and the swimmer and 20-60 s for the humanoids, on two
busy cores). Left out: Playground's
locomotion (19 tasks: Go1, Spot, H1, G1, Berkeley Humanoid, ...) and manipulation (10:
Panda, ALOHA, LEAP hand, ...) suites, whose ``load`` first clones the MuJoCo Menagerie
robot models from GitHub into the installed package (tried with Go1JoystickFlatTerrain:
the clone fails without network access; their contact-rich robots are also far larger
than the humanoid, the heaviest task here); and the vision variants (``vision=True``),
which render with MJX's Warp renderer on an NVIDIA GPU.

Physics: Playground 0.2 builds its tasks for MJX's Warp implementation (``impl="warp"``
in every config), which needs an NVIDIA GPU. This adapter builds them with
``impl="jax"`` (MJX's JAX implementation of MuJoCo, on any device, under ``jit`` and
``vmap``; its numbers are not bit for bit the Warp implementation's).

Stepping: ``PlaygroundEnv`` runs the library's raw environment (its ``reset(rng)`` and
``step(state, action)``), without Playground's or Brax's training wrappers
(``EpisodeWrapper``, ``BraxAutoResetWrapper``, ``VmapWrapper``): auto-reset with
``info["final_observation"]`` is jaxrl's own. One jaxrl step is one library step: the
action held for ``ctrl_dt`` seconds (``env.dt``), ``ctrl_dt / sim_dt`` MJX steps of
``sim_dt`` (1 to 20 of them: one for the cartpoles, ten for the walkers). Playground's
configs also carry an ``action_repeat``, 1 for every task here, which only its training
wrapper applies: jaxrl does not repeat actions (and refuses another value).

Episode ends: Playground's ``done`` is the task's own end. No DM Control task ends by
itself (as in DeepMind's suite): their ``done`` is 1 only where the physics diverged (a
NaN in the positions or velocities), and that step is **terminated** (its observation
holds NaNs and must not be bootstrapped from; its reward may be NaN too, as the library
computes it, and a learner's loss then goes non-finite: ``jaxrl train`` stops that run,
or masks that seed with ``--on-nonfinite mask``). The time limit is jaxrl's, not the
library's: the params field ``max_steps_in_episode`` (vmappable; default Playground's
``episode_length``, 1,000 steps for every task), counted in the state; reaching it
without the task ending is **truncated**. Never both.

Keys: the adapter's reset key goes to the library's ``reset(rng)``, which splits it for
its draws and keeps one part in ``state.library.info["rng"]``; no DM Control task's step
draws from it (their steps are deterministic given the state), so ``stochastic_step`` is
False and, as ``Environment`` says, the step key goes whole to the auto-reset's draw.

Spaces: actions are ``Box(low, high)`` from the model's actuator ``ctrlrange``, [-1, 1]
for every task here (where an actuator had no range it would be [-1, 1], the range
Playground's policies act in). The adapter hands actions to the library unclipped, as
Playground's own training does (jaxrl's SAC squashes them into the box, its PPO clips them
to it); MJX clamps the controls to ``ctrlrange``, but a task's reward sees the action as
given (the cartpoles' ``small_control``). Observations are Playground's flat ``obs`` vector as float32 under
an unbounded ``Box``; were a task's observation a dict, its ``"state"`` entry would be
taken, or else every entry flattened in key order (none of the tasks here has one). The
reward is the library's as float32; ``info`` holds its ``metrics`` (the reward's terms
for the tasks that log them), and the library's whole state is ``state.library``.

Params and options: ``max_steps_in_episode`` is the one params field. A static option,
``config_overrides``, is a dict for Playground's config (``{"sim_dt": 0.005}``; its
flattened keys, applied by ``ConfigDict.update_from_flattened_dict``); ``impl`` (other
than ``"jax"``), ``vision``, ``action_repeat`` and ``episode_length`` are refused
(``max_steps_in_episode`` is the time limit).

Pictures: ``render_image`` draws a state with MuJoCo's renderer, through Playground's
``render_array`` (from the state's positions and velocities, at 240x320, from the
model's first camera), which needs an OpenGL context; on a machine without a display the
Brax adapter's rule applies (``MUJOCO_GL=egl`` is asked for when this module is imported,
unless ``MUJOCO_GL`` is set or MuJoCo is already imported: import mujoco_playground after
jaxrl's adapter, or set ``MUJOCO_GL`` yourself). Where no context can be made it returns
None (cannot draw), with a warning.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .brax_env import _headless_gl, _strongly_typed
from .core import Environment

__all__ = ["PLAYGROUND_NAMES", "PLAYGROUND_PREFIX", "PlaygroundEnv", "PlaygroundParams",
           "PlaygroundState"]

PLAYGROUND_PREFIX = "playground/"
PLAYGROUND_NAMES = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)
#: Config keys this adapter decides itself (see the module docstring).
_FIXED_KEYS = ("impl", "vision", "action_repeat", "episode_length")

_headless_gl()  # before MuJoCo is imported (the Brax adapter's rule)


@struct.dataclass
class PlaygroundParams:
    """The vmappable options: the time limit (steps after which an episode is truncated)."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class PlaygroundState:
    """Playground's own ``State`` (MJX data, obs, reward, done, metrics, info) and the
    steps taken in this episode."""

    library: Any
    time: jax.Array


def _flat_obs(obs: Any) -> jax.Array:
    """A Playground observation as one float32 vector: itself, a dict's ``"state"`` entry,
    or every entry of a dict raveled and concatenated in key order."""
    if isinstance(obs, Mapping):
        if "state" in obs:
            obs = obs["state"]
        else:
            return jnp.concatenate([jnp.ravel(jnp.asarray(obs[k], jnp.float32))
                                    for k in sorted(obs)])
    return jnp.ravel(jnp.asarray(obs, jnp.float32))


class PlaygroundEnv(Environment):
    """One Playground DM Control task (see the module docstring).

    Args:
        playground_name: the library's name, one of ``PLAYGROUND_NAMES``.
        config_overrides: more settings for the library's config (flattened keys), not
            ``impl``, ``vision``, ``action_repeat`` nor ``episode_length``.
    """

    stochastic_step = False  # the library's steps draw nothing (its resets do)

    def __init__(self, playground_name: str = "CartpoleBalance",
                 config_overrides: Mapping[str, Any] | None = None):
        if playground_name not in PLAYGROUND_NAMES:
            close = difflib.get_close_matches(playground_name, PLAYGROUND_NAMES, n=1)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise ValueError(f"unknown Playground task {playground_name!r}.{hint}")
        try:
            from mujoco_playground import dm_control_suite
        except Exception as e:  # noqa: BLE001 - missing, or a version that does not fit
            if isinstance(e, ImportError) and e.name == "mujoco_playground":
                raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name} needs the playground "
                                 "package: pip install 'jaxrl[playground]'") from None
            text = str(e).splitlines()[0] if str(e) else ""
            raise ValueError(f"the playground package is installed but does not load "
                             f"({type(e).__name__}: {text}); reinstall it with "
                             "pip install 'jaxrl[playground]'") from None
        overrides = dict(config_overrides or {})
        for key in _FIXED_KEYS:
            if key not in overrides:
                continue
            value = overrides[key]
            if key == "impl" and value != "jax":
                raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name}: only impl='jax' runs "
                                 f"under jit and vmap here, got {value!r}")
            if key == "vision" and value:
                raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name}: the vision variants "
                                 "(MJX's Warp renderer, GPU only) are not adapted")
            if key == "action_repeat" and value != 1:
                raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name}: action_repeat is "
                                 "applied by Playground's training wrapper, not by this "
                                 "adapter; set ctrl_dt instead")
            if key == "episode_length":
                raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name}: give the time limit "
                                 "as max_steps_in_episode=..., not in config_overrides")
        overrides["impl"] = "jax"
        config = dm_control_suite.get_default_config(playground_name)
        config.lock()  # an unknown key is refused, not added
        try:
            config.update_from_flattened_dict(overrides)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            first = str(e).strip("'\"").split(". Other fields")[0].splitlines()[0]
            raise ValueError(f"{PLAYGROUND_PREFIX}{playground_name}: bad config_overrides "
                             f"({first})") from None
        #: The library's config, as this adapter built its environment with it.
        self.config = config
        #: The library's environment (``reset(rng)``, ``step(state, action)``, ``mj_model``).
        self.library = dm_control_suite.load(playground_name, config=config)
        self._name = playground_name
        self._episode_length = int(config.episode_length)
        model = self.library.mj_model
        limited = np.asarray(model.actuator_ctrllimited, bool)[:, None]
        ranges = np.where(limited, np.asarray(model.actuator_ctrlrange, np.float32),
                          np.array([-1.0, 1.0], np.float32))
        self._low, self._high = ranges[:, 0].copy(), ranges[:, 1].copy()
        self._obs_shape: tuple[int, ...] | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The tasks this adapter runs (``envs.make("playground/" + name)``):
        ``PLAYGROUND_NAMES``, listed without importing the library (its import, MJX's and
        Warp's, takes seconds)."""
        return PLAYGROUND_NAMES

    @property
    def name(self) -> str:
        return PLAYGROUND_PREFIX + self._name

    @property
    def dt(self) -> float:
        """Seconds of simulated time per step (the library's ``ctrl_dt``)."""
        return float(self.library.dt)

    @property
    def render_fps(self) -> float:  # type: ignore[override]
        return 1.0 / self.dt  # real time

    @property
    def default_params(self) -> PlaygroundParams:
        return PlaygroundParams(max_steps_in_episode=self._episode_length)

    def reset_env(self, key: jax.Array, params: PlaygroundParams
                  ) -> tuple[jax.Array, PlaygroundState]:
        inner = _strongly_typed(self.library.reset(key))
        return _flat_obs(inner.obs), PlaygroundState(library=inner,
                                                     time=jnp.zeros((), jnp.int32))

    def step_env(self, key: jax.Array, state: PlaygroundState, action: Any,
                 params: PlaygroundParams):
        # Fresh dicts: the library's steps write their reward terms into the state's
        # metrics dict in place.
        before = state.library.replace(metrics=dict(state.library.metrics),
                                       info=dict(state.library.info))
        inner = _strongly_typed(self.library.step(before, jnp.asarray(action, jnp.float32)))
        time = state.time + 1
        terminated = jnp.asarray(inner.done) > 0  # the library's 0.0 / 1.0
        truncated = jnp.logical_and(time >= params.max_steps_in_episode,
                                    jnp.logical_not(terminated))
        reward = jnp.asarray(inner.reward, jnp.float32)
        return (_flat_obs(inner.obs), PlaygroundState(library=inner, time=time), reward,
                terminated, truncated, dict(inner.metrics))

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.Box(self._low, self._high, self._low.shape, jnp.float32)

    def observation_space(self, params: Any = None) -> spaces.Space:
        if self._obs_shape is None:  # traced once, never run
            obs = jax.eval_shape(lambda k: _flat_obs(self.library.reset(k).obs),
                                 jax.random.key(0))
            self._obs_shape = tuple(obs.shape)
        return spaces.Box(-np.inf, np.inf, self._obs_shape, jnp.float32)

    def render_image(self, state: PlaygroundState, params: Any = None) -> np.ndarray | None:
        """One unbatched ``state`` drawn by MuJoCo's renderer from the model's first camera,
        ``uint8[240, 320, 3]``, or None where no OpenGL context can be made (with a
        warning)."""
        if getattr(self, "_cannot_draw", False):
            return None
        data = jax.tree.map(np.asarray, state.library.data)  # (its info holds a key)
        if np.ndim(data.qpos) != 1:
            raise ValueError(f"render_image draws one unbatched state; its positions have "
                             f"shape {np.shape(data.qpos)}")
        inner = state.library.replace(data=data)
        from mujoco_playground import render_array

        camera = 0 if self.library.mj_model.ncam > 0 else None
        try:
            pixels = render_array(self.library.mj_model, inner, height=240, width=320,
                                  camera=camera)
        except Exception as e:  # noqa: BLE001 - no OpenGL context (no display, no EGL)
            self._cannot_draw = True
            warnings.warn(f"{self.name}: MuJoCo cannot draw here ({type(e).__name__}: {e}); "
                          "set MUJOCO_GL (egl, osmesa) before importing mujoco_playground",
                          RuntimeWarning, stacklevel=2)
            return None
        return np.asarray(pixels, np.uint8)

    def describe(self, state: PlaygroundState, params: Any = None) -> str:
        from .drawing import scalar

        return f"step {int(scalar(state.time))}   reward {scalar(state.library.reward):+.3f}"
