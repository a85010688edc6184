"""A run's live objects from its specification: the environment (``make_env``), the
config and the agent (``build``), nothing compiled yet.

Below the driver and ``Result``, which both need an environment rebuilt from a
run directory's specification.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from typing import Any

from jaxrl.algos import Algorithm
from jaxrl.errors import RunError
from jaxrl.parallel import processes as distributed
from jaxrl.runs.overrides import config_from_dict, get_algorithm
from jaxrl.runs.rundir import RunSpec

__all__ = ["SPLITS", "TRUST_FLAG", "Built", "build", "check_trusted", "make_env"]


@dataclasses.dataclass
class Built:
    """A run's live objects: the agent, its environment and the vmapped functions."""

    spec: RunSpec
    config: Any
    agent: Any
    env: Any
    env_params: Any


# ------------------------------------------------------------------------------ trust
#: The command-line flag that trusts the code a run's files name (``trust_code=True``).
TRUST_FLAG = "--trust-code"


def _untrusted_module(kind: str, name: Any) -> str | None:
    """The module that resolving ``name`` (an environment or algorithm named in a file)
    would import and that this process has not imported: None when resolving it runs
    no code a file chose.

    Trusted without asking: a registered name (jaxrl's own, or one the user's code
    registered with ``envs.register`` / ``jaxrl.algos.register``), a ``gymnax/`` name,
    and a ``package.module:Name`` whose module is already imported (by the user's own
    code: importing it again runs nothing). A name that is none of these is refused
    later without importing anything (an unknown name).
    """
    if not isinstance(name, str) or ":" not in name:
        return None
    if kind == "environment":
        from jaxrl.envs import registry

        if name.startswith(registry.GYMNAX_PREFIX) or \
                name in registry.registered(include_gymnax=False):
            return None
    else:
        from jaxrl import algos

        if name in algos.names():
            return None
    module = name.partition(":")[0]
    return None if module in sys.modules else module


def check_trusted(kind: str, name: Any, where: str, trust_code: bool = False) -> None:
    """Refuse, before anything is imported, the ``package.module:Name`` that ``where``
    (a file) names as ``kind`` (``"environment"`` or ``"algorithm"``), unless the user
    trusts it: ``trust_code`` (``--trust-code``), or the name is registered or its module
    already imported by the user's own code (``_untrusted_module``).

    A file is data: a name inside it never imports or runs anything on its own, in the
    spirit of ``weights_only`` loading.
    """
    module = None if trust_code else _untrusted_module(kind, name)
    if module is not None:
        raise RunError(f"{where} names the {kind} {name!r}; jaxrl imports no module named in "
                       f"a file ({module!r}) until you trust it: pass {TRUST_FLAG} "
                       f"(trust_code=True from Python) if you trust this run, or import or "
                       f"register it in your own code first")


def make_env(name: str, options: Mapping[str, Any] | None = None,
             obs_noise: float = 0.0) -> tuple[Any, Any]:
    """``envs.make`` with user errors turned into ``RunError``.

    ``name`` is a registered name or ``"package.module:ClassName"`` (a user's own
    environment class, constructed with ``options``). A user's own environment (not
    built in: ``envs.registry.is_builtin``) is also checked for the contract's shape
    before anything compiles (``check_structure``): any error while building or
    tracing it is one ``RunError`` that names the environment and what is wrong.
    """
    from jaxrl import envs
    from jaxrl.envs.registry import is_builtin
    if not isinstance(name, str) or not name:
        raise RunError(f"an environment is named by a string, got {name!r}")
    if options is not None and not isinstance(options, Mapping):
        raise RunError(f"environment options are a table of name=value, got {options!r}")
    custom = not is_builtin(name)
    try:
        env, params = envs.make(name, **dict(options or {}))
    except (ValueError, TypeError, ImportError, AttributeError) as e:
        text = _first_line(e)
        raise RunError(text if not custom or name in text
                       else f"environment {name!r} could not be built: {text}") from None
    except Exception as e:  # noqa: BLE001 - a user's constructor may raise anything
        if not custom:
            raise
        raise RunError(f"environment {name!r} could not be built: {_first_line(e)}") from None
    if custom:
        check_structure(name, env, params)
    if obs_noise > 0:
        from jaxrl.envs.wrappers import ObservationNoise

        env = ObservationNoise(env, obs_noise)
    return env, params


def _first_line(e: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when there is no message)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, (ValueError, TypeError)) and text:
        return text  # envs.make's own refusals, already worded for a user
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _spaces(env: Any, params: Any) -> tuple[Any, Any]:
    """The action and observation spaces a rollout uses: a multi-agent environment's
    joint ones (every agent at once), else the plain ones."""
    base = getattr(env, "unwrapped", env)
    if callable(getattr(base, "joint_action_space", None)) and \
            getattr(base, "num_agents", None) is not None:
        return env.joint_action_space(params), env.joint_observation_space(params)
    return env.action_space(params), env.observation_space(params)


