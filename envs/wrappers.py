"""Wrappers that researchers reach for, all pure and jittable.

Every single-env wrapper is itself an ``Environment``: it changes ``reset_env`` and
``step_env`` (the transition without reset), and auto-reset happens once, in the
outermost ``step``. So a wrapper sees the true end of an episode, and a wrapper's
own state (an episode counter, a running return) is reset together with the inner
state.

``VecEnv`` is different: it steps ``num_envs`` copies with one key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from . import spaces
from .core import Environment, auto_reset, split_step_key


class Wrapper(Environment):
    """Forwards everything to ``env``; subclasses override what they change."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def stochastic_step(self) -> bool:  # type: ignore[override]
        return self.env.stochastic_step

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def default_params(self):
        return self.env.default_params

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        return self.env.step_env(key, state, action, params)

    def clip_action(self, action, params):
        return self.env.clip_action(action, params)

    def action_space(self, params=None):
        return self.env.action_space(params)

    def observation_space(self, params=None):
        return self.env.observation_space(params)

    @property
    def unwrapped(self) -> Environment:
        return self.env.unwrapped

    # Pictures: the inner env draws its own state (``Environment``'s docstring).
    def inner_state(self, state):
        """The wrapped env's state inside this wrapper's ``state`` (the same state here;
        a wrapper that keeps its own state, as ``EpisodeStatistics``, overrides this)."""
        return state

    @property
    def render_fps(self) -> float:  # type: ignore[override]
        return self.env.render_fps

    def render_image(self, state, params=None, **style):
        return self.env.render_image(self.inner_state(state), params, **style)

    def describe(self, state, params=None) -> str:
        return self.env.describe(self.inner_state(state), params)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: expose the inner env's extras
        # (render, observe, ...). Guard against recursion before __init__ ran.
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"


# ---------------------------------------------------------------------------------
@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array  # return so far in the running episode
    episode_length: jax.Array  # steps so far in the running episode


