"""Callbacks: what the training driver tells the outside world, once per compiled chunk.

``jaxrl.train(..., callbacks=[...])`` calls every callback on the host, between
chunks (never inside the compiled program):

* ``on_start(info)`` once, before the first chunk, with a ``RunInfo`` (algorithm,
  env, seeds, config, run directory, and where a resumed run starts);
* ``on_chunk(first_update, metrics)`` after each chunk: ``metrics[name]`` is a
  numpy ``[seeds, n]`` array for the chunk's ``n`` updates, numbered
  ``first_update .. first_update + n - 1`` from 1 like ``metrics.csv``'s ``update``
  column (``first_update`` = updates done before the chunk + 1). Keys: ``env_steps``
  (per seed, after each update), ``episode_return`` (NaN where no episode ended),
  ``episodes`` and the algorithm's own (losses, entropy...);
* ``on_checkpoint(updates_done)`` after the driver saved a checkpoint;
* ``on_end(summary)`` once, with the run's summary (``Result.summary_json()``;
  ``updates_done < num_updates`` for a stopped run, ``status`` if the driver sets it).

Subclass ``Callback`` and override what you need. Provided here:

* ``TensorBoardCallback``: ``jaxrl.output.logging.TensorBoardLogger`` (seed means, spread,
  one run per seed, hyperparameters);
* ``WandbCallback``: Weights & Biases (``pip install "jaxrl[wandb]"``);
* ``MLflowCallback``: MLflow tracking (``pip install "jaxrl[mlflow]"``).

The trackers log the seed mean of every metric (tags as in TensorBoard:
``train/episode_return``, ``loss/...``, ``stats/...``, and
``train/episode_return_std_over_seeds``) at step = mean env steps over seeds,
and the config as the run's parameters.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.core.config import dotted
from jaxrl.output.logging import STD_SUFFIX, TensorBoardLogger, seed_means

TB_DIR = "tensorboard"
FINAL_RETURN = "final/return"
FINAL_RETURN_STD = FINAL_RETURN + STD_SUFFIX


# ------------------------------------------------------------------------------ run info
@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a callback learns about the run when it starts.

    Attributes:
        algorithm, env, env_options, seeds, seed, config, num_updates: as in
            ``config.json`` (``config`` is the resolved algorithm config, JSON-ready).
        run_dir: the run directory, or None for a run kept in memory.
        updates_done: updates already done (a resumed run); 0 for a new one.
        env_steps: ``int[seeds]``, each seed's env steps at ``updates_done``
            (None for a new run).
    """

    algorithm: str
    env: str
    env_options: Mapping[str, Any]
    seeds: int
    seed: int
    config: Mapping[str, Any]
    num_updates: int
    run_dir: Path | None = None
    updates_done: int = 0
    env_steps: np.ndarray | None = None

    @classmethod
    def from_spec(cls, spec: Any, run_dir: str | os.PathLike | None = None, *,
                  updates_done: int = 0, env_steps: Any = None) -> "RunInfo":
        """From a ``RunSpec`` (or anything with its attributes)."""
        return cls(
            algorithm=spec.algorithm, env=spec.env, env_options=dict(spec.env_options),
            seeds=int(spec.seeds), seed=int(spec.seed), config=dict(spec.config),
            num_updates=int(spec.num_updates),
            run_dir=None if run_dir is None else Path(run_dir), updates_done=int(updates_done),
            env_steps=None if env_steps is None else np.asarray(env_steps, np.int64).reshape(-1),
        )

    @property
    def resumed(self) -> bool:
        return self.updates_done > 0

    @property
    def name(self) -> str:
        """A display name: the run directory's name, else ``<algorithm>-<env>``."""
        return self.run_dir.name if self.run_dir is not None else f"{self.algorithm}-{self.env}"

    def params(self) -> dict[str, Any]:
        """Flat ``{name: value}``: algorithm, env, ``env.<option>``, seeds, seed,
        num_updates and every config field (nested dicts as ``a.b``; a config field
        named like one of the run's own gets a ``config.`` prefix)."""
        out: dict[str, Any] = {"algorithm": self.algorithm, "env": self.env}
        out.update(dotted(self.env_options, "env."))
        out.update({"seeds": self.seeds, "seed": self.seed, "num_updates": self.num_updates})
        for key, value in dotted(self.config, "").items():
            out[f"config.{key}" if key in out else key] = value
        return out

    def as_dict(self) -> dict[str, Any]:
        """Nested, for a tracker's config: the run's fields with ``config`` as a dict."""
        return {
            "algorithm": self.algorithm, "env": self.env, "env_options": dict(self.env_options),
            "seeds": self.seeds, "seed": self.seed, "num_updates": self.num_updates,
            "config": dict(self.config),
            "run_dir": None if self.run_dir is None else str(self.run_dir),
        }



