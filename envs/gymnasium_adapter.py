"""Hand any jaxrl environment to Gymnasium code (numpy in, numpy out).

::

    env = envs.gymnasium_adapter.to_gymnasium(*envs.make("Taxi-v3"), render_mode="ansi")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    vec = envs.gymnasium_adapter.to_gymnasium_vector(envs.make("CartPole-v1")[0], 8)

Single env (``to_gymnasium``): Gymnasium semantics, no auto-reset: after a done step
the caller resets. Reset and step are ``env.reset_env`` / ``env.step_env`` compiled
once with ``jax.jit`` per env object (adapters of one env share them: the copies that
``check_env`` or ``gymnasium.make_vec`` make compile nothing); spaces come from
``envs.spaces.to_gymnasium``.

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

Rendering (single env): ``render_mode="rgb_array"`` is offered when the env draws,
i.e. has ``render_image(state, params=None)`` returning a ``uint8[H, W, 3]`` frame (an
env whose ``render_image`` is absent or returns ``None`` cannot draw; whether it draws is
tried once, on a start state, when the adapter is built); ``render()`` then returns the
frame of the current state, so ``gymnasium.wrappers.RecordVideo`` records it.
``render_mode="ansi"`` is offered when the env has a text ``render(state) -> str``
(Gridworld, Taxi, Maze, DoorKey). ``metadata["render_modes"]`` lists what the env offers,
``metadata["render_fps"]`` is the env's ``render_fps`` attribute when it has one, else
10; any other ``render_mode`` is refused with a ``ValueError``.

Gymnasium's registry (``make_gymnasium``, the entry point): importing the light module
``jaxrl.gymnasium_plugin`` registers every single-agent jaxrl env as ``jaxrl/<name>``, so
``gymnasium.make("jaxrl/CartPole-v1")`` builds ``make_gymnasium("CartPole-v1")``, i.e.
``envs.make`` with the keyword arguments as its options plus ``render_mode``. Time
limits: the jaxrl env truncates episodes itself (``params.max_steps_in_episode``, and any
jaxrl ``TimeLimit`` wrapper), so the registered spec has ``max_episode_steps=None`` and
``gymnasium.make`` adds no ``TimeLimit`` of its own; the made env's ``spec`` reports the
env's own limit as ``max_episode_steps`` (``GymnasiumEnv.time_limit``, so
``max_steps_in_episode=`` given to ``make`` shows there). Re-making from that spec
(``gymnasium.make(env.spec)``, as ``check_env`` does) adds Gymnasium's ``TimeLimit`` at the
same count, which ends an episode on the same step as the env: it changes nothing.
Gymnasium's own ``make(..., max_episode_steps=n)`` wraps a ``TimeLimit(n)`` as usual; it can
only shorten episodes (pass ``max_steps_in_episode=n`` to lengthen them).
"""

from __future__ import annotations

import copy
import functools
import inspect
import weakref
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces as gs
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import registry, spaces
from .core import Environment
from .wrappers import TimeLimit, VecEnv, Wrapper

#: ``metadata["render_fps"]`` of an env that does not say (``render_fps`` attribute).
DEFAULT_RENDER_FPS = 10


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


def _levels(env: Environment, params: Any) -> list[tuple[Environment, tuple[bool, ...]]]:
    """Each level of ``env``, outermost first, with the path to that level's own state.

    A wrapper that keeps state of its own nests the inner env's as ``state.env_state``;
    one that keeps none (``CheckedActions``, ``TransformReward``) passes the inner state
    through. Which is which shows in the states' structure (``jax.eval_shape`` of each
    level's reset, nothing compiled); the path holds, per wrapper passed, whether to
    take ``env_state``.
    """
    key = jax.random.PRNGKey(0)
    found: list[tuple[Environment, tuple[bool, ...]]] = []
    path: tuple[bool, ...] = ()
    while True:
        found.append((env, path))
        if not isinstance(env, Wrapper):
            return found
        outer = jax.tree.structure(jax.eval_shape(env.reset_env, key, params)[1])
        inner = jax.tree.structure(jax.eval_shape(env.env.reset_env, key, params)[1])
        path += (outer != inner,)
        env = env.env


def _state_at(state: Any, path: tuple[bool, ...]) -> Any:
    for nested in path:
        if nested and hasattr(state, "env_state"):
            state = state.env_state
    return state


def _defines(env: Environment, method: str) -> bool:
    # On the class: a Wrapper's __getattr__ would hand out the inner env's method, which
    # must be given the inner env's state.
    return callable(getattr(type(env), method, None))


def _draw(env: Environment, state: Any, params: Any) -> Any:
    """``env.render_image(state, params)``; an older ``render_image(state, tile=...)``
    that takes no params is called with the state alone."""
    draw = env.render_image
    try:
        takes = inspect.signature(draw).parameters
    except (TypeError, ValueError):  # no signature to read: call it as the contract says
        return draw(state, params)
    if "params" in takes:
        return draw(state, params=params)
    return draw(state)


def _reset_info_fn(env: Environment):
    """Info at reset: the action mask of the start state when the env has one."""
    if hasattr(env, "action_mask"):
        return lambda obs: {"action_mask": env.action_mask(obs)}
    return lambda obs: {}


def _compile(env_ref: weakref.ref[Environment]) -> tuple[Any, Any]:
    """``(reset, step)`` of the single-env adapter, jitted. The env is reached through a
    weak reference, so the cache below does not keep it alive."""

    def reset(key, params):
        env = env_ref()
        key, sub = jax.random.split(key)
        obs, state = env.reset_env(sub, params)
        return key, obs, state, _reset_info_fn(env)(obs)

    def step(key, state, action, params):
        env = env_ref()
        key, sub = jax.random.split(key)
        action = env.clip_action(action, params)
        obs, state, reward, term, trunc, info = env.step_env(sub, state, action, params)
        return key, obs, state, reward, term, trunc, info

    return jax.jit(reset), jax.jit(step)


