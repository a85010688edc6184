"""Jumanji (InstaDeep's JAX environments) under jaxrl's contract, as ``jumanji/<name>``.

Jumanji's logic puzzles, packing and routing problems and small games, each a pure JAX
environment::

    env, params = envs.make("jumanji/Snake-v1")              # pip install 'jaxrl[jumanji]'
    env, params = envs.make("jumanji/Snake-v1", time_limit=200)

Names (``JUMANJI_NAMES``): the registered Jumanji environments whose action is one
discrete choice and whose reward is one number. A single ``DiscreteArray`` action is
``Discrete(n)``; a ``MultiDiscreteArray`` (BinPack's ems x item, Tetris' rotation x
column, Sudoku's row x column x digit, Cleaner's and RobotWarehouse's one move per agent,
played jointly) is one ``Discrete(prod(num_values))`` numbered row-major
(``np.ravel_multi_index``). Left out: Connector, LevelBasedForaging and SearchAndRescue
(a reward per agent, which jaxrl's single-agent contract has no place for;
SearchAndRescue's actions are also continuous), JobShop, MMST and MultiCVRP (joint actions
beyond ``MAX_JOINT_ACTIONS``, or, for MultiCVRP, an integer box per vehicle), and Sokoban
(its constructor downloads the Boxoban levels from the Hugging Face hub).

Observations: Jumanji's are NamedTuples of several arrays. With ``observation="flat"``
(the default) the observation is every array of it, in field order (nested ones in
theirs), cast to float32, raveled and concatenated: one ``float32[D]`` vector that every
jaxrl agent reads, the action mask among them. Its ``Box`` bounds booleans by 0 and 1
and floats by the library's spec, but not integers (Jumanji's integer specs do not always
hold: TSP's ``position`` is -1 before the first city). Values are not rescaled (Snake's
``step_count`` runs up to its time limit). ``observation="<field>"`` hands out that one
array field unchanged instead, in its own dtype (``observation="grid"``: the image that
Snake's or Tetris' convolutional agents read). Either way
``info["observation"]`` is the library's whole observation and ``info["action_mask"]``
its mask as ``bool[n]`` over the ``Discrete(n)`` actions (all true where the library has
no mask: RubiksCube), both for the state the transition reached, that of
``info["final_observation"]``. After an auto-reset, the library's observation of the
returned state is ``state.observation``, its mask ``env.action_mask(state)``.

Episode ends: Jumanji ends an episode with a LAST time step, its discount 0 where the
task ended. Most of its games also end at their time limit with discount 0 (Snake,
Tetris, Maze, PacMan, Cleaner, ...), so the discount cannot tell the two apart. Here the
library's environment is built with its ``time_limit`` one step longer than the limit
asked for (``time_limit``, default the library's own), which it then never reaches (in
the environments adapted here the limit decides nothing else; the parity tests compare
with the library built with the limit asked for), and the limit is jaxrl's: **terminated** when the library's step ends the episode (a LAST
step with discount 0: death, a solved puzzle, an invalid action, no legal move),
**truncated** when the step reaches the time limit and the task did not end (or the
library itself ends it with a nonzero discount). A task that ends on the last allowed step
is terminated, not truncated. The reward is the library's, as float32.

Keys: Jumanji's state carries its own key and its step is deterministic given the state
(``stochastic_step`` is false): jaxrl's step key goes whole to the auto-reset's draw.

Params: Jumanji's options are its constructors' arguments (board sizes, generators), fixed
when built, so the params hold no fields; ``time_limit``, ``observation`` and
``env_kwargs`` (more keyword arguments for ``jumanji.make``, e.g.
``env_kwargs={"num_rows": 6, "num_cols": 6}``) are static options of ``envs.make``.
Pictures: none (``render_image`` returns None). Jumanji draws with matplotlib, a
1000x1000 figure at 0.1 to 1.5 s a frame, through its viewers' private attributes;
``env.library.render(state.env_state)`` shows one in a matplotlib window.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment

__all__ = ["JUMANJI_NAMES", "JUMANJI_PREFIX", "MAX_JOINT_ACTIONS", "JumanjiEnv",
           "JumanjiParams", "JumanjiState"]

JUMANJI_PREFIX = "jumanji/"
JUMANJI_NAMES = (
    "BinPack-v2", "CVRP-v1", "Cleaner-v0", "FlatPack-v0", "Game2048-v1", "GraphColoring-v1",
    "Knapsack-v1", "Maze-v0", "Minesweeper-v0", "PacMan-v1", "RobotWarehouse-v0",
    "RubiksCube-v0", "RubiksCube-partly-scrambled-v0", "SlidingTilePuzzle-v0", "Snake-v1",
    "Sudoku-v0", "Sudoku-very-easy-v0", "TSP-v1", "Tetris-v0",
)
#: The most actions a ``MultiDiscreteArray`` may have jointly to be adapted as one Discrete.
MAX_JOINT_ACTIONS = 10_000
_LAST = 2  # jumanji.types.StepType.LAST
#: chex 0.1.89's dataclasses (Jumanji's states) flatten with ``jax.util``, gone in jax 0.8.
MIN_CHEX = (0, 1, 90)


def _version(text: str) -> tuple[int, ...]:
    """``"0.1.89"`` -> ``(0, 1, 89)`` (leading digits of each part; enough to compare)."""
    return tuple(int(m.group()) if (m := re.match(r"\d+", part)) else 0
                 for part in text.split(".")[:3])


@struct.dataclass
class JumanjiParams:
    """No fields: Jumanji's options are fixed when its environment is built."""