def check_structure(name: str, env: Any, params: Any) -> None:
    """Refuse, in one line naming ``name``, an environment that breaks the contract's
    shape: spaces that are not ``envs.spaces`` spaces, a ``reset`` or ``step`` that fails
    to trace, observations that do not have the observation space's shape.

    Only traced (``jax.eval_shape``): nothing is compiled or run on a device.
    """
    import jax

    from jaxrl.envs import spaces

    def fail(what: str) -> None:
        raise RunError(f"environment {name!r} {what} (see envs.check_env for the contract)")

    try:
        act, obs_space = _spaces(env, params)
    except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
        fail(f"has no usable spaces: action_space/observation_space(params) raised "
             f"{_first_line(e)}")
    for what, space in (("action_space", act), ("observation_space", obs_space)):
        if not isinstance(space, spaces.Space):
            fail(f"has no usable spaces: {what}(params) returned {type(space).__name__}, "
                 f"not an envs.spaces space (Box, Discrete or Dict)")
    key = jax.random.key(0)
    try:
        obs, state = jax.eval_shape(lambda k: env.reset(k, params), key)
    except Exception as e:  # noqa: BLE001
        fail(f"fails in reset: {_first_line(e)}")
    _check_obs(name, "reset", obs, obs_space, fail)
    try:
        action = jax.eval_shape(act.sample, key)
        out = jax.eval_shape(lambda k, s, a: env.step(k, s, a, params), key, state, action)
    except Exception as e:  # noqa: BLE001
        fail(f"fails in step: {_first_line(e)}")
    if not isinstance(out, tuple) or len(out) != 6:
        fail("step must return (obs, state, reward, terminated, truncated, info)")
    _check_obs(name, "step", out[0], obs_space, fail)


def _check_obs(name: str, where: str, obs: Any, space: Any, fail: Any) -> None:
    from jaxrl.envs import spaces

    if isinstance(space, spaces.Dict):
        return  # a dict of spaces: its own checks (envs.check_env)
    shape = getattr(obs, "shape", None)
    if shape is None:
        fail(f"{where} returned an observation that is not an array ({type(obs).__name__})")
        return
    if tuple(shape) != tuple(space.shape):
        fail(f"{where} returned observations of shape {tuple(shape)}, but its "
             f"observation_space has shape {tuple(space.shape)}")


# ------------------------------------------------------------------------------ fingerprint
FINGERPRINT_VERSION = 1
FINGERPRINT_STEPS = 4  # steps after the reset
# How close a recomputed fingerprint must be: its numbers are sums of non-negative
# terms (no cancellation), so another jax's float rounding moves them by far less,
# while a changed reward, dynamics or params moves them by far more.
FINGERPRINT_RTOL, FINGERPRINT_ATOL = 1e-4, 1e-6


def env_fingerprint(env: Any, params: Any) -> dict[str, Any]:
    """What a user's own environment does, as ``config.json`` records it: ``reset`` and
    ``FINGERPRINT_STEPS`` steps on fixed keys, with actions sampled from its action
    space with a fixed key, plus its params.

    ``shapes``: a digest of every output leaf's shape and dtype; ``values``: for each
    leaf, the weighted sums of its positive and of its negative parts (fixed weights in
    [0.5, 1.5] per element), compared within ``FINGERPRINT_RTOL`` on resume
    (``check_env_fingerprint``), so that a jax that rounds the last bits otherwise does
    not count as a change while a reward times 5 or a changed force does. One small
    program is compiled (on the compile cache when it is on).
    """
    import hashlib

    import jax
    import jax.numpy as jnp
    import numpy as np

    act, _ = _spaces(env, params)

    def rollout(key: Any) -> Any:
        k_reset, k_act, k_step = jax.random.split(key, 3)
        first = env.reset(k_reset, params)

        def step(state: Any, i: Any) -> Any:
            action = act.sample(jax.random.fold_in(k_act, i))
            out = env.step(jax.random.fold_in(k_step, i), state, action, params)
            return out[1], (action, *out)

        # A scan: the step is compiled once, not once per step.
        return first, jax.lax.scan(step, first[1], jnp.arange(FINGERPRINT_STEPS))[1]

    key = jax.random.key(0)
    lowered = jax.jit(rollout).lower(key)
    try:  # a few steps once: XLA's quickest compile (the numbers are compared with a tolerance)
        compiled = lowered.compile(compiler_options={"xla_backend_optimization_level": "0"})
    except Exception:  # noqa: BLE001 - a backend without that option: its default
        compiled = lowered.compile()
    out = jax.device_get(compiled(key))
    leaves = [np.asarray(jax.random.key_data(x)) if _is_key(x) else np.asarray(x)
              for x in jax.tree.leaves((out, params))]
    rng = np.random.default_rng(0)
    shapes, values = hashlib.sha256(), []
    for x in leaves:
        shapes.update(f"{x.shape}{x.dtype};".encode())
        flat = x.astype(np.float64).ravel()
        w = rng.uniform(0.5, 1.5, flat.size)
        for part in (np.maximum(flat, 0.0), np.maximum(-flat, 0.0)):
            v = float(np.sum(np.where(np.isnan(flat), 0.0, part) * w))
            values.append(v if np.isfinite(v) else str(v))
        values.append(float(np.isnan(flat).sum()))
    return {"version": FINGERPRINT_VERSION, "shapes": shapes.hexdigest()[:32], "values": values}


