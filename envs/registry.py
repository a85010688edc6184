"""Environment names: ``make(name, **options) -> (env, params)`` and ``registered()``.

Options are split by name: a keyword that the environment's constructor takes is
static configuration (board size, mode: it fixes array shapes or program
structure); a keyword naming a field of its params (``max_steps_in_episode``,
``gravity``) replaces that field in the returned params, which stay vmappable.
``checked=True`` wraps the env in ``CheckedActions``. Anything else is refused with
the closest valid names, before anything is compiled.

Gymnax's environments are reachable under a ``gymnax/`` prefix
(``make("gymnax/Acrobot-v1")``), adapted to this contract by ``GymnaxEnv``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import numbers
from typing import Any, Callable

import jax.numpy as jnp

from envs import spaces
from envs.core import Environment

GYMNAX_PREFIX = "gymnax/"

# name -> ("module:factory", fixed keyword arguments)
_REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {}


def register(name: str, entry_point: str, **fixed: Any) -> None:
    """Register ``name`` as ``entry_point`` ("package.module:callable") with ``fixed`` kwargs."""
    if name in _REGISTRY:
        raise ValueError(f"environment {name!r} is already registered")
    if ":" not in entry_point:
        raise ValueError(f"entry point must look like 'module:callable', got {entry_point!r}")
    _REGISTRY[name] = (entry_point, dict(fixed))


register("Bandit-v0", "envs.bandits:Bandit")
register("ContextualBandit-v0", "envs.bandits:ContextualBandit")
register("Gridworld-v0", "envs.gridworld:Gridworld")
register("CartPole-v0", "envs.cartpole:CartPole", version="v0")
register("CartPole-v1", "envs.cartpole:CartPole", version="v1")
register("MountainCar-v0", "envs.mountain_car:MountainCar")
register("Taxi-v3", "envs.taxi:Taxi")


def _gymnax_names() -> list[str]:
    import gymnax

    return [GYMNAX_PREFIX + n for n in gymnax.registered_envs]


def registered(include_gymnax: bool = True) -> list[str]:
    """Every name ``make`` accepts: jaxrl's own first, then gymnax's (prefixed)."""
    names = list(_REGISTRY)
    if include_gymnax:
        names += _gymnax_names()
    return names


def _closest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.5)]
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _load(entry_point: str) -> Callable[..., Environment]:
    module, attr = entry_point.split(":")
    return getattr(importlib.import_module(module), attr)


def make(name: str, checked: bool = False, **options: Any) -> tuple[Environment, Any]:
    """Build a registered environment and its params.

    Args:
        name: a name from ``registered()``, e.g. ``"Gridworld-v0"`` or ``"gymnax/Acrobot-v1"``.
        checked: raise on out-of-range discrete actions instead of clipping them.
        **options: constructor options (static) or params fields (vmappable).

    Returns:
        ``(env, params)``.

    Raises:
        ValueError: unknown name or option, or a value of the wrong type.
    """
    if not isinstance(name, str):
        raise TypeError(f"environment name must be a string, got {type(name).__name__}")
    if name.startswith(GYMNAX_PREFIX):
        import gymnax

        inner = name[len(GYMNAX_PREFIX):]
        if inner not in gymnax.registered_envs:
            raise ValueError(
                f"unknown gymnax environment {inner!r}."
                + _closest(name, _gymnax_names())
            )
        factory: Callable[..., Environment] = lambda **kw: GymnaxEnv(inner, **kw)  # noqa: E731
        fixed: dict[str, Any] = {}
    else:
        if name not in _REGISTRY:
            raise ValueError(f"unknown environment {name!r}." + _closest(name, registered()))
        entry_point, fixed = _REGISTRY[name]
        factory = _load(entry_point)

    ctor_names = _constructor_options(factory)
    ctor_kwargs = {k: v for k, v in options.items() if k in ctor_names}
    env = factory(**{**fixed, **ctor_kwargs})
    params = env.default_params
    param_options = {k: v for k, v in options.items() if k not in ctor_names}
    if param_options:
        params = replace_params(params, name, ctor_names, **param_options)
    if checked:
        from envs.wrappers import CheckedActions

        env = CheckedActions(env)
    return env, params


def _constructor_options(factory: Callable[..., Any]) -> set[str]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(target)
    return {
        p.name for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def replace_params(params: Any, env_name: str, ctor_names: set[str] = frozenset(), **values: Any) -> Any:
    """``params.replace(**values)`` with names and types checked against the defaults."""
    fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    for key, value in values.items():
        if key not in fields:
            valid = sorted(set(fields) | set(ctor_names))
            raise ValueError(
                f"{env_name} has no option {key!r}.{_closest(key, valid)}"
                f" Valid options: {', '.join(valid)}."
            )
        default = fields[key]
        if isinstance(value, bool) or not isinstance(value, (numbers.Number, jnp.ndarray)):
            if not isinstance(default, bool):
                raise TypeError(
                    f"{env_name} option {key!r} must be a number, got {type(value).__name__} {value!r}"
                )
        if isinstance(default, (int, jnp.integer)) and not isinstance(default, bool):
            if isinstance(value, numbers.Number) and int(value) != value:
                raise TypeError(f"{env_name} option {key!r} must be an integer, got {value!r}")
            value = int(value) if isinstance(value, numbers.Number) else value
    return params.replace(**values)


# ---------------------------------------------------------------------------------
class GymnaxEnv(Environment):
    """A gymnax environment behind jaxrl's contract (and jaxrl's spaces)."""

    def __init__(self, gymnax_name: str, **kwargs: Any):
        import gymnax

        self._env, self._params = gymnax.make(gymnax_name, **kwargs)
        self._name = gymnax_name

    @property
    def name(self) -> str:
        return GYMNAX_PREFIX + self._name

    @property
    def default_params(self):
        return self._params

    def reset_env(self, key, params):
        return self._env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self._env.step_env(key, state, action, params)
        truncated = self._env.is_truncated(state, params)
        return obs, state, reward, jnp.asarray(terminated, bool), jnp.asarray(truncated, bool), info

    def action_space(self, params=None):
        return spaces.from_gymnax(self._env.action_space(params if params is not None else self._params))

    def observation_space(self, params=None):
        return spaces.from_gymnax(
            self._env.observation_space(params if params is not None else self._params)
        )