def run_status(summary: Mapping[str, Any]) -> str:
    """``"finished"``, ``"stopped"`` (resumable, e.g. Ctrl-C or ``stop_after``) or ``"failed"``.

    ``summary["status"]`` when the driver set it, else from ``updates_done`` and
    ``num_updates``.
    """
    status = summary.get("status")
    if status is not None:
        return str(status)
    done, total = summary.get("updates_done"), summary.get("num_updates")
    if done is not None and total is not None and done < total:
        return "stopped"
    return "finished"


def final_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """``final/return`` (mean over seeds) and its spread, where the summary has them."""
    out = {}
    for tag, key in ((FINAL_RETURN, "final_return_mean"), (FINAL_RETURN_STD, "final_return_std")):
        value = summary.get(key)
        if value is not None and math.isfinite(float(value)):
            out[tag] = float(value)
    return out


def _rows(steps: np.ndarray, values: Mapping[str, np.ndarray]) -> Iterable[tuple[int, dict]]:
    """``(step, {tag: value})`` per update, non-finite values left out."""
    tags = list(values)
    for u, step in enumerate(steps):
        row = {t: float(values[t][u]) for t in tags if np.isfinite(values[t][u])}
        yield int(step), row


def _require(module: str, extra: str, who: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f'{who} needs {module}: pip install "jaxrl[{extra}]"') from None


# ------------------------------------------------------------------------------ interface
class Callback:
    """Hooks called by the training driver on the host; every method does nothing by default."""

    def on_start(self, info: RunInfo) -> None:
        """Once, before the first chunk runs (after a resumed run restored its checkpoint)."""

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        """After each chunk: ``metrics[name]: [seeds, n]`` for updates ``first_update..+n-1``
        (numbered from 1)."""

    def on_checkpoint(self, updates_done: int) -> None:
        """After a checkpoint: flush what was logged, so a resume can continue from here."""

    def on_end(self, summary: Mapping[str, Any]) -> None:
        """Once, at the end (also when stopped early): release files, connections, runs."""


class CallbackList(Callback):
    """Several callbacks called in order; ``on_end`` reaches all of them even if one fails."""

    def __init__(self, callbacks: Iterable[Callback | None] = ()):
        self.callbacks = [c for c in callbacks if c is not None]

    def on_start(self, info: RunInfo) -> None:
        for c in self.callbacks:
            c.on_start(info)

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        for c in self.callbacks:
            c.on_chunk(first_update, metrics)

    def on_checkpoint(self, updates_done: int) -> None:
        for c in self.callbacks:
            c.on_checkpoint(updates_done)

    def on_end(self, summary: Mapping[str, Any]) -> None:
        error: BaseException | None = None
        for c in self.callbacks:
            try:
                c.on_end(summary)
            except Exception as e:  # noqa: BLE001 - the others still get to close
                error = error or e
        if error is not None:
            raise error


# ------------------------------------------------------------------------------ TensorBoard
class TensorBoardCallback(Callback):
    """TensorBoard event files through ``TensorBoardLogger``.

    Args:
        logdir: where to write; default ``<run_dir>/tensorboard`` (a run without a
            run directory then needs ``logdir``).
        per_seed: one run per seed (default: for 2 to 16 seeds).
        hparams: record the config in TensorBoard's HParams tab, with the final
            return (``final/return``) as its metric.
        flush_secs: the writers flush at least this often (and at every checkpoint).

    A resumed run (``info.updates_done > 0`` with ``info.env_steps``) opens new
    event files with ``purge_step`` just past the checkpoint, so TensorBoard drops
    any point the interrupted run wrote after it: no duplicated steps.
    """

    def __init__(self, logdir: str | os.PathLike | None = None, *, per_seed: bool | None = None,
                 hparams: bool = True, flush_secs: int = 30):
        self.logdir = None if logdir is None else Path(logdir)
        self.per_seed = per_seed
        self.hparams = hparams
        self.flush_secs = flush_secs
        self.logger: TensorBoardLogger | None = None

    def on_start(self, info: RunInfo) -> None:
        logdir = self.logdir
        if logdir is None:
            if info.run_dir is None:
                raise ValueError("TensorBoardCallback needs a logdir for a run without a run "
                                 "directory: TensorBoardCallback('runs/tb')")
            logdir = info.run_dir / TB_DIR
        purge = None
        if info.resumed and info.env_steps is not None:
            purge = TensorBoardLogger.purge_after(info.env_steps)
        self.logger = TensorBoardLogger(logdir, info.seeds, per_seed=self.per_seed,
                                        purge_step=purge, flush_secs=self.flush_secs)
        if self.hparams:
            self.logger.hparams(info.params())

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        self._logger().log(metrics)

    def on_checkpoint(self, updates_done: int) -> None:
        self._logger().flush()

    def on_end(self, summary: Mapping[str, Any]) -> None:
        if self.logger is None:
            return
        status = run_status(summary)
        try:
            if status == "finished":
                self.logger.end(final_metrics(summary), status="success")
            elif status == "failed":
                self.logger.end(status="failure")
        finally:
            self.logger.close()
            self.logger = None

    def _logger(self) -> TensorBoardLogger:
        if self.logger is None:
            raise RuntimeError("TensorBoardCallback: on_start was not called")
        return self.logger


