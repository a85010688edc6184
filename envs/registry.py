"""Environment names: ``make(name, **options) -> (env, params)`` and ``registered()``.

Options are split by name: a keyword that the environment's constructor takes is
static configuration (board size, mode: it fixes array shapes or program
structure); a keyword naming a field of its params (``max_steps_in_episode``,
``gravity``) replaces that field in the returned params, which stay vmappable.
``checked=True`` wraps the env in ``CheckedActions``. Anything else is refused with
the closest valid names, before anything is compiled.

Gymnax's environments are reachable under a ``gymnax/`` prefix
(``make("gymnax/Acrobot-v1")``), adapted to this contract by ``GymnaxEnv``.

A user's own environment needs no registration: ``make("mypkg.envs:Corridor",
length=8)`` imports ``mypkg.envs`` and builds ``Corridor`` (an ``Environment``
subclass) with the same option rules; ``register("Corridor-v0", "mypkg.envs:make_it")``
names a class or a factory function once.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import numbers
from typing import Any, Callable

import jax.numpy as jnp

from . import spaces
from .core import Environment

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


register("Bandit-v0", "jaxrl.envs.bandits:Bandit")
register("ContextualBandit-v0", "jaxrl.envs.bandits:ContextualBandit")
register("Gridworld-v0", "jaxrl.envs.gridworld:Gridworld")
register("CartPole-v0", "jaxrl.envs.cartpole:CartPole", version="v0")
register("CartPole-v1", "jaxrl.envs.cartpole:CartPole", version="v1")
register("MountainCar-v0", "jaxrl.envs.mountain_car:MountainCar")
register("Taxi-v3", "jaxrl.envs.taxi:Taxi")
register("Ising1D-v0", "jaxrl.envs.ising:Ising1D")
register("Ising2D-v0", "jaxrl.envs.ising:Ising2D")
register("Battle-v0", "jaxrl.envs.battle:Battle")
register("Maze-v0", "jaxrl.envs.maze:Maze")
for _side in (5, 6, 8, 16):  # MiniGrid's DoorKey sizes (chapter 10)
    register(f"DoorKey-{_side}x{_side}-v0", "jaxrl.envs.doorkey:DoorKey", size=_side)


def _gymnax_names() -> list[str]:
    import gymnax

    return [GYMNAX_PREFIX + n for n in gymnax.registered_envs]


def registered(include_gymnax: bool = True) -> list[str]:
    """Every name ``make`` accepts: jaxrl's own first, then gymnax's (prefixed)."""
    names = list(_REGISTRY)
    if include_gymnax:
        names += _gymnax_names()
    return names


def _closest(word: Any, choices: Any) -> str:
    """A suggestion to append to an error, ``" Did you mean: a, b?"`` or ``""``: the one
    closest-name helper of ``envs`` (case-insensitive when nothing matches exactly)."""
    word, choices = str(word), [str(c) for c in choices]
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.5)]
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _load(entry_point: str) -> Callable[..., Environment]:
    """The class or factory an entry point ``"package.module:name"`` names (ValueError if none)."""
    module, _, attr = entry_point.partition(":")
    if not module or not attr or ":" in attr:
        raise ValueError(f"an environment entry point looks like 'package.module:ClassName', "
                         f"got {entry_point!r}")
    try:
        found = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"cannot import {module!r} for environment {entry_point!r}: {e}") from None
    obj = found
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(found) if not n.startswith("_")]
            raise ValueError(f"module {module!r} has no {attr!r}.{_closest(attr, names)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{entry_point!r} is not a class or factory of environments")
    return obj


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
    signature_of: Callable[..., Any] | None = None
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
        # The gymnax class's own constructor options (DeepSea's size), the rest params.
        signature_of: Callable[..., Any] = type(gymnax.make(inner)[0])
    elif name not in _REGISTRY and ":" in name:  # a user's own "package.module:ClassName"
        factory, fixed = _load(name), {}
        # Only a class is taken from a name (it may come from a config file): calling any
        # other callable it names would run arbitrary code before anything is checked.
        if not (inspect.isclass(factory) and issubclass(factory, Environment)):
            raise ValueError(f"{name!r} is not a subclass of envs.core.Environment "
                             f"(register a factory function with envs.register instead)")
    else:
        if name not in _REGISTRY:
            raise ValueError(f"unknown environment {name!r}." + _closest(name, registered())
                             + " (a class of your own: 'package.module:ClassName')")
        entry_point, fixed = _REGISTRY[name]
        factory = _load(entry_point)
    if signature_of is None:
        signature_of = factory

    ctor_names = _constructor_options(signature_of)
    ctor_kwargs = {k: v for k, v in options.items() if k in ctor_names}
    env = factory(**{**fixed, **ctor_kwargs})
    if not isinstance(env, Environment):
        raise ValueError(f"{name!r} made a {type(env).__name__}, not an envs.Environment "
                         f"(subclass envs.core.Environment: reset_env, step_env, spaces)")
    params = env.default_params
    param_options = {k: v for k, v in options.items() if k not in ctor_names}
    if param_options:
        params = replace_params(params, name, ctor_names, **param_options)
    if checked:
        from .wrappers import CheckedActions

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
    """A gymnax environment behind jaxrl's contract (and jaxrl's spaces).

    MinAtar games (``*-MinAtar``) draw their observation as 0/1 planes that gymnax
    hands out as float32 under a float ``Box(0, 1)``; here they are ``bool`` under a
    ``Box(0, 1, dtype=bool)``, so the space says the values are exact booleans (a
    replay buffer keeps them in a quarter of the memory; networks read them as 0.0/1.0).
    """

    def __init__(self, gymnax_name: str, **kwargs: Any):
        import gymnax

        self._env, self._params = gymnax.make(gymnax_name, **kwargs)
        self._name = gymnax_name
        self._boolean_obs = gymnax_name.endswith("-MinAtar")

    def _obs(self, obs: Any) -> Any:
        return jnp.asarray(obs, bool) if self._boolean_obs else obs

    @property
    def name(self) -> str:
        return GYMNAX_PREFIX + self._name

    @property
    def default_params(self):
        return self._params

    def reset_env(self, key, params):
        obs, state = self._env.reset_env(key, params)
        return self._obs(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self._env.step_env(key, state, action, params)
        truncated = self._env.is_truncated(state, params)
        return (self._obs(obs), state, reward, jnp.asarray(terminated, bool),
                jnp.asarray(truncated, bool), info)

    def action_space(self, params=None):
        return spaces.from_gymnax(self._env.action_space(params if params is not None else self._params))

    def observation_space(self, params=None):
        space = spaces.from_gymnax(
            self._env.observation_space(params if params is not None else self._params)
        )
        if self._boolean_obs:
            return spaces.Box(False, True, space.shape, jnp.bool_)
        return space
