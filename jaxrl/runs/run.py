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

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.core import metrics as M
from jaxrl.errors import RunError, TrainingError  # noqa: F401
from jaxrl.parallel import devices as parallel_devices
from jaxrl.parallel import processes as distributed
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
    env: str | None = None,
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

    The environment: ``env`` if given; else the preset's; else the algorithm's
    ``DEFAULT_ENV``. A preset made for one environment refuses another.
    """
    from jaxrl.runs import overrides as O

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
            if env is not None and env != p.env:
                raise RunError(f"preset {preset!r} of {algorithm} is made for {p.env}, not "
                               f"{env}; drop --env, or start from the defaults on {env}")
            env = p.env
            options = {**p.env_options, **options}
    if env is None:
        env = O.default_env(algorithm)
    cfg = resolve_config(algorithm, overrides, toml=toml, num_envs=num_envs,
                         total_steps=total_steps, base=config)
    env_obj, env_params = make_env(env, options, noise)
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
        env_fingerprint=_fingerprint(env, env_obj, env_params),
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


# ------------------------------------------------------------------------------ API
def train(
    algorithm: str,
    env: str | None = None,
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
        env: a name from ``envs.registered()`` or ``"package.module:ClassName"``;
            default: the preset's environment, else the algorithm's ``DEFAULT_ENV``.
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
        callbacks: trackers called per chunk (``jaxrl.output.tracking``: TensorBoard, W&B, MLflow).
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
    """
    spec, built = make_spec(
        algorithm, env, seeds=seeds, seed=seed, config=config, toml=toml, num_envs=num_envs,
        total_steps=total_steps, env_options=env_options, chunk_updates=chunk_updates,
        checkpoint_every=checkpoint_every, overrides=overrides, preset=preset,
        on_nonfinite=on_nonfinite, split=split,
    )
    if stop_after is not None:
        _check_count("stop_after", stop_after, 1)
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
           split: str | None = None, trust_code: bool = False) -> Result:
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
    """
    if stop_after is not None:
        _check_count("stop_after", stop_after, 1)
    if split is not None:
        _check_split_mode(split)
    if distributed.is_multiprocess():
        return _resume_multiprocess(run_dir, progress, stop_after, callbacks, split,
                                    trust_code)
    with RunDir.open(run_dir) as rd:
        from jaxrl.runs.rundir import is_complete

        if is_complete(rd.path):  # nothing to train: never recompile, never rewrite a file
            return load(rd.path, trust_code=trust_code)
        spec = read_spec(rd.path)
        built = _build_resumed(spec, split, trust_code, rd.path)
        return drive(built, rd, resume=True, progress=progress, stop_after=stop_after,
                     callbacks=callbacks)


def _build_resumed(spec: RunSpec, split: str | None, trust_code: bool,
                   run_dir: str | os.PathLike) -> Built:
    """``build`` for resuming ``spec``: on its own device layout (else refused) and with
    its environment unchanged (``check_env_fingerprint``)."""
    split = split or (spec.layout or {}).get("split") or "seeds"
    _check_layout(spec, split, run_dir)
    where = _config_path(Path(run_dir))
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
                         trust_code: bool = False) -> Result:
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
        built = _build_resumed(spec, split, trust_code, run_dir)
    except BaseException:
        if rd is not None:
            rd.close()
        raise
    if rd is None:
        return drive(built, None, resume=True, stop_after=stop_after)
    with rd:
        return drive(built, rd, resume=True, progress=progress, stop_after=stop_after,
                     callbacks=callbacks)


def load(run_dir: str | os.PathLike, *, trust_code: bool = False) -> Result:
    """A saved run: its spec, config, agent, checkpointed state and metrics (verified).

    ``trust_code`` as in ``resume``: without it, a ``package.module:Name`` that
    ``config.json`` names is refused unless the user's code imported or registered it.
    """
    import jax

    from jaxrl.runs import rundir

    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    built = build(spec, trust_code=trust_code, where=_config_path(run_dir))
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
                  if isinstance(bad, list) else ())


def _config_path(run_dir: Path) -> str:
    """``run_dir/config.json`` as a message names it."""
    from jaxrl.runs.rundir import CONFIG_FILE

    return str(Path(run_dir) / CONFIG_FILE)


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")