def _is_key(x: Any) -> bool:
    import jax

    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def check_env_fingerprint(spec: RunSpec, env: Any, params: Any, where: str) -> None:
    """Refuse to resume a run whose own environment now behaves otherwise than when it
    was trained (``spec.env_fingerprint`` against one recomputed now). Runs without a
    fingerprint (jaxrl's own environments, runs written before it was recorded) and
    fingerprints of another version are not checked."""
    import numpy as np

    saved = spec.env_fingerprint
    if not saved or saved.get("version") != FINGERPRINT_VERSION:
        return
    try:
        now = env_fingerprint(env, params)
    except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
        raise RunError(f"environment {spec.env!r} changed since training: its reset and "
                       f"steps now fail ({_first_line(e)})") from None
    advice = (f"than {where} records; restore the code and options it was trained with, or "
              f"start a new run")
    if now["shapes"] != saved["shapes"] or len(now["values"]) != len(saved["values"]):
        raise RunError(f"environment {spec.env!r} changed since training: its reset and "
                       f"steps on fixed keys now give outputs of other shapes or dtypes "
                       f"{advice}")
    a = np.array([float(v) for v in saved["values"]])
    b = np.array([float(v) for v in now["values"]])
    if not np.allclose(a, b, rtol=FINGERPRINT_RTOL, atol=FINGERPRINT_ATOL, equal_nan=True):
        raise RunError(f"environment {spec.env!r} changed since training: its reset and "
                       f"steps on fixed keys now give other observations, rewards or "
                       f"states {advice}")


SPLITS = ("seeds", "population")


def _check_split_mode(split: Any) -> str:
    if split not in SPLITS:
        raise RunError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return split


def _make_agent(record: Algorithm, algorithm: str, config: Any, env: Any, env_params: Any,
                split: str = "seeds") -> Any:
    kwargs: dict[str, Any] = {}
    if split == "population":
        import jax

        if "population_split" not in record.supports:
            raise RunError(f"--split population splits an evolution population over the "
                           f"devices (es, ga); {algorithm} has none: split its seeds")
        kwargs["devices"] = jax.devices()  # every device of every process
    try:
        return record.make(config, env, env_params, **kwargs)
    except (ValueError, TypeError) as e:  # e.g. an algorithm that does not fit this env
        raise RunError(str(e).splitlines()[0] if str(e) else repr(e)) from None


def build(spec: RunSpec, split: str = "seeds", *, trust_code: bool = False,
          where: str = "config.json") -> Built:
    """Config, environment and agent for ``spec`` (nothing compiled yet); ``split``: what
    is split over the devices, the seeds or (es, ga) each generation's population.

    ``spec`` comes from a file (``where``): its algorithm and environment are resolved
    only when trusted (``check_trusted``; ``trust_code``: the user said so)."""
    check_trusted("algorithm", spec.algorithm, where, trust_code)
    check_trusted("environment", spec.env, where, trust_code)
    if _check_split_mode(split) == "seeds":
        _check_split(spec.seeds)
    record = get_algorithm(spec.algorithm)
    config = config_from_dict(spec.algorithm, spec.config)
    env, env_params = make_env(spec.env, spec.env_options, spec.obs_noise)
    agent = _make_agent(record, spec.algorithm, config, env, env_params, split)
    # (A config.json edited by hand is caught against the checkpoint's own copy of the
    # spec, which names every difference: jaxrl.runs.rundir.load_checkpoint.)
    return Built(spec, config, agent, env, env_params)


def _check_split(seeds: int) -> None:
    """With several processes, each takes an equal share of the seeds."""
    count = distributed.process_count()
    if seeds % count:
        raise RunError(f"{seeds} seeds cannot be split evenly over {count} processes; "
                       f"use a multiple of {count}")
