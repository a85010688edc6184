"""Pictures of runs, sweeps and bandit testbeds (matplotlib without pyplot: no display needed).

* ``smooth_returns``: the one smoothing helper (a trailing, episode-weighted moving
  average); every curve in the project and the benchmarks goes through it.
* ``learning_curve``: mean and spread over seeds of the episode return against env
  steps; for a task whose episodes never end (a bandit) the per-step reward instead.
* ``sweep_plot``: a sweep's final return per setting (a heatmap for a two-field grid,
  bars otherwise) beside every setting's learning curve.
* ``bandit_testbed``: the classic two panels of the multi-armed testbed.
* ``return_distribution``: a distributional agent's learned return distribution of
  every action at one state (C51: bars over the atoms; QR-DQN: quantile step functions).
* ``attention_maps``: a relational agent's attention heads over the agent's view.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "attention_maps", "bandit_testbed", "curve_values", "figure", "learning_curve", "return_distribution",
    "save_figure", "smooth_returns", "spin_grids", "sweep_plot", "visitation_maps",
]


def figure(width: float = 7.0, height: float = 4.2, dpi: int = 100) -> Any:
    """A bare matplotlib ``Figure`` with an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


_figure = figure  # the old private name


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Save ``fig`` to ``path`` (the format by its extension; PNG when it has none).

    Drawn in memory, then written whole (``jaxrl.output.files.write_bytes``: never
    through a link, never into a FIFO or device). A PNG carries the text chunk
    ``Software: jaxrl <version>``, by which jaxrl recognises its own pictures.
    """
    import io

    from jaxrl._version import __version__
    from jaxrl.output import files

    files.refuse_odd(path)  # before drawing
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".") or "png"
    buf = io.BytesIO()
    if ext == "png":
        kwargs.setdefault("metadata", {"Software": f"{files.PNG_SOFTWARE} {__version__}"})
    fig.savefig(buf, format=ext, **kwargs)
    files.write_bytes(path, buf.getvalue())


class _quiet:
    """Silence NumPy's warnings about all-NaN slices (curves before the first episode)."""

    def __enter__(self) -> None:
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._w.__exit__(*exc)


def smooth_returns(returns: np.ndarray, episodes: np.ndarray | None, window: int) -> np.ndarray:
    """Trailing moving average along the last axis, weighted by episode counts.

    Entry ``u`` averages the entries ``u - window + 1 .. u`` (fewer at the start),
    each weighted by the episodes behind it, so every episode counts the same; NaN
    entries (no episode ended) weigh nothing, and a window without any episode
    carries the last average forward. With ``episodes=None`` every finite entry
    weighs 1: a plain moving average (of per-pull rewards, episode lengths...).

    Args:
        returns: ``float[..., updates]`` (one row per seed, or a single curve).
        episodes: same shape, episodes behind each entry, or None.
        window: entries per average, >= 1.

    Returns:
        ``float64`` of the same shape; NaN until the first finite entry.
    """
    ret = np.asarray(returns, np.float64)
    squeeze = ret.ndim == 1
    ret = np.atleast_2d(ret)
    w = np.ones_like(ret) if episodes is None else np.atleast_2d(np.asarray(episodes, np.float64))
    w = np.where(np.isfinite(ret), w, 0.0)
    num = np.cumsum(np.where(w > 0, ret * w, 0.0), axis=-1)
    den = np.cumsum(w, axis=-1)
    window = max(int(window), 1)
    num[..., window:] = num[..., window:] - num[..., :-window]
    den[..., window:] = den[..., window:] - den[..., :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)
    # Carry the last average forward through windows without any episode.
    idx = np.where(np.isnan(out), 0, np.arange(out.shape[-1]))
    idx = np.maximum.accumulate(idx, axis=-1)
    out = np.take_along_axis(out, idx, axis=-1)
    return out[0] if squeeze else out


def curve_values(metrics: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None, str]:
    """What a learning curve shows: ``(values, weights, what)``.

    Normally the per-update mean ``episode_return`` weighted by ``episodes``. When
    no episode ever ended and the algorithm reports a per-step ``reward`` (a bandit:
    every pull is one step of an endless task), the mean reward per step instead,
    each update weighing the same, so the curve is not empty.
    """
    from jaxrl.core.metrics import continuing

    if continuing(metrics) or ("episode_return" not in metrics and "reward" in metrics):
        return np.asarray(metrics["reward"], np.float64), None, "reward per step"
    episodes = metrics.get("episodes")
    return (np.asarray(metrics["episode_return"], np.float64),
            None if episodes is None else np.asarray(episodes, np.float64), "episode return")


