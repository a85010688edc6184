"""Comparing runs the way rliable does: interval estimates, not mean ± std.

``compare(["ppo=runs/ppo-cp", "dqn=runs/dqn-cp"])`` (``jaxrl compare`` on the command
line) reads run directories (``jaxrl train --out``) and sweep directories
(``jaxrl sweep``), takes one score per seed of every run, and hands them to rliable
(Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"):

* per agent, the interquartile mean (IQM), median and mean (and, for normalised
  scores, the optimality gap) with stratified-bootstrap 95 % confidence intervals
  (``rliable.library.get_interval_estimates`` with ``rliable.metrics``);
* for every ordered pair of agents, the probability of improvement ``P(X > Y)`` with
  its interval; a pair is significant when its interval excludes 0.5;
* figures: performance profiles (``rliable.library.create_performance_profile``) and
  the aggregate intervals (``rliable.plot_utils``).

The numbers are rliable's own: before each ``get_interval_estimates`` call (aggregates
over all agents, in the order given; the probability of improvement over all ordered
pairs, in ``Comparison.pairs`` order; the profiles) NumPy's global generator is seeded
with ``seed`` (rliable's bootstrap draws from it), and restored afterwards.

Scores: a run's **final return** per seed (``Result.final_return``: the mean return of
the episodes ending in the last 5 % of updates; a bandit's mean reward per step), or
with ``evaluate=N`` the mean return of ``N`` greedy episodes per seed. Runs on different
environments are different *tasks*: an agent is a label (``NAME=DIR``, or by default
the algorithm, told apart by the config fields that differ) and its score matrix is
``[runs x tasks]``. Across several tasks the scores must be normalised with a reference
range per environment (``reference={"CartPole-v1": (0, 500)}``): ``(x - low) / (high -
low)``.

rliable is an optional dependency: ``pip install "jaxrl[compare]"``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl.errors import RunError

__all__ = [
    "FIGURES", "JSON_FILE", "Comparison", "Pair", "compare", "compare_scores", "parse_reference",
    "prepare_output", "require_rliable",
]

#: The files ``Comparison.save`` writes (and ``jaxrl compare --out DIR``).
FIGURES = ("performance_profile.png", "aggregate_intervals.png")
#: The JSON file ``Comparison.save`` writes beside them (``Comparison.to_dict``).
JSON_FILE = "compare.json"
INSTALL = 'comparing runs needs rliable: pip install "jaxrl[compare]"'
FEW_RUNS = 3  # fewer runs per task than this: the intervals say little
CONFIDENCE = 0.95
_MARK = "jaxrl_compare"  # the key by which compare.json is recognised as jaxrl's


def require_rliable() -> Any:
    """The ``rliable`` package (with its ``library`` and ``metrics``), or ``RunError``
    in one line naming the extra to install."""
    try:
        import rliable
        import rliable.library
        import rliable.metrics
    except ImportError:
        raise RunError(INSTALL) from None
    except Exception as e:  # noqa: BLE001 - an install whose dependencies do not import
        raise RunError(f"rliable is installed but does not import ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''}); reinstall it: "
                       f'pip install "jaxrl[compare]"') from None
    return rliable


# ------------------------------------------------------------------------------ reading
@dataclasses.dataclass
class _Run:
    """One run's scores (or one setting of an old sweep) before grouping."""

    label: str
    explicit: bool  # the user named it (NAME=DIR)
    task: str
    scores: np.ndarray  # float64[seeds], NaN for a seed left out
    source: str
    algorithm: str
    config: dict[str, Any]
    setting: str = ""  # a sweep setting, as text


