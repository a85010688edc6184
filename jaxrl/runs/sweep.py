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

Every kept setting is a run (``keep``: all settings, the best ``K`` by the table's
ranking, or none): its final training state stays with the result, and
``SweepResult.save`` writes it as the run directory ``jaxrl train`` writes
(``SWEEP/runs/<field=value,...>/``), which ``jaxrl eval``, ``play``, ``export``,
``compare``, ``jaxrl.load`` and ``jaxrl train --resume`` take as they are. A setting's
run uses the seed keys ``jaxrl train --set FIELD=VALUE --seeds N --seed S`` gives its
seeds; its numbers agree with that run's up to float rounding (the two are different
compiled programs, with the swept values traced rather than constant).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.core.config import closest, field_paths, public_name, replace_paths
from jaxrl.core.metrics import final_returns
from jaxrl.core.metrics import final_window as default_final_window
from jaxrl.parallel.devices import over_seeds, to_host

__all__ = [
    "KEEP_AUTO_BYTES", "MAX_SETTINGS", "RUNS_DIR", "SweepResult", "grid_size", "parse_keep",
    "run_name", "sweep", "sweepable_fields",
]

#: The most settings one sweep may have (``sweep(max_settings=...)``, ``jaxrl sweep
#: --max-settings``): every setting is one copy of the whole training run in one program.
MAX_SETTINGS = 1024

#: The folder of a sweep's directory that holds its kept settings' runs.
RUNS_DIR = "runs"

#: ``keep=None`` keeps every setting when their checkpoints take at most this many bytes
#: together, else the best settings that fit in it (at least one).
KEEP_AUTO_BYTES = 2 * 10**9


def parse_keep(keep: str | None) -> tuple[str, int]:
    """``keep`` as ``(mode, K)``: ``"all"``, ``"none"``, ``"best:K"`` (``K >= 1``), or
    None (``"auto"``: every setting when their runs are small, see ``KEEP_AUTO_BYTES``).

    Raises:
        ValueError: anything else (one line naming the forms).
    """
    if keep is None:
        return "auto", 0
    text = keep.strip().lower() if isinstance(keep, str) else None
    if text in ("all", "none"):
        return text, 0
    m = re.fullmatch(r"best:(\d{1,9})", text or "")
    if m and int(m.group(1)) >= 1:
        return "best", int(m.group(1))
    raise ValueError(f"keep takes all, none or best:K (K >= 1, the K best settings by the "
                     f"table), got {keep!r}")


def run_name(setting: Mapping[str, Any], index: int = 0) -> str:
    """The folder name of a setting's run: ``"lr=0.001,clip_eps=0.2"`` (each value as
    Python writes it, so distinct values never share a name); ``"setting-<index>"``
    when that would be over 200 characters or hold a character unsafe in a file name."""
    name = ",".join(f"{k}={v!r}" for k, v in setting.items())
    if len(name) > 200 or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.=,+-]*", name):
        return f"setting-{index}"
    return name