def learning_curve(
    metrics: Mapping[str, np.ndarray],
    *,
    title: str = "",
    path: str | os.PathLike | None = None,
    window: int | None = None,
    seeds_shown: int = 10,
) -> Any:
    """Mean over seeds against env steps, with a ±1 std band and min/max dashes.

    The curve is the episode return, or the reward per step for a run in which no
    episode ended (``curve_values``); the y label says which.

    Args:
        metrics: ``env_steps`` and ``episode_return`` (and ``episodes``; ``reward``
            for endless tasks) as ``[seeds, updates]``.
        title: the axes title.
        path: save a PNG here.
        window: smoothing window in updates (default 2% of the run, at least 1).
        seeds_shown: draw the individual seeds too when there are at most this many.

    Returns:
        The matplotlib ``Figure``.
    """
    values, weights, what = curve_values(metrics)
    values = np.atleast_2d(values)
    x = np.asarray(metrics["env_steps"], np.float64).reshape(values.shape)[0]
    seeds, updates = values.shape
    window = window or max(1, updates // 50)
    curves = np.atleast_2d(smooth_returns(values, weights, window))
    fig = figure()
    ax = fig.add_subplot(1, 1, 1)
    with _quiet():
        mean = np.nanmean(curves, axis=0)
        std = np.nanstd(curves, axis=0)
        lo, hi = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
    if 1 < seeds <= seeds_shown:
        for c in curves:
            ax.plot(x, c, color="tab:blue", alpha=0.2, linewidth=0.8)
    ax.plot(x, mean, color="tab:blue", linewidth=2,
            label=f"mean of {seeds} seed{'s' * (seeds > 1)}")
    if seeds > 1:
        ax.fill_between(x, mean - std, mean + std, color="tab:blue", alpha=0.25, label="±1 std")
        dashed = {"color": "tab:blue", "linestyle": "--", "linewidth": 0.8, "alpha": 0.7}
        ax.plot(x, lo, label="min / max", **dashed)
        ax.plot(x, hi, **dashed)
    ax.set_xlabel("environment steps (per seed)")
    label = what
    if what == "reward per step":
        label += " (no episode ended)"
    if window > 1:
        label += f"\nmoving average, {window} updates"
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


# ------------------------------------------------------------------------------ sweeps
def _fmt(v: Any) -> str:
    number = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    return f"{v:g}" if number else str(v)


def sweep_plot(
    grid: Mapping[str, Sequence[Any]],
    final: np.ndarray,
    metrics: Mapping[str, np.ndarray],
    *,
    window: int,
    title: str = "",
    path: str | os.PathLike | None = None,
) -> Any:
    """A sweep: final return per setting (left) beside every setting's learning curve.

    Left: a heatmap of the mean final return for a two-field grid (the best setting
    outlined in red, each cell labelled mean and ± std over seeds), otherwise bars
    with ± std error bars, the best in red and every seed as a dot. Right: per
    setting, the seeds' curves smoothed over ``window`` updates (each seed on its own,
    then averaged: averaging first would mix seeds in and out as their episodes end),
    the best setting thick and red.

    Args:
        grid: ``{field: [values]}``; the settings are ``itertools.product`` of the
            values, the last field varying fastest (``jaxrl.runs.sweep``'s order).
        final: ``float[settings, seeds]``, each run's final return (NaN: none).
        metrics: ``[settings, seeds, updates]`` arrays: ``env_steps``,
            ``episode_return``, ``episodes`` (``reward`` for endless tasks).
        window: smoothing window of the curves, in updates.
        title: the figure title.
        path: save a PNG here.

    Returns:
        The matplotlib ``Figure`` (two axes, plus a colorbar for a heatmap).
    """
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    fields = list(grid)
    settings = [dict(zip(fields, values, strict=True))
                for values in itertools.product(*grid.values())]
    final = np.asarray(final, np.float64).reshape(len(settings), -1)
    with _quiet():
        mean = np.nanmean(final, axis=1)
        std = np.nanstd(final, axis=1)
    best = int(np.nanargmax(mean)) if np.isfinite(mean).any() else None
    fig = figure(13, 5)
    ax_l, ax_r = fig.subplots(1, 2)
    if len(fields) == 2:
        a, b = fields
        shape = (len(grid[a]), len(grid[b]))
        cells = mean.reshape(shape)
        im = ax_l.imshow(cells, cmap="viridis", aspect="auto", origin="lower")
        fig.colorbar(im, ax=ax_l, label="final return (mean over seeds)")
        ax_l.set_xticks(range(shape[1]), [_fmt(v) for v in grid[b]])
        ax_l.set_yticks(range(shape[0]), [_fmt(v) for v in grid[a]])
        ax_l.set_xlabel(b)
        ax_l.set_ylabel(a)
        finite = cells[np.isfinite(cells)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(shape[0]):
            for j in range(shape[1]):
                k = i * shape[1] + j
                ax_l.text(j, i, f"{mean[k]:.0f}\n±{std[k]:.0f}", ha="center", va="center",
                          fontsize=8, color="black" if cells[i, j] > mid else "white")
        if best is not None:
            bi, bj = divmod(best, shape[1])
            ax_l.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, edgecolor="red",
                                     linewidth=2.5))
        ax_l.set_title("final return (best outlined)")
    else:
        labels = [", ".join(_fmt(s[f]) for f in fields) for s in settings]
        x = np.arange(len(labels))
        ax_l.bar(x, mean, yerr=std, capsize=3,
                 color=["tab:red" if i == best else "tab:blue" for i in range(len(labels))])
        for i in range(len(labels)):
            ax_l.plot(np.full(final.shape[1], x[i]), final[i], "k.", alpha=0.4, markersize=4)
        ax_l.set_xticks(x, labels, rotation=45 if len(labels) > 4 else 0, ha="right")
        ax_l.set_xlabel(", ".join(fields))
        ax_l.set_ylabel("final return")
        ax_l.set_title("final return per setting (best in red; dots are seeds)")

    cmap = colormaps["viridis"].resampled(max(len(settings), 1))
    what = "episode return"
    for i, setting in enumerate(settings):
        one = {k: np.asarray(v)[i] for k, v in metrics.items()}
        values, weights, what = curve_values(one)
        steps = np.asarray(one["env_steps"]).reshape(np.shape(values))[0]
        with _quiet():
            curve = np.nanmean(np.atleast_2d(smooth_returns(values, weights, window)), axis=0)
        ax_r.plot(steps, curve, color="red" if i == best else cmap(i),
                  linewidth=2.5 if i == best else 1.0,
                  label=", ".join(f"{f}={_fmt(setting[f])}" for f in fields))
    ax_r.set_xlabel("environment steps")
    ax_r.set_ylabel(f"{what} ({window}-update average, mean of seeds)")
    ax_r.set_title("learning curves")
    ax_r.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig


