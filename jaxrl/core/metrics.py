"""Host-side metrics: the one definition of a run's final return, and metric bookkeeping.

Metrics come back from the compiled program as ``{name: [seeds, updates]}`` arrays
(more leading axes in a sweep). Everything here is numpy, outside ``jit``.

* ``final_returns(episode_return, episodes, window)``: per run, the mean return of
  the episodes that ended in the last ``window`` updates, each episode weighted
  equally. ``final_window(num_updates)`` is the window every report uses: the last
  5 % of updates, at least one. ``jaxrl train``, ``jaxrl sweep``, ``Result`` and the
  benchmarks all call these two.
* ``final_rewards``: the same for tasks whose episodes never end (a bandit pull is
  one step of an endless task), from the per-step ``reward`` metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "FINAL_WINDOW", "cast", "continuing", "env_steps", "final_returns", "final_rewards",
    "final_window", "flat_metrics", "merge", "metric_columns", "metric_dtypes",
]

# Share of the run (in updates, at the end) whose episodes make the "final return".
FINAL_WINDOW = 0.05


def final_window(num_updates: int, fraction: float = FINAL_WINDOW) -> int:
    """Updates pooled for the final return: ``floor(fraction * num_updates)``, at least 1."""
    return max(1, int(math.floor(fraction * int(num_updates) + 1e-9)))


def final_returns(episode_return: Any, episodes: Any, window: int) -> np.ndarray:
    """Mean return of the episodes ending in the last ``window`` updates.

    Args:
        episode_return: ``float[..., updates]``, per update the mean return of the
            episodes that ended in it (NaN when none did).
        episodes: ``int[..., updates]``, how many episodes ended in each update.
        window: updates to pool, counted from the end (>= 1).

    Returns:
        ``float64[...]``: ``sum_u ret_u * n_u / sum_u n_u`` over the window, so every
        episode weighs the same; NaN where no episode ended in the window.
    """
    ret = np.asarray(episode_return, np.float64)
    if ret.shape[-1] == 0:
        return np.full(ret.shape[:-1], np.nan)
    window = int(window)
    if window < 1:
        raise ValueError(f"the final window must be >= 1 update, got {window}")
    ret = ret[..., -window:]
    n = np.asarray(episodes, np.float64)[..., -window:]
    n = np.where(np.isfinite(ret) & (n > 0), n, 0.0)
    total = np.sum(np.where(n > 0, ret * n, 0.0), axis=-1)
    count = np.sum(n, axis=-1)
    with np.errstate(all="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-12), np.nan)


def continuing(metrics: Mapping[str, Any]) -> bool:
    """No episode ended in the whole run, and a per-step ``reward`` metric exists."""
    episodes = metrics.get("episodes")
    return (episodes is not None and "reward" in metrics and np.asarray(episodes).size > 0
            and not np.any(np.asarray(episodes) > 0))


def final_rewards(metrics: Mapping[str, Any], window: int | None = None) -> np.ndarray:
    """Per run, the mean of the ``reward`` metric over the last ``window`` updates."""
    reward = np.asarray(metrics["reward"], np.float64)
    window = final_window(reward.shape[-1]) if window is None else window
    # Each update's reward counts once: final_returns with one "episode" per update.
    return final_returns(reward, np.ones_like(reward), window)


def env_steps(metrics: Mapping[str, Any]) -> np.ndarray:
    """Environment steps each seed has taken by the end, ``int64[seeds]`` (0 before any update)."""
    steps = np.asarray(metrics.get("env_steps", np.zeros((0, 0))))
    if steps.ndim < 2 or steps.shape[-1] == 0:
        return np.zeros(steps.shape[:1] if steps.ndim else (0,), np.int64)
    return steps[..., -1].astype(np.int64)


def metric_columns(metrics: Mapping[str, Any]) -> list[str]:
    """CSV column order: env_steps, episode_return, episodes, then the rest alphabetically."""
    first = [k for k in ("env_steps", "episode_return", "episodes") if k in metrics]
    return first + sorted(k for k in metrics if k not in first)


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
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


def merge(history: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Chunks of metrics ``[seeds, n_i]`` joined along the updates axis."""
    if not history:
        return {}
    names = list(history[-1])
    return {k: np.concatenate([np.asarray(h[k]) for h in history if k in h], axis=1)
            for k in names}


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


def cast(metrics: Mapping[str, np.ndarray], dtypes: Mapping[str, np.dtype]) -> dict[str, np.ndarray]:
    """Metrics read back from CSV (float64) in the dtypes the algorithm reports them in."""
    return {k: v.astype(dtypes[k]) if k in dtypes else v for k, v in metrics.items()}
