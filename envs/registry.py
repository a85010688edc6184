"""Environment names: ``make(name, **options) -> (env, params)`` and ``registered()``.

Options are split by name: a keyword that the environment's constructor takes is
static configuration (board size, mode: it fixes array shapes or program
structure); a keyword naming a field of its params (``max_steps_in_episode``,
``gravity``) replaces that field in the returned params, which stay vmappable.
``checked=True`` wraps the env in ``CheckedActions``. Anything else is refused with
the closest valid names, before anything is compiled.

Gymnax's environments are reachable under a ``gymnax/`` prefix
(``make("gymnax/Acrobot-v1")``), adapted to this contract by ``GymnaxEnv``; other JAX
environment libraries under theirs (``ADAPTERS``: ``make("craftax/Craftax-Classic-Symbolic-v1")``
builds ``envs.craftax.CraftaxEnv``), listed by ``registered()`` when the library is installed.

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
from collections.abc import Callable, Collection
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from . import spaces
from .core import Environment
from .validation import finite

GYMNAX_PREFIX = "gymnax/"

#: JAX environment libraries adapted under a name prefix: prefix -> (the adapter class
#: "module:Class", the package it needs, the jaxrl extra that installs it). The class takes
#: the library's name of an environment as its first argument (its other arguments are
#: ``make``'s static options, the rest of an environment's options its params' fields) and
#: lists the names it adapts in a ``names()`` classmethod. Its module is imported only when
#: such a name is made or listed.
ADAPTERS: dict[str, tuple[str, str, str]] = {
    "craftax/": ("jaxrl.envs.craftax:CraftaxEnv", "craftax", "craftax"),
    "xminigrid/": ("jaxrl.envs.xminigrid_env:XMiniGridEnv", "xminigrid", "xminigrid"),
    "brax/": ("jaxrl.envs.brax_env:BraxEnv", "brax", "brax"),
    "jumanji/": ("jaxrl.envs.jumanji_env:JumanjiEnv", "jumanji", "jumanji"),
    "jaxmarl/": ("jaxrl.envs.jaxmarl_env:JaxMARLEnv", "jaxmarl", "jaxmarl"),
    "playground/": ("jaxrl.envs.playground_env:PlaygroundEnv", "mujoco_playground", "playground"),
    "navix/": ("jaxrl.envs.navix_env:NavixEnv", "navix", "navix"),
}

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


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


def _adapter_names(prefix: str, strict: bool = False) -> list[str]:
    """The names under an adapter's prefix: none when its library is not installed, or
    does not load (a version that does not fit this JAX: ``strict`` says so instead)."""
    entry, package, extra = ADAPTERS[prefix]
    if not _installed(package):
        return []
    try:
        names = cast(Any, _load(entry)).names()
    except Exception as e:  # noqa: BLE001 - listing never fails for one broken library
        if strict:
            raise ValueError(f"the {package} package is installed but does not load "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                             f"reinstall it with pip install 'jaxrl[{extra}]'") from None
        return []
    return [prefix + n for n in names]


def registered(include_gymnax: bool = True) -> list[str]:
    """Every name ``make`` accepts: jaxrl's own first, then gymnax's and those of the other
    libraries in ``ADAPTERS`` that are installed, prefixed; ``include_gymnax=False``:
    jaxrl's own only."""
    names = list(_REGISTRY)
    if include_gymnax:
        names += _gymnax_names()
        for prefix in ADAPTERS:
            names += _adapter_names(prefix)
    return names


BUILTIN_PREFIX = "jaxrl.envs."  # the entry points of this package's own environments


def is_builtin(name: Any) -> bool:
    """Is ``name`` one of this package's environments or a gymnax one (not a user's own
    class, ``package.module:ClassName``, nor a name a user registered for their code)?"""
    if not isinstance(name, str):
        return False
    if name.startswith((GYMNAX_PREFIX, *ADAPTERS)):
        return True
    entry = _REGISTRY.get(name)
    return entry is not None and entry[0].startswith(BUILTIN_PREFIX)


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
        signature_of = type(gymnax.make(inner)[0])
    elif name.startswith(tuple(ADAPTERS)):
        prefix = next(p for p in ADAPTERS if name.startswith(p))
        entry, package, extra = ADAPTERS[prefix]
        if not _installed(package):
            raise ValueError(f"{name} needs the {package} package: pip install 'jaxrl[{extra}]'")
        known = _adapter_names(prefix, strict=True)
        if name not in known:
            raise ValueError(f"unknown {prefix[:-1]} environment {name[len(prefix):]!r}."
                             + _closest(name, known))
        factory = _load(entry)
        name_arg, *static = _constructor_options(factory, ordered=True)
        fixed = {name_arg: name[len(prefix):]}
        signature_of = _only(static)
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