@struct.dataclass
class JumanjiState:
    """The library's state, its observation of that state, and the steps taken so far
    (jaxrl's time limit counts them)."""

    env_state: Any
    observation: Any
    time: jax.Array


def _fields(tree: Any) -> tuple[str, ...]:
    """The fields of a NamedTuple or dataclass (the nodes of Jumanji's observations)."""
    if dataclasses.is_dataclass(tree):
        return tuple(f.name for f in dataclasses.fields(tree))
    return tuple(getattr(tree, "_fields", ()))


def _rebuild(tree: Any, values: dict[str, Any]) -> Any:
    if dataclasses.is_dataclass(tree):
        return dataclasses.replace(tree, **values)  # type: ignore[type-var]
    return tree._replace(**values)


def _bounds(spec: Any, value: Any) -> tuple[Any, Any]:
    """``(low, high)``: trees shaped like the observation ``value``, float64 arrays of the
    bounds of its arrays: 0 and 1 for booleans, the library's spec for floats, none
    (infinite) for integers, whose specs Jumanji does not keep (TSP's ``position`` is -1
    before the first city under a spec of 0..19; Snake's ``step_count`` reaches its time
    limit, one past its spec)."""
    from jumanji import specs

    if isinstance(spec, specs.Array):
        dtype, shape = np.dtype(spec.dtype), tuple(spec.shape)
        low, high = np.asarray(-np.inf), np.asarray(np.inf)
        if dtype == np.bool_:
            low, high = np.asarray(0.0), np.asarray(1.0)
        elif np.issubdtype(dtype, np.floating) and isinstance(spec, specs.BoundedArray):
            low, high = np.asarray(spec.minimum), np.asarray(spec.maximum)
        return (np.broadcast_to(low.astype(np.float64), shape),
                np.broadcast_to(high.astype(np.float64), shape))
    names = _fields(value)
    pairs = {n: _bounds(getattr(spec, n), getattr(value, n)) for n in names}
    return (_rebuild(value, {n: p[0] for n, p in pairs.items()}),
            _rebuild(value, {n: p[1] for n, p in pairs.items()}))