def _label(setting: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in setting.items())


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
    leaves: list[str] = []
    static: list[str] = []
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
                if int(v) != v:  # type: ignore[call-overload]
                    raise ValueError(f"grid[{name!r}] must hold integers, got {v!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"grid[{name!r}] repeats a value: {list(values)!r}")
        if isinstance(default, numbers.Integral) and not isinstance(default, bool):
            values = [int(v) for v in values]  # type: ignore[call-overload]
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
        kept: the settings kept as runs (indices into ``settings``, ascending); ``run(i)``
            and ``save`` give them.
        states: the kept settings' final training states, every leaf
            ``[len(kept), seeds, ...]`` (None when none is kept).
        spec: the ``RunSpec`` of the base config; each kept run's is this one with its
            setting's config (None when none is kept).
        base_config, env, env_params: what each run is built from.
        keep_note: one line when fewer settings were kept than asked (``keep=None`` with
            runs too large together), else ``""``.
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
    kept: tuple[int, ...] = ()
    states: Any = dataclasses.field(default=None, repr=False)
    spec: Any = dataclasses.field(default=None, repr=False)
    base_config: Any = dataclasses.field(default=None, repr=False)
    env: Any = dataclasses.field(default=None, repr=False)
    env_params: Any = dataclasses.field(default=None, repr=False)
    keep_note: str = ""
    _saved: dict[int, Path] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    _bad: dict[int, tuple[int, ...]] = dataclasses.field(default_factory=dict, repr=False,
                                                         compare=False)

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
    def ranking(self) -> list[int]:
        """Every setting's index, best first: by mean final return (the order ``best``
        and the table use; ties by grid order), settings without one last."""
        return _ranking(self.final_returns)

    @property
    def run_names(self) -> list[str]:
        """The folder name of every setting's run under ``runs/`` (``run_name``)."""
        return [run_name(s, i) for i, s in enumerate(self.settings)]

    def run(self, index: int) -> Any:
        """Setting ``index``'s run as a ``jaxrl.runs.result.Result`` (the one ``jaxrl.load``
        gives for its run directory once ``save`` wrote it; ``run_dir`` is set then).

        Its seeds whose final parameters (or a loss) are non-finite are masked
        (``on_nonfinite="mask"``, ``bad_seeds``), as ``jaxrl train --on-nonfinite mask``
        would have them.

        Raises:
            ValueError: the setting was not kept (``keep``).
        """
        from jaxrl.core.metrics import flat_metrics
        from jaxrl.runs.build import _make_agent
        from jaxrl.runs.overrides import config_to_dict, get_algorithm
        from jaxrl.runs.result import Result

        if not isinstance(index, numbers.Integral) or not 0 <= index < len(self.settings):
            raise ValueError(f"setting index {index!r} is out of range: the sweep has "
                             f"{len(self.settings)} settings")
        if index not in self.kept:
            raise ValueError(f"setting {index} ({_label(self.settings[index])}) was not kept as "
                             f"a run; sweep with keep='all' (--keep all) or best:K")
        j = self.kept.index(index)
        state = jax.tree.map(lambda x: x[j], self.states)
        config = replace_paths(self.base_config, self.settings[index])
        spec = dataclasses.replace(self.spec, config=config_to_dict(config))
        agent = _make_agent(get_algorithm(spec.algorithm), spec.algorithm, config, self.env,
                            self.env_params)
        metrics = flat_metrics({k: v[index] for k, v in self.metrics.items()})
        result = Result(spec=spec, config=config, agent=agent, state=state, metrics=metrics,
                        compile_seconds=self.compile_seconds,
                        run_seconds=self.run_seconds / len(self.settings),
                        run_dir=self._saved.get(index), env=self.env, env_params=self.env_params)
        if index not in self._bad:
            bad = set(range(spec.seeds)) - set(result.acting_seeds)
            for name, values in metrics.items():
                if "loss" in name and np.issubdtype(np.asarray(values).dtype, np.floating):
                    bad |= {int(s) for s in np.nonzero(np.isinf(values).any(axis=1))[0]}
            self._bad[index] = tuple(sorted(bad))
        if self._bad[index]:
            result.bad_seeds = self._bad[index]
            result.spec = dataclasses.replace(spec, on_nonfinite="mask")
        return result

    @property
    def masked(self) -> dict[int, tuple[int, ...]]:
        """``{setting: seeds}`` of the kept settings with seeds whose final parameters (or a
        loss) are non-finite: their runs mask them (``run``)."""
        for i in self.kept:
            if i not in self._bad:
                self.run(i)
        return {i: self._bad[i] for i in self.kept if self._bad[i]}

    @property
    def best_run(self) -> Any:
        """The best setting's run (``run(best)``)."""
        return self.run(self.best)

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

    def save(self, out_dir: str | os.PathLike, extra: Mapping[str, Any] | None = None,
             overwrite: bool = False) -> list[Path]:
        """Write the kept settings' runs (``runs/<name>/``, each the run directory ``jaxrl
        train`` writes), then ``sweep.png``, ``sweep.csv`` (one row per setting and seed)
        and ``sweep.json`` (with ``"runs"``: label, setting and
        folder of each run, relative to ``out_dir``).

        A run's folder that exists is replaced only with ``overwrite``, as ``jaxrl train
        --overwrite`` replaces a run (files jaxrl did not write stay); a new one is
        written aside and renamed into place whole, so a run folder is never half written.
        Returns the runs' folders (in ``kept`` order).

        Raises:
            RunError: a run folder in the way (without ``overwrite``), a file jaxrl did
                not write where a run's file goes, or too little disk; before writing.
        """
        from jaxrl.output import files
        from jaxrl.runs.rundir import write_json

        out = Path(out_dir)
        names = self.run_names
        kept_names = [names[i] for i in self.kept]
        if self.kept:
            _check_targets(out, kept_names, overwrite)
            _check_disk(out, len(self.kept) * _run_bytes(self.states, self.metrics,
                                                         len(self.kept)))
        dirs = []
        for i in self.kept:
            dirs.append(_write_run(out / RUNS_DIR, names[i], self.run(i), overwrite))
            self._saved[i] = dirs[-1]
        self.plot(str(out / "sweep.png"))
        fields = list(self.grid)
        lines = [",".join([*fields, "seed", "final_return"])]
        for i, setting in enumerate(self.settings):
            for s in range(self.num_seeds):
                lines.append(",".join([*(repr(setting[k]) for k in fields), str(s),
                                       repr(float(self.final_returns[i, s]))]))
        files.write_bytes(out / "sweep.csv", ("\n".join(lines) + "\n").encode())  # never via a link
        runs = [{"label": _label(self.settings[i]), "setting": self.settings[i],
                 "dir": f"{RUNS_DIR}/{names[i]}"} for i in self.kept]
        best = self.best
        write_json(out / "sweep.json", {
            "algorithm": self.algo, "env": self.env_name, **(extra or {}), "grid": self.grid,
            "final_window": self.final_window, "best": self.best_setting,
            "best_run": f"{RUNS_DIR}/{names[best]}" if best in self.kept else None,
            "runs": runs,
            "compile_seconds": self.compile_seconds, "run_seconds": self.run_seconds,
        })
        return dirs

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


def _ranking(final_returns: np.ndarray) -> list[int]:
    """Setting indices best first by mean final return (NaN-runs ignored), as
    ``SweepResult.best`` picks (``nanargmax``: the first of equals); none last."""
    with np.errstate(all="ignore"):
        mean = [_nanmean(r) for r in np.asarray(final_returns)]
    return sorted(range(len(mean)), key=lambda i: (not math.isfinite(mean[i]),
                                                   -mean[i] if math.isfinite(mean[i]) else 0.0, i))


# --------------------------------------------------------------------------------- runs
def _run_bytes(state: Any, metrics: Mapping[str, Any], settings: int) -> int:
    """About the bytes one setting's run takes on disk: its state (the checkpoint) and
    its ``metrics.csv`` (``state``: one or ``settings`` settings' states or their shapes)."""
    from jaxrl.runs import memory

    cells = sum(int(np.prod(np.shape(v)[1:])) for v in metrics.values())  # seeds x updates x ...
    return memory.tree_bytes(state) // max(settings, 1) + 16 * cells


def _free_disk(path: Path) -> int | None:
    import shutil

    for p in [path, *path.absolute().parents]:
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def _check_disk(out: Path, need: int) -> None:
    from jaxrl.errors import RunError
    from jaxrl.runs.rundir import nice_bytes

    free = _free_disk(out)
    if free is not None and need > free:
        raise RunError(f"the sweep's runs need about {nice_bytes(need)} of disk in {out}, more "
                       f"than the {nice_bytes(free)} free; keep fewer (--keep best:K, "
                       f"keep='best:K') or none")


def _check_targets(out: Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse (``RunError``, one line) a ``runs`` folder that is not a folder, a run's
    folder in the way without ``overwrite``, or one holding a file named like a run's
    that jaxrl did not write (never replaced)."""
    from jaxrl.errors import RunError
    from jaxrl.output import files
    from jaxrl.runs.rundir import RUN_FILES, TB_DIR, _is_jaxrl_file

    runs = out / RUNS_DIR
    if runs.is_symlink() or (runs.exists() and not runs.is_dir()):
        raise RunError(f"{runs} is {files.kind(runs)}, not a folder of runs; jaxrl writes the "
                       f"sweep's runs there: move it away or choose another --out")
    if not runs.is_dir():
        return
    for name in names:
        d = runs / name
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            raise RunError(f"{d} is {files.kind(d)}, not a run's folder; move it away or choose "
                           f"another --out")
        if not d.is_dir():
            continue
        foreign = [n for n in RUN_FILES if (d / n).exists() or (d / n).is_symlink()]
        foreign = [n for n in foreign if not _is_jaxrl_file(d / n)]
        if foreign:
            raise RunError(f"{d} holds {', '.join(foreign)} that jaxrl did not write; choose "
                           f"another --out (jaxrl never replaces a file it did not write)")
        if not overwrite and any((d / n).exists() for n in (*RUN_FILES, TB_DIR)):
            raise RunError(f"{d} already holds a run; pass --overwrite (overwrite=True) to "
                           f"replace the sweep's runs, or choose another --out")


def _write_run(runs: Path, name: str, result: Any, overwrite: bool) -> Path:
    """``result`` as the run directory ``runs/name`` (``jaxrl.runs.rundir.RunDir``, as the
    driver writes one), its checkpoint last: the run is complete once it is there.

    A new folder is written as ``runs/.jaxrl-tmp.<name>`` and renamed into place whole
    (removed if anything fails); an existing one (``overwrite``) is replaced through
    the run directory's own staging, keeping files jaxrl did not write."""
    import shutil

    from jaxrl.core import metrics as M
    from jaxrl.output import files
    from jaxrl.parallel import processes as distributed
    from jaxrl.runs.rundir import CURVE_FILE, RunDir

    target = runs / name
    runs.mkdir(parents=True, exist_ok=True)
    columns = M.metric_columns(result.metrics)

    def write(path: Path, replace: bool) -> None:
        with RunDir.create(path, overwrite=replace) as rd:
            rd.write_config(result.spec)
            rd.open_logs(columns, result.spec, None)
            rd.append(1, {k: result.metrics[k] for k in columns})
            result.plot(rd.write_path / CURVE_FILE)
            rd.write_summary(result.summary_json(), result.complete)
            rd.save_checkpoint(result.spec, result.state, result.updates_done,
                               [int(s) for s in result.steps_per_seed],
                               processes=distributed.process_count())

    if target.is_dir():
        write(target, overwrite)
        return target
    temp = runs / f"{files.TEMP_PREFIX}{name}"
    if temp.is_symlink() or temp.is_file():  # left by a killed sweep (jaxrl's temp name)
        temp.unlink()
    elif temp.is_dir():
        shutil.rmtree(temp)
    try:
        write(temp, False)
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return target


# --------------------------------------------------------------------------------- sweep
def sweep(
    algo: str | ModuleType,
    env: str | tuple[Any, Any] | None,
    base_config: Any = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: int = 8,
    key: jax.Array | int = 0,
    final_window: int | None = None,
    max_settings: int | None = MAX_SETTINGS,
    *,
    keep: str | None = None,
    env_options: Mapping[str, Any] | None = None,
    preset: str | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Train every grid setting for ``seeds`` seeds in one compiled program.

    Args:
        algo: an algorithm: a name (``"ppo"``, ``"pkg.mod:RECORD"``), its
            ``jaxrl.algos.Algorithm`` record, or a module with ``Config`` and ``make``.
        env: a registered environment name (or ``"package.module:Class"``), or
            ``(env, env_params)``; None: the preset's, else the algorithm's default.
        base_config: the algorithm's ``Config`` the grid modifies (default: the preset's,
            else ``Config()``).
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
        keep: the settings kept as runs (their final states; ``SweepResult.run``,
            ``save``): ``"all"``, ``"best:K"`` (the K best by the table's ranking),
            ``"none"``, or None: every setting when their checkpoints take at most
            ``KEEP_AUTO_BYTES`` together (else the best that fit), none when runs cannot
            be written (an ``(env, env_params)`` pair, a key that is not an integer seed,
            an algorithm given as a module).
        env_options: keyword options for the environment named by ``env``.
        preset: the preset the sweep starts from (its config when ``base_config`` is
            None, its environment, options and observation noise).
        out_dir, overwrite: where ``save`` will write (and whether it may replace runs
            there): checked before compiling, with the disk the kept runs need.

    Returns:
        ``SweepResult``.

    Raises:
        ValueError: unknown algorithm or env, unknown, static or repeated grid field
            (closest matches given), a value the config rejects, a grid over
            ``max_settings``, a bad ``keep``, runs that cannot be kept or written;
            all before compiling.
        KeyboardInterrupt: Ctrl-C while compiling or running (the wait polls, so it
            is seen at once; the compiled call itself cannot be cut short and is
            left to finish in the background).
    """
    from jaxrl import algos
    from jaxrl.runs import memory
    from jaxrl.runs import overrides as O

    mode, best_k = parse_keep(keep)
    cannot_keep = ""  # why runs cannot be written (their config.json must name everything)
    if isinstance(algo, str):
        record = algos.get(algo)
        algo_name = algo
    elif isinstance(algo, algos.Algorithm):
        record, algo_name = algo, algo.name
        if _registered(algo.name) is not algo:
            cannot_keep = f"algorithm {algo.name!r} is not registered under its name"
    elif isinstance(algo, ModuleType):
        for attr in ("Config", "make"):
            if not hasattr(algo, attr):
                raise TypeError(f"algorithm module {algo.__name__} has no {attr}")
        algo_name = algo.__name__.rsplit(".", 1)[-1]
        record = algos.Algorithm(name=algo_name, config=algo.Config, make=algo.make)
        cannot_keep = "the algorithm is given as a module; give its name"
    else:
        raise TypeError(f"algo must be a name, an Algorithm or a module, got "
                        f"{type(algo).__name__}")
    what = public_name(record.config)

    options = dict(env_options or {})
    noise = 0.0
    if preset is not None:
        p = O.preset(algo_name, preset)
        if p.env is not None and isinstance(env, str) and env != p.env:
            raise ValueError(f"preset {preset!r} of {algo_name} is made for {p.env}, not {env}")
        base_config = p.config if base_config is None else base_config
        env = p.env if env is None else env
        options, noise = {**p.env_options, **options}, p.obs_noise
    if env is None:
        env = O.default_env(algo_name)
    env_params: Any
    if isinstance(env, str):
        from jaxrl.runs.build import make_env

        env_name = env
        env, env_params = make_env(env_name, options, noise)
    else:
        try:
            env, env_params = env  # type: ignore[misc]
        except (TypeError, ValueError):
            raise TypeError("env must be a registered name or an (env, params) pair") from None
        if options or noise:
            raise ValueError("env_options and a preset's environment apply to an environment "
                             "given by name")
        env_name = getattr(env, "name", type(env).__name__)
        cannot_keep = cannot_keep or "the environment is given as an (env, params) pair; give its name"
    if env_params is None:
        env_params = env.default_params  # type: ignore[union-attr]
    from jaxrl.runs.rundir import MAX_COUNT

    if not (isinstance(key, numbers.Integral) and not isinstance(key, bool)
            and 0 <= key <= MAX_COUNT):
        cannot_keep = cannot_keep or "the key is not an integer seed (key=S, as jaxrl train --seed S)"
    if mode in ("all", "best") and cannot_keep:
        raise ValueError(f"keep={keep!r}: runs cannot be kept: {cannot_keep}")

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

    seed = int(key) if not cannot_keep else None
    if isinstance(key, numbers.Integral):
        key = jax.random.key(int(key))
    seed_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(int(seeds)))
    paths = field_paths(base)
    batched = {
        f: jnp.asarray([s[f] for s in settings], _leaf_dtype(paths[f][0])) for f in fields
    }

    # The final states of every setting x seed are held at once (the program's carry):
    # refused here when they cannot fit, before compiling.
    template = jax.eval_shape(jax.vmap(agent0.init), seed_keys)
    state_bytes = memory.tree_bytes(template)
    devices = jax.local_devices()
    share = 1 if devices[0].platform == "cpu" else len(devices)
    if jax.process_count() == 1:  # (processes with different free memory must not decide apart)
        memory.check_fits(len(settings) * state_bytes // share,
                          f"the training states of {len(settings)} settings x {seeds} seeds",
                          "sweep fewer values or seeds, or smaller buffers (num_envs, buffer "
                          "size)")
    per_run = state_bytes + 16 * int(seeds) * num_updates * 8  # checkpoint + metrics.csv
    count, keep_note = _keep_count(mode, best_k, len(settings), per_run, cannot_keep)

    def check_out() -> tuple[int, str]:
        """The runs' folders and disk, where they will be saved (process 0's decision)."""
        if out_dir is None or not count:
            return count, keep_note
        _check_targets(Path(out_dir), [run_name(s, i) for i, s in enumerate(settings)],
                       overwrite)
        return _fit_disk(count, keep_note, mode, len(settings), per_run, Path(out_dir))

    import json

    from jaxrl.parallel import processes as distributed

    # Several processes: all take process 0's count, and its refusal (no one is left
    # waiting in the program for a process that quit).
    count, keep_note = distributed.from_writer(
        check_out, encode=lambda v: json.dumps(v).encode(),
        decode=lambda b: tuple(json.loads(b.decode())))
    spec = None
    if count:
        spec = _base_spec(algo_name, env_name, options, noise, int(seeds), seed, base,
                          num_updates, env, env_params)

    def one_run(values: dict[str, jax.Array], k: jax.Array) -> Any:
        agent = record.make(replace_paths(base, values), env, env_params)
        return agent.train(k)

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
    states, metrics = _interruptible(lambda: jax.block_until_ready(compiled(*args)))
    run_seconds = time.perf_counter() - start

    metrics = {k: np.asarray(v) for k, v in to_host(metrics).items()}
    finals = final_returns(metrics["episode_return"], metrics["episodes"], final_window)
    kept = tuple(sorted(_ranking(finals)[:count]))
    if not kept:
        states = None
    else:
        from jaxrl.parallel import processes as distributed

        if distributed.is_multiprocess():  # every process gathers (a collective)
            states = to_host(states)
        if len(kept) < len(settings):
            index = np.asarray(kept)
            states = jax.tree.map(lambda x: x[index], states)
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
        kept=kept,
        states=states,
        spec=spec,
        base_config=base,
        env=env,
        env_params=env_params,
        keep_note=keep_note,
    )


def _registered(name: str) -> Any:
    from jaxrl import algos

    try:
        return algos.get(name)
    except (ValueError, KeyError):
        return None


def _keep_count(mode: str, best_k: int, settings: int, per_run: int,
                cannot_keep: str) -> tuple[int, str]:
    """How many settings to keep as runs, and a line when ``keep=None`` keeps fewer
    than all (their runs too large together)."""
    from jaxrl.runs.rundir import nice_bytes

    if mode == "none" or (mode == "auto" and cannot_keep):
        return 0, ""
    if mode == "all":
        return settings, ""
    if mode == "best":
        return min(best_k, settings), ""
    if settings * per_run <= KEEP_AUTO_BYTES:
        return settings, ""
    count = max(1, KEEP_AUTO_BYTES // max(per_run, 1))
    return count, (f"keeping the best {count} of {settings} settings as runs (all would take "
                   f"about {nice_bytes(settings * per_run)} of disk); --keep all "
                   f"(keep='all') keeps every one")


def _fit_disk(count: int, note: str, mode: str, settings: int, per_run: int,
              out: Path) -> tuple[int, str]:
    """``count`` runs when the disk at ``out`` holds them; else fewer (``keep=None``), or
    refused (an asked-for count)."""
    from jaxrl.errors import RunError
    from jaxrl.runs.rundir import nice_bytes

    free = _free_disk(out)
    if free is None or count * per_run <= free:
        return count, note
    if mode != "auto":
        raise RunError(f"keeping {count} setting(s) as runs needs about "
                       f"{nice_bytes(count * per_run)} of disk ({nice_bytes(per_run)} each), "
                       f"more than the {nice_bytes(free)} free in {out}; keep fewer "
                       f"(--keep best:K) or none (--keep none)")
    fit = min(count, free // max(per_run, 1))
    if not fit:
        return 0, f"keeping no run: the disk in {out} has no room for one ({nice_bytes(per_run)})"
    return fit, (f"keeping the best {fit} of {settings} settings as runs: the disk in {out} "
                 f"has room for no more ({nice_bytes(per_run)} each)")


def _base_spec(algo: str, env_name: str, options: dict[str, Any], noise: float, seeds: int,
               seed: Any, base: Any, num_updates: int, env: Any, env_params: Any) -> Any:
    """The ``RunSpec`` ``jaxrl train`` would write for the base config (a run's own is
    this one with its setting's config): chunking and checkpoints by train's defaults."""
    from jaxrl.parallel import devices as parallel_devices
    from jaxrl.runs.driver import default_checkpoint_every, default_chunk
    from jaxrl.runs.overrides import config_to_dict
    from jaxrl.runs.run import _fingerprint
    from jaxrl.runs.rundir import RunSpec

    return RunSpec(
        algorithm=algo, env=env_name, env_options=options, seeds=seeds, seed=seed,
        config=config_to_dict(base), num_updates=num_updates,
        chunk_updates=min(default_chunk(num_updates), num_updates),
        checkpoint_every=default_checkpoint_every(num_updates), on_nonfinite="stop",
        obs_noise=float(noise), env_fingerprint=_fingerprint(env_name, env, env_params),
        layout=parallel_devices.layout(seeds, "seeds"),
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