def _read_json(path: Path) -> Any:
    from jaxrl.output import files

    try:
        return json.loads(files.read_bytes(path, files.SMALL_FILE))
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise RunError(f"{path} is not valid JSON ({str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from None


def _setting_text(setting: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else f"{k}={v}" for k, v in setting.items())


def _run_scores(path: Path, evaluate: int | None, include_incomplete: bool, trust_code: bool,
                notes: list[str]) -> tuple[Any, np.ndarray] | None:
    """``(Result, scores)`` of the run in ``path``; None (with a note) when it is left out."""
    from jaxrl.runs import run

    result = run.load(path, trust_code=trust_code)
    if not result.complete:
        if not include_incomplete:
            notes.append(f"left out: {path} stopped after {result.updates_done} of "
                         f"{result.spec.num_updates} updates (finish it with 'jaxrl train "
                         f"--resume {path}', or include it as it is with --include-incomplete)")
            return None
        notes.append(f"{path} is incomplete: scored after {result.updates_done} of "
                     f"{result.spec.num_updates} updates")
    seeds = np.arange(result.seeds)
    if evaluate:
        acting = result.acting_seeds
        scores = np.full(result.seeds, np.nan)
        if acting:
            ev = result.evaluate(episodes=evaluate, greedy=True, seed=0)
            returns = np.asarray(ev.returns, np.float64)
            scores[list(acting)] = returns.reshape(len(acting), -1).mean(axis=1)
        bad = [int(s) for s in seeds if s not in acting]
        if bad:
            notes.append(f"left out: seed(s) {', '.join(map(str, bad))} of {path}, whose "
                         f"parameters are non-finite (no policy to evaluate)")
        return result, scores
    summary = result.summary_json()
    scores = np.array([np.nan if v is None else float(v) for v in summary["final_return"]])
    if summary.get("final_is_reward_per_step"):
        notes.append(f"{path}: no episode ever ends on {result.env_name}; scored by the mean "
                     f"reward per step over the same window")
    masked = set(result.bad_seeds)
    if masked:
        notes.append(f"left out: seed(s) {', '.join(map(str, sorted(masked)))} of {path}, whose "
                     f"loss or parameters became non-finite")
    empty = [int(s) for s in seeds if s not in masked and not np.isfinite(scores[s])]
    if empty:
        notes.append(f"left out: seed(s) {', '.join(map(str, empty))} of {path}, which ended "
                     f"no episode in the final window")
    return result, scores


def _value(text: str) -> Any:
    """A setting's value as ``sweep.csv`` writes it (``repr``), back as a number."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _sweep_csv(path: Path, data: Mapping[str, Any], label: str | None,
               kept: set[str]) -> list[_Run]:
    """The settings of a sweep that were not kept as runs (``kept``: their settings as
    text; all of them in a sweep saved before settings were kept): their final returns
    from ``sweep.csv`` (none when it is missing and some setting was kept)."""
    from jaxrl.output import files

    where = path / "sweep.json"
    algo, env, grid = data.get("algorithm"), data.get("env"), data.get("grid")
    if not (isinstance(algo, str) and isinstance(env, str) and isinstance(grid, dict) and grid):
        raise RunError(f"{where} is damaged: it must name 'algorithm', 'env' and 'grid'")
    csv_path = path / "sweep.csv"
    try:
        text = files.read_bytes(csv_path, 256 * 2**20).decode()
    except FileNotFoundError:
        if kept:
            return []
        raise RunError(f"{path} is a sweep without its sweep.csv (the final returns); "
                       f"restore it, or sweep again") from None
    except (OSError, RunError, UnicodeDecodeError) as e:
        raise RunError(f"cannot read {csv_path}: {getattr(e, 'strerror', None) or e}") from None
    rows = list(csv.reader(io.StringIO(text)))
    fields = list(grid)
    header = [*fields, "seed", "final_return"]
    if not rows or rows[0] not in (header, ["run", *header]):
        raise RunError(f"{csv_path} is damaged: its header must be {','.join(header)}")
    with_run = rows[0][0] == "run"
    per_setting: dict[tuple[str, ...], dict[int, float]] = {}
    for i, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            if len(row) != len(rows[0]):
                raise ValueError
            seed, value = int(row[-2]), float(row[-1])
        except ValueError:
            raise RunError(f"{csv_path}, line {i}: not a setting, a seed and a final return; "
                           f"the file is damaged") from None
        if with_run and row[0]:
            continue  # kept as a run: read from its run directory
        per_setting.setdefault(tuple(row[int(with_run):-2]), {})[seed] = value
    out = []
    for values, by_seed in per_setting.items():
        setting = _setting_text({f: _value(v) for f, v in zip(fields, values)})
        if setting in kept:
            continue  # read from its run directory
        scores = np.array([by_seed[s] for s in sorted(by_seed)], np.float64)
        out.append(_Run(label=f"{label or algo} {setting}", explicit=label is not None,
                        task=env, scores=scores, source=f"{path} [{setting}]", algorithm=algo,
                        config={}, setting=setting))
    return out


def _read(item: str, evaluate: int | None, include_incomplete: bool, trust_code: bool,
          notes: list[str]) -> list[_Run]:
    """The runs ``item`` (``DIR`` or ``NAME=DIR``) stands for: one for a run directory,
    one per setting for a sweep directory."""
    label: str | None = None
    text = os.fspath(item)
    if "=" in text and not Path(text).exists():
        label, text = (s.strip() for s in text.split("=", 1))
        if not label:
            raise RunError(f"{item!r}: NAME=DIR needs a name before '='")
    path = Path(text)
    if not path.exists():
        raise RunError(f"{path} does not exist (give run directories written by 'jaxrl train' "
                       f"or sweep directories written by 'jaxrl sweep')")
    if not path.is_dir():
        raise RunError(f"{path} is not a directory (give a run or a sweep directory)")
    if (path / "config.json").exists() or (path / "config.json").is_symlink():
        got = _run_scores(path, evaluate, include_incomplete, trust_code, notes)
        if got is None:
            return []
        result, scores = got
        return [_Run(label=label or result.algorithm, explicit=label is not None,
                     task=result.env_name, scores=scores, source=str(path),
                     algorithm=result.algorithm, config=dict(result.spec.config))]
    if not (path / "sweep.json").exists():
        raise RunError(f"{path} is neither a run directory (no config.json) nor a sweep "
                       f"directory (no sweep.json)")
    data = _read_json(path / "sweep.json")
    if not isinstance(data, dict):
        raise RunError(f"{path / 'sweep.json'} is damaged (not a JSON object)")
    entries = data.get("runs") or []
    if not isinstance(entries, list):
        raise RunError(f"{path / 'sweep.json'}: 'runs' must be a list; the file is damaged")
    out = []
    if evaluate:
        if not entries:
            raise RunError(f"{path} is a sweep that kept no setting as a run, so there is no "
                           f"policy to evaluate: drop --evaluate to compare its final returns, "
                           f"or sweep again keeping the settings (jaxrl sweep --keep)")
        grid = data.get("grid")
        total = math.prod(len(v) for v in grid.values() if isinstance(v, list)) \
            if isinstance(grid, dict) else len(entries)
        if total > len(entries):
            notes.append(f"left out: {total - len(entries)} setting(s) of {path} not kept as "
                         f"runs (no policy to evaluate)")
    else:
        kept = {_setting_text(e["setting"]) for e in entries
                if isinstance(e, dict) and isinstance(e.get("setting"), dict)}
        out += _sweep_csv(path, data, label, kept)
        if out:
            notes.append(f"{path}: {len(out)} setting(s) not kept as runs, scored by the final "
                         f"returns in its sweep.csv")
    root = path.resolve()
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("dir"), str)
                and isinstance(entry.get("setting", {}), dict)):
            raise RunError(f"{path / 'sweep.json'}: each of 'runs' must hold 'dir' and "
                           f"'setting'; the file is damaged")
        run_path = path / entry["dir"]
        if Path(entry["dir"]).is_absolute() or root not in [run_path.resolve(),
                                                            *run_path.resolve().parents]:
            raise RunError(f"{path / 'sweep.json'}: run {entry['dir']!r} lies outside the "
                           f"sweep; the file is damaged")
        setting = _setting_text(entry.get("setting") or {}) or str(entry.get("label", ""))
        got = _run_scores(run_path, evaluate, include_incomplete, trust_code, notes)
        if got is None:
            continue
        result, scores = got
        out.append(_Run(label=f"{label or result.algorithm} {setting}".strip(),
                        explicit=label is not None, task=result.env_name, scores=scores,
                        source=str(run_path), algorithm=result.algorithm,
                        config=dict(result.spec.config), setting=setting))
    grid = data.get("grid")
    if isinstance(grid, dict) and all(isinstance(v, list) for v in grid.values()):
        order = {_setting_text(dict(zip(grid, values))): i
                 for i, values in enumerate(itertools.product(*grid.values()))}
        out.sort(key=lambda r: order.get(r.setting, len(order)))  # the sweep's own order
    return out


def _disambiguate(runs: list[_Run]) -> None:
    """Default labels that clash on one task get the config fields that differ there
    (added to every run of that label, so an agent still spans its tasks), then the
    directory's name."""
    from jaxrl.core.config import dotted

    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str)

    groups: dict[tuple[str, str], list[_Run]] = {}
    for r in runs:
        if not r.explicit:
            groups.setdefault((r.label, r.task), []).append(r)
    differ: dict[str, list[str]] = {}  # base label -> fields that tell its runs apart
    for (label, _), group in groups.items():
        if len(group) > 1:
            flat = [dotted(r.config) for r in group if r.config]  # a sweep.csv row has none
            keys = sorted(set().union(*flat))
            found = [k for k in keys if len({text(f.get(k)) for f in flat}) > 1]
            differ[label] = sorted(set(differ.get(label, [])) | set(found))
    for r in runs:
        if not r.explicit and r.config and differ.get(r.label):
            mine = dotted(r.config)
            extra = ",".join(f"{k}={mine[k]:g}" if isinstance(mine.get(k), (int, float))
                             and not isinstance(mine.get(k), bool) else f"{k}={mine.get(k)}"
                             for k in differ[r.label])
            r.label = f"{r.label} {extra}"
    seen: dict[tuple[str, str], int] = {}
    for r in runs:
        seen[r.label, r.task] = seen.get((r.label, r.task), 0) + 1
    for r in runs:
        if not r.explicit and seen[r.label, r.task] > 1:
            r.label = f"{r.label} ({Path(r.source).name})"