def _constructor_options(factory: Callable[..., Any], ordered: bool = False) -> Any:
    """The keyword arguments a class or factory takes (a set; a list in order)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(target)
    names = [
        p.name for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    return names if ordered else set(names)


def _only(names: Collection[str]) -> Callable[..., None]:
    """A stand-in signature taking exactly ``names`` (an adapter's options without the
    library's name, which ``make`` fixes)."""
    params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names]

    def options(**_: Any) -> None:
        """The static options of a prefixed name."""

    options.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return options


def replace_params(params: Any, env_name: str, ctor_names: Collection[str] = frozenset(), **values: Any) -> Any:
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
        finite(env_name, key, value)  # gravity=nan, force_mag=inf: refused
        if isinstance(default, (int, jnp.integer)) and not isinstance(default, bool):
            if isinstance(value, numbers.Real) and int(cast(float, value)) != value:
                raise TypeError(f"{env_name} option {key!r} must be an integer, got {value!r}")
            value = int(cast(float, value)) if isinstance(value, numbers.Real) else value
    return params.replace(**values)


# ---------------------------------------------------------------------------------
# Pictures of gymnax games: the classic-control scenes (from the state), the names of
# image observations' channels (for the legend), steps per second of an animation.
GYMNAX_CHANNEL_NAMES = {
    "Asterix-MinAtar": ("player", "enemy", "trail", "gold"),
    "Breakout-MinAtar": ("paddle", "ball", "trail", "brick"),
    "Freeway-MinAtar": ("chicken", "car", "speed 1", "speed 2", "speed 3", "speed 4",
                        "speed 5"),
    "Seaquest-MinAtar": ("sub front", "sub back", "friendly bullet", "trail", "enemy bullet",
                         "enemy fish", "enemy sub", "oxygen gauge", "diver gauge", "diver"),
    "SpaceInvaders-MinAtar": ("cannon", "alien", "alien left", "alien right",
                              "friendly bullet", "enemy bullet"),
    "Pong-misc": ("paddles", "ball", "ball, last step"),
}
_GYMNAX_FPS = {"CartPole-v1": 50.0, "MountainCar-v0": 30.0, "MountainCarContinuous-v0": 30.0,
               "Acrobot-v1": 20.0, "Pendulum-v1": 20.0}


def _strongly_typed(state: Any) -> Any:
    """``state`` with no weakly typed leaves. Some gymnax resets build a field from a Python
    number (Freeway's ``pos``) that its step returns strongly typed: the state would change
    type after one step, and a jitted step called in a loop would compile twice."""
    from jax import lax

    def strong(x: Any) -> Any:
        dtype = jnp.result_type(x)
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):
            return x
        return lax.convert_element_type(x, dtype)  # strong even from a Python number

    return jax.tree.map(strong, state)


def _gymnax_scene(name: str, state: Any, params: Any) -> Any:
    """The classic-control picture of a gymnax state (None for other games)."""
    from . import drawing

    f = drawing.scalar
    if name == "CartPole-v1":
        return drawing.cartpole(f(state.x), f(state.theta), f(params.x_threshold),
                                f(params.length))
    if name in ("MountainCar-v0", "MountainCarContinuous-v0"):
        return drawing.mountain_car(f(state.position), f(params.min_position),
                                    f(params.max_position), f(params.goal_position))
    if name == "Acrobot-v1":
        return drawing.acrobot(f(state.joint_angle1), f(state.joint_angle2),
                               f(params.link_length_1), f(params.link_length_2))
    if name == "Pendulum-v1":
        return drawing.pendulum(f(state.theta), f(state.last_u), f(params.max_torque))
    return None