# ------------------------------------------------------------------------------ bandits
def bandit_testbed(result: Any, path: str | os.PathLike | None = None,
                   title: str | None = None) -> Any:
    """The classic two panels: average reward and % optimal action against pulls.

    Args:
        result: a ``jaxrl.algos.bandit_agents.BanditTestbedResult`` (``labels``,
            ``average_reward`` and ``optimal_action`` ``[agents, pulls]``,
            ``best_expected_reward`` ``[pulls]``, ``num_runs``, ``num_pulls``).
        path: if given, the figure is written there (PNG by extension).
        title: a title over both panels.

    Returns:
        The matplotlib ``Figure``.
    """
    fig = figure(10.5, 8.0)
    ax_r, ax_o = fig.subplots(2, 1, sharex=True)
    pulls = np.arange(1, result.num_pulls + 1)
    for i, label in enumerate(result.labels):
        line, = ax_r.plot(pulls, result.average_reward[i], lw=1.0, label=label)
        ax_o.plot(pulls, 100.0 * np.asarray(result.optimal_action[i]), lw=1.0,
                  color=line.get_color())
    ax_r.plot(pulls, result.best_expected_reward, "k:", lw=1.0, label="best arm (mean)")
    ax_r.set_ylabel("Average reward")
    ax_o.set_ylabel("% Optimal action")
    ax_o.set_ylim(0, 100)
    ax_o.set_xlabel("Pulls")
    ax_r.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for ax in (ax_r, ax_o):
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"{result.num_runs} runs x {result.num_pulls} pulls")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


