"""Plots of runs and sweeps (matplotlib, drawn without pyplot so no display is needed).

* ``learning_curve``: mean and spread over seeds of the episode return, x in env steps.
* ``sweep_plot``: final return per setting: a heatmap for a two-field grid, a line
  with error bars for a one-field grid, bars otherwise.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np


def _figure(width: float = 7.0, height: float = 4.2) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def smooth_returns(returns: np.ndarray, episodes: np.ndarray | None, window: int) -> np.ndarray:
    """Episode-weighted moving average of per-update mean returns, per seed.

    Args:
        returns: ``float[seeds, updates]``, NaN where no episode ended.
        episodes: ``float[seeds, updates]`` episodes behind each entry (None: 1 each).
        window: updates per average (trailing window).

    Returns:
        ``float64[seeds, updates]``; NaN until the first episode ends.
    """
    ret = np.asarray(returns, np.float64)
    w = np.ones_like(ret) if episodes is None else np.asarray(episodes, np.float64)
    w = np.where(np.isfinite(ret), w, 0.0)
    num = np.cumsum(np.where(w > 0, ret * w, 0.0), axis=1)
    den = np.cumsum(w, axis=1)
    window = max(int(window), 1)
    num[:, window:] = num[:, window:] - num[:, :-window]
    den[:, window:] = den[:, window:] - den[:, :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
    # Carry the last average forward through windows without any episode.
    idx = np.where(np.isnan(out), 0, np.arange(out.shape[1]))
    idx = np.maximum.accumulate(idx, axis=1)
    return np.take_along_axis(out, idx, axis=1)


def learning_curve(
    metrics: Mapping[str, np.ndarray],
    *,
    title: str = "",
    path: str | os.PathLike | None = None,
    window: int | None = None,
    seeds_shown: int = 10,
) -> Any:
    """Mean return over seeds against env steps, with a ±1 std band and min/max dashes.

    Args:
        metrics: ``episode_return``, ``env_steps`` (and ``episodes``) as ``[seeds, updates]``.
        title: the axes title.
        path: save a PNG here.
        window: smoothing window in updates (default 2% of the run, at least 1).
        seeds_shown: draw the individual seeds too when there are at most this many.

    Returns:
        The matplotlib ``Figure``.
    """
    ret = np.asarray(metrics["episode_return"], np.float64)
    x = np.asarray(metrics["env_steps"], np.float64)[0]
    seeds, updates = ret.shape
    window = window or max(1, updates // 50)
    curves = smooth_returns(ret, metrics.get("episodes"), window)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before the first episode
        mean = np.nanmean(curves, axis=0)
        std = np.nanstd(curves, axis=0)
        lo, hi = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
    if 1 < seeds <= seeds_shown:
        for c in curves:
            ax.plot(x, c, color="tab:blue", alpha=0.2, linewidth=0.8)
    ax.plot(x, mean, color="tab:blue", linewidth=2, label=f"mean of {seeds} seed{'s' * (seeds > 1)}")
    if seeds > 1:
        ax.fill_between(x, mean - std, mean + std, color="tab:blue", alpha=0.25, label="±1 std")
        ax.plot(x, lo, color="tab:blue", linestyle="--", linewidth=0.8, alpha=0.7, label="min / max")
        ax.plot(x, hi, color="tab:blue", linestyle="--", linewidth=0.8, alpha=0.7)
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel("episode return" + (f" (moving average, {window} updates)" if window > 1 else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def sweep_plot(
    settings: Sequence[Mapping[str, Any]],
    final: np.ndarray,
    *,
    title: str = "",
    path: str | os.PathLike | None = None,
) -> Any:
    """Final return per setting of a grid.

    Args:
        settings: one dict of field values per setting.
        final: ``float[settings, seeds]`` final return of every seed of every setting.
        title: the axes title.
        path: save a PNG here.

    Returns:
        The matplotlib ``Figure``: a heatmap (two varied fields), a line with ±1 std
        error bars (one field), or bars (more fields).
    """
    final = np.asarray(final, np.float64)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(final, axis=1)
        std = np.nanstd(final, axis=1)
    fields = [k for k in settings[0] if len({repr(s[k]) for s in settings}) > 1] if settings else []
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    if len(fields) == 2:
        a, b = fields
        xs = _unique([s[a] for s in settings])
        ys = _unique([s[b] for s in settings])
        grid = np.full((len(ys), len(xs)), np.nan)
        for s, m in zip(settings, mean):
            grid[ys.index(s[b]), xs.index(s[a])] = m
        im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        for i in range(len(ys)):
            for j in range(len(xs)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(im, ax=ax, label="final return (mean over seeds)")
    elif len(fields) == 1:
        (a,) = fields
        xs = [s[a] for s in settings]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        pos = np.asarray(xs, float) if numeric else np.arange(len(xs))
        ax.errorbar(pos, mean, yerr=std, marker="o", capsize=4)
        if numeric and np.all(pos > 0) and pos.max() / pos.min() >= 10:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_xlabel(a)
        ax.set_ylabel("final return (mean ± std over seeds)")
        ax.grid(alpha=0.3)
    else:
        labels = [", ".join(f"{k}={s[k]}" for k in (fields or list(s))) for s in settings]
        ax.bar(np.arange(len(labels)), mean, yerr=std, capsize=4)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("final return (mean ± std over seeds)")
    ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    try:
        return sorted(out)
    except TypeError:
        return out
