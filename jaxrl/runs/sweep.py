"""Hyperparameter sweeps as one compiled program.

A sweep over a grid of config leaves (learning rates, clip ranges, entropy weights)
for several seeds is a ``vmap`` over settings of a ``vmap`` over seeds of the whole
training run, so ``8 settings x 8 seeds`` is one ``jit`` call::

    from jaxrl.runs.sweep import sweep
    result = sweep("ppo", "CartPole-v1", grid={"lr": [1e-4, 3e-4], "clip_eps": [0.1, 0.2]},
                   seeds=8)
    print(result.table())
    result.plot("sweep.png")

Works for any registered algorithm whose config is a ``flax.struct`` dataclass and
whose swept fields are pytree leaves. Static fields (network sizes, batch shapes,
loop lengths) change the compiled program and cannot be vmapped: asking for one is
refused, as is an unknown field name (with the closest matches), before anything is
compiled. Every setting is validated concretely with ``Config.validate()`` first; the
algorithm's ``make`` then sees traced leaves, so its ``validate`` must skip checks on
traced values (``jaxrl.core.config.is_traced``).

All settings share the same seed keys (common random numbers), so differences between
settings are not blurred by different initialisations.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.config import closest, field_paths, public_name, replace_paths
from jaxrl.core.metrics import final_returns
from jaxrl.core.metrics import final_window as default_final_window
from jaxrl.parallel.devices import over_seeds, to_host

__all__ = ["MAX_SETTINGS", "SweepResult", "grid_size", "sweep", "sweepable_fields"]

#: The most settings one sweep may have (``sweep(max_settings=...)``, ``jaxrl sweep
#: --max-settings``): every setting is one copy of the whole training run in one program.
MAX_SETTINGS = 1024


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """The number of settings of ``grid`` (the product of its lists' lengths), computed
    without expanding the grid."""
    return math.prod(len(v) for v in grid.values()) if grid else 0


def check_size(settings: int, seeds: int, max_settings: int | None = MAX_SETTINGS) -> str:
    """One line stating a sweep's size (``"N settings x S seeds = M runs"``).

    Raises:
        ValueError: more than ``max_settings`` settings (None: no limit).
    """
    size = f"{settings:,} settings x {seeds:,} seeds = {settings * seeds:,} runs"
    if max_settings is not None and settings > max_settings:
        raise ValueError(f"a sweep of {size} is over the limit of {max_settings:,} settings "
                         f"(each is a whole training run in one program); sweep fewer values "
                         f"or raise the limit (--max-settings, sweep(max_settings=...))")
    return size


def sweepable_fields(config: Any) -> tuple[list[str], list[str]]:
    """``(leaves, static)`` field names of a ``flax.struct`` config dataclass; the fields
    of a nested config (a group) as ``"group.field"``."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"a config must be a dataclass instance, got {type(config).__name__}")
    leaves, static = [], []
    for path, (_, is_static) in field_paths(config).items():
        (static if is_static else leaves).append(path)
    return leaves, static


def _check_grid(config: Any, grid: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Names exist, are leaves, values are non-empty lists of finite numbers."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping {field: [values, ...]}")
    from jaxrl.runs.overrides import field_path

    leaves, static = sweepable_fields(config)
    paths = field_paths(config)
    cls = type(config).__qualname__
    out: dict[str, list[Any]] = {}
    given: dict[str, str] = {}
    for name, values in grid.items():
        asked, name = name, field_path(config, name) or name  # an old name: today's
        if name in given:  # lr and learning_rate (overrides.ALIASES) name one field
            raise ValueError(f"grid names {name} twice ({given[name]!r} and {asked!r}); "
                             f"give its values once")
        given[name] = asked
        if name in static:
            raise ValueError(
                f"{cls}.{name} is a static field (it fixes array shapes or loop lengths), so it "
                f"cannot be vmapped in one program; run one sweep per value instead. "
                f"Sweepable fields: {', '.join(leaves)}."
            )
        if name not in leaves:
            raise ValueError(
                f"{cls} has no field {name!r}.{closest(name, leaves + static)} Sweepable "
                f"fields: {', '.join(leaves)}."
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}] must be a non-empty list of numbers, got {values!r}")
        default = paths[name][0]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"grid[{name!r}] must hold finite numbers, got {v!r}")
            if isinstance(default, numbers.Integral) and not isinstance(default, bool):
                if int(v) != v:
                    raise ValueError(f"grid[{name!r}] must hold integers, got {v!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"grid[{name!r}] repeats a value: {list(values)!r}")
        out[name] = list(values)
    return out


def _leaf_dtype(default: Any) -> Any:
    if isinstance(default, numbers.Integral) and not isinstance(default, bool):
        return jnp.int32
    return jnp.float32


# --------------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What a sweep measured, as NumPy arrays (settings in ``itertools.product`` order).

    Attributes:
        algo: algorithm name.
        env_name: environment name.
        grid: ``{field: [values]}`` as swept.
        settings: one ``{field: value}`` per setting, ``len == S``.
        final_returns: ``float64[S, seeds]``, each run's final return: the mean return
            of the episodes that ended in the last ``final_window`` updates (NaN if none).
        metrics: every metric the algorithm reports, ``[S, seeds, num_updates]``.
        final_window: updates averaged for ``final_returns``.
        compile_seconds, run_seconds: wall time of compiling and of running the program.
    """

    algo: str
    env_name: str
    grid: dict[str, list[Any]]
    settings: list[dict[str, Any]]
    final_returns: np.ndarray
    metrics: dict[str, np.ndarray]
    final_window: int
    compile_seconds: float
    run_seconds: float

    @property
    def num_seeds(self) -> int:
        return self.final_returns.shape[1]

    @property
    def mean(self) -> np.ndarray:
        """``float64[S]``, mean final return over seeds (NaN-runs ignored)."""
        with np.errstate(all="ignore"):
            return np.array([_nanmean(r) for r in self.final_returns])

    @property
    def std(self) -> np.ndarray:
        """``float64[S]``, standard deviation of the final return over seeds."""
        with np.errstate(all="ignore"):
            return np.array(
                [np.nanstd(r) if np.any(np.isfinite(r)) else np.nan for r in self.final_returns]
            )

    @property
    def best(self) -> int:
        """Index of the setting with the highest mean final return."""
        mean = self.mean
        if not np.any(np.isfinite(mean)):
            raise ValueError("no setting finished an episode in the final window")
        return int(np.nanargmax(mean))

    @property
    def best_setting(self) -> dict[str, Any]:
        return self.settings[self.best]

    @property
    def env_steps(self) -> np.ndarray:
        """``int64[num_updates]``, environment steps at the end of each update."""
        return np.asarray(self.metrics["env_steps"][0, 0]).astype(np.int64)

    def table(self) -> str:
        """A text table: one row per setting, the best one marked with ``*``."""
        fields = list(self.grid)
        steps = int(self.env_steps[-1])
        head = (
            f"{self.algo} on {self.env_name}: {len(self.settings)} settings x {self.num_seeds} "
            f"seeds, {steps:,} steps each; final return = mean over episodes ending in the "
            f"last {self.final_window} updates"
        )
        cols = ["", *fields, "mean", "std", "min", "max"]
        rows = []
        best = self.best
        for i, setting in enumerate(self.settings):
            r = self.final_returns[i]
            finite = r[np.isfinite(r)]
            lo = f"{finite.min():.1f}" if finite.size else "nan"
            hi = f"{finite.max():.1f}" if finite.size else "nan"
            rows.append([
                "*" if i == best else "",
                *(f"{setting[f]:g}" for f in fields),
                f"{self.mean[i]:.1f}", f"{self.std[i]:.1f}", lo, hi,
            ])
        widths = [max(len(c), *(len(row[j]) for row in rows)) for j, c in enumerate(cols)]
        fmt = lambda row: "  ".join(s.rjust(w) for s, w in zip(row, widths)).rstrip()  # noqa: E731
        lines = [head, fmt(cols), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
        lines.append(
            "* best: " + ", ".join(f"{f}={self.settings[best][f]:g}" for f in fields)
            + f" ({self.mean[best]:.1f} +- {self.std[best]:.1f})"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def save(self, out_dir: Any, extra: Mapping[str, Any] | None = None) -> None:
        """Write ``sweep.png``, ``sweep.csv`` (one row per setting and seed) and ``sweep.json``."""
        from pathlib import Path

        from jaxrl.output import files
        from jaxrl.runs.rundir import write_json

        out = Path(out_dir)
        self.plot(str(out / "sweep.png"))
        fields = list(self.grid)
        lines = [",".join([*fields, "seed", "final_return"])]
        for i, setting in enumerate(self.settings):
            for s in range(self.num_seeds):
                lines.append(",".join([*(repr(setting[k]) for k in fields), str(s),
                                       repr(float(self.final_returns[i, s]))]))
        files.write_bytes(out / "sweep.csv", ("\n".join(lines) + "\n").encode())  # never via a link
        write_json(out / "sweep.json", {
            "algorithm": self.algo, "env": self.env_name, **(extra or {}), "grid": self.grid,
            "final_window": self.final_window, "best": self.best_setting,
            "compile_seconds": self.compile_seconds, "run_seconds": self.run_seconds,
        })

    def plot(self, path: str | None = None):
        """Final returns (heatmap for a 2-D grid, bars otherwise) beside learning curves.

        Returns the matplotlib ``Figure``; saves it to ``path`` when given.
        """
        from jaxrl.output import plotting

        return plotting.sweep_plot(
            self.grid, self.final_returns, self.metrics, window=self.final_window,
            title=f"{self.algo} on {self.env_name}: {len(self.settings)} settings x "
                  f"{self.num_seeds} seeds in one program", path=path)


def _nanmean(x: np.ndarray) -> float:
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else float("nan")


# --------------------------------------------------------------------------------- sweep
def sweep(
    algo: str | ModuleType,
    env: str | tuple[Any, Any],
    base_config: Any = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: int = 8,
    key: jax.Array | int = 0,
    final_window: int | None = None,
    max_settings: int | None = MAX_SETTINGS,
) -> SweepResult:
    """Train every grid setting for ``seeds`` seeds in one compiled program.

    Args:
        algo: an algorithm: a name (``"ppo"``, ``"pkg.mod:RECORD"``), its
            ``jaxrl.algos.Algorithm`` record, or a module with ``Config`` and ``make``.
        env: a registered environment name, or ``(env, env_params)``.
        base_config: the algorithm's ``Config`` the grid modifies (default ``Config()``).
        grid: ``{field: [values]}``; the settings are the cartesian product, in
            ``itertools.product`` order (the last field varies fastest). A nested
            config's field is named ``"group.field"`` (``"curiosity.beta"``); an old
            name (``jaxrl.runs.overrides.ALIASES``) stands for today's.
        seeds: runs per setting; every setting uses the same ``seeds`` keys.
        key: a PRNG key or an integer seed. Seed ``i`` uses ``fold_in(key, i)``, the
            same keys ``jaxrl.train`` gives its seeds, so a setting of the sweep with
            seed 0 reproduces ``jaxrl.train(..., seed=0)``'s runs.
        final_window: updates pooled for the final return (default
            ``jaxrl.core.metrics.final_window``: the last 5 %, as ``jaxrl train`` reports).
        max_settings: refuse a grid of more settings than this (``MAX_SETTINGS``;
            None: no limit), checked from the lists' lengths before anything is expanded.

    Returns:
        ``SweepResult``.

    Raises:
        ValueError: unknown algorithm or env, unknown, static or repeated grid field
            (closest matches given), a value the config rejects, a grid over
            ``max_settings``; all before compiling.
        KeyboardInterrupt: Ctrl-C while compiling or running (the wait polls, so it
            is seen at once; the compiled call itself cannot be cut short and is
            left to finish in the background).
    """
    from jaxrl import algos

    if isinstance(algo, str):
        record = algos.get(algo)
        algo_name = algo
    elif isinstance(algo, algos.Algorithm):
        record, algo_name = algo, algo.name
    elif isinstance(algo, ModuleType):
        for attr in ("Config", "make"):
            if not hasattr(algo, attr):
                raise TypeError(f"algorithm module {algo.__name__} has no {attr}")
        algo_name = algo.__name__.rsplit(".", 1)[-1]
        record = algos.Algorithm(name=algo_name, config=algo.Config, make=algo.make)
    else:
        raise TypeError(f"algo must be a name, an Algorithm or a module, got "
                        f"{type(algo).__name__}")
    what = public_name(record.config)

    if isinstance(env, str):
        from jaxrl import envs as envs_pkg

        env_name = env
        env, env_params = envs_pkg.make(env)
    else:
        try:
            env, env_params = env
        except (TypeError, ValueError):
            raise TypeError("env must be a registered name or an (env, params) pair") from None
        env_name = getattr(env, "name", type(env).__name__)
    if env_params is None:
        env_params = env.default_params

    base = record.config() if base_config is None else base_config
    if not isinstance(base, record.config):
        raise TypeError(f"base_config must be a {what}, got {type(base).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    grid = _check_grid(base, grid if grid is not None else {})
    check_size(grid_size(grid), int(seeds), max_settings)
    fields = list(grid)
    settings = [dict(zip(fields, combo)) for combo in itertools.product(*grid.values())]

    # Every setting, concretely, before tracing anything.
    for setting in settings:
        try:
            replace_paths(base, setting).validate()
        except ValueError as err:
            raise ValueError(f"setting {setting}: {err}") from None
    agent0 = record.make(replace_paths(base, settings[0]), env, env_params)
    num_updates = int(agent0.num_updates)
    if final_window is None:
        final_window = default_final_window(num_updates)
    if not 1 <= final_window <= num_updates:
        raise ValueError(f"final_window must lie in [1, {num_updates}], got {final_window!r}")

    if isinstance(key, numbers.Integral):
        key = jax.random.key(int(key))
    seed_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(int(seeds)))
    paths = field_paths(base)
    batched = {
        f: jnp.asarray([s[f] for s in settings], _leaf_dtype(paths[f][0])) for f in fields
    }

    def one_run(values: dict[str, jax.Array], k: jax.Array) -> dict[str, jax.Array]:
        agent = record.make(replace_paths(base, values), env, env_params)
        _, metrics = agent.train(k)
        return metrics

    # Settings (outer axis) are split over the local devices when there are several.
    program = over_seeds(jax.vmap(one_run, in_axes=(None, 0)), in_axes=(0, None))
    start = time.perf_counter()
    try:
        # Traced here (thread-local JAX settings apply), compiled while this thread waits
        # in Python, so Ctrl-C is seen. Over every process's devices too.
        compiled = _interruptible(program.lower(batched, seed_keys).compile)
    except (
        jax.errors.ConcretizationTypeError,
        jax.errors.TracerBoolConversionError,
        jax.errors.TracerArrayConversionError,
        jax.errors.TracerIntegerConversionError,
    ) as err:
        raise ValueError(
            f"{algo_name}'s make needs concrete values for some of {fields} (its "
            f"validate or make branches on them in Python), so they cannot be swept in one "
            f"program: {type(err).__name__}"
        ) from err
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    args = program._global_args((batched, seed_keys))  # several processes: global arrays
    metrics = _interruptible(lambda: jax.block_until_ready(compiled(*args)))
    run_seconds = time.perf_counter() - start

    metrics = {k: np.asarray(v) for k, v in to_host(metrics).items()}
    finals = final_returns(metrics["episode_return"], metrics["episodes"], final_window)
    return SweepResult(
        algo=algo_name,
        env_name=env_name,
        grid=grid,
        settings=settings,
        final_returns=finals,
        metrics=metrics,
        final_window=int(final_window),
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
    )


def _interruptible(fn: Callable[[], Any], poll: float = 0.1) -> Any:
    """``fn()`` run in a worker thread while this thread waits in short Python steps.

    A compile or a compiled call blocks in C++, where Python sees no signal until it
    returns (a large sweep ignored Ctrl-C for minutes). Waiting here instead, the first
    Ctrl-C raises ``KeyboardInterrupt`` at once; the work itself cannot be cut short and
    finishes (unused) in the background thread, which does not keep the process alive.
    """
    import threading

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = e

    worker = threading.Thread(target=work, name="jaxrl-sweep", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(poll)
    if "error" in box:
        raise box["error"]
    return box["value"]