class EpisodeStatistics(Wrapper):
    """Tracks each episode's return and length inside the compiled program.

    ``info["episode_return"]`` and ``info["episode_length"]`` hold the running
    totals including this step; on the step where ``terminated | truncated`` they
    are the finished episode's totals, and ``info["episode_done"]`` marks those
    steps. A mean over completed episodes is then
    ``sum(ret * done) / max(sum(done), 1)``.
    The inner state is ``state.env_state``.
    """

    def inner_state(self, state):
        return state.env_state

    def reset_env(self, key, params):
        obs, env_state = self.env.reset_env(key, params)
        zero = jnp.zeros((), jnp.float32)
        return obs, EpisodeStatisticsState(env_state, zero, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        # Multi-agent envs return one reward per agent; the episode return is their sum.
        ret = state.episode_return + jnp.sum(reward).astype(jnp.float32)
        length = state.episode_length + 1
        info = dict(info)
        info["episode_return"] = ret
        info["episode_length"] = length
        info["episode_done"] = jnp.logical_or(terminated, truncated)
        new_state = EpisodeStatisticsState(env_state, ret, length)
        return obs, new_state, reward, terminated, truncated, info


@struct.dataclass
class TimeLimitState:
    env_state: Any
    elapsed: jax.Array


class TimeLimit(Wrapper):
    """Truncates an episode after ``max_steps`` steps (on top of the env's own cap).

    ``truncated`` becomes true on the step where the count reaches ``max_steps``
    unless the env already ended the episode there by termination (then both flags
    may be true, as in Gymnasium's TimeLimit). Inner state is ``state.env_state``.
    """

    def inner_state(self, state):
        return state.env_state

    def __init__(self, env: Environment, max_steps: int):
        super().__init__(env)
        if int(max_steps) != max_steps or max_steps < 1:
            raise ValueError(f"TimeLimit needs a positive integer max_steps, got {max_steps!r}")
        self.max_steps = int(max_steps)

    def reset_env(self, key, params):
        obs, env_state = self.env.reset_env(key, params)
        return obs, TimeLimitState(env_state, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        elapsed = state.elapsed + 1
        truncated = jnp.logical_or(truncated, elapsed >= self.max_steps)
        return obs, TimeLimitState(env_state, elapsed), reward, terminated, truncated, info


class FlattenObservation(Wrapper):
    """Flattens an array observation to one dimension, ``float32[prod(shape)]``."""

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return jnp.ravel(obs), state

    def step_env(self, key, state, action, params):
        obs, *rest = self.env.step_env(key, state, action, params)
        return (jnp.ravel(obs), *rest)

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        size = int(np.prod(space.shape))
        return spaces.Box(space.low.reshape(-1), space.high.reshape(-1), (size,), space.dtype)


class ObservationNoise(Wrapper):
    """Adds ``U(0, 1) * scale`` noise to every observation (the book uses scale 1/100).

    The noise is drawn from the step's own key, so the wrapped env becomes
    stochastic; the observation is cast to float32.
    """

    stochastic_step = True  # type: ignore[assignment]

    def __init__(self, env: Environment, scale: float = 0.01):
        super().__init__(env)
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"ObservationNoise needs a finite scale >= 0, got {scale!r}")
        self.scale = float(scale)

    def _noisy(self, key, obs):
        obs = jnp.asarray(obs, jnp.float32)
        return obs + self.scale * jax.random.uniform(key, obs.shape)

    def reset_env(self, key, params):
        k_env, k_noise = jax.random.split(key)
        obs, state = self.env.reset_env(k_env, params)
        return self._noisy(k_noise, obs), state

    def step_env(self, key, state, action, params):
        k_env, k_noise = jax.random.split(key)
        obs, *rest = self.env.step_env(k_env, state, action, params)
        return (self._noisy(k_noise, obs), *rest)

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        return spaces.Box(space.low, space.high + self.scale, space.shape, jnp.float32)


class TransformReward(Wrapper):
    """Applies ``fn(reward, terminated, truncated) -> reward`` to every reward."""

    def __init__(self, env: Environment, fn: Callable[[jax.Array, jax.Array, jax.Array], jax.Array]):
        super().__init__(env)
        self.fn = fn

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step_env(
            key, state, action, params
        )
        return obs, state, self.fn(reward, terminated, truncated), terminated, truncated, info


class TerminalReward(TransformReward):
    """Replaces the reward on a terminating step (not a truncated one) by ``value``.

    The book's CartPole agents use ``value=-10``: failure is punished, while an
    episode cut by the time limit is not a failure.
    """

    def __init__(self, env: Environment, value: float = -10.0):
        self.value = float(value)
        super().__init__(env, lambda r, term, trunc: jnp.where(term, self.value, r))


class CheckedActions(Wrapper):
    """Raises on an action outside the action space instead of clipping it.

    Three checks, each as early as it can run:

    * the action's dtype and shape (static, so checked while tracing: a plain
      ``ValueError`` under ``jit`` too): a ``Discrete`` space takes integers only (a
      fractional ``0.7``, or even ``1.0``, is refused rather than rounded), of the
      space's shape (the joint shape for a multi-agent environment);
    * the values of a concrete action (called eagerly): ``ValueError`` at once;
    * the values of a traced action (under ``jit``/``vmap``): a host callback inside
      the compiled program; JAX delivers its ``ValueError`` as a runtime error (whose
      message names the action) when the result is computed. For a clean error there,
      step eagerly while debugging.
    """

    def _space(self) -> spaces.Space:
        base = self.env.unwrapped
        joint = getattr(base, "joint_action_space", None)
        if callable(joint) and getattr(base, "num_agents", None) is not None:
            return joint(base.default_params)
        return self.env.action_space(self.env.default_params)

    def clip_action(self, action, params):
        space = self._space()
        if isinstance(space, spaces.Discrete):
            dtype = jnp.result_type(action)
            if not jnp.issubdtype(dtype, jnp.integer):
                raise ValueError(f"{self.name}: a {space!r} action is an integer, got "
                                 f"{_shown(action)} ({dtype}); checked mode does not round")
            if jnp.shape(action) != tuple(space.shape):
                raise ValueError(f"{self.name}: a {space!r} action has shape "
                                 f"{tuple(space.shape)}, got shape {jnp.shape(action)}")
            if not isinstance(action, jax.core.Tracer):  # concrete: checked now
                _raise_if_invalid(np.all((np.asarray(action) >= 0)
                                         & (np.asarray(action) < space.n)), action, space.n)
            else:
                action = jnp.asarray(action)
                ok = jnp.all((action >= 0) & (action < space.n))
                jax.debug.callback(_raise_if_invalid, ok, action, space.n, ordered=False)
        elif isinstance(space, spaces.Box) and jnp.shape(action) != tuple(space.shape):
            raise ValueError(f"{self.name}: a {space!r} action has shape "
                             f"{tuple(space.shape)}, got shape {jnp.shape(action)}")
        return self.env.clip_action(action, params)


def _shown(action: Any) -> str:
    return repr(action) if isinstance(action, (int, float)) else "an array"


def _raise_if_invalid(ok, action, n):
    if not bool(np.all(ok)):
        raise ValueError(
            f"action {np.asarray(action).tolist()} is outside the action space Discrete({n})"
        )


# ---------------------------------------------------------------------------------
class VecEnv:
    """``num_envs`` copies of ``env`` stepped together with one key per call.

    ``reset(key, params) -> (obs, state)`` and
    ``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``
    with a leading ``num_envs`` axis on every array. Auto-reset follows
    ``Environment``'s rules per copy, and ``info["final_observation"]`` is batched.

    ``params`` is shared by all copies unless ``batched_params=True``, in which case
    every params leaf carries a leading ``num_envs`` axis (copies with different
    physics side by side).

    Sparse reset: most steps end few episodes, and on CPU drawing random numbers
    costs more than a CartPole transition. So with shared params, ``step`` draws
    ``reset_pool`` fresh episode starts (default ``num_envs // 8``) and hands them
    to the copies that finished, in order; only if more copies finish in one step
    than the pool holds does it draw a start for every copy. Each new episode still
    gets its own independent start, so the process has the same law as stepping the
    copies one by one (the draws differ, not their distribution). ``reset_pool=0``
    turns this off. Under an outer ``vmap`` (seeds) the choice between the two
    becomes a select that computes both: pass ``reset_pool=0`` there.
    """

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        batched_params: bool = False,
        reset_pool: int | None = None,
    ):
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.env = env
        self.num_envs = int(num_envs)
        self.batched_params = bool(batched_params)
        if reset_pool is None:
            reset_pool = self.num_envs // 8 if self.num_envs >= 64 else 0
        if reset_pool < 0 or reset_pool > self.num_envs:
            raise ValueError(f"reset_pool must lie in [0, num_envs], got {reset_pool!r}")
        self.reset_pool = 0 if self.batched_params else int(reset_pool)
        self._p_axis = 0 if self.batched_params else None

    @property
    def default_params(self):
        return self.env.default_params

    @property
    def single_action_space(self) -> spaces.Space:
        return self.env.action_space(None)

    @property
    def single_observation_space(self) -> spaces.Space:
        return self.env.observation_space(None)

    def reset(self, key, params=None):
        params = self.env.default_params if params is None else params
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset_env, in_axes=(0, self._p_axis))(keys, params)

    def step(self, key, state, action, params=None):
        params = self.env.default_params if params is None else params
        action = jax.vmap(self.env.clip_action, in_axes=(0, self._p_axis))(action, params)
        key_step, key_reset = split_step_key(key, self.env.stochastic_step)
        if self.env.stochastic_step:
            step_keys, k_axis = jax.random.split(key_step, self.num_envs), 0
        else:
            step_keys, k_axis = key_step, None  # the transition ignores its key
        transition = jax.vmap(self.env.step_env, in_axes=(k_axis, 0, 0, self._p_axis))(
            step_keys, state, action, params
        )
        return auto_reset(transition, lambda done: self._resets(key_reset, done, params))

    def _resets(self, key, done, params):
        """Fresh episode starts for (at least) every copy where ``done``."""
        if self.reset_pool == 0:
            return self.reset(key, params)

        def pooled(k):
            pool = jax.vmap(self.env.reset_env, in_axes=(0, None))(
                jax.random.split(k, self.reset_pool), params
            )
            slot = jnp.clip(jnp.cumsum(done) - 1, 0, self.reset_pool - 1)
            return jax.tree.map(lambda leaf: leaf[slot], pool)

        return jax.lax.cond(
            jnp.sum(done) > self.reset_pool, lambda k: self.reset(k, params), pooled, key
        )