# One compiled (reset, step) per env object: adapters of the same env (every
# ``gymnasium.make`` of one registered id with the same options, the extra copies that
# ``check_env`` and ``make_vec`` build) compile once between them.
_COMPILED: weakref.WeakKeyDictionary[Environment, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _compiled(env: Environment) -> tuple[Any, Any]:
    try:
        return _COMPILED[env]
    except KeyError:
        pass
    except TypeError:  # unhashable env: compile for this adapter alone
        return _compile(weakref.ref(env))
    _COMPILED[env] = found = _compile(weakref.ref(env))
    return found


def _time_limit(env: Environment, params: Any) -> int | None:
    """The most steps an episode lasts: ``params.max_steps_in_episode`` and any jaxrl
    ``TimeLimit`` wrapper, whichever is smaller (``None`` when the env has neither)."""
    limits = []
    steps = getattr(params, "max_steps_in_episode", None)
    if steps is not None and np.ndim(steps) == 0:
        limits.append(int(np.asarray(steps)))
    while isinstance(env, Wrapper):
        if isinstance(env, TimeLimit):
            limits.append(env.max_steps)
        env = env.env
    return min(limits) if limits else None


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
        self._key: jax.Array | None = None
        self._state: Any = None
        self._spec: EnvSpec | None = None
        self._reset, self._step = _compiled(env)
        self.time_limit = _time_limit(env, self.params)

        levels = _levels(env, self.params) if isinstance(env, Wrapper) else [(env, ())]
        self._text = next(((lv, p) for lv, p in levels if _defines(lv, "render")), None)
        self._image = [(lv, p) for lv, p in levels if _defines(lv, "render_image")]
        if self._image and self._frame(self._reset(jax.random.PRNGKey(0), self.params)[2]) is None:
            self._image = []  # render_image returns None: this env cannot draw
        modes = (["rgb_array"] if self._image else []) + (["ansi"] if self._text else [])
        fps = next((lv.render_fps for lv, _ in levels if hasattr(lv, "render_fps")),
                   DEFAULT_RENDER_FPS)
        self.metadata = {"render_modes": modes, "render_fps": fps}
        if render_mode is not None and render_mode not in modes:
            hint = (" (for a window, wrap an rgb_array env in gymnasium.wrappers.HumanRendering)"
                    if render_mode == "human" and "rgb_array" in modes else "")
            raise ValueError(
                f"render_mode {render_mode!r} is not supported by {env.name}; "
                f"supported: {modes or 'none (this env cannot render)'}{hint}"
            )
        self.render_mode = render_mode

    # The spec ``gymnasium.make`` sets (see the module docstring): it gets the env's own
    # time limit as ``max_episode_steps``, which ``make`` leaves at None.
    @property
    def spec(self) -> EnvSpec | None:
        return self._spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        if value is not None and value.max_episode_steps is None and self.time_limit is not None:
            value = copy.copy(value)
            value.max_episode_steps = self.time_limit
        self._spec = value

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

    def _frame(self, state: Any) -> np.ndarray | None:
        """The first frame a level of the env draws of ``state`` (``None``: none draws)."""
        for level, path in self._image:
            frame = _draw(level, _state_at(state, path), self.params)
            if frame is not None:
                return frame
        return None

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gymnasium.logger.warn(
                "render() called without a render_mode; pass render_mode= one of "
                f"{self.metadata['render_modes']} when making the env"
            )
            return None
        if self._state is None:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "ansi":
            level, path = self._text
            return level.render(_state_at(self._state, path))
        frame = self._frame(self._state)
        if frame is None:
            raise RuntimeError(f"{self.env.name}.render_image returned None for this state")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise TypeError(
                f"{self.env.name}.render_image must return uint8[H, W, 3], "
                f"got {frame.dtype}{list(frame.shape)}"
            )
        return frame

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
        render_mode: ``None``, ``"rgb_array"`` (when the env draws: ``render_image``) or
            ``"ansi"`` (when the env has ``render(state) -> str``).

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


def make_gymnasium(name: str, render_mode: str | None = None, **options: Any) -> GymnasiumEnv:
    """``envs.make(name, **options)`` as a ``gymnasium.Env``: the entry point of the
    ``jaxrl/<name>`` ids that ``jaxrl.gymnasium_plugin`` registers with Gymnasium
    (``gymnasium.make("jaxrl/Gridworld-v0", mode="random")`` calls
    ``make_gymnasium("Gridworld-v0", mode="random")``).

    Args:
        name: a jaxrl environment name (``envs.registered()``).
        render_mode: ``None``, ``"rgb_array"`` or ``"ansi"``, as the env offers.
        **options: ``envs.make``'s options (constructor options and params fields).

    Returns:
        The adapter. Calls with equal options share one env object and so one compiled
        reset and step.
    """
    try:
        key = (name, tuple(sorted((k, type(v), v) for k, v in options.items())))
        hash(key)
    except TypeError:  # an unhashable option: nothing to share
        env, params = registry.make(name, **options)
    else:
        env, params = _make_shared(key)
    return GymnasiumEnv(env, params, render_mode)


@functools.lru_cache(maxsize=64)
def _make_shared(key: tuple[str, tuple[tuple[str, type, Any], ...]]) -> tuple[Environment, Any]:
    name, options = key
    return registry.make(name, **{k: v for k, _, v in options})
