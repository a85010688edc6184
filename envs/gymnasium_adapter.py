"""Hand any jaxrl environment to Gymnasium code (numpy in, numpy out).

::

    env = envs.gymnasium_adapter.to_gymnasium(*envs.make("Taxi-v3"), render_mode="ansi")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    vec = envs.gymnasium_adapter.to_gymnasium_vector(envs.make("CartPole-v1")[0], 8)

Single env (``to_gymnasium``): Gymnasium semantics, no auto-reset: after a done step
the caller resets. Reset and step are ``env.reset_env`` / ``env.step_env`` compiled
once with ``jax.jit``; spaces come from ``envs.spaces.to_gymnasium``.

Vector env (``to_gymnasium_vector``): ``envs.VecEnv`` behind Gymnasium 1.x's
``VectorEnv`` API, one compiled call per step for all copies, in Gymnasium's
*same-step* auto-reset mode (``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``):
a copy that finishes returns the first observation of its next episode, and
``info["final_obs"]`` (an object array, ``None`` where not done) with mask
``info["_final_obs"]`` holds the last observation of the finished one;
``info["final_info"]`` / ``info["_final_info"]`` hold its step info.
Top-level info entries always describe the returned observation: a step-info key
is masked off (``info["_key"]`` false) for copies that were reset.

Seeding and keys (both adapters): ``reset(seed=s)`` starts a JAX key stream at
``jax.random.PRNGKey(s)`` for ``0 <= s < 2**32`` (larger seeds are hashed to a
key with numpy's ``SeedSequence``); ``reset()`` without a seed continues the stream
(the first unseeded reset seeds it from ``self.np_random``). Every ``reset`` and
``step`` takes ``key, sub = jax.random.split(key)`` and hands ``sub`` to the
environment (``reset_env`` / ``step_env`` for a single env, with ``sub`` split once
more into step and reset halves only inside ``VecEnv``). So a rollout here is the
rollout of the jaxrl env driven by that documented key sequence.

Rendering: ``render_mode="ansi"`` is offered when the env has ``render(state) -> str``
(Taxi, Gridworld); ``render()`` then returns that text.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces as gs
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import spaces
from .core import Environment
from .wrappers import VecEnv, Wrapper


def _seed_to_key(seed: int) -> jax.Array:
    if 0 <= seed < 2**32:
        return jax.random.PRNGKey(seed)
    # jax.random.PRNGKey truncates ints beyond 32 bits (x64 off): hash instead.
    data = np.random.SeedSequence(seed).generate_state(2, np.uint32)
    return jnp.asarray(data, jnp.uint32)


def _to_numpy(x: Any, space: gs.Space) -> Any:
    """A JAX observation as Gymnasium expects it for ``space`` (int for Discrete)."""
    if isinstance(space, gs.Dict):
        return {k: _to_numpy(x[k], s) for k, s in space.spaces.items()}
    if isinstance(space, gs.Discrete):
        return int(np.asarray(x))
    return np.asarray(x, dtype=space.dtype)


def _info_to_numpy(info: dict[str, Any]) -> dict[str, Any]:
    """JAX leaves to numpy; 0-d arrays to numpy scalars (as Gymnasium's envs return)."""
    def conv(v):
        a = np.asarray(v)
        return a[()] if a.ndim == 0 else a

    return {k: jax.tree.map(conv, v) for k, v in info.items()}


def _check_action(action: Any, space: gs.Space) -> None:
    if isinstance(space, (gs.Discrete, gs.MultiDiscrete)) and not space.contains(action):
        raise ValueError(f"action {action!r} is outside the action space {space}")


def _render_target(env: Environment, state: Any) -> tuple[Any, Any]:
    """The innermost env with a ``render`` and its own state (wrappers nest state)."""
    while isinstance(env, Wrapper) and not hasattr(type(env), "render"):
        if hasattr(state, "env_state"):
            state = state.env_state
        env = env.env
    return env, state


def _reset_info_fn(env: Environment):
    """Info at reset: the action mask of the start state when the env has one."""
    if hasattr(env, "action_mask"):
        return lambda obs: {"action_mask": env.action_mask(obs)}
    return lambda obs: {}


class GymnasiumEnv(gymnasium.Env):
    """One jaxrl environment as a ``gymnasium.Env`` (see the module docstring)."""

    def __init__(self, env: Environment, params: Any = None, render_mode: str | None = None):
        if not isinstance(env, Environment):
            raise TypeError(f"to_gymnasium needs a jaxrl Environment, got {type(env).__name__}")
        self.env = env
        self.params = env.default_params if params is None else params
        self.observation_space = spaces.to_gymnasium(env.observation_space(self.params))
        self._action_dtype = env.action_space(self.params).dtype  # jaxrl's (int32, not int64)
        self.action_space = spaces.to_gymnasium(env.action_space(self.params))
        can_render = callable(getattr(env, "render", None))
        self.metadata = {"render_modes": ["ansi"] if can_render else [], "render_fps": 4}
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not supported by {env.name}; "
                f"supported: {self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self._key: jax.Array | None = None
        self._state: Any = None
        reset_info = _reset_info_fn(env)

        def reset(key, params):
            key, sub = jax.random.split(key)
            obs, state = env.reset_env(sub, params)
            return key, obs, state, reset_info(obs)

        def step(key, state, action, params):
            key, sub = jax.random.split(key)
            action = env.clip_action(action, params)
            obs, state, reward, term, trunc, info = env.step_env(sub, state, action, params)
            return key, obs, state, reward, term, trunc, info

        self._reset = jax.jit(reset)
        self._step = jax.jit(step)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._key = _seed_to_key(int(seed))
        elif self._key is None:
            self._key = _seed_to_key(int(self.np_random.integers(2**32)))
        self._key, obs, self._state, info = self._reset(self._key, self.params)
        return _to_numpy(obs, self.observation_space), _info_to_numpy(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        _check_action(action, self.action_space)
        action = jnp.asarray(np.asarray(action).astype(self._action_dtype))
        self._key, obs, self._state, reward, term, trunc, info = self._step(
            self._key, self._state, action, self.params
        )
        return (
            _to_numpy(obs, self.observation_space),
            float(reward),
            bool(term),
            bool(trunc),
            _info_to_numpy(info),
        )

    @property
    def state(self) -> Any:
        """The jaxrl state of the running episode (``None`` before ``reset``)."""
        return self._state

    def render(self) -> str | None:
        if self.render_mode is None:
            gymnasium.logger.warn(
                "render() called without a render_mode; pass render_mode='ansi' to to_gymnasium"
            )
            return None
        if self._state is None:
            raise RuntimeError("call reset() before render()")
        target, state = _render_target(self.env, self._state)
        return target.render(state)

    def __repr__(self) -> str:
        return f"GymnasiumEnv({self.env!r})"


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of a jaxrl env as a Gymnasium ``VectorEnv`` (same-step reset)."""

    def __init__(self, env: Environment, num_envs: int, params: Any = None):
        if not isinstance(env, Environment):
            raise TypeError(
                f"to_gymnasium_vector needs a jaxrl Environment, got {type(env).__name__}"
            )
        self.vec = VecEnv(env, num_envs)  # validates num_envs
        self.env = env
        self.num_envs = self.vec.num_envs
        self.params = env.default_params if params is None else params
        self.single_observation_space = spaces.to_gymnasium(env.observation_space(self.params))
        self._action_dtype = env.action_space(self.params).dtype
        self.single_action_space = spaces.to_gymnasium(env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
        self.render_mode = None
        self._key: jax.Array | None = None
        self._state: Any = None
        reset_info = jax.vmap(_reset_info_fn(env))
        vec = self.vec

        def reset(key, params):
            key, sub = jax.random.split(key)
            obs, state = vec.reset(sub, params)
            return key, obs, state, reset_info(obs)

        def step(key, state, action, params):
            key, sub = jax.random.split(key)
            obs, state, reward, terminated, truncated, info = vec.step(sub, state, action, params)
            final_obs = info.pop("final_observation")
            return key, obs, state, reward, terminated, truncated, info, final_obs, reset_info(obs)

        self._reset = jax.jit(reset)
        self._step = jax.jit(step)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(
                "this vector env draws all copies from one key: pass one int seed, "
                f"got {seed!r}"
            )
        super().reset(seed=seed)
        if seed is not None:
            self._key = _seed_to_key(int(seed))
        elif self._key is None:
            self._key = _seed_to_key(int(self.np_random.integers(2**32)))
        self._key, obs, self._state, info = self._reset(self._key, self.params)
        n = self.num_envs
        infos = {k: np.asarray(v) for k, v in info.items()}
        infos.update({f"_{k}": np.ones(n, bool) for k in info})
        return _to_numpy(obs, self.observation_space), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != self.action_space.shape:
            raise ValueError(
                f"expected actions of shape {self.action_space.shape}, got {actions.shape}"
            )
        _check_action(actions.astype(self.action_space.dtype), self.action_space)
        actions = jnp.asarray(actions.astype(self._action_dtype))
        (self._key, obs, self._state, reward, term, trunc, info, final_obs, reset_info) = (
            self._step(self._key, self._state, actions, self.params)
        )
        term, trunc = np.asarray(term, bool), np.asarray(trunc, bool)
        done = term | trunc
        info = {k: np.asarray(v) for k, v in info.items()}
        infos: dict[str, Any] = {}
        if done.any():
            finals = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                leaf = jax.tree.map(lambda x, i=i: np.asarray(x)[i], final_obs)
                finals[i] = _to_numpy(leaf, self.single_observation_space)
            final_info: dict[str, Any] = {}
            for k, v in info.items():
                mask = done.reshape(done.shape + (1,) * (v.ndim - 1))
                final_info[k] = np.where(mask, v, np.zeros_like(v))
                final_info[f"_{k}"] = done.copy()
            infos.update(final_obs=finals, _final_obs=done.copy())
            infos.update(final_info=final_info, _final_info=done.copy())
        for k, v in info.items():  # the step's info describes copies that were not reset
            if (~done).any():
                mask = (~done).reshape(done.shape + (1,) * (v.ndim - 1))
                infos[k], infos[f"_{k}"] = np.where(mask, v, np.zeros_like(v)), ~done
        for k, v in reset_info.items():  # the reset info describes those that were
            v = np.asarray(v)
            mask = done.reshape(done.shape + (1,) * (v.ndim - 1))
            old = infos.get(k, np.zeros_like(v))
            infos[k] = np.where(mask, v, old)
            infos[f"_{k}"] = infos.get(f"_{k}", np.zeros(self.num_envs, bool)) | done
        return (
            _to_numpy(obs, self.observation_space),
            np.asarray(reward, np.float64),
            term,
            trunc,
            infos,
        )

    @property
    def state(self) -> Any:
        """The batched jaxrl state (``None`` before ``reset``)."""
        return self._state

    def __repr__(self) -> str:
        return f"GymnasiumVectorEnv({self.env!r}, num_envs={self.num_envs})"


def to_gymnasium(
    env: Environment, params: Any = None, render_mode: str | None = None
) -> GymnasiumEnv:
    """A ``gymnasium.Env`` running ``env`` (no auto-reset; numpy in and out).

    Args:
        env: any jaxrl environment (wrapped or not, gymnax ones via ``envs.make``).
        params: its params (default ``env.default_params``).
        render_mode: ``None`` or ``"ansi"`` (when the env has ``render(state) -> str``).

    Returns:
        The adapter; ``.state`` exposes the jaxrl state of the running episode.
    """
    return GymnasiumEnv(env, params, render_mode)


def to_gymnasium_vector(env: Environment, num_envs: int, params: Any = None) -> GymnasiumVectorEnv:
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies, same-step auto-reset.

    Args:
        env: any jaxrl environment (not a ``VecEnv``: pass the single env).
        num_envs: number of copies, stepped in one compiled call.
        params: shared params (default ``env.default_params``).

    Returns:
        The adapter; observations ``[num_envs, ...]``, rewards float64, flags bool.
    """
    return GymnasiumVectorEnv(env, num_envs, params)
