"""The environment contract shared by every jaxrl environment.

The call shape is gymnax 1.0's, so code written for one works on the other::

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

``state`` and ``params`` are immutable pytrees (``flax.struct.dataclass``). Nothing
that changes between episodes lives on the environment object: it holds only static
configuration (board size, number of arms), fixed at construction because it changes
array shapes or program structure. Every ``params`` field is a pytree leaf, so
``jax.vmap`` over params steps copies with different physics or reward schemes in
one compiled program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import jax
import jax.numpy as jnp

from . import spaces

if TYPE_CHECKING:
    import numpy as np

TState = TypeVar("TState")
TParams = TypeVar("TParams")

# (obs, state, reward, terminated, truncated, info)
StepResult = tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


def tree_where(cond: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leafwise ``jnp.where(cond, a, b)`` over two pytrees of the same structure.

    ``cond`` may carry leading batch axes ``[B...]`` of leaves ``[B..., ...]``: it is
    aligned with the leaves' leading axes (not broadcast from the right).
    """

    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        c = jnp.reshape(cond, jnp.shape(cond) + (1,) * (jnp.ndim(b) - jnp.ndim(cond)))
        return jnp.where(c, a, b)

    return jax.tree.map(pick, on_true, on_false)


def split_step_key(key: jax.Array, stochastic_step: bool) -> tuple[jax.Array, jax.Array]:
    """``(key_step, key_reset)`` for one auto-resetting step (the key is used once).

    A deterministic transition (``stochastic_step`` false) ignores its key, so the
    whole key goes to the reset draw and is returned for both.
    """
    if stochastic_step:
        key_step, key_reset = jax.random.split(key)
        return key_step, key_reset
    return key, key


def auto_reset(
    transition: StepResult, reset: Callable[[jax.Array], tuple[Any, Any]]
) -> StepResult:
    """Apply the auto-reset rule (``Environment``'s docstring) to a transition.

    Args:
        transition: ``step_env``'s outputs, ``(obs, state, reward, terminated,
            truncated, info)``; leaves may carry leading batch axes ``[B...]`` (``VecEnv``)
            matching the flags' shape.
        reset: ``done -> (obs, state)``, fresh episode starts shaped like the
            transition's, valid at least where ``done = terminated | truncated``.

    Returns:
        The step's result: where ``done``, the returned ``obs`` and ``state`` are the
        reset's; reward and flags are the transition's; ``info["final_observation"]``
        is the transition's ``obs`` (before any reset).
    """
    obs_st, state_st, reward, terminated, truncated, info = transition
    done = jnp.logical_or(terminated, truncated)
    obs_re, state_re = reset(done)
    obs = tree_where(done, obs_re, obs_st)
    state = tree_where(done, state_re, state_st)
    info = dict(info)
    info["final_observation"] = obs_st
    return obs, state, reward, terminated, truncated, info


