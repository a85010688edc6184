"""Training runs: ``train``, ``resume`` and ``load``; the thin layer over the host modules.

::

    import jaxrl
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=16)
    result.final_return                 # float64[16], one per seed
    result.metrics["episode_return"]    # float32[16, num_updates]
    result.plot("curve.png"); result.save("runs/ppo-cartpole")

The parts, one owner each: ``jaxrl.runs.overrides`` (text and presets -> a validated
config), ``jaxrl.runs.rundir`` (the run directory: files, lock, checks), ``jaxrl.runs.driver``
(compile, chunks, interrupts), ``jaxrl.runs.result`` (``Result``), ``jaxrl.core.metrics``
(final returns). ``make_spec`` validates everything a run needs before anything
compiles; ``train`` and ``resume`` open the run directory and call the driver.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.core import metrics as M
from jaxrl.errors import RunError, TrainingError  # noqa: F401
from jaxrl.parallel import devices as parallel_devices
from jaxrl.parallel import processes as distributed
from jaxrl.runs import build as build_module
from jaxrl.runs.build import (  # noqa: F401 - part of run's public surface
    FINGERPRINT_STEPS,
    SPLITS,
    Built,
    _check_split,
    _check_split_mode,
    _first_line,
    _make_agent,
    build,
    check_env_fingerprint,
    env_fingerprint,
    make_env,
)
from jaxrl.runs.driver import (  # noqa: F401 - part of run's public surface
    Interrupted,
    default_checkpoint_every,
    default_chunk,
    drive,
    init_function,
    seed_keys,
)
from jaxrl.runs.overrides import (  # noqa: F401
    coerce,
    config_defaults,
    config_from_dict,
    config_to_dict,
    default_env,
    get_algorithm,
    presets,
    resolve_config,
)
from jaxrl.runs.result import Result
from jaxrl.runs.rundir import RunDir, RunSpec, read_spec, write_json  # noqa: F401

# The largest number of updates a run may have (the chunk counter is an int32).
MAX_UPDATES = 2**31 - 1


def _check_count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise RunError(f"{name} must be an integer >= {low}, got {value!r}")
    if value > MAX_UPDATES:
        raise RunError(f"{name} is too large ({value}); at most {MAX_UPDATES}")
    return int(value)


def make_spec(
    algorithm: str,
    env: Any = None,
    *,
    seeds: int = 1,
    seed: int = 0,
    config: Any = None,
    toml: str | os.PathLike | None = None,
    num_envs: int | None = None,
    total_steps: int | None = None,
    env_options: Mapping[str, Any] | None = None,
    chunk_updates: int | None = None,
    checkpoint_every: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    preset: str | None = None,
    on_nonfinite: str = "stop",
    split: str = "seeds",
) -> tuple[RunSpec, Built]:
    """Validate everything a run needs and build it (nothing compiled yet).

    The environment: ``env`` if given (a name, an ``Environment`` or an ``(env,
    params)`` pair: ``env_from_object``); else the preset's; else the algorithm's
    ``DEFAULT_ENV``. A preset made for one environment refuses another.
    """
    from jaxrl.runs import overrides as O

    given = None  # an environment object: (env, params)
    if env is not None and not isinstance(env, str):
        if env_options:
            raise RunError("env_options apply to an environment named by a string; set them "
                           "on the environment object itself (Corridor(length=10), or an "
                           "(env, params) pair)")
        given = env_from_object(env)
        env = given.name
    seeds = _check_count("seeds", seeds, 1)
    if _check_split_mode(split) == "seeds":
        _check_split(seeds)
    seed = _check_count("seed", seed, 0)
    if on_nonfinite not in ("stop", "mask"):
        raise RunError(f"on_nonfinite must be 'stop' or 'mask', got {on_nonfinite!r}")
    if isinstance(config, Mapping):
        overrides = {**config, **(overrides or {})}
        config = None
    record = get_algorithm(algorithm)
    options = dict(env_options or {})
    noise = 0.0
    if preset is not None:
        if config is not None:
            raise RunError("give a preset or a Config object, not both")
        p = O.preset(algorithm, preset)
        config, noise = p.config, p.obs_noise
        if p.env is not None:
            if given is not None and p.env_options:
                raise RunError(f"preset {preset!r} of {algorithm} sets options of {p.env}; "
                               f"name the environment (env={p.env!r}) so that they apply")
            if env is not None and env != p.env:
                raise RunError(f"preset {preset!r} of {algorithm} is made for {p.env}, not "
                               f"{env}; drop --env, or start from the defaults on {env}")
            env = p.env
            options = {**p.env_options, **options}
    if env is None:
        env = O.default_env(algorithm)
    cfg = resolve_config(algorithm, overrides, toml=toml, num_envs=num_envs,
                         total_steps=total_steps, base=config)
    if given is None:
        env_obj, env_params = make_env(env, options, noise)
    else:
        options = dict(given.options)
        env_obj, env_params = _with_noise(given.env, noise), given.params
    agent = _make_agent(record, algorithm, cfg, env_obj, env_params, split)
    try:
        n = int(agent.num_updates)
    except (OverflowError, ValueError, TypeError):
        raise RunError(f"this {algorithm} config gives no whole number of updates") from None
    if n < 1:
        raise RunError(f"this {algorithm} config trains for {n} updates; raise the step budget")
    if n > MAX_UPDATES:
        raise RunError(f"this {algorithm} config trains for {n} updates, more than "
                       f"{MAX_UPDATES}; lower the step budget")
    chunk = default_chunk(n) if chunk_updates is None else _check_count("chunk_updates",
                                                                         chunk_updates, 1)
    every = default_checkpoint_every(n) if checkpoint_every is None else _check_count(
        "checkpoint_every", checkpoint_every, 0)
    spec = RunSpec(
        algorithm=algorithm, env=env, env_options=options, seeds=seeds, seed=seed,
        config=config_to_dict(cfg), num_updates=n, chunk_updates=min(chunk, n),
        checkpoint_every=every, on_nonfinite=on_nonfinite, obs_noise=float(noise),
        env_fingerprint=given.fingerprint if given is not None and not noise
        else _fingerprint(env, env_obj, env_params),
        layout=parallel_devices.layout(seeds, split),
    )
    return spec, Built(spec, cfg, agent, env_obj, env_params)


def _fingerprint(name: str, env: Any, env_params: Any) -> dict[str, Any] | None:
    """A user's own environment's fingerprint (``build.env_fingerprint``; None for
    jaxrl's own environments, whose code is jaxrl's version's)."""
    from jaxrl.envs.registry import is_builtin

    if is_builtin(name):
        return None
    try:
        return env_fingerprint(env, env_params)
    except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
        raise RunError(f"environment {name!r} fails in a rollout of {FINGERPRINT_STEPS} "
                       f"steps on fixed keys: {_first_line(e)}") from None


# ------------------------------------------------------------------------------ env objects
#: How ``config.json`` names an environment object that no name rebuilds:
#: ``"<module.Class instance>"`` (``load``, ``resume`` and ``export`` then take it back as
#: ``env=``).
INSTANCE_LABEL = "<{} instance>"


def is_instance_label(name: Any) -> bool:
    """Does ``name`` (a run's ``env``) stand for an environment object that cannot be
    rebuilt from a name (``env_from_object``)?"""
    return isinstance(name, str) and name.startswith("<") and name.endswith(" instance>")


@dataclasses.dataclass
class GivenEnv:
    """An environment given as an object, and how a run directory names it.

    Attributes:
        env, params: the environment and its params (``env.default_params`` if none).
        name: ``"package.module:Class"`` (or a registered name) that rebuilds it with
            ``options``, or ``INSTANCE_LABEL`` when none does (``why`` says why).
        options: constructor options and params fields that differ from the defaults.
        fingerprint: ``build.env_fingerprint`` of it (None for jaxrl's own environments).
        why: why no name rebuilds it ("" when one does).
    """

    env: Any
    params: Any
    name: str
    options: dict[str, Any]
    fingerprint: dict[str, Any] | None
    why: str = ""


def _env_pair(env: Any) -> tuple[Any, Any]:
    """``(env, params)`` from an ``Environment`` or a pair; anything else refused."""
    from jaxrl.envs.core import Environment

    params = None
    if isinstance(env, tuple) and len(env) == 2 and isinstance(env[0], Environment):
        env, params = env
    if not isinstance(env, Environment):
        raise RunError(f"env must be a name (jaxrl list envs), 'package.module:ClassName', "
                       f"an envs.core.Environment or an (env, params) pair, got "
                       f"{type(env).__name__}")
    if params is None:
        try:
            params = env.default_params
        except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
            raise RunError(f"environment {type(env).__name__}: default_params raised "
                           f"{_first_line(e)}") from None
    return env, params


def _plain(value: Any) -> Any:
    """``value`` as a JSON value when it is a plain number, bool, string, None or a list
    of them (a 0-d array becomes its number); ``_NOT_PLAIN`` otherwise."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic) or (hasattr(value, "shape") and value.shape == ()
                                         and hasattr(value, "item")):
        try:
            return np.asarray(value).item()
        except Exception:  # noqa: BLE001 - a traced value, say
            return _NOT_PLAIN
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    return _NOT_PLAIN


_NOT_PLAIN = object()


def _reference(env: Any, params: Any) -> tuple[str, dict[str, Any]] | str:
    """``(package.module:Class, options)`` naming ``env`` (constructor options read back
    from the instance's attributes of the same name, params fields that differ from the
    defaults), or why there is none."""
    import importlib
    import inspect

    cls = type(env)
    module, qual = cls.__module__, cls.__qualname__
    where = f"{module}.{qual}"
    if module == "__main__":
        return f"{where} is defined in __main__, which another process cannot import"
    if "<" in qual:
        return f"{where} is defined inside a function"
    try:
        found: Any = importlib.import_module(module)
        for part in qual.split("."):
            found = getattr(found, part)
    except Exception:  # noqa: BLE001 - anything: then no name rebuilds it
        return f"{where} cannot be found by importing {module}"
    if found is not cls:
        return f"{where} is not the class that importing {module} gives"
    options: dict[str, Any] = {}
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return f"the constructor of {where} has no signature to read"
    for p in signature.parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = _NOT_PLAIN
        for attr in (p.name, "_" + p.name):
            if attr in getattr(env, "__dict__", {}):
                value = _plain(getattr(env, attr))
                break
        if value is not _NOT_PLAIN:
            if p.default is p.empty or value != p.default:
                options[p.name] = value
        elif p.default is p.empty:
            return (f"its constructor option {p.name!r} is not kept on the instance "
                    f"(self.{p.name}) as a plain value")
    default = env.default_params
    if params is not default:
        if not dataclasses.is_dataclass(params) or type(params) is not type(default):
            return f"its params are not a {type(default).__name__}"
        for f in dataclasses.fields(params):
            mine, theirs = getattr(params, f.name), getattr(default, f.name)
            try:
                same = bool(np.array_equal(np.asarray(mine), np.asarray(theirs)))
            except Exception:  # noqa: BLE001 - traced or odd leaves
                same = False
            if same:
                continue
            value = _plain(mine)
            if value is _NOT_PLAIN or isinstance(value, list) or f.name in options:
                return f"its params field {f.name!r} is not a plain number"
            options[f.name] = value
    return f"{module}:{qual}", options


def _same_fingerprint(a: dict[str, Any], b: dict[str, Any]) -> bool:
    from jaxrl.runs.build import FINGERPRINT_ATOL, FINGERPRINT_RTOL

    if a["shapes"] != b["shapes"] or len(a["values"]) != len(b["values"]):
        return False
    x = np.array([float(v) for v in a["values"]])
    y = np.array([float(v) for v in b["values"]])
    return bool(np.allclose(x, y, rtol=FINGERPRINT_RTOL, atol=FINGERPRINT_ATOL, equal_nan=True))


def _same_values(a: Any, b: Any) -> bool | None:
    """Whether two pytrees (an instance's attributes, params) hold equal leaves; None when
    a leaf does not compare (then the fingerprints decide)."""
    import jax

    try:
        la, ta = jax.tree.flatten(a)
        lb, tb = jax.tree.flatten(b)
    except Exception:  # noqa: BLE001
        return None
    if str(ta) != str(tb) or len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        if x is y:
            continue
        if hasattr(x, "shape") and hasattr(y, "shape"):
            try:
                if x.shape != y.shape or x.dtype != y.dtype or \
                        not np.array_equal(np.asarray(x), np.asarray(y)):
                    return False
            except Exception:  # noqa: BLE001 - keys, traced values
                return None
            continue
        try:
            equal = x == y
            if not isinstance(equal, (bool, np.bool_)):
                return None
        except Exception:  # noqa: BLE001
            return None
        if not equal:
            # Objects compared by identity (functions, caches): their behaviour decides.
            return None if callable(x) or type(x).__eq__ is object.__eq__ else False
    return True


def env_from_object(env: Any) -> GivenEnv:
    """An environment given as an object (``Environment`` or ``(env, params)``), checked
    like a named one of the user's (``build.check_structure``), with the name that
    rebuilds it for the run directory.

    The name is the class's ``package.module:Class`` (or a registered name with the same
    entry point) with its constructor options, as ``--env package.module:Class
    --env-option k=v`` stores them, kept only when rebuilding from it behaves exactly
    as the object does (``build.env_fingerprint``). Otherwise (a class defined in
    ``__main__`` or in a function, a wrapper, options not kept on the instance) the run
    names it ``INSTANCE_LABEL`` and ``GivenEnv.why`` says why; ``load``, ``resume`` and
    ``export`` of such a run take the object back as ``env=``.
    """
    from jaxrl.envs import registry
    from jaxrl.runs.build import check_structure

    env, params = _env_pair(env)
    cls = type(env)
    label = INSTANCE_LABEL.format(f"{cls.__module__}.{cls.__qualname__}")
    check_structure(label, env, params)
    computed: list[dict[str, Any]] = []

    def fingerprint() -> dict[str, Any]:  # one small compile, only when needed
        if not computed:
            try:
                computed.append(env_fingerprint(env, params))
            except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
                raise RunError(f"environment {label} fails in a rollout of "
                               f"{FINGERPRINT_STEPS} steps on fixed keys: "
                               f"{_first_line(e)}") from None
        return computed[0]

    found = _reference(env, params)
    if isinstance(found, str):
        return GivenEnv(env, params, label, {}, fingerprint(), found)
    reference, options = found
    # A registered name for the same class reads better and is trusted without asking.
    candidates = [(n, {k: v for k, v in options.items() if fixed.get(k, _NOT_PLAIN) != v})
                  for n, (entry, fixed) in sorted(registry._REGISTRY.items())
                  if entry == reference]
    for name, opts in [*candidates, (reference, options)]:
        try:
            rebuilt, rebuilt_params = make_env(name, opts)
            same = type(rebuilt) is cls and _same_values(vars(rebuilt), vars(env)) \
                and _same_values(rebuilt_params, params)
            if same is None:  # attributes that do not compare: compare what it does
                same = _same_fingerprint(fingerprint(),
                                         env_fingerprint(rebuilt, rebuilt_params))
        except RunError as e:
            if "fails in a rollout" in str(e):
                raise
            same = False
        except Exception:  # noqa: BLE001 - then this name does not rebuild it
            same = False
        if same:
            return GivenEnv(env, params, name, opts,
                            None if registry.is_builtin(name) else fingerprint())
    shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return GivenEnv(env, params, label, {}, fingerprint(),
                    f"{reference}({shown}) does not rebuild it (the instance holds more "
                    f"than its constructor options)")


def _with_noise(env: Any, noise: float) -> Any:
    if noise > 0:
        from jaxrl.envs.wrappers import ObservationNoise

        return ObservationNoise(env, noise)
    return env


def _build_with_env(spec: RunSpec, env: Any, split: str, trust_code: bool,
                    where: str) -> Built:
    """``build(spec)`` on an environment object the user passed back (``load``,
    ``resume``, ``export`` with ``env=``), refused unless it behaves as the run's did."""
    from jaxrl.runs.build import check_trusted

    check_trusted("algorithm", spec.algorithm, where, trust_code)
    if _check_split_mode(split) == "seeds":
        _check_split(spec.seeds)
    env_obj, params = checked_env_pair(env)
    env_obj = _with_noise(env_obj, spec.obs_noise)
    check_same_env(spec.env, spec.env_options, spec.obs_noise, spec.env_fingerprint,
                   env_obj, params, where)
    record = get_algorithm(spec.algorithm)
    config = config_from_dict(spec.algorithm, spec.config)
    agent = _make_agent(record, spec.algorithm, config, env_obj, params, split)
    return Built(spec, config, agent, env_obj, params)


def checked_env_pair(env: Any) -> tuple[Any, Any]:
    """``(env, params)`` of an environment object (``Environment`` or pair), checked for
    the contract's shape (``build.check_structure``) as a named one of the user's is."""
    from jaxrl.runs.build import check_structure

    env, params = _env_pair(env)
    cls = type(env)
    check_structure(INSTANCE_LABEL.format(f"{cls.__module__}.{cls.__qualname__}"), env, params)
    return env, params


def check_same_env(name: str, options: Mapping[str, Any], obs_noise: float,
                   saved: dict[str, Any] | None, env: Any, params: Any, where: str) -> None:
    """Refuse an environment object given back for a run (or policy) trained on ``name``
    unless it behaves as that one did: against the recorded fingerprint ``saved``, else
    (jaxrl's own environments record none) against ``name`` rebuilt now."""
    if not saved or saved.get("version") != build_module.FINGERPRINT_VERSION:
        if is_instance_label(name) or build_module._untrusted_module("environment", name):
            return  # nothing to compare with (without importing a module a file names)
        saved = env_fingerprint(*make_env(name, options, obs_noise))
    try:
        now = env_fingerprint(env, params)
    except Exception as e:  # noqa: BLE001 - a user's environment may raise anything
        raise RunError(f"the environment given fails in a rollout: {_first_line(e)}") from None
    if not _same_fingerprint(saved, now):
        shown = name[1:-len(" instance>")] + " object" if is_instance_label(name) else name
        raise RunError(f"the environment given is not the one {where} was trained on "
                       f"({shown}): its reset and steps on fixed keys give other "
                       f"observations, rewards or states; pass the same class with the "
                       f"same options and params")


def _instance_needed(spec: RunSpec, where: str, call: str) -> RunError:
    what = spec.env[1:-len(" instance>")]
    return RunError(f"{where} was trained on a {what} object that no name rebuilds; pass "
                    f"it back: {call}(..., env=<the same environment>) (or define the class "
                    f"in an importable module, so that runs name it)")


# ------------------------------------------------------------------------------ API
def train(
    algorithm: str,
    env: Any = None,
    *,
    seeds: int = 1,
    seed: int = 0,
    config: Any = None,
    toml: str | os.PathLike | None = None,
    num_envs: int | None = None,
    total_steps: int | None = None,
    env_options: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
    chunk_updates: int | None = None,
    progress: bool = False,
    stop_after: int | None = None,
    preset: str | None = None,
    on_nonfinite: str = "stop",
    callbacks: Sequence[Any] = (),
    split: str = "seeds",
    **overrides: Any,
) -> Result:
    """Train ``seeds`` independent runs of ``algorithm`` on ``env`` in one compiled program.

    Args:
        algorithm: a name from ``jaxrl.algos.names()`` (``"ppo"``, ``"dqn"``...).
        env: a name from ``envs.registered()`` or ``"package.module:ClassName"``, or
            the environment itself: an ``envs.core.Environment`` (``Corridor(6)``) or an
            ``(env, params)`` pair. ``config.json`` then names its class and constructor
            options when they rebuild it (``env_from_object``); otherwise (a class
            defined in ``__main__``...) the run says so in one line, and ``load``,
            ``resume`` and ``export`` of it take the object back as ``env=``.
            Default: the preset's environment, else the algorithm's ``DEFAULT_ENV``.
        seeds: number of independent runs, vmapped together.
        seed: base seed.
        config: a ``Config`` of the algorithm or a dict of field values.
        preset: start from ``<algorithm>.PRESETS[preset]`` (its config and
            environment; ``jaxrl list ALGO``); ``config`` (as a dict) and overrides
            apply on top.
        toml: a TOML file of config fields.
        num_envs: shortcut for the config's ``num_envs``.
        total_steps: environment steps per seed: shortcut for the config's
            ``total_timesteps`` (refused for a budget counted otherwise: reinforce's
            ``num_episodes``, es and ga's ``generations``).
        env_options: keyword options for ``envs.make`` (``{"mode": "random"}``).
        out_dir: write a run directory here (config, CSV, plot, checkpoint, events).
        overwrite: replace a run already in ``out_dir`` (once the new run has written
            its first checkpoint; files jaxrl did not write are never removed).
        checkpoint_every: updates between checkpoints (default: about 5 per run).
        chunk_updates: updates per compiled call (default: about 50 calls per run).
        progress: draw progress on stderr.
        stop_after: train only this many updates now (continue later with ``resume``).
        on_nonfinite: ``"stop"`` at the first non-finite loss or parameter
            (``TrainingError``), or ``"mask"`` the bad seeds and train on.
        callbacks: called on the host between chunks (``jaxrl.output.tracking``:
            TensorBoard, W&B, MLflow; ``jaxrl.output.logging.StopOnReturn``). A
            callback whose ``on_chunk`` returns ``False`` stops the run after that
            chunk, checkpointed and resumable (``Result.stopped_by`` says why).
        split: what is split over the devices (of every process): ``"seeds"``, or
            ``"population"`` (es, ga: each generation's members; every seed runs whole
            on all devices, so one seed can use them all). The numbers are the same.
        **overrides: config fields, e.g. ``lr=3e-4`` (old names too,
            ``jaxrl.runs.overrides.ALIASES``; a group's fields as ``**{"curiosity.beta": 0.3}``
            or the whole group, ``curiosity={"kind": "icm", "beta": 0.3}``).

    Returns:
        ``Result`` with metrics ``[seeds, updates]``, the final state and plot/save methods.

    Raises:
        RunError: a bad name or value, found before anything compiles.

    Compiled programs are kept on disk only after ``jaxrl.enable_compile_cache()``
    (the ``jaxrl`` command switches it on itself; ``jaxrl.runs.compile_cache``).
    """
    spec, built = make_spec(
        algorithm, env, seeds=seeds, seed=seed, config=config, toml=toml, num_envs=num_envs,
        total_steps=total_steps, env_options=env_options, chunk_updates=chunk_updates,
        checkpoint_every=checkpoint_every, overrides=overrides, preset=preset,
        on_nonfinite=on_nonfinite, split=split,
    )
    if stop_after is not None:
        _check_count("stop_after", stop_after, 1)
    if out_dir is not None and is_instance_label(spec.env) and distributed.is_writer():
        found = _reference(*_env_pair(env))
        why = found if isinstance(found, str) else "its class and constructor options " \
            "do not rebuild it"
        print(f"jaxrl: note: {out_dir} names its environment {spec.env}: no name rebuilds it "
              f"({why}); jaxrl.load/resume/export of this run take it back as env=",
              file=sys.stderr, flush=True)
    if out_dir is None:
        return drive(built, None, progress=progress and distributed.is_writer(),
                     stop_after=stop_after, callbacks=callbacks if distributed.is_writer() else ())
    # Several processes: process 0 alone opens (and writes) the run directory.
    rd = distributed.from_writer(lambda: RunDir.create(out_dir, overwrite=overwrite))
    if rd is None:
        return drive(built, None, stop_after=stop_after)
    with rd:
        return drive(built, rd, progress=progress, stop_after=stop_after, callbacks=callbacks)


def resume(run_dir: str | os.PathLike, *, progress: bool = False,
           stop_after: int | None = None, callbacks: Sequence[Any] = (),
           split: str | None = None, trust_code: bool = False, env: Any = None) -> Result:
    """Continue the run in ``run_dir`` from its checkpoint to the end (or ``stop_after`` more).

    The result is bit-identical to a run never interrupted. A complete run is loaded
    and returned as it is (``load``): nothing is compiled and no file is written.
    ``split`` as in ``train`` (default: the first part's; another one is allowed).

    The run's device layout (``config.json``'s ``layout``: platform, device count,
    processes) is part of the run: resuming on another is refused in one line naming
    how to get it (``jaxrl train --resume`` restores the CPU device count by itself),
    and so is a user's own environment that behaves otherwise than when it was
    trained (``env_fingerprint``).
    ``trust_code``: import the ``package.module:Name`` environment or algorithm that
    ``config.json`` names even when no code of this process imported or registered it
    (a name read from a file imports nothing otherwise: ``build.check_trusted``).
    ``env``: the environment object the run was trained on (an ``Environment`` or an
    ``(env, params)`` pair), needed when ``config.json`` names it ``<... instance>``
    (``train`` said so); refused unless it behaves as the one trained on.
    """
    if stop_after is not None:
        _check_count("stop_after", stop_after, 1)
    if split is not None:
        _check_split_mode(split)
    if distributed.is_multiprocess():
        return _resume_multiprocess(run_dir, progress, stop_after, callbacks, split,
                                    trust_code, env)
    with RunDir.open(run_dir) as rd:
        from jaxrl.runs.rundir import is_complete

        if is_complete(rd.path):  # nothing to train: never recompile, never rewrite a file
            return load(rd.path, trust_code=trust_code, env=env)
        spec = read_spec(rd.path)
        built = _build_resumed(spec, split, trust_code, rd.path, env)
        return drive(built, rd, resume=True, progress=progress, stop_after=stop_after,
                     callbacks=callbacks)


def _build_resumed(spec: RunSpec, split: str | None, trust_code: bool,
                   run_dir: str | os.PathLike, env: Any = None) -> Built:
    """``build`` for resuming ``spec``: on its own device layout (else refused) and with
    its environment unchanged (``check_env_fingerprint``); ``env``: the environment
    object passed back (``_build_with_env``)."""
    split = split or (spec.layout or {}).get("split") or "seeds"
    _check_layout(spec, split, run_dir)
    where = _config_path(Path(run_dir))
    if env is not None:
        return _build_with_env(spec, env, split, trust_code, where)
    if is_instance_label(spec.env):
        raise _instance_needed(spec, where, "jaxrl.resume")
    built = build(spec, split, trust_code=trust_code, where=where)
    check_env_fingerprint(spec, built.env, built.env_params, where)
    return built


def resume_command(run_dir: str | os.PathLike, spec: RunSpec | None = None) -> str:
    """The command that continues the run in ``run_dir`` as it was trained: with several
    processes, ``jaxrl launch`` with that many and the CPU devices of each; with
    ``--trust-code`` when the run names a module of the user's (``package.module:Name``:
    the user typed it when training)."""
    layout = (spec.layout if spec is not None else None) or {}
    trust = " --trust-code" if spec is not None and (
        ":" in spec.env or ":" in spec.algorithm) else ""
    processes = layout.get("processes", 1)
    if processes <= 1:
        return f"jaxrl train --resume {run_dir}{trust}"
    per = ""
    if layout.get("platform") == "cpu":
        per = f" --cpu-devices {max(1, layout['devices'] // processes)}"
    return f"jaxrl launch --processes {processes} -- train --resume {run_dir}{per}{trust}"


def stored_cpu_devices(run_dir: str | os.PathLike) -> int | None:
    """The CPU devices per process that the run in ``run_dir`` ran on (None when its
    ``config.json`` records no CPU layout or cannot be read: resuming then says why).
    Read before JAX starts, so that ``jaxrl train --resume`` gets the same layout."""
    try:
        layout = read_spec(run_dir).layout
    except RunError:
        return None
    if not layout or layout.get("platform") != "cpu":
        return None
    return max(1, layout["devices"] // layout["processes"])


def _check_layout(spec: RunSpec, split: str, run_dir: str | os.PathLike) -> None:
    """Refuse to resume on another device layout than ``spec.layout`` (runs written
    before it was recorded are not checked; another ``split`` than the run's may use
    another device count: the numbers are the same by construction)."""
    saved = spec.layout
    if not saved:
        return
    have = distributed.process_count()
    if have != saved["processes"]:
        raise RunError(f"this run was trained by {saved['processes']} process(es), not "
                       f"{have}; continue it with: {resume_command(run_dir, spec)}")
    if split != saved["split"]:
        return
    now = parallel_devices.layout(spec.seeds, split)
    if (now["platform"], now["devices"]) != (saved["platform"], saved["devices"]):
        per = max(1, saved["devices"] // saved["processes"])
        how = (f"pass --cpu-devices {per} (from Python: jaxrl.parallel.devices."
               f"use_cpu_cores({per}) before JAX starts)" if saved["platform"] == "cpu"
               else f"resume it where JAX has {saved['platform']} devices")
        raise RunError(f"this run ran on {saved['devices']} {saved['platform']} device(s) "
                       f"and would now run on {now['devices']} {now['platform']} device(s), "
                       f"which is not the same run: {how}")


def _resume_multiprocess(run_dir: str | os.PathLike, progress: bool, stop_after: int | None,
                         callbacks: Sequence[Any], split: str | None = None,
                         trust_code: bool = False, env: Any = None) -> Result:
    """Process 0 opens the directory and sends the spec; every process builds the run and
    gets the checkpointed state from process 0 (``jaxrl.runs.driver``)."""
    import json

    def opened() -> tuple[Any, RunSpec]:
        rd = RunDir.open(run_dir)
        try:
            return rd, read_spec(rd.path)
        except BaseException:
            rd.close()
            raise

    rd, spec = distributed.from_writer(
        opened, encode=lambda v: json.dumps(v[1].to_json()).encode(),
        decode=lambda b: (None, RunSpec.from_json(json.loads(b.decode()))))
    try:
        built = _build_resumed(spec, split, trust_code, run_dir, env)
    except BaseException:
        if rd is not None:
            rd.close()
        raise
    if rd is None:
        return drive(built, None, resume=True, stop_after=stop_after)
    with rd:
        return drive(built, rd, resume=True, progress=progress, stop_after=stop_after,
                     callbacks=callbacks)


def load(run_dir: str | os.PathLike, *, trust_code: bool = False, env: Any = None) -> Result:
    """A saved run: its spec, config, agent, checkpointed state and metrics (verified).

    ``trust_code`` as in ``resume``: without it, a ``package.module:Name`` that
    ``config.json`` names is refused unless the user's code imported or registered it.
    ``env`` as in ``resume``: the environment object (needed for a run whose
    ``config.json`` names it ``<... instance>``), checked against the one trained on.
    """
    import jax

    from jaxrl.runs import rundir

    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    where = _config_path(run_dir)
    if env is not None:
        built = _build_with_env(spec, env, "seeds", trust_code, where)
    elif is_instance_label(spec.env):
        raise _instance_needed(spec, where, "jaxrl.load")
    else:
        built = build(spec, trust_code=trust_code, where=where)
    template = jax.eval_shape(init_function(built.agent), seed_keys(spec.seed, spec.seeds))
    restored = rundir.restore(run_dir, spec, template, M.metric_dtypes(built.agent, template))
    times = rundir.read_summary(run_dir)  # a damaged summary only loses the timings
    bad = times.get("bad_seeds", [])
    return Result(spec=spec, config=built.config, agent=built.agent, state=restored.state,
                  metrics=restored.metrics,
                  compile_seconds=_number(times.get("compile_seconds")),
                  run_seconds=_number(times.get("run_seconds")), run_dir=run_dir,
                  env=built.env, env_params=built.env_params,
                  bad_seeds=tuple(b for b in bad if isinstance(b, int) and 0 <= b < spec.seeds)
                  if isinstance(bad, list) else (),
                  stopped_by=_stopped_by(times, restored.updates_done, spec.num_updates))


def _stopped_by(summary: Mapping[str, Any], done: int, total: int) -> str | None:
    """Why a callback stopped the run (``summary.json``'s ``stopped_by``), when the
    checkpoint is the one it stopped at (a run resumed since says nothing of it)."""
    why = summary.get("stopped_by")
    if not isinstance(why, str) or done >= total or summary.get("updates_done") != done:
        return None
    return why[:500]


def _config_path(run_dir: Path) -> str:
    """``run_dir/config.json`` as a message names it."""
    from jaxrl.runs.rundir import CONFIG_FILE

    return str(Path(run_dir) / CONFIG_FILE)


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")