def _box(low: np.ndarray, high: np.ndarray, dtype: Any) -> spaces.Box:
    """A ``Box`` of ``dtype`` between float bounds (an integer one: its dtype's range)."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = np.clip(low, info.min, info.max), np.clip(high, info.min, info.max)
    return spaces.Box(low.astype(dtype), high.astype(dtype), low.shape, dtype)


def _flatten(observation: Any) -> jax.Array:
    """Every array of a Jumanji observation, as float32, raveled and concatenated."""
    return jnp.concatenate([jnp.ravel(jnp.asarray(x, jnp.float32))
                            for x in jax.tree.leaves(observation)])


class JumanjiEnv(Environment):
    """One Jumanji environment (see the module docstring); ``jumanji_name`` is one of
    ``JUMANJI_NAMES``.

    Args:
        jumanji_name: the library's name, e.g. ``"Snake-v1"``.
        observation: ``"flat"`` (every array as one float32 vector) or the name of one
            field of the library's observation, handed out unchanged.
        time_limit: steps before truncation; None: the library's own limit. Only for the
            environments that have one.
        env_kwargs: more keyword arguments for ``jumanji.make`` (not ``time_limit``).
    """

    stochastic_step = False  # the library's state carries its key

    def __init__(self, jumanji_name: str = "Snake-v1", observation: str = "flat",
                 time_limit: int | None = None, env_kwargs: Mapping[str, Any] | None = None):
        if jumanji_name not in JUMANJI_NAMES:
            raise ValueError(f"unknown Jumanji environment {jumanji_name!r}; choose from "
                             f"{', '.join(JUMANJI_NAMES)}")
        try:
            import chex
            import jumanji
        except ImportError:
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name} needs the jumanji package: "
                             "pip install 'jaxrl[jumanji]'") from None
        if _version(chex.__version__) < MIN_CHEX:
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name} needs chex >= 0.1.90 (older chex "
                             f"cannot flatten Jumanji's states on jax >= 0.8), found "
                             f"{chex.__version__}: pip install 'jaxrl[jumanji]'")
        kwargs = dict(env_kwargs or {})
        if "time_limit" in kwargs:
            raise ValueError("give the time limit as time_limit=..., not in env_kwargs")
        if time_limit is not None:
            if isinstance(time_limit, bool) or int(time_limit) != time_limit or time_limit < 1:
                raise ValueError(f"time_limit must be a positive integer, got {time_limit!r}")
            kwargs["time_limit"] = int(time_limit)
        self._name = jumanji_name
        try:
            #: The library's environment as configured (its own time limit): its specs,
            #: and its ``render`` for a state's ``env_state``.
            self.library = jumanji.make(jumanji_name, **kwargs)
        except TypeError as e:
            if time_limit is not None and not hasattr(jumanji.make(jumanji_name), "time_limit"):
                raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name} has no time limit: its "
                                 "episodes end only by the task") from None
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name}: {e}") from None
        limit = getattr(self.library, "time_limit", None)
        #: jaxrl's time limit (None: the environment has none)
        self.time_limit: int | None = None if limit is None else int(limit)
        if self.time_limit is None:
            self._env = self.library
        else:  # stepped one step longer, so that it never ends an episode by time itself
            self._env = jumanji.make(jumanji_name, **{**kwargs, "time_limit": self.time_limit + 1})

        from jumanji import specs

        action_spec = self.library.action_spec
        if isinstance(action_spec, specs.MultiDiscreteArray):
            self._dims: tuple[int, ...] | None = tuple(
                int(n) for n in np.ravel(np.asarray(action_spec.num_values)))
        elif isinstance(action_spec, specs.DiscreteArray):
            self._dims = None
        else:
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name}: cannot adapt the action "
                             f"spec {action_spec!r}")
        self._action_dtype = jnp.dtype(action_spec.dtype)
        self._n = (int(np.prod(self._dims)) if self._dims is not None
                   else int(action_spec.num_values))
        if self._n > MAX_JOINT_ACTIONS:
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name}: {self._n} joint actions, "
                             f"more than {MAX_JOINT_ACTIONS}")

        template = self.library.observation_spec.generate_value()
        fields = _fields(template)
        arrays = [f for f in fields
                  if isinstance(getattr(self.library.observation_spec, f), specs.Array)]
        if observation != "flat" and observation not in arrays:
            raise ValueError(f"{JUMANJI_PREFIX}{jumanji_name} has no observation array "
                             f"{observation!r}; choose 'flat' or one of {', '.join(arrays)}")
        self._observation = observation
        self._has_mask = "action_mask" in fields
        low, high = _bounds(self.library.observation_spec, template)
        if observation == "flat":
            self._space = _box(np.concatenate([np.ravel(x) for x in jax.tree.leaves(low)]),
                               np.concatenate([np.ravel(x) for x in jax.tree.leaves(high)]),
                               np.float32)
        else:
            self._space = _box(getattr(low, observation), getattr(high, observation),
                               getattr(self.library.observation_spec, observation).dtype)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The environments this adapter runs (``envs.make("jumanji/" + name)``): those of
        ``JUMANJI_NAMES`` that the installed jumanji registers."""
        import jumanji

        known = jumanji.registered_environments()
        return tuple(n for n in JUMANJI_NAMES if n in known)

    @property
    def name(self) -> str:
        return JUMANJI_PREFIX + self._name

    @property
    def default_params(self) -> JumanjiParams:
        return JumanjiParams()

    # --- actions and observations -------------------------------------------------
    def library_action(self, action: jax.Array) -> jax.Array:
        """The library's action for jaxrl's ``Discrete(n)`` one: itself, or its row-major
        coordinates over a ``MultiDiscreteArray``'s ``num_values``."""
        action = jnp.asarray(action)
        if self._dims is None:
            return action.astype(self._action_dtype)
        return jnp.stack(jnp.unravel_index(action, self._dims)).astype(self._action_dtype)

    def _mask(self, observation: Any) -> jax.Array:
        """The library observation's action mask as ``bool[n]`` over jaxrl's actions."""
        if not self._has_mask:
            return jnp.ones((self._n,), bool)
        mask = jnp.asarray(observation.action_mask, bool)
        if self._dims is None or mask.shape == self._dims:
            return jnp.ravel(mask)
        # one row per agent: a joint action is legal where every agent's move is
        coords = np.stack(np.unravel_index(np.arange(self._n), self._dims), axis=-1)
        return jnp.all(mask[np.arange(len(self._dims)), coords], axis=-1)

    def action_mask(self, state: JumanjiState) -> jax.Array:
        """``bool[n]``: which of the ``Discrete(n)`` actions the library allows in
        ``state`` (a state's own mask, right after an auto-reset too)."""
        return self._mask(state.observation)

    def _obs(self, observation: Any) -> jax.Array:
        if self._observation == "flat":
            return _flatten(observation)
        return jnp.asarray(getattr(observation, self._observation))

    # --- the contract ---------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, JumanjiState]:
        env_state, timestep = self._env.reset(key)
        state = JumanjiState(env_state, timestep.observation, jnp.zeros((), jnp.int32))
        return self._obs(timestep.observation), state

    def step_env(self, key: jax.Array, state: JumanjiState, action: Any, params: Any):
        env_state, timestep = self._env.step(state.env_state, self.library_action(action))
        time = state.time + 1
        last = jnp.asarray(timestep.step_type == _LAST)
        stops = jnp.all(jnp.asarray(timestep.discount) == 0)
        terminated = last & stops
        truncated = last & ~stops
        if self.time_limit is not None:
            truncated = truncated | (time >= self.time_limit)
        truncated = truncated & ~terminated
        info = {"observation": timestep.observation,
                "action_mask": self._mask(timestep.observation),
                "extras": dict(timestep.extras or {})}
        new_state = JumanjiState(env_state, timestep.observation, time)
        return (self._obs(timestep.observation), new_state,
                jnp.asarray(timestep.reward, jnp.float32), terminated, truncated, info)

    def action_space(self, params: Any = None) -> spaces.Space:
        return spaces.Discrete(self._n)

    def observation_space(self, params: Any = None) -> spaces.Space:
        return self._space