# ------------------------------------------------------------------------------ distributions
def return_distribution(dist: Any, path: str | os.PathLike | None = None, *,
                        action_names: Sequence[str] | None = None, title: str = "") -> Any:
    """The learned return distribution of each action at one state, as chapter 7 draws it.

    C51 (``kind == "categorical"``): one panel per action, a bar per atom of the support
    (its probability). QR-DQN (``"quantile"``): one panel, each action's quantile function
    as a step function (return against the cumulative probability ``tau``). Each action's
    expected return (what greedy actions follow) is marked with a dashed line and named
    in the legend; the greedy action is starred.

    Args:
        dist: a ``jaxrl.algos.dqn.ReturnDistribution`` (``atoms`` and ``probs``
            ``[num_actions, n]``, ``kind``), e.g. ``agent.distribution(state, obs)``.
        path: if given, the figure is written there (PNG by extension).
        action_names: a label per action (default ``action 0``, ``action 1``...).
        title: a title over the figure.

    Returns:
        The matplotlib ``Figure``.
    """
    atoms = np.asarray(dist.atoms, np.float64)
    probs = np.asarray(dist.probs, np.float64)
    num_actions, n = atoms.shape
    names = list(action_names) if action_names is not None else [
        f"action {a}" for a in range(num_actions)]
    means = np.sum(atoms * probs, axis=-1)
    best = int(np.argmax(means))
    labels = [f"{names[a]}{' *' if a == best else ''}: mean {means[a]:.2f}"
              for a in range(num_actions)]
    colors = [f"C{a % 10}" for a in range(num_actions)]
    if dist.kind == "categorical":
        fig = figure(7.0, 1.2 + 1.6 * num_actions)
        axes = np.atleast_1d(fig.subplots(num_actions, 1, sharex=True))
        z = atoms[0]
        width = 0.8 * (z[1] - z[0]) if n > 1 else 0.8
        for a, ax in enumerate(axes):
            ax.bar(z, probs[a], width=width, color=colors[a], label=labels[a])
            ax.axvline(means[a], color="k", ls="--", lw=1.0)
            ax.set_ylabel("probability")
            ax.set_ylim(0, max(1e-3, probs.max()) * 1.1)
            ax.legend(fontsize=8, loc="upper left", frameon=False)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel(f"return ({n} atoms on [{z[0]:g}, {z[-1]:g}])")
    else:
        fig = figure(7.0, 4.2)
        ax = fig.add_subplot(1, 1, 1)
        tau_edges = np.concatenate([[0.0], np.cumsum(probs, axis=-1)[0]])
        for a in range(num_actions):
            q = np.sort(atoms[a])  # a quantile function is non-decreasing in tau
            ax.step(tau_edges, np.append(q, q[-1]), where="post", color=colors[a],
                    label=labels[a])
            ax.axhline(means[a], color=colors[a], ls="--", lw=1.0)
        ax.set_xlabel(f"cumulative probability tau ({n} quantiles)")
        ax.set_ylabel("return")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "learned return distribution per action (dashed: expected return)",
                 fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def spin_grids(env: Any, states: Sequence[Any], titles: Sequence[str],
               path: str | os.PathLike | None = None, suptitle: str = "") -> Any:
    """Many-agent worlds side by side (the Ising grid before and after training).

    Args:
        env: an env with ``render_image(state)`` (``envs.ising``, ``envs.battle``) and
            optionally ``describe(state)`` (added under each title).
        states: unbatched env states (or spin arrays for an Ising env).
        titles: one per state.
        path: where to save the PNG (None: only return the figure).

    Returns:
        The matplotlib ``Figure``.
    """
    if len(states) != len(titles):
        raise ValueError(f"spin_grids needs one title per state, got {len(states)} and "
                         f"{len(titles)}")
    base = getattr(env, "unwrapped", env)
    fig = figure(3.2 * len(states), 3.6)
    for i, (state, title) in enumerate(zip(states, titles)):
        ax = fig.add_subplot(1, len(states), i + 1)
        ax.imshow(base.render_image(state), interpolation="nearest")
        describe = getattr(base, "describe", None)
        ax.set_title(title + (f"\n{describe(state)}" if callable(describe) else ""), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def visitation_maps(walls: Any, counts: Sequence[Any], titles: Sequence[str],
                    path: str | os.PathLike | None = None, suptitle: str = "",
                    goal: tuple[int, int] | None = None) -> Any:
    """Heat maps of visits per cell on a board (a maze before and after training).

    Args:
        walls: ``bool[H, W]``, drawn dark grey (``envs.maze.Maze.walls``).
        counts: visit counts per cell, each ``[H * W]`` or ``[H, W]`` (one panel each;
            ``jaxrl.algos.curiosity.ExplorationState.last`` of one seed, or summed over seeds).
        titles: one per panel (the share of free cells visited is added).
        path: where to save the PNG (None: only return the figure).
        goal: ``(row, col)`` of the goal, marked with a star.

    Returns:
        The matplotlib ``Figure``. Colours are log-scaled visits; white cells were never visited.
    """
    from matplotlib.colors import LogNorm

    walls = np.asarray(walls, bool)
    if len(counts) != len(titles):
        raise ValueError(f"visitation_maps needs one title per map, got {len(counts)} and "
                         f"{len(titles)}")
    maps = [np.asarray(c, np.float64).reshape(walls.shape) for c in counts]
    top = max(1.0, *(float(m.max()) for m in maps))
    fig = figure(3.3 * len(maps), 3.7)
    for i, (m, title) in enumerate(zip(maps, titles)):
        ax = fig.add_subplot(1, len(maps), i + 1)
        shown = np.ma.masked_where((m <= 0) | walls, m)
        ax.imshow(np.where(walls, 0.35, 1.0), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        im = ax.imshow(shown, cmap="viridis", norm=LogNorm(1, top), interpolation="nearest")
        if goal is not None:
            ax.plot(goal[1], goal[0], marker="*", color="red", markersize=12)
        free = int((~walls).sum())
        seen = int(((m > 0) & ~walls).sum())
        ax.set_title(f"{title}\n{seen} of {free} free cells visited", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=fig.axes, shrink=0.8, label="visits")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig


def attention_maps(view: Any, weights: Any, path: str | os.PathLike | None = None, *,
                   query: tuple[int, int] | None = None, title: str = "") -> Any:
    """Which cells each attention head looks at, drawn over the agent's view (chapter 10).

    Args:
        view: the rendered view, RGB ``uint8[h * tile, w * tile, 3]`` whose image rows are
            the observation's second axis (e.g. ``DoorKey.render_view(obs)``).
        weights: one observation's attention, ``[heads, N, N]`` with ``N = w * h`` cells in
            the observation's ``[x, y]`` row-major order (``jaxrl.core.networks.attention_weights``;
            row: the attending cell, column: the cell attended to).
        path: if given, the figure is written there (PNG by extension).
        query: a cell ``(x, y)``: draw what that cell attends to; default: the attention
            each cell receives, averaged over all attending cells.
        title: a title over the figure.

    Returns:
        The matplotlib ``Figure``: the view, then one panel per head with the weights as a
        heat map over it (brighter: more attention; each panel scaled from its own minimum to
        its maximum).
    """
    view = np.asarray(view)
    w_all = np.asarray(weights, np.float64)
    if w_all.ndim != 3 or w_all.shape[1] != w_all.shape[2]:
        raise ValueError(f"attention weights must be [heads, N, N], got shape {w_all.shape}")
    heads, n, _ = w_all.shape
    rows, cols = view.shape[:2]
    side = round(np.sqrt(n))
    if side * side != n or rows % side or cols % side:
        raise ValueError(f"{n} attention cells do not tile a {rows}x{cols} view")
    tile = rows // side
    if query is None:
        received = w_all.mean(axis=1)  # [heads, N]
        what = "attention received (mean over attending cells)"
    else:
        received = w_all[:, query[0] * side + query[1], :]
        what = f"attention of cell {tuple(query)}"
    fig = figure(2.4 * (heads + 1), 2.9)
    axes = fig.subplots(1, heads + 1)
    axes[0].imshow(view)
    axes[0].set_title("agent's view", fontsize=9)
    for h in range(heads):
        grid = received[h].reshape(side, side).T  # [x, y] -> image rows y, columns x
        span = max(grid.max() - grid.min(), 1e-12)  # each head's own range, low to high
        heat = np.kron((grid - grid.min()) / span, np.ones((tile, tile)))
        ax = axes[h + 1]
        ax.imshow(view, alpha=0.45)
        ax.imshow(heat, cmap="inferno", alpha=0.65, vmin=0.0, vmax=1.0)
        top = np.unravel_index(np.argmax(grid), grid.shape)
        ax.set_title(f"head {h + 1} (max {grid.max():.2f} at x={top[1]}, y={top[0]})", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or what, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
