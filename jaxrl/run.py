"""Training runs: resolve a config, train many seeds in compiled chunks, keep the results.

The public entry point is ``train``::

    import jaxrl
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=16)
    result.final_return          # float64[16], one per seed
    result.metrics["episode_return"]   # float32[16, num_updates]
    result.plot("curve.png"); result.save("runs/ppo-cartpole")

How a run executes. ``jax.vmap`` over seeds of ``Agent.init`` gives a batched
training state (with several devices, e.g. after ``jaxrl.parallel.use_cpu_cores()``,
the seeds are split over them: ``jaxrl.parallel.over_seeds``). Then one compiled function, ``chunk(state, n)``, runs up to
``chunk_updates`` updates of every seed: a ``lax.scan`` of fixed length whose body
runs ``Agent.update`` while the iteration index is below the traced ``n`` (the
rest are skipped by ``lax.cond``). So any number of updates up to the chunk
length costs one compilation, every update executes the same compiled code
whatever the chunk boundaries, and a run stopped and resumed at any update ends
bit-identical to an uninterrupted one. Between chunks the host writes metrics,
draws progress and saves checkpoints while the next chunk already runs (JAX
dispatch is asynchronous), so logging costs almost no training speed.

A run directory (``out_dir``) holds

* ``config.json``: algorithm, environment and its options, seeds, the resolved
  algorithm config, chunking and checkpoint settings;
* ``metrics.csv``: columns ``update, seed, <metric>...``, one row per update and seed;
* ``learning_curve.png``: mean and spread over seeds of the return, x in env steps;
* ``checkpoint.msgpack``: the latest full training state (see ``jaxrl.checkpoint``);
* ``tensorboard/events.out.tfevents.*``: the seed-mean of every metric per update;
* ``summary.json``: final return per seed, wall times, throughput (at the end).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from jaxrl import checkpoint as ckpt
from jaxrl.parallel import over_seeds
from jaxrl.logging import (
    EventWriter, MetricsCSV, Progress, duration, human, read_metrics_csv, table,
)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CURVE_FILE = "learning_curve.png"
SUMMARY_FILE = "summary.json"
TB_DIR = "tensorboard"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, CURVE_FILE, SUMMARY_FILE, ckpt.FILENAME, TB_DIR)

# Config fields the --num-envs / --total-steps shortcuts may mean, in order of preference.
NUM_ENVS_FIELDS = ("num_envs",)
TOTAL_STEPS_FIELDS = ("total_timesteps", "total_steps", "total_env_steps", "num_env_steps")

# Share of the run (in updates, at the end) whose episodes make the "final return";
# the same as jaxrl.sweep's default (num_updates // 20), so train and sweep agree.
FINAL_WINDOW = 0.05


class RunError(ValueError):
    """A mistake in what the user asked for (bad name, value, path); the message says what."""


# ------------------------------------------------------------------------------ config
def algorithm_module(name: str) -> types.ModuleType:
    """The module of algorithm ``name``; unknown names raise ``RunError`` naming close ones."""
    from jaxrl import algos

    try:
        return algos.get(name)
    except ValueError as e:
        raise RunError(str(e)) from None


def config_fields(module: types.ModuleType) -> dict[str, dataclasses.Field]:
    """The fields of ``module.Config`` by name."""
    return {f.name: f for f in dataclasses.fields(module.Config)}


def config_defaults(module: types.ModuleType) -> dict[str, Any]:
    """Every field of ``module.Config`` with its default value."""
    default = module.Config()
    return {name: getattr(default, name) for name in config_fields(module)}


def _closest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _to_bool(text: str, field: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise RunError(f"config field {field!r} takes true or false, got {text!r}")


def _to_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RunError(f"config field {field!r} takes an integer, got {value!r}")
    original = value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)  # "1e6"
            except ValueError:
                raise RunError(f"config field {field!r} takes an integer, got {value!r}") from None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise RunError(f"config field {field!r} takes an integer, got {original!r}")


def _to_float(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise RunError(f"config field {field!r} takes a number, got {value!r}")
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise RunError(f"config field {field!r} takes a number, got {value!r}") from None


def coerce(field: str, value: Any, default: Any) -> Any:
    """``value`` (a string from the command line, or a TOML/JSON value) as the type of ``default``.

    Raises:
        RunError: when the value cannot be read as that type.
    """
    if isinstance(default, bool):
        if isinstance(value, str):
            return _to_bool(value, field)
        if isinstance(value, bool):
            return value
        raise RunError(f"config field {field!r} takes true or false, got {value!r}")
    if isinstance(default, (int, np.integer)):
        return _to_int(value, field)
    if isinstance(default, (float, np.floating)):
        return _to_float(value, field)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RunError(f"config field {field!r} takes a string, got {value!r}")
        return value
    if isinstance(default, (tuple, list)):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith(("(", "[")):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise RunError(f"config field {field!r}: cannot read {value!r}") from None
            else:
                value = [v for v in text.split(",") if v.strip()] if text else []
        if not isinstance(value, (tuple, list)):
            value = [value]
        proto = default[0] if len(default) else None
        items = [coerce(field, v, proto) if proto is not None else v for v in value]
        return type(default)(items)
    if default is None:
        if isinstance(value, str):
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
        return value
    # Arrays and other leaves: a number.
    return _to_float(value, field)


def resolve_config(
    algorithm: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    toml: str | os.PathLike | None = None,
    num_envs: int | None = None,
    total_steps: int | None = None,
    base: Any = None,
) -> Any:
    """Build and validate ``<algorithm>.Config`` from defaults, a TOML file and overrides.

    Precedence (later wins): the defaults (or ``base``), the TOML file (top-level keys
    are config fields), ``num_envs`` / ``total_steps``, then ``overrides``
    (``{"lr": "3e-4"}``; strings are read by the field's default type).

    Raises:
        RunError: unknown field (with the closest names), a value of the wrong type,
            or a value ``Config.validate`` refuses.
    """
    module = algorithm_module(algorithm)
    fields = config_fields(module)
    config = base if base is not None else module.Config()
    if not isinstance(config, module.Config):
        raise RunError(f"config for {algorithm} must be a {module.__name__}.Config")
    values: dict[str, Any] = {}
    if toml is not None:
        values.update(read_toml(toml))
    if num_envs is not None:
        values[_shortcut(module, algorithm, NUM_ENVS_FIELDS, "--num-envs")] = num_envs
    if total_steps is not None:
        values[_shortcut(module, algorithm, TOTAL_STEPS_FIELDS, "--total-steps")] = total_steps
    values.update(overrides or {})
    coerced = {}
    for name, value in values.items():
        if name not in fields:
            raise RunError(
                f"{algorithm} has no config field {name!r}.{_closest(name, list(fields))}"
                f" Fields: {', '.join(fields)}."
            )
        coerced[name] = coerce(name, value, getattr(config, name))
    config = config.replace(**coerced) if coerced else config
    try:
        config.validate()
    except ValueError as e:
        raise RunError(str(e)) from None
    return config


def presets(algorithm: str) -> dict[str, Any]:
    """The named configs ``<algorithm>.PRESETS`` offers (``{}`` when it has none)."""
    module = algorithm_module(algorithm)
    table = getattr(module, "PRESETS", {})
    # Some modules keep a config together with the environment it was made for.
    return {name: getattr(p, "config", p) for name, p in table.items()}


def preset_config(algorithm: str, name: str) -> Any:
    """``<algorithm>.PRESETS[name]``'s config; ``RunError`` for an unknown name."""
    table = presets(algorithm)
    if name not in table:
        have = ", ".join(table) if table else "none"
        raise RunError(f"{algorithm} has no preset {name!r} (presets: {have})."
                       f"{_closest(name, list(table))}")
    return table[name]


def _shortcut(module: types.ModuleType, algorithm: str, candidates: tuple[str, ...], flag: str) -> str:
    fields = config_fields(module)
    for name in candidates:
        if name in fields:
            return name
    raise RunError(
        f"{flag} does not apply to {algorithm}: its config has none of "
        f"{', '.join(candidates)} (fields: {', '.join(fields)}); use --set FIELD=VALUE"
    )


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Config overrides from a TOML file: top-level ``field = value`` pairs (or a ``[config]`` table)."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise RunError(f"config file {path} is not valid TOML: {e}") from None
    if set(data) == {"config"} and isinstance(data["config"], dict):
        data = data["config"]
    return data


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready values of every config field (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(config):
        out[f.name] = _jsonable(getattr(config, f.name))
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    arr = np.asarray(v)
    return arr.item() if arr.ndim == 0 else arr.tolist()


def config_from_dict(algorithm: str, values: Mapping[str, Any]) -> Any:
    """Inverse of ``config_to_dict`` (validated)."""
    return resolve_config(algorithm, dict(values))


# ------------------------------------------------------------------------------ spec
@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run, as saved in ``config.json``.

    Attributes:
        algorithm: registry name (``"ppo"``).
        env: environment name (``"CartPole-v1"``).
        env_options: keyword options for ``envs.make``.
        seeds: independent runs trained together (vmapped).
        seed: base seed; seed ``i`` uses ``fold_in(key(seed), i)``, so the first
            seeds of a run do not depend on how many seeds it has.
        config: the resolved algorithm config, JSON-ready.
        num_updates: updates per seed in the whole run.
        chunk_updates: updates per compiled call (the chunk length).
        checkpoint_every: updates between checkpoints (0: only at the end).
    """

    algorithm: str
    env: str
    env_options: dict[str, Any]
    seeds: int
    seed: int
    config: dict[str, Any]
    num_updates: int
    chunk_updates: int
    checkpoint_every: int

    def to_json(self) -> dict[str, Any]:
        from jaxrl import __version__

        return {"jaxrl_version": __version__, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(data)
        if missing:
            raise RunError(f"run config is missing {', '.join(sorted(missing))}")
        return cls(**{k: data[k] for k in names})


def read_spec(run_dir: str | os.PathLike) -> RunSpec:
    """The ``RunSpec`` saved in ``run_dir/config.json``."""
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise RunError(f"{run_dir} is not a jaxrl run directory (no {CONFIG_FILE})")
    try:
        return RunSpec.from_json(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


# ------------------------------------------------------------------------------ build
@dataclasses.dataclass
class Built:
    """A run's live objects: the agent, its environment and the vmapped functions."""

    spec: RunSpec
    config: Any
    agent: Any
    env: Any
    env_params: Any


def make_env(name: str, options: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """``envs.make`` with user errors turned into ``RunError``."""
    import envs

    try:
        return envs.make(name, **dict(options or {}))
    except (ValueError, TypeError) as e:
        raise RunError(str(e)) from None


def build(spec: RunSpec) -> Built:
    """Config, environment and agent for ``spec`` (nothing compiled yet)."""
    module = algorithm_module(spec.algorithm)
    config = config_from_dict(spec.algorithm, spec.config)
    env, env_params = make_env(spec.env, spec.env_options)
    try:
        agent = module.make(config, env, env_params)
    except ValueError as e:  # e.g. an algorithm that does not support this action space
        raise RunError(str(e)) from None
    return Built(spec, config, agent, env, env_params)


def seed_keys(seed: int, seeds: int) -> Any:
    """One key per seed: ``fold_in(key(seed), i)`` for ``i < seeds``."""
    import jax
    import jax.numpy as jnp

    base = jax.random.key(seed)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(seeds))


def chunk_function(agent: Any, length: int) -> Callable[[Any, Any], tuple[Any, dict]]:
    """``chunk(state, n) -> (state, metrics)``: ``n <= length`` updates of every seed.

    ``state`` has a leading seeds axis; ``metrics[name]`` is ``[seeds, length]``
    (entries past ``n`` are filler: NaN for floats, 0 for integers).
    """
    import jax
    import jax.numpy as jnp

    def one_seed(state, n):
        metric_shapes = jax.eval_shape(agent.update, state)[1]

        def skip(s):
            fill = lambda m: jnp.full(  # noqa: E731
                m.shape, jnp.nan if jnp.issubdtype(m.dtype, jnp.floating) else 0, m.dtype
            )
            return s, jax.tree.map(fill, metric_shapes)

        def body(s, i):
            return jax.lax.cond(i < n, agent.update, skip, s)

        return jax.lax.scan(body, state, jnp.arange(length))

    return over_seeds(one_seed, in_axes=(0, None))


def metric_dtypes(agent: Any, state_template: Any) -> dict[str, np.dtype]:
    """The dtype of every (flattened) metric ``agent.update`` reports, without running it."""
    import jax

    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state_template)
    shapes = jax.eval_shape(agent.update, one)[1]
    out = {}
    for name, s in shapes.items():
        if len(s.shape) == 0:
            out[name] = np.dtype(s.dtype)
        else:
            for i in range(int(np.prod(s.shape))):
                out[f"{name}_{i}"] = np.dtype(s.dtype)
    return out


def _cast(metrics: dict[str, np.ndarray], dtypes: Mapping[str, np.dtype]) -> dict[str, np.ndarray]:
    """Metrics read back from CSV (float64) in the dtypes the algorithm reports them in."""
    return {k: v.astype(dtypes[k]) if k in dtypes else v for k, v in metrics.items()}


def init_function(agent: Any) -> Callable[[Any], Any]:
    return over_seeds(agent.init)


# ------------------------------------------------------------------------------ result
@dataclasses.dataclass
class Result:
    """A finished (or stopped) run.

    Attributes:
        spec: what was run (``RunSpec``).
        config: the algorithm's resolved ``Config``.
        agent: the ``Agent`` (its ``act`` runs the learned policy).
        state: the final training state, every leaf with a leading ``seeds`` axis.
        metrics: ``{name: array[seeds, updates]}`` for every metric the algorithm reports.
        compile_seconds: time spent compiling.
        run_seconds: time spent training (after compilation).
        run_dir: where the run's files are, if anywhere.
        env, env_params: the environment trained on.
    """

    spec: RunSpec
    config: Any
    agent: Any
    state: Any
    metrics: dict[str, np.ndarray]
    compile_seconds: float = float("nan")
    run_seconds: float = float("nan")
    run_dir: Path | None = None
    env: Any = None
    env_params: Any = None

    @property
    def algorithm(self) -> str:
        return self.spec.algorithm

    @property
    def env_name(self) -> str:
        return self.spec.env

    @property
    def seeds(self) -> int:
        return self.spec.seeds

    @property
    def updates_done(self) -> int:
        return int(self.metrics["env_steps"].shape[1]) if "env_steps" in self.metrics else 0

    @property
    def complete(self) -> bool:
        return self.updates_done >= self.spec.num_updates

    @property
    def params(self) -> Any:
        """The learned parameters (``state.params`` when the state has them), seeds-batched."""
        return getattr(self.state, "params", self.state)

    @property
    def env_steps(self) -> np.ndarray:
        """Env steps per seed at each update, ``[updates]`` (seed 0's; all seeds agree)."""
        return np.asarray(self.metrics["env_steps"][0])

    @property
    def final_return(self) -> np.ndarray:
        """Per seed, the mean return of the episodes that ended in the last 5% of updates.

        Episodes are weighted equally (each update's mean return is weighted by its
        ``episodes`` count). NaN for a seed with no episode in that window.
        """
        return final_returns(self.metrics)

    @property
    def steps_per_second(self) -> float:
        """Environment steps per second of training, all seeds together."""
        if not self.updates_done or not self.run_seconds > 0:
            return float("nan")
        steps = float(np.sum(self.metrics["env_steps"][:, -1]))
        return steps / self.run_seconds

    def summary(self) -> str:
        """The end-of-run table: final return over seeds, wall times, throughput.

        For an environment whose episodes never end (a bandit: every step is one
        pull), the table shows the mean reward per step over the same window instead.
        """
        per_step = _continuing(self.metrics)
        fr = final_rewards(self.metrics) if per_step else self.final_return
        ok = fr[np.isfinite(fr)]
        if ok.size:
            mean_std = f"{ok.mean():.2f} ± {ok.std():.2f}"
            lo, hi = f"{ok.min():.2f}", f"{ok.max():.2f}"
        else:
            mean_std = lo = hi = "n/a"
        steps = int(self.metrics["env_steps"][0, -1]) if self.updates_done else 0
        row = [
            self.algorithm, self.env_name, self.seeds, human(steps), mean_std, lo, hi,
            f"{self.compile_seconds:.1f} s", f"{self.run_seconds:.1f} s",
            human(self.steps_per_second) if math.isfinite(self.steps_per_second) else "n/a",
        ]
        text = table(
            ["algorithm", "env", "seeds", "env steps/seed",
             "final reward/step" if per_step else "final return", "min", "max",
             "compile", "run", "steps/s"],
            [row],
        )
        what = ("final reward/step: mean reward per step (no episode ever ended) in the last"
                if per_step else "final return: mean return of episodes ending in the last")
        note = (f"{what} {FINAL_WINDOW:.0%} of updates, mean ± std over seeds; "
                f"steps/s counts all seeds, compile time excluded")
        if not self.complete:
            note += f"\n(stopped after {self.updates_done} of {self.spec.num_updates} updates)"
        return text + "\n" + note

    def __repr__(self) -> str:
        fr = self.final_return
        return (f"Result({self.algorithm} on {self.env_name}, {self.seeds} seeds, "
                f"{self.updates_done}/{self.spec.num_updates} updates, "
                f"final return {np.nanmean(fr) if np.isfinite(fr).any() else float('nan'):.2f})")

    def plot(self, path: str | os.PathLike | None = None, **kwargs: Any) -> Any:
        """The learning curve (mean and spread over seeds vs env steps); saved if ``path``.

        Returns the matplotlib ``Figure``.
        """
        from jaxrl.plotting import learning_curve

        return learning_curve(
            self.metrics, title=f"{self.algorithm} on {self.env_name} ({self.seeds} seeds)",
            path=path, **kwargs,
        )

    def evaluate(self, episodes: int = 10, greedy: bool = True, seed: int = 0,
                 max_steps: int | None = None) -> "Evaluation":
        """Run the learned policy of every seed for ``episodes`` episodes (see ``evaluate``)."""
        env, env_params = self.env, self.env_params
        if env is None:
            env, env_params = make_env(self.spec.env, self.spec.env_options)
        return evaluate(self.agent, self.state, env, env_params, episodes=episodes,
                        greedy=greedy, seed=seed, max_steps=max_steps)

    def save(self, run_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the run directory (config, metrics CSV, curve, checkpoint, events, summary)."""
        run_dir = prepare_run_dir(run_dir, overwrite=overwrite)
        write_json(run_dir / CONFIG_FILE, self.spec.to_json())
        names = metric_columns(self.metrics)
        csv = MetricsCSV(run_dir / METRICS_FILE, names)
        csv.append(1, {k: self.metrics[k] for k in names})
        csv_offset = csv.flush()
        csv.close()
        events = EventWriter(run_dir / TB_DIR)
        write_events(events, self.metrics, 0)
        tb_offset = events.flush()
        events.close()
        save_checkpoint(run_dir, self.spec, self.state, self.updates_done, csv_offset,
                        events.path.name, tb_offset)
        self.plot(run_dir / CURVE_FILE)
        write_json(run_dir / SUMMARY_FILE, self.summary_json())
        self.run_dir = run_dir
        return run_dir

    def summary_json(self) -> dict[str, Any]:
        fr = self.final_return
        return {
            "algorithm": self.algorithm,
            "env": self.env_name,
            "seeds": self.seeds,
            "updates_done": self.updates_done,
            "num_updates": self.spec.num_updates,
            "env_steps_per_seed": int(self.metrics["env_steps"][0, -1]) if self.updates_done else 0,
            "final_return": [None if not math.isfinite(x) else float(x) for x in fr],
            "final_return_mean": float(np.nanmean(fr)) if np.isfinite(fr).any() else None,
            "final_return_std": float(np.nanstd(fr)) if np.isfinite(fr).any() else None,
            "compile_seconds": self.compile_seconds,
            "run_seconds": self.run_seconds,
            "steps_per_second": self.steps_per_second,
        }


def final_returns(metrics: Mapping[str, np.ndarray], window: float = FINAL_WINDOW) -> np.ndarray:
    """Per seed, episode-weighted mean ``episode_return`` over the last ``window`` of updates."""
    ret = np.asarray(metrics["episode_return"], np.float64)
    seeds, updates = ret.shape
    if updates == 0:
        return np.full(seeds, np.nan)
    k = max(1, int(math.floor(window * updates + 1e-9)))
    ret = ret[:, -k:]
    count = np.asarray(metrics.get("episodes", np.isfinite(ret).astype(float)), np.float64)[:, -k:]
    count = np.where(np.isfinite(ret), count, 0.0)
    total = np.sum(np.where(count > 0, ret * count, 0.0), axis=1)
    n = np.sum(count, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1e-12), np.nan)


def _continuing(metrics: Mapping[str, np.ndarray]) -> bool:
    """No episode ended in the whole run, and a per-step ``reward`` metric exists."""
    episodes = metrics.get("episodes")
    return (episodes is not None and "reward" in metrics and np.asarray(episodes).size > 0
            and not np.any(np.asarray(episodes) > 0))


def final_rewards(metrics: Mapping[str, np.ndarray], window: float = FINAL_WINDOW) -> np.ndarray:
    """Per seed, the mean of the ``reward`` metric over the last ``window`` of updates."""
    reward = np.asarray(metrics["reward"], np.float64)
    # Each update's reward counts once: final_returns with one "episode" per update.
    return final_returns({"episode_return": reward, "episodes": np.ones_like(reward)}, window)


def metric_columns(metrics: Mapping[str, np.ndarray]) -> list[str]:
    """CSV column order: env_steps, episode_return, episodes, then the rest alphabetically."""
    first = [k for k in ("env_steps", "episode_return", "episodes") if k in metrics]
    return first + sorted(k for k in metrics if k not in first)


def _flat_metrics(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{name: [seeds, n, *extra]}`` -> scalar columns (extra axes become ``name_0``...)."""
    out = {}
    for name, value in metrics.items():
        arr = np.asarray(value)
        if arr.ndim <= 2:
            out[name] = arr
        else:
            flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
            for i in range(flat.shape[2]):
                out[f"{name}_{i}"] = flat[:, :, i]
    return out


def write_events(writer: EventWriter, metrics: Mapping[str, np.ndarray], first_update: int) -> None:
    """Seed-mean of every metric per update, at step = env steps (seed 0's)."""
    names = [k for k in metric_columns(metrics) if k != "env_steps"]
    steps = np.asarray(metrics["env_steps"])
    n = steps.shape[1]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means = {k: np.nanmean(np.asarray(metrics[k], np.float64), axis=0) for k in names}
            ret = np.asarray(metrics["episode_return"], np.float64)
            spread = np.nanstd(ret, axis=0)
    for u in range(n):
        values = {k: means[k][u] for k in names}
        if ret.shape[0] > 1:
            values["episode_return/std_over_seeds"] = spread[u]
        writer.scalars(int(steps[0, u]), values)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def prepare_run_dir(run_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Create ``run_dir`` and check it can be written, before anything trains.

    Raises:
        RunError: it cannot be created or written, or it already holds a run
            (unless ``overwrite``, which removes that run's files).
    """
    path = Path(run_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise RunError(f"output directory {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create output directory {path}: {e.strerror or e}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise RunError(f"output directory {path} is not writable: {e.strerror or e}") from None
    existing = [name for name in RUN_FILES if (path / name).exists()]
    if existing:
        if not overwrite:
            raise RunError(
                f"output directory {path} already holds a run ({', '.join(existing)}); "
                f"continue it with --resume {path}, or pass --overwrite to replace it"
            )
        for name in existing:
            target = path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    return path


def save_checkpoint(run_dir: Path, spec: RunSpec, state: Any, updates_done: int,
                    csv_offset: int, tb_file: str, tb_offset: int) -> None:
    ckpt.save(
        run_dir / ckpt.FILENAME, state, algorithm=spec.algorithm, env=spec.env,
        config=spec.config, updates_done=updates_done,
        extra={"seeds": spec.seeds, "seed": spec.seed, "env_options": spec.env_options,
               "csv_bytes": csv_offset, "tensorboard_file": tb_file, "tensorboard_bytes": tb_offset},
    )


# ------------------------------------------------------------------------------ driver
def default_chunk(num_updates: int) -> int:
    """About 50 chunks per run, so progress is smooth and host work is rare."""
    return max(1, math.ceil(num_updates / 50))


def default_checkpoint_every(num_updates: int) -> int:
    """About five checkpoints per run (plus the final one)."""
    return max(1, math.ceil(num_updates / 5))


def make_spec(
    algorithm: str,
    env: str = "CartPole-v1",
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
) -> tuple[RunSpec, Built]:
    """Validate everything a run needs and build it (nothing compiled yet)."""
    for name, value, low in (("seeds", seeds, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise RunError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(config, Mapping):
        overrides = {**config, **(overrides or {})}
        config = None
    if preset is not None:
        if config is not None:
            raise RunError("give a preset or a Config object, not both")
        config = preset_config(algorithm, preset)
    cfg = resolve_config(algorithm, overrides, toml=toml, num_envs=num_envs,
                         total_steps=total_steps, base=config)
    env_obj, env_params = make_env(env, env_options)
    module = algorithm_module(algorithm)
    try:
        agent = module.make(cfg, env_obj, env_params)
    except ValueError as e:
        raise RunError(str(e)) from None
    n = int(agent.num_updates)
    if n < 1:
        raise RunError(f"this {algorithm} config trains for {n} updates; raise the step budget")
    chunk = default_chunk(n) if chunk_updates is None else int(chunk_updates)
    every = default_checkpoint_every(n) if checkpoint_every is None else int(checkpoint_every)
    if chunk < 1:
        raise RunError(f"chunk_updates must be >= 1, got {chunk}")
    if every < 0:
        raise RunError(f"checkpoint_every must be >= 0, got {every}")
    spec = RunSpec(
        algorithm=algorithm, env=env, env_options=dict(env_options or {}), seeds=int(seeds),
        seed=int(seed), config=config_to_dict(cfg), num_updates=n,
        chunk_updates=min(chunk, n), checkpoint_every=every,
    )
    return spec, Built(spec, cfg, agent, env_obj, env_params)


class _Stop(Exception):
    pass


def drive(
    built: Built,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    progress: bool | Progress = False,
    stop_after: int | None = None,
    on_chunk: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> Result:
    """Train ``built`` in chunks, writing ``run_dir`` as it goes (if given).

    Args:
        built: from ``make_spec`` / ``build``.
        run_dir: run directory (already prepared), or None to keep everything in memory.
        resume: continue from ``run_dir``'s checkpoint (its CSV and event file are cut
            back to the checkpoint and appended to).
        progress: draw progress on stderr (or a ``Progress`` to draw on).
        stop_after: stop after this many updates in this call (as if interrupted),
            leaving a resumable checkpoint.
        on_chunk: called with ``(updates_done, chunk_metrics)`` after every chunk.

    Returns:
        ``Result``. The first Ctrl-C stops training after the running chunk: its
        state is checkpointed, then ``Interrupted`` (a ``KeyboardInterrupt``
        carrying the ``Result``) is raised. A second Ctrl-C aborts at once.
    """
    import jax

    spec, agent = built.spec, built.agent
    label = f"{spec.algorithm} {spec.env} x{spec.seeds}"
    bar = progress if isinstance(progress, Progress) else Progress(
        label, spec.num_updates, enabled=bool(progress))

    t0 = time.perf_counter()
    keys = seed_keys(spec.seed, spec.seeds)
    init = init_function(agent)
    history: list[dict[str, np.ndarray]] = []
    done = 0
    if resume:
        state, done, history = _restore(run_dir, spec, init, keys, agent)
        bar.message(f"resuming at update {done}/{spec.num_updates}")
    else:
        bar.message("initialising...")
        state = init(keys)

    if run_dir is not None:
        write_json(run_dir / CONFIG_FILE, spec.to_json())

    chunk_fn = chunk_function(agent, spec.chunk_updates)
    bar.message(f"compiling ({spec.num_updates} updates per seed, "
                f"{spec.chunk_updates} per compiled chunk)...")
    compiled = chunk_fn.lower(state, np.int32(0)).compile()
    jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t0

    target = spec.num_updates if stop_after is None else min(spec.num_updates, done + int(stop_after))
    every = spec.checkpoint_every

    def next_n(d: int) -> int:
        n = min(spec.chunk_updates, target - d)
        if every:
            n = min(n, every - d % every)
        return n

    steps_done = float(np.sum(history[-1]["env_steps"][:, -1])) if history else 0.0
    bar.start(steps_done)
    t_run = time.perf_counter()
    csv = events = None
    names: list[str] | None = None
    cur_ret, cur_spread = float("nan"), float("nan")
    with _DeferredInterrupt() as interrupt:
        try:
            pending = compiled(state, np.int32(next_n(done))) if done < target else None
            while pending is not None:
                n = next_n(done)
                new_state, chunk_metrics = pending
                new_done = done + n
                stopping = interrupt.requested or new_done >= target
                # Launch the next chunk before the host work: it overlaps with logging.
                pending = None if stopping else compiled(new_state, np.int32(next_n(new_done)))
                metrics = {k: v[:, :n]
                           for k, v in _flat_metrics(jax.device_get(chunk_metrics)).items()}
                if run_dir is not None:
                    if names is None:
                        names = metric_columns(metrics)
                        csv, events = _open_logs(run_dir, names, resume)
                    csv.append(done + 1, {k: metrics[k] for k in names})
                    write_events(events, metrics, done)
                history.append(metrics)
                state, done = new_state, new_done
                r = final_returns(metrics, window=1.0)
                if np.isfinite(r).any():
                    cur_ret, cur_spread = float(np.nanmean(r)), float(np.nanstd(r))
                steps_done = float(np.sum(metrics["env_steps"][:, -1]))
                stopping = stopping or interrupt.requested
                bar.update(done, steps_done, cur_ret, cur_spread, final=stopping)
                if on_chunk is not None:
                    on_chunk(done, metrics)
                if run_dir is not None and (stopping or (every and done % every == 0)):
                    _checkpoint(run_dir, spec, state, done, csv, events)
                if stopping:
                    pending = None
        finally:
            if csv is not None:
                csv.close()
            if events is not None:
                events.close()
            bar.close()
    run_seconds = time.perf_counter() - t_run
    jax.block_until_ready(state)

    merged = _merge(history)
    result = Result(spec=spec, config=built.config, agent=agent, state=state, metrics=merged,
                    compile_seconds=compile_seconds, run_seconds=run_seconds, run_dir=run_dir,
                    env=built.env, env_params=built.env_params)
    if run_dir is not None and result.updates_done:
        if result.complete:
            result.plot(run_dir / CURVE_FILE)
        write_json(run_dir / SUMMARY_FILE, result.summary_json())
    if interrupt.requested:
        raise Interrupted(result)
    return result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``args[0]`` is the ``Result`` so far (checkpointed)."""

    @property
    def result(self) -> Result:
        return self.args[0]


class _DeferredInterrupt:
    """Within the block, the first Ctrl-C only sets ``requested`` (training stops after
    the running chunk, with a checkpoint); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after the running chunk (Ctrl-C again to abort at once)...",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "_DeferredInterrupt":
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _restore(run_dir: Path, spec: RunSpec, init: Any, keys: Any,
             built_agent: Any) -> tuple[Any, int, list]:
    """State, updates done and metrics history of the run in ``run_dir``, from its checkpoint."""
    import jax

    template = jax.eval_shape(init, keys)
    try:
        state, header = ckpt.load(run_dir / ckpt.FILENAME, template, algorithm=spec.algorithm,
                                  env=spec.env, config=spec.config)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    extra = header["extra"]
    if extra.get("seeds") != spec.seeds or extra.get("seed") != spec.seed:
        raise RunError(f"checkpoint has seeds={extra.get('seeds')} seed={extra.get('seed')}, "
                       f"the run config seeds={spec.seeds} seed={spec.seed}")
    done = int(header["updates_done"])
    history = []
    if (run_dir / METRICS_FILE).exists():
        with open(run_dir / METRICS_FILE, "r+b") as f:
            f.truncate(extra["csv_bytes"])
        old = read_metrics_csv(run_dir / METRICS_FILE)
        have = old["update"].shape[1] if old["update"].ndim == 2 else 0
        if have != done:
            raise RunError(f"{METRICS_FILE} holds {have} updates but the checkpoint {done}; "
                           f"the run directory is inconsistent")
        if have:
            dtypes = metric_dtypes(built_agent, template)
            history.append(_cast({k: v for k, v in old.items() if k not in ("update", "seed")},
                                 dtypes))
    return jax.device_put(state), done, history


def _open_logs(run_dir: Path, names: list[str], resume: bool) -> tuple[MetricsCSV, EventWriter]:
    tb_file, tb_bytes, csv_bytes = None, None, None
    if resume and (run_dir / ckpt.FILENAME).exists():
        extra = ckpt.read_header(run_dir / ckpt.FILENAME)["extra"]
        tb_file = run_dir / TB_DIR / extra["tensorboard_file"]
        tb_bytes, csv_bytes = extra["tensorboard_bytes"], extra["csv_bytes"]
    csv = MetricsCSV(run_dir / METRICS_FILE, names, truncate_at=csv_bytes)
    if csv.columns != names:
        raise RunError(f"{METRICS_FILE} columns differ from this run's metrics")
    events = EventWriter(run_dir / TB_DIR, path=tb_file, truncate_at=tb_bytes)
    return csv, events


def _checkpoint(run_dir: Path, spec: RunSpec, state: Any, done: int,
                csv: MetricsCSV | None, events: EventWriter | None) -> None:
    csv_offset = csv.flush() if csv is not None else 0
    tb_offset = events.flush() if events is not None else 0
    save_checkpoint(run_dir, spec, state, done, csv_offset,
                    events.path.name if events is not None else "", tb_offset)


def _merge(history: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not history:
        return {}
    names = list(history[-1])
    return {k: np.concatenate([np.asarray(h[k]) for h in history if k in h], axis=1) for k in names}


# ------------------------------------------------------------------------------ API
def train(
    algorithm: str,
    env: str = "CartPole-v1",
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
    **overrides: Any,
) -> Result:
    """Train ``seeds`` independent runs of ``algorithm`` on ``env`` in one compiled program.

    Args:
        algorithm: a name from ``jaxrl.algos.names()`` (``"ppo"``, ``"dqn"``...).
        env: a name from ``envs.registered()``.
        seeds: number of independent runs, vmapped together.
        seed: base seed.
        config: a ``Config`` of the algorithm or a dict of field values.
        preset: start from ``<algorithm>.PRESETS[preset]`` (``jaxrl list presets``)
            instead of the defaults; ``config`` (as a dict) and overrides apply on top.
        toml: a TOML file of config fields.
        num_envs: shortcut for the config's ``num_envs``.
        total_steps: shortcut for the config's total environment steps field.
        env_options: keyword options for ``envs.make`` (``{"mode": "random"}``).
        out_dir: write a run directory here (config, CSV, plot, checkpoint, events).
        overwrite: replace a run already in ``out_dir``.
        checkpoint_every: updates between checkpoints (default: about 5 per run).
        chunk_updates: updates per compiled call (default: about 50 calls per run).
        progress: draw a progress bar on stderr.
        stop_after: train only this many updates now (resume later with ``resume``).
        **overrides: config fields, e.g. ``lr=3e-4``.

    Returns:
        ``Result`` with metrics ``[seeds, updates]``, the final state and plot/save methods.

    Raises:
        RunError: a bad name or value, found before anything compiles.
    """
    spec, built = make_spec(
        algorithm, env, seeds=seeds, seed=seed, config=config, toml=toml, num_envs=num_envs,
        total_steps=total_steps, env_options=env_options, chunk_updates=chunk_updates,
        checkpoint_every=checkpoint_every, overrides=overrides, preset=preset,
    )
    run_dir = prepare_run_dir(out_dir, overwrite=overwrite) if out_dir is not None else None
    return drive(built, run_dir, progress=progress, stop_after=stop_after)


def resume(run_dir: str | os.PathLike, *, progress: bool = False,
           stop_after: int | None = None) -> Result:
    """Continue the run in ``run_dir`` from its checkpoint to the end (or ``stop_after`` more updates).

    With the same seeds the result is bit-identical to a run never interrupted.
    """
    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    if not (run_dir / ckpt.FILENAME).exists():
        raise RunError(f"{run_dir} has no checkpoint to resume from")
    built = build(spec)
    return drive(built, run_dir, resume=True, progress=progress, stop_after=stop_after)


def load(run_dir: str | os.PathLike) -> Result:
    """A saved run: its spec, config, agent, checkpointed state and metrics."""
    import jax

    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    if not (run_dir / ckpt.FILENAME).exists():
        raise RunError(f"{run_dir} has no checkpoint")
    built = build(spec)
    template = jax.eval_shape(init_function(built.agent), seed_keys(spec.seed, spec.seeds))
    try:
        state, header = ckpt.load(run_dir / ckpt.FILENAME, template, algorithm=spec.algorithm,
                                  env=spec.env, config=spec.config)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    metrics: dict[str, np.ndarray] = {}
    if (run_dir / METRICS_FILE).exists():
        raw = read_metrics_csv(run_dir / METRICS_FILE)
        done = int(header["updates_done"])
        metrics = _cast({k: v[:, :done] for k, v in raw.items() if k not in ("update", "seed")},
                        metric_dtypes(built.agent, template))
    times = {}
    if (run_dir / SUMMARY_FILE).exists():
        times = json.loads((run_dir / SUMMARY_FILE).read_text())
    return Result(spec=spec, config=built.config, agent=built.agent, state=state, metrics=metrics,
                  compile_seconds=times.get("compile_seconds", float("nan")),
                  run_seconds=times.get("run_seconds", float("nan")), run_dir=run_dir,
                  env=built.env, env_params=built.env_params)


# ------------------------------------------------------------------------------ evaluation
@dataclasses.dataclass
class Evaluation:
    """Episode returns and lengths of a learned policy, ``[seeds, episodes]`` each."""

    returns: np.ndarray
    lengths: np.ndarray
    greedy: bool

    def row(self) -> list[str]:
        per_seed = np.mean(self.returns, axis=1)
        return [
            "greedy" if self.greedy else "stochastic",
            str(self.returns.shape[1]),
            f"{self.returns.mean():.2f} ± {per_seed.std():.2f}",
            f"{self.returns.min():.2f}", f"{self.returns.max():.2f}",
            f"{self.lengths.mean():.1f}",
        ]


EVAL_HEADERS = ["policy", "episodes", "return (mean ± std over seeds)", "min", "max", "length"]


def episode_cap(env_params: Any, max_steps: int | None) -> int:
    if max_steps is not None:
        return int(max_steps)
    cap = getattr(env_params, "max_steps_in_episode", None)
    return int(cap) if cap is not None else 10_000


def evaluate(agent: Any, state: Any, env: Any, env_params: Any, *, episodes: int = 10,
             greedy: bool = True, seed: int = 0, max_steps: int | None = None) -> Evaluation:
    """Play ``episodes`` full episodes with every seed's policy; one compiled program.

    Args:
        agent: the ``Agent``.
        state: training state with a leading seeds axis.
        env, env_params: the (unwrapped) environment the agent trained on.
        episodes: episodes per seed.
        greedy: act greedily (argmax) or sample from the policy.
        seed: key for the environment and the policy's sampling.
        max_steps: stop an episode after this many steps (default: the env's time limit).

    Returns:
        ``Evaluation`` with ``returns`` and ``lengths`` of shape ``[seeds, episodes]``.
    """
    import jax
    import jax.numpy as jnp

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise RunError(f"episodes must be a positive integer, got {episodes!r}")
    cap = episode_cap(env_params, max_steps)

    def episode(agent_state, key):
        k_reset, k_loop = jax.random.split(key)
        obs, env_state = env.reset(k_reset, env_params)

        def cond(c):
            return (~c["done"]) & (c["t"] < cap)

        def body(c):
            key, k_act, k_step = jax.random.split(c["key"], 3)
            action = agent.act(agent_state, c["obs"], k_act, greedy)
            obs, env_state, reward, term, trunc, _ = env.step(k_step, c["env_state"], action,
                                                              env_params)
            return {"key": key, "obs": obs, "env_state": env_state,
                    "ret": c["ret"] + jnp.sum(reward).astype(jnp.float32), "t": c["t"] + 1,
                    "done": jnp.logical_or(term, trunc)}

        c = {"key": k_loop, "obs": obs, "env_state": env_state,
             "ret": jnp.zeros((), jnp.float32), "t": jnp.zeros((), jnp.int32),
             "done": jnp.zeros((), bool)}
        c = jax.lax.while_loop(cond, body, c)
        return c["ret"], c["t"]

    seeds = jax.tree.leaves(state)[0].shape[0]
    keys = jax.random.split(jax.random.key(seed), seeds * episodes).reshape(seeds, episodes)
    run = jax.jit(jax.vmap(jax.vmap(episode, in_axes=(None, 0)), in_axes=(0, 0)))
    returns, lengths = jax.device_get(run(state, keys))
    return Evaluation(np.asarray(returns), np.asarray(lengths), greedy)


def first_seed(state: Any, index: int = 0) -> Any:
    """The training state of one seed (drops the leading seeds axis)."""
    import jax

    return jax.tree.map(lambda x: x[index], state)