class Environment(Generic[TState, TParams]):
    """A pure-function environment with automatic reset.

    Subclasses implement one transition without any reset logic:

    * ``reset_env(key, params) -> (obs, state)``: the start of a fresh episode.
    * ``step_env(key, state, action, params)
      -> (obs, state, reward, terminated, truncated, info)``: one transition.
    * ``default_params`` (property), ``action_space(params)``,
      ``observation_space(params)``.

    Auto-reset, exactly (``auto_reset`` implements it, for ``step`` and for
    ``envs.wrappers.VecEnv``):

    ``step`` calls ``step_env``. Let ``done = terminated | truncated``. If ``done``
    is false, ``step`` returns ``step_env``'s outputs unchanged. If ``done`` is true,
    the returned ``obs`` and ``state`` are those of ``reset_env`` (a new episode has
    already begun), while ``reward``, ``terminated`` and ``truncated`` still describe
    the transition that ended the old episode. In both cases
    ``info["final_observation"]`` holds the observation the transition produced
    before any reset, so a learner bootstraps a truncated episode from
    ``info["final_observation"]`` and never from the returned ``obs``. This is
    Gymnasium's "same-step" auto-reset mode.

    ``terminated`` means the MDP reached a terminal state (do not bootstrap).
    ``truncated`` means the episode was cut by a time limit or other outside
    condition (the state is not terminal: bootstrap from the final observation).
    Both can be true on the same step (a terminal state reached on the last allowed
    step), as in Gymnasium; ``terminated`` then wins for learning purposes.

    Keys: ``step`` uses its key exactly once. When ``stochastic_step`` is false
    (the transition itself is deterministic, as in CartPole) the whole key goes to
    the reset draw; otherwise it is split between the transition and the reset.

    Out-of-range discrete actions: under ``jit`` nothing can raise, so ``step``
    clips a discrete action into ``[0, n - 1]`` before ``step_env`` sees it (an
    action of 7 in a 4-action env acts as 3, -1 acts as 0). Wrap the env in
    ``envs.wrappers.CheckedActions`` (or pass ``checked=True`` to ``envs.make``)
    to raise instead.

    Pictures (for people, on the host, never under ``jit``): an environment draws itself
    with ``render_image(state, params=None) -> np.ndarray``, one unbatched ``state``
    as ``uint8[H, W, 3]`` (RGB), every state of an env the same size. It uses NumPy,
    and Pillow imported inside the method where it needs one, so importing an
    environment never loads a drawing library. ``params`` defaults to
    ``default_params``; style options come after it as keyword arguments (DoorKey's
    ``tile=16``). The default here returns None, meaning "this environment cannot
    draw itself": callers (``jaxrl play``) then show its text ``render(state)`` if it
    has one, else plot the observations. ``describe(state, params=None) -> str`` is
    one line about the state for a caption (default ``""``); ``render_fps`` is how
    many steps an animation of the pictures shows per second (real time where the
    env has one). Wrappers forward all three to the env they wrap, with the inner
    state. ``envs.check_env`` checks the rest of this contract.
    """

    #: Does ``step_env`` use its key? False lets ``step`` skip a key split.
    stochastic_step: bool = True
    #: Steps per second in an animation of ``render_image`` pictures.
    render_fps: float = 6.0

    # --- to implement -------------------------------------------------------------
    @property
    def default_params(self) -> TParams:
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: TParams) -> tuple[Any, TState]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: TState, action: Any, params: TParams) -> StepResult:
        raise NotImplementedError

    def action_space(self, params: TParams | None = None) -> spaces.Space:
        raise NotImplementedError

    def observation_space(self, params: TParams | None = None) -> spaces.Space:
        raise NotImplementedError

    # --- pictures (optional, host side) ------------------------------------------
    def render_image(self, state: TState, params: TParams | None = None) -> "np.ndarray | None":
        """One unbatched ``state`` drawn as ``uint8[H, W, 3]``, or None: this environment
        cannot draw itself (the default; see the class docstring)."""
        return None

    def describe(self, state: TState, params: TParams | None = None) -> str:
        """One line about one unbatched ``state`` for a picture's caption (default ``""``)."""
        return ""

    # --- the public contract ------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def reset(self, key: jax.Array, params: TParams | None = None) -> tuple[Any, TState]:
        """Start an episode: ``(obs, state)``."""
        if params is None:
            params = self.default_params
        return self.reset_env(key, params)

    def step(
        self, key: jax.Array, state: TState, action: Any, params: TParams | None = None
    ) -> StepResult:
        """One transition with auto-reset (see the class docstring)."""
        if params is None:
            params = self.default_params
        action = self.clip_action(action, params)
        key_step, key_reset = split_step_key(key, self.stochastic_step)
        transition = self.step_env(key_step, state, action, params)
        return auto_reset(transition, lambda done: self.reset_env(key_reset, params))

    def clip_action(self, action: Any, params: TParams) -> Any:
        """The documented out-of-range behaviour: discrete actions are clipped.

        The space is taken from ``default_params``: ``params`` may be traced, and the
        number of discrete actions is static configuration anyway.
        """
        space = self.action_space(self.default_params)
        if isinstance(space, spaces.Discrete):
            return jnp.clip(jnp.asarray(action, space.dtype), 0, space.n - 1)
        return action

    @property
    def unwrapped(self) -> "Environment":
        return self

    def __repr__(self) -> str:
        return f"<{self.name}>"