class GymnaxEnv(Environment):
    """A gymnax environment behind jaxrl's contract (and jaxrl's spaces).

    MinAtar games (``*-MinAtar``) draw their observation as 0/1 planes that gymnax
    hands out as float32 under a float ``Box(0, 1)``; here they are ``bool`` under a
    ``Box(0, 1, dtype=bool)``, so the space says the values are exact booleans (a
    replay buffer keeps them in a quarter of the memory; networks read them as 0.0/1.0).
    Likewise every ``Box`` observation comes in its space's dtype (gymnax's Catch hands
    out float32 0/1 under an int32 ``Box``, FourRooms int32 under a float32 one), an
    integer reward as float32 (bsuite's UmbrellaChain, BernoulliBandit), and the state
    without weakly typed leaves (Freeway's reset builds one from a Python number, which
    made a jitted step compile twice).

    Pictures (``render_image(state, params=None)``): the classic-control games as scenes
    drawn from the state (CartPole-v1, MountainCar-v0 and its continuous version,
    Acrobot-v1, Pendulum-v1, with ``describe``'s numbers); games whose observation is an
    image (``[H, W]`` or ``[H, W, C]``, ``envs.drawing.is_image_shape``: MinAtar, Pong,
    Catch, DeepSea) as that observation's cells, one colour per channel with a legend.
    Any other game returns None (cannot draw).
    """

    def __init__(self, gymnax_name: str, **kwargs: Any):
        import gymnax

        self._env, self._params = gymnax.make(gymnax_name, **kwargs)
        self._name = gymnax_name
        self._boolean_obs = gymnax_name.endswith("-MinAtar")
        # A Box's observations in its own dtype (Catch hands out float32 0/1 under an int32
        # Box, FourRooms int32 under a float32 one): what the space says is what step returns.
        space = spaces.from_gymnax(self._env.observation_space(self._params))
        self._obs_dtype = jnp.bool_ if self._boolean_obs else (
            space.dtype if isinstance(space, spaces.Box) else None)

    def _obs(self, obs: Any) -> Any:
        return obs if self._obs_dtype is None else jnp.asarray(obs, self._obs_dtype)

    # --- pictures -------------------------------------------------------------------
    @property
    def render_fps(self) -> float:  # type: ignore[override]
        return _GYMNAX_FPS.get(self._name, 12.5)

    def render_image(self, state: Any, params: Any = None) -> Any:
        """One unbatched state drawn as ``uint8[H, W, 3]``, or None when this game has no
        picture (see the class docstring)."""
        from . import drawing

        params = params if params is not None else self._params
        scene = _gymnax_scene(self._name, state, params)
        if scene is not None:
            return scene
        space = self.observation_space(params)
        if not (isinstance(space, spaces.Box) and drawing.is_image_shape(space.shape)):
            return None
        if not hasattr(self, "_get_obs"):  # one compiled program, reused for every frame
            self._get_obs = jax.jit(lambda s, p: self._env.get_obs(s, params=p))
        obs = np.asarray(self._get_obs(state, params))
        if obs.shape != tuple(space.shape):
            raise ValueError(f"render_image draws one unbatched state; its observation has "
                             f"shape {obs.shape}, not {tuple(space.shape)}")
        low, high = np.min(space.low), np.max(space.high)
        return drawing.planes(obs, GYMNAX_CHANNEL_NAMES.get(self._name, ()),
                              float(low), float(high))

    def describe(self, state: Any, params: Any = None) -> str:
        """The classic-control games' numbers for a caption ("" for the others)."""
        from .drawing import scalar

        p = params if params is not None else self._params
        if self._name == "CartPole-v1":
            return (f"x {scalar(state.x):+.2f}   angle "
                    f"{np.degrees(scalar(state.theta)):+.1f} deg")
        if self._name in ("MountainCar-v0", "MountainCarContinuous-v0"):
            return (f"position {scalar(state.position):+.3f}   velocity "
                    f"{scalar(state.velocity):+.4f}")
        if self._name == "Acrobot-v1":
            a1, a2 = scalar(state.joint_angle1), scalar(state.joint_angle2)
            height = -scalar(p.link_length_1) * np.cos(a1) - scalar(p.link_length_2) * np.cos(
                a1 + a2)
            return f"tip height {height:+.2f}"
        if self._name == "Pendulum-v1":
            wrapped = (scalar(state.theta) + np.pi) % (2 * np.pi) - np.pi
            return f"angle {np.degrees(wrapped):+.1f} deg from upright"
        return ""

    @property
    def name(self) -> str:
        return GYMNAX_PREFIX + self._name

    @property
    def default_params(self):
        return self._params

    def reset_env(self, key, params):
        obs, state = self._env.reset_env(key, params)
        return self._obs(obs), _strongly_typed(state)

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self._env.step_env(key, state, action, params)
        if hasattr(self._env, "is_truncated"):  # gymnax >= 1: step_env's flag is the natural end
            truncated = self._env.is_truncated(state, params)
        else:
            # gymnax 0.0.x (the version older peers pin; benchmarks run them beside jaxrl):
            # its flag includes the time limit. A step that reaches the limit counts as
            # truncated, so a natural end on that very step is read as a truncation.
            truncated = jnp.asarray(state.time >= params.max_steps_in_episode)
            terminated = jnp.logical_and(terminated, jnp.logical_not(truncated))
        reward = jnp.asarray(reward)
        if not jnp.issubdtype(reward.dtype, jnp.floating):  # bsuite's chains pay int32
            reward = reward.astype(jnp.float32)
        return (self._obs(obs), _strongly_typed(state), reward, jnp.asarray(terminated, bool),
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