# ------------------------------------------------------------------------------ result
@dataclasses.dataclass(frozen=True)
class Pair:
    """The probability of improvement of agent ``x`` over agent ``y``: ``P(X > Y)``,
    averaged over tasks, with its confidence interval ``[low, high]``."""

    x: str
    y: str
    probability: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0.5 (X better, or worse, than Y by more than chance)."""
        return self.low > 0.5 or self.high < 0.5


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What ``compare`` measured.

    Attributes:
        agents: the agents' labels, in the order given.
        tasks: the environments (rliable's tasks), the score matrices' columns.
        scores: ``{agent: float64[runs, tasks]}``, the matrices handed to rliable
            (normalised when ``reference`` is given).
        score_kind: which score each run's seed gave, in words.
        reference: ``{env: (low, high)}`` the normalisation used (empty: raw scores).
        metrics: the statistics' names, the columns of ``point`` and ``interval``.
        point: ``{agent: float64[metrics]}``, rliable's point estimates.
        interval: ``{agent: float64[2, metrics]}``, lower and upper bounds.
        pairs: every ordered pair of agents (``itertools.permutations`` order).
        reps, seed: the bootstrap's replications and NumPy seed.
        confidence: the intervals' coverage (0.95).
        sources: ``{agent: [directories]}`` each agent's scores came from.
        notes: what was left out, and why; warnings about few runs.
    """

    agents: list[str]
    tasks: list[str]
    scores: dict[str, np.ndarray]
    score_kind: str
    reference: dict[str, tuple[float, float]]
    metrics: list[str]
    point: dict[str, np.ndarray]
    interval: dict[str, np.ndarray]
    pairs: list[Pair]
    reps: int
    seed: int
    confidence: float
    sources: dict[str, list[str]]
    notes: list[str]

    @property
    def normalized(self) -> bool:
        """Whether the scores were normalised with a reference range per task."""
        return bool(self.reference)

    def table(self) -> str:
        """The comparison as text: one row per agent (each statistic with its interval),
        then the probability of improvement of each pair, then the notes."""
        from jaxrl.output.logging import table

        what = "normalised score" if self.normalized else "score"
        tasks = ", ".join(self.tasks)
        head = (f"{len(self.agents)} agent(s) on {len(self.tasks)} task(s) ({tasks}); {what}: "
                f"{self.score_kind}")
        cols = ["agent", "runs", *(f"{m} [{self.confidence:.0%} CI]" for m in self.metrics)]
        rows = []
        scale = max(float(np.max(np.abs(x))) for x in self.scores.values())
        digits = 3 if scale < 10 else 2 if scale < 100 else 1
        for a in self.agents:
            lo, hi = self.interval[a]
            cells = [f"{p:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
                     for p, low, high in zip(self.point[a], lo, hi)]
            rows.append([a, self.scores[a].shape[0], *cells])
        lines = [head, table(cols, rows)]
        if self.pairs:
            lines.append("")
            lines.append(table(
                ["P(X > Y)", "X", "Y", f"{self.confidence:.0%} CI", "significant"],
                [[f"{p.probability:.3f}", p.x, p.y, f"[{p.low:.3f}, {p.high:.3f}]",
                  f"yes, {p.x if p.low > 0.5 else p.y} better" if p.significant
                  else "no"] for p in self.pairs]))
        lines.append(
            f"stratified bootstrap ({self.reps} reps, --seed {self.seed}), rliable's "
            f"estimates: IQM over all runs and tasks; median and mean of the per-task means"
            + ("; optimality gap below 1" if "optimality gap" in self.metrics else "")
            + (" (one task: the median is the mean)" if len(self.tasks) == 1 else ""))
        lines += self.notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON values (``compare.json``): the score matrices too, so
        anyone can run rliable on them again."""
        from jaxrl._version import __version__

        def fl(x: Any) -> Any:
            return [fl(v) for v in x] if isinstance(x, (list, np.ndarray)) else float(x)

        return {
            _MARK: __version__,
            "agents": list(self.agents),
            "tasks": list(self.tasks),
            "score": self.score_kind,
            "reference": {k: list(v) for k, v in self.reference.items()},
            "metrics": list(self.metrics),
            "confidence": self.confidence,
            "reps": self.reps,
            "seed": self.seed,
            "bootstrap": "rliable stratified bootstrap, percentile intervals; numpy.random.seed"
                         "(seed) before each get_interval_estimates call (aggregates: all "
                         "agents in order; probability of improvement: all pairs in order)",
            "results": {a: {"runs": int(self.scores[a].shape[0]),
                            "sources": list(self.sources[a]),
                            **{m: {"point": float(self.point[a][i]),
                                   "low": float(self.interval[a][0, i]),
                                   "high": float(self.interval[a][1, i])}
                               for i, m in enumerate(self.metrics)},
                            "scores": fl(self.scores[a])} for a in self.agents},
            "probability_of_improvement": [
                {"x": p.x, "y": p.y, "probability": p.probability, "low": p.low,
                 "high": p.high, "significant": p.significant} for p in self.pairs],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """``to_dict()`` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def plot(self, out_dir: str | os.PathLike, overwrite: bool = False) -> list[Path]:
        """Write the performance profile and the aggregate intervals (``FIGURES``, PNGs
        tagged ``Software: jaxrl <version>``) into ``out_dir``; returns their paths.

        ``out_dir`` is created; a file there that jaxrl did not write is never replaced,
        one it wrote only with ``overwrite``; a run directory is refused.
        """
        out = prepare_output(out_dir, overwrite, FIGURES)
        return self._plot(out)

    def save(self, out_dir: str | os.PathLike, overwrite: bool = False) -> list[Path]:
        """``plot`` and ``compare.json`` (``to_json``) into ``out_dir``; returns the paths."""
        from jaxrl.output import files

        out = prepare_output(out_dir, overwrite)
        paths = self._plot(out)
        files.write_bytes(out / JSON_FILE, self.to_json().encode())
        return [*paths, out / JSON_FILE]

    def _plot(self, out: Path) -> list[Path]:
        require_rliable()
        import matplotlib.pyplot as plt  # rliable's interval plot draws through pyplot
        from rliable import library as rly
        from rliable import plot_utils

        from jaxrl.output.plotting import figure, save_figure

        low = min(float(s.min()) for s in self.scores.values())
        high = max(float(s.max()) for s in self.scores.values())
        if self.normalized:
            low, high = min(low, 0.0), max(high, 1.0)
        pad = 0.02 * (high - low) if high > low else 0.5
        taus = np.linspace(low - pad, high + pad, 61)
        with _seeded(self.seed):
            profiles, profile_cis = rly.create_performance_profile(
                {a: self.scores[a] for a in self.agents}, taus, reps=self.reps)
        what = "normalised score" if self.normalized else "score"
        fig = figure(7.0, 4.5)
        ax = fig.add_subplot()
        plot_utils.plot_performance_profiles(
            profiles, taus, performance_profile_cis=profile_cis, ax=ax,
            xlabel=rf"{what} ($\tau$)", ylabel=r"fraction of runs with score $> \tau$",
            labelsize="large", ticklabelsize="medium")
        # by hand: matplotlib leaves out of a legend every label that starts with "_"
        ax.legend(ax.get_lines()[:len(self.agents)], self.agents, fontsize="medium")
        ax.set_title(f"performance profiles on {', '.join(self.tasks)} "
                     f"({self.confidence:.0%} CIs)", fontsize="medium")
        fig.tight_layout()
        paths = [out / FIGURES[0]]
        save_figure(fig, paths[0])

        fig, axes = plot_utils.plot_interval_estimates(
            self.point, self.interval, metric_names=self.metrics, algorithms=self.agents,
            xlabel=what, subfigure_width=3.4, row_height=0.6)
        try:
            for t in list(fig.texts):  # rliable's x label sits below the figure: ours, inside
                t.remove()
            height = 0.6 * len(self.agents) + 2.0
            fig.set_size_inches(3.4 * len(self.metrics) + 2.0, height)
            fig.subplots_adjust(top=1 - 0.8 / height, bottom=0.85 / height, left=0.0,
                                wspace=0.11)
            fig.supxlabel(what, fontsize="large", y=0.1 / height, va="bottom")
            fig.suptitle(f"{self.confidence:.0%} stratified bootstrap intervals "
                         f"({self.reps} reps)", fontsize="large", y=1 - 0.1 / height,
                         va="top")
            for a in np.atleast_1d(axes):
                a.invert_yaxis()  # the first agent on top, as in the table
                a.tick_params(labelsize="medium")
                a.title.set_fontsize("large")
            paths.append(out / FIGURES[1])
            save_figure(fig, paths[1], bbox_inches="tight")
        finally:
            plt.close(fig)
        return paths