# ------------------------------------------------------------------------------ W&B
class WandbCallback(Callback):
    """Weights & Biases: one W&B run per training run.

    Args:
        project: the W&B project.
        **init_kwargs: more ``wandb.init`` arguments (``entity``, ``name``, ``group``,
            ``tags``, ``mode="offline"``, ``dir``...). Defaults: ``name`` is the run
            directory's name (or ``<algorithm>-<env>``), ``dir`` the run directory,
            ``config`` the ``RunInfo`` as a dict (merged under what you pass).

    Metrics: seed means per update with ``step`` = mean env steps over seeds; at a
    finished run's end ``final/return`` and its spread go to the run summary.
    """

    def __init__(self, project: str | None = None, **init_kwargs: Any):
        self.wandb = _require("wandb", "wandb", "WandbCallback")
        self.project = project
        self.init_kwargs = init_kwargs
        self.run: Any = None

    def on_start(self, info: RunInfo) -> None:
        kwargs = dict(self.init_kwargs)
        kwargs["config"] = {**info.as_dict(), **dict(kwargs.get("config") or {})}
        kwargs.setdefault("name", info.name)
        if info.run_dir is not None:
            kwargs.setdefault("dir", str(info.run_dir))
        self.run = self.wandb.init(project=self.project, **kwargs)

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        steps, values = seed_means(metrics)
        for step, row in _rows(steps, values):
            if row:
                self.run.log(row, step=step)

    def on_end(self, summary: Mapping[str, Any]) -> None:
        if self.run is None:
            return
        status = run_status(summary)
        try:
            if status == "finished":
                self.run.summary.update(final_metrics(summary))
        finally:
            self.run.finish(exit_code=1 if status == "failed" else 0)
            self.run = None


# ------------------------------------------------------------------------------ MLflow
class MLflowCallback(Callback):
    """MLflow tracking: one MLflow run per training run (through ``MlflowClient``,
    so no global active run is touched).

    Args:
        experiment: experiment name (created if missing); default ``"jaxrl"``.
        tracking_uri: e.g. ``"http://localhost:5000"``, ``"sqlite:///mlflow.db"`` or a
            local ``"file:/path/mlruns"``; default: MLflow's own (``MLFLOW_TRACKING_URI``).
        run_name: default: the run directory's name (or ``<algorithm>-<env>``).
        tags: more run tags (``algorithm`` and ``env`` are always set).

    Params: ``RunInfo.params()``. Metrics: seed means per update at step = mean env
    steps; ``final/return`` and its spread at the end of a finished run. The run ends
    ``FINISHED``, ``KILLED`` (stopped early) or ``FAILED``.
    """

    PARAM_CHARS = 500     # what every MLflow store accepts
    BATCH_METRICS = 1000  # log_batch limits
    BATCH_PARAMS = 100

    def __init__(self, experiment: str | None = None, tracking_uri: str | None = None, *,
                 run_name: str | None = None, tags: Mapping[str, str] | None = None):
        _require("mlflow", "mlflow", "MLflowCallback")
        self.experiment = experiment or "jaxrl"
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.client: Any = None
        self.run_id: str | None = None
        self._last_step: int | None = None

    def on_start(self, info: RunInfo) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = (found.experiment_id if found is not None
                         else self.client.create_experiment(self.experiment))
        tags = {"algorithm": info.algorithm, "env": info.env, **self.tags}
        run = self.client.create_run(experiment_id, run_name=self.run_name or info.name, tags=tags)
        self.run_id = run.info.run_id
        params = [Param(k, _param_text(v, self.PARAM_CHARS)) for k, v in info.params().items()]
        for i in range(0, len(params), self.BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=params[i:i + self.BATCH_PARAMS])

    def on_chunk(self, first_update: int, metrics: Mapping[str, np.ndarray]) -> None:
        steps, values = seed_means(metrics)
        now = int(time.time() * 1000)
        rows = [(step, row) for step, row in _rows(steps, values)]
        self._log([(k, v, step) for step, row in rows for k, v in row.items()], now)
        if len(steps):
            self._last_step = int(steps[-1])

    def on_end(self, summary: Mapping[str, Any]) -> None:
        if self.run_id is None:
            return
        status = run_status(summary)
        try:
            if status == "finished":
                step = self._last_step or 0
                self._log([(k, v, step) for k, v in final_metrics(summary).items()],
                          int(time.time() * 1000))
        finally:
            self.client.set_terminated(self.run_id, status={
                "finished": "FINISHED", "failed": "FAILED"}.get(status, "KILLED"))
            self.run_id = None

    def _log(self, items: list[tuple[str, float, int]], timestamp: int) -> None:
        from mlflow.entities import Metric

        metrics = [Metric(k, v, timestamp, step) for k, v, step in items]
        for i in range(0, len(metrics), self.BATCH_METRICS):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + self.BATCH_METRICS])


def _param_text(value: Any, limit: int) -> str:
    text = "None" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