class _seeded:
    """NumPy's global generator seeded with ``seed`` inside the block (rliable's bootstrap
    draws from it), the caller's state restored afterwards."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self) -> None:
        self.saved = np.random.get_state()
        np.random.seed(self.seed)

    def __exit__(self, *exc: Any) -> None:
        np.random.set_state(self.saved)


def _is_ours(path: Path) -> bool:
    from jaxrl.output import files

    if path.is_symlink() or not path.is_file():
        return False
    if path.suffix == ".png":
        return (files.png_software(path) or "").startswith(files.PNG_SOFTWARE)
    try:
        data = json.loads(files.read_bytes(path, files.SMALL_FILE))
    except (OSError, RunError, ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and _MARK in data


def prepare_output(out_dir: str | os.PathLike, overwrite: bool = False,
                   names: Sequence[str] = (*FIGURES, JSON_FILE), create: bool = True) -> Path:
    """``out_dir`` for a comparison's files ``names``: created (unless not ``create``:
    only checked) and writable, never a run (or sweep) directory; a file of ``names``
    there is replaced only when jaxrl wrote it and ``overwrite`` is given (``RunError``
    otherwise)."""
    import tempfile

    from jaxrl.output import files

    out = Path(out_dir).expanduser()
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RunError(f"--out {out} is {files.kind(out)}, not a directory; choose another")
    if files.is_run_dir(out) or (out / "sweep.json").exists():
        raise RunError(f"--out {out} is a run or sweep directory; jaxrl never writes a "
                       f"comparison into one: choose another directory")
    files.refuse_run_files([out / n for n in names])
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=out):
                pass
        except OSError as e:
            raise RunError(f"cannot write --out {out}: {e.strerror or e}") from None
    existing = [n for n in names if (out / n).exists() or (out / n).is_symlink()]
    foreign = [n for n in existing if not _is_ours(out / n)]
    if foreign:
        raise RunError(f"{out} holds {', '.join(foreign)} that jaxrl did not write; choose "
                       f"another --out (jaxrl never replaces a file it did not write)")
    if existing and not overwrite:
        raise RunError(f"{out} already holds {', '.join(existing)}; pass --overwrite to "
                       f"replace them, or choose another --out")
    return out


# ------------------------------------------------------------------------------ compare
def parse_reference(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    """``["ENV=LOW:HIGH", ...]`` (``--reference``) as ``{env: (low, high)}``; ``RunError``
    for a malformed item."""
    out: dict[str, tuple[float, float]] = {}
    for item in items:
        m = re.fullmatch(r"\s*(.+?)\s*=\s*([^:]+?)\s*:\s*(.+?)\s*", item)
        try:
            if not m:
                raise ValueError
            low, high = float(m.group(2)), float(m.group(3))
        except ValueError:
            raise RunError(f"--reference takes ENV=LOW:HIGH (e.g. CartPole-v1=0:500), got "
                           f"{item!r}") from None
        if m.group(1) in out:
            raise RunError(f"--reference gives {m.group(1)} twice; give its range once")
        out[m.group(1)] = (low, high)
    return out


def _check_reference(reference: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    out = {}
    for env, pair in reference.items():
        try:
            low, high = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise RunError(f"reference[{env!r}] must be (low, high), got {pair!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and high != low):
            raise RunError(f"reference for {env}: low and high must be finite and differ, "
                           f"got {low:g}:{high:g}")
        out[str(env)] = (low, high)
    return out


def compare(
    runs: Sequence[str | os.PathLike],
    *,
    evaluate: int | None = None,
    reference: Mapping[str, tuple[float, float]] | None = None,
    reps: int = 2000,
    seed: int = 0,
    include_incomplete: bool = False,
    trust_code: bool = False,
) -> Comparison:
    """Compare runs with rliable's interval estimates (the module's docstring says how).

    Args:
        runs: run or sweep directories; ``"NAME=DIR"`` names the agent (runs of one
            name on different environments are one agent on several tasks; on the same
            environment their seeds are pooled). A sweep gives one agent per setting.
        evaluate: score each seed by the mean return of this many greedy episodes
            (default: the final training return).
        reference: ``{env: (low, high)}``; scores become ``(x - low) / (high - low)``.
            Needed when the runs span several environments.
        reps: bootstrap replications.
        seed: NumPy seed of the bootstrap (the same seed gives the same intervals as
            rliable called directly on ``Comparison.scores``).
        include_incomplete: score runs that stopped before their last update (default:
            left out, with a note).
        trust_code: as for ``jaxrl.load``.

    Returns:
        ``Comparison`` (``print`` it; ``.save(dir)`` writes the figures and JSON).

    Raises:
        RunError: rliable missing, a directory that is not a run or a sweep, a damaged
            file, several environments without ``reference``, no score left to compare.
    """
    require_rliable()  # before reading anything: one line naming the extra
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs]
    if not runs:
        raise RunError("compare needs at least one run or sweep directory")
    for name, value, low in (("reps", reps, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise RunError(f"{name} must be an integer >= {low}, got {value!r}")
    if seed >= 2**32:
        raise RunError(f"seed must be below 2**32 (a NumPy seed), got {seed}")
    if evaluate is not None and (isinstance(evaluate, bool) or not isinstance(evaluate, int)
                                 or evaluate < 1):
        raise RunError(f"evaluate must be a number of episodes >= 1, got {evaluate!r}")
    reference = _check_reference(reference or {})

    notes: list[str] = []
    read: list[_Run] = []
    for item in runs:
        read += _read(os.fspath(item), evaluate, include_incomplete, trust_code, notes)
    seen: dict[str, str] = {}
    for r in read:
        where = os.path.realpath(r.source) if not r.setting or Path(r.source).is_dir() \
            else r.source
        if where in seen:
            raise RunError(f"{r.source} is given twice (its seeds would count twice); give "
                           f"each run once")
        seen[where] = r.source
    if not read:
        raise RunError("no run is left to compare (see above: "
                       + "; ".join(notes)[:300] + ")" if notes else "no run to compare")
    _disambiguate(read)

    tasks = list(dict.fromkeys(r.task for r in read))
    unknown = sorted(set(reference) - set(tasks))
    if unknown:
        raise RunError(f"--reference names {', '.join(unknown)}, which no run trained on; the "
                       f"runs' environments: {', '.join(tasks)}")
    if reference and set(reference) != set(tasks):
        missing = [t for t in tasks if t not in reference]
        raise RunError(f"--reference gives no range for {', '.join(missing)}; normalise every "
                       f"environment (ENV=LOW:HIGH for each) or none")
    if len(tasks) > 1 and not reference:
        raise RunError(f"the runs are on {len(tasks)} environments ({', '.join(tasks)}), whose "
                       f"returns are on different scales: give each a range with --reference "
                       f"ENV=LOW:HIGH (library: reference={{env: (low, high)}}) to compare "
                       f"normalised scores")

    # Agents x tasks: seeds of one label on one task are pooled.
    cells: dict[str, dict[str, list[np.ndarray]]] = {}
    sources: dict[str, list[str]] = {}
    for r in read:
        cells.setdefault(r.label, {}).setdefault(r.task, []).append(r.scores)
        sources.setdefault(r.label, []).append(r.source)
    for label, by_task in cells.items():
        for task, parts in by_task.items():
            if len(parts) > 1:
                notes.append(f"{label} on {task}: the seeds of {len(parts)} runs pooled")
    common = [t for t in tasks if all(t in by_task for by_task in cells.values())]
    if not common:
        raise RunError("no environment is common to all agents: " + "; ".join(
            f"{a} on {', '.join(t)}" for a, t in cells.items()) + " (name runs NAME=DIR so "
            "that one agent spans the environments)")
    for a, by_task in cells.items():
        dropped = [t for t in by_task if t not in common]
        if dropped:
            notes.append(f"left out: {a} on {', '.join(dropped)} (not every agent ran there)")

    scores: dict[str, np.ndarray] = {}
    for a, by_task in cells.items():
        columns = []
        for t in common:
            x = np.concatenate(by_task[t])
            x = x[np.isfinite(x)]
            if reference:
                bottom, top = reference[t]
                x = (x - bottom) / (top - bottom)
            columns.append(x)
        n = min(len(c) for c in columns)
        if n == 0:
            empty = [t for t, c in zip(common, columns) if len(c) == 0]
            notes.append(f"left out: {a}, which has no finite score on {', '.join(empty)}")
            continue
        if any(len(c) != n for c in columns):
            notes.append(f"{a}: {', '.join(f'{len(c)} on {t}' for t, c in zip(common, columns))} "
                         f"runs; rliable needs one count per task, so the first {n} of each "
                         f"are used")
        scores[a] = np.stack([c[:n] for c in columns], axis=1)
    if not scores:
        raise RunError("no agent has a finite score on every task; nothing to compare ("
                       + "; ".join(notes)[:300] + ")")
    if evaluate:
        kind = f"mean return of {evaluate} greedy episode(s) per seed (episode seed 0)"
    else:
        from jaxrl.core.metrics import FINAL_WINDOW

        kind = (f"final return per seed (mean return of the episodes ending in the last "
                f"{FINAL_WINDOW:.0%} of updates)")
    if reference:
        kind += "; normalised " + ", ".join(f"{t} {lo:g}:{hi:g}" for t, (lo, hi) in
                                            reference.items() if t in common)
    return compare_scores(
        scores, common, reps=reps, seed=seed, score_kind=kind,
        reference={t: reference[t] for t in common} if reference else None,
        sources=sources, notes=notes)


def compare_scores(
    scores: Mapping[str, Any],
    tasks: Sequence[str] | None = None,
    *,
    reps: int = 2000,
    seed: int = 0,
    score_kind: str = "score",
    reference: Mapping[str, tuple[float, float]] | None = None,
    sources: Mapping[str, Sequence[str]] | None = None,
    notes: Sequence[str] = (),
) -> Comparison:
    """The statistics layer of ``compare``: rliable's estimates for score matrices given.

    Args:
        scores: ``{agent: [runs, tasks]}`` (a 1-D array is one task), already normalised
            where that is wanted; agents may have different numbers of runs.
        tasks: the tasks' names (default ``task0``, ``task1``...).
        reps, seed: as for ``compare``.
        score_kind: what a score is, in words (for the table).
        reference: the normalisation the scores went through (its presence adds the
            optimality gap, which needs scores normalised to ``[0, 1]``).
        sources, notes: carried into the result.
    """
    rliable = require_rliable()
    for name, value, low in (("reps", reps, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise RunError(f"{name} must be an integer >= {low}, got {value!r}")
    if seed >= 2**32:
        raise RunError(f"seed must be below 2**32 (a NumPy seed), got {seed}")
    if not scores:
        raise RunError("no agent to compare")
    matrices = {}
    for a, x in scores.items():
        x = np.asarray(x, np.float64)
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[0] < 1 or not np.isfinite(x).all():
            raise RunError(f"scores of {a} must be a finite [runs, tasks] matrix, got shape "
                           f"{x.shape}")
        matrices[str(a)] = x
    num_tasks = {x.shape[1] for x in matrices.values()}
    if len(num_tasks) != 1:
        raise RunError(f"every agent needs the same tasks; got {sorted(num_tasks)} columns")
    tasks = list(tasks) if tasks is not None else [f"task{i}" for i in range(num_tasks.pop())]
    scores = matrices
    notes = list(notes)
    agents = list(scores)
    given = {a: list((sources or {}).get(a, [])) for a in agents}
    reference = dict(reference or {})
    for a, x in scores.items():
        if x.shape[0] < FEW_RUNS:
            notes.append(f"warning: {a} has {x.shape[0]} run(s) per task: its intervals are a "
                         f"bootstrap of {x.shape[0]} value(s) and say little (use more seeds)")

    metrics_mod = rliable.metrics
    names = ["IQM", "median", "mean"]
    funcs = [metrics_mod.aggregate_iqm, metrics_mod.aggregate_median, metrics_mod.aggregate_mean]
    if reference:
        names.append("optimality gap")
        funcs.append(metrics_mod.aggregate_optimality_gap)

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([f(x) for f in funcs])

    with _seeded(seed):
        point, interval = rliable.library.get_interval_estimates(
            {a: scores[a] for a in agents}, aggregate, reps=reps,
            confidence_interval_size=CONFIDENCE)
    pairs: list[Pair] = []
    ordered = list(itertools.permutations(agents, 2))
    if ordered:
        with _seeded(seed):
            poi, poi_ci = rliable.library.get_interval_estimates(
                {(x, y): (scores[x], scores[y]) for x, y in ordered},
                metrics_mod.probability_of_improvement, reps=reps,
                confidence_interval_size=CONFIDENCE)
        for key in ordered:
            x, y = key
            pairs.append(Pair(x, y, float(poi[key]), float(np.ravel(poi_ci[key])[0]),
                              float(np.ravel(poi_ci[key])[1])))
    if len(agents) == 1:
        notes.append("one agent: its intervals only (the probability of improvement needs two)")

    return Comparison(
        agents=agents, tasks=tasks, scores=scores, score_kind=score_kind,
        reference=reference, metrics=names,
        point={a: np.asarray(point[a], np.float64) for a in agents},
        interval={a: np.asarray(interval[a], np.float64).reshape(2, len(names))
                  for a in agents},
        pairs=pairs, reps=reps, seed=seed, confidence=CONFIDENCE, sources=given, notes=notes)
