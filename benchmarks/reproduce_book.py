"""Every reproduction the project has, in one command, written to ``benchmarks/RESULTS.md``.

One row per source result (REFERENCE.md's table): the source's setting and number,
jaxrl's number (mean and spread over seeds), the wall time split into compilation and
running, and a plot beside it (``benchmarks/out/book/``). The machine and the versions
head the file. Nothing in RESULTS.md is written by hand: run this script again to
regenerate it.

Each reproduction is an entry of ``REGISTRY``: in-process entries call jaxrl (and the
chapter scripts' own functions) with a budget argument, so numbers come from arrays,
not from parsed text; chapter scripts owned elsewhere (``distributional.py``,
``many_agents.py``) and those still being written (``curiosity.py``, ``doorkey.py``)
run as child processes with command-line options, and their printed summary is kept
under the table. A script that is missing is listed as skipped with a note.

Usage::

    python benchmarks/reproduce_book.py            # the full budgets (about an hour here)
    python benchmarks/reproduce_book.py --quick    # reduced budgets, a few minutes
    python benchmarks/reproduce_book.py --only dqn_gridworld,ppo_cartpole --out /tmp/R.md
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (ROOT, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: seeds split over one CPU device per core

import jax
import stats  # benchmarks/stats.py: IQM and its interval beside mean ± std

PLOTS = HERE / "out" / "book"


@dataclasses.dataclass
class Row:
    """One line of the table."""

    name: str
    chapter: str
    what: str
    source_setting: str
    source_number: str
    setting: str = ""
    number: str = ""
    seeds: int | str = ""
    compile_s: float | None = None
    run_s: float | None = None
    plot: str = ""
    status: str = "ok"
    details: str = ""


@dataclasses.dataclass
class Entry:
    """A reproduction: what the source did, and how jaxrl runs it (quick or full)."""

    name: str
    chapter: str
    what: str
    source_setting: str
    source_number: str
    script: str  # benchmarks/<script>.py must exist, else the row is skipped
    run: Callable[[bool], dict[str, Any]]


def _load(script: str) -> Any:
    """A chapter script as a module (its functions, no ``main`` run)."""
    path = HERE / f"{script}.py"
    spec = importlib.util.spec_from_file_location(f"_book_{script}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def spread(x: Any, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    """``mean ± std (min .. max); IQM m [95 % CI]`` over seeds (benchmarks/stats.py)."""
    x = np.asarray(x, float).ravel() * scale
    f = fmt.format
    return (f"{f(x.mean())} ± {f(x.std())} (min {f(x.min())}, max {f(x.max())}); "
            f"{stats.iqm_text(x, fmt)}")


def _plot_curves(name: str, curves: Any, ylabel: str, xlabel: str = "update",
                 target: float | None = None) -> str:
    """Per-seed curves and their mean, saved as ``out/book/<name>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = np.asarray(curves, float)
    if curves.ndim == 1:
        curves = curves[None]
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c in curves:
        ax.plot(c, lw=0.6, alpha=0.35, color="tab:blue")
    with np.errstate(all="ignore"):
        ax.plot(np.nanmean(curves, axis=0), lw=1.8, color="tab:blue", label="mean over seeds")
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=1, label="source")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = PLOTS / f"{name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path.relative_to(HERE))


# ------------------------------------------------------------------------------- runners
def run_bandit(quick: bool) -> dict[str, Any]:
    from jaxrl.algos import bandit_agents as ba

    runs, pulls = (200, 500) if quick else (2000, 1000)
    agents = {"eps 0.1": ba.EpsilonGreedyConfig(epsilon=0.1),
              "softmax 1.12": ba.SoftmaxConfig(temperature=1.12),
              "UCB c 2": ba.UCBConfig(c=2.0)}
    r = ba.run_testbed(agents, jax.random.key(0), num_runs=runs, num_pulls=pulls)
    final = r.final(last=100)
    early = {label: float(r.average_reward[i, :100].mean()) for i, label in enumerate(r.labels)}
    number = "; ".join(f"{k} {v['average_reward']:.2f} (first 100 pulls {early[k]:.2f})"
                       for k, v in final.items())
    plot = _plot_curves("bandit_testbed", np.asarray(r.average_reward), "mean reward", "pull",
                        target=float(np.asarray(r.best_expected_reward).mean()))
    best = float(np.asarray(r.best_expected_reward).mean())
    return {"setting": f"{runs} runs x {pulls} pulls, last 100 pulls",
            "number": number + f"; best arm {best:.2f}", "seeds": f"{runs} runs",
            "compile_s": r.compile_seconds, "run_s": r.run_seconds, "plot": plot}


def run_contextual(quick: bool) -> dict[str, Any]:
    from jaxrl.algos import bandit_agents as ba

    seeds = 8 if quick else 64
    cfg = ba.ContextualBanditConfig(total_timesteps=1000 if quick else 5000)
    t0 = time.perf_counter()
    r = ba.train_contextual(cfg, jax.random.key(1), num_seeds=seeds, window=500)
    wall = time.perf_counter() - t0
    plot = _plot_curves("contextual_bandit", np.asarray(r.reward_curve), "reward", "pull",
                        target=8.5)
    return {"setting": f"book's net and tau 2, {cfg.total_timesteps} steps, mean of last 500",
                "number": spread(r.final_reward, fmt="{:.2f}"), "seeds": seeds,
                "compile_s": None, "run_s": wall, "plot": plot,
                "details": "contextual bandit: compile and run not timed apart (one call)"}


def run_tabular(quick: bool) -> dict[str, Any]:
    from jaxrl import envs
    from jaxrl.algos import tabular as tab

    mod = _load("tabular")
    seeds = 8 if quick else 32
    task, preset_name = ("Gridworld player", "gridworld_player") if quick else \
        ("Taxi-v3", "taxi")
    preset = tab.PRESETS_BY_ALGORITHM["q_learning"][preset_name]
    env, params = envs.make(preset.env, **preset.env_options)
    starts = mod.taxi_starts(env) if preset.env == "Taxi-v3" else mod.gridworld_starts(env)
    r = mod.run_one(task, env, params, "q_learning", preset.config, seeds, starts)
    return {"setting": f"Q-learning on {task}, {r['steps']:,} steps per seed, greedy from "
                        "every start", "number": (
        f"greedy return {r['greedy']:.2f} (worst seed {r['greedy_min']:.2f}); optimum "
        f"{r['optimal']:.2f}; {r['opt']:.0f} % of starts optimal"), "seeds": seeds,
        "compile_s": r["compile"], "run_s": r["run"]}


def _train_eval(module: Any, preset: str, seeds: int, steps: int | None, episodes: int,
                max_steps: int, win_fn: Any = None) -> tuple[Any, Any, Any, Any]:
    from jaxrl.runs import evaluation
    config = module.PRESETS[preset].config
    if steps is not None:
        config = config.replace(total_timesteps=steps)
    env, params = module.preset_env(preset)
    agent = module.make(config, env, params)
    keys = jax.random.split(jax.random.key(0), seeds)
    _, metrics, result, t = evaluation.train_and_evaluate(agent, env, params, keys,
                                                  jax.random.key(12345), episodes,
                                                  max_steps=max_steps, win_fn=win_fn)
    return config, metrics, result, t


def _curve(metrics: dict[str, Any]) -> np.ndarray:
    from jaxrl.output.plotting import smooth_returns

    return smooth_returns(np.asarray(metrics["episode_return"]),
                          np.asarray(metrics["episodes"]), 50)


def run_dqn_gridworld(quick: bool) -> dict[str, Any]:
    from jaxrl.algos import dqn

    seeds = 4 if quick else 8
    steps = 20_000 if quick else None
    config, metrics, result, t = _train_eval(dqn, "gridworld", seeds, steps,
                                             200 if quick else 1000, 15)
    win = np.asarray(result.wins).mean(axis=1)
    plot = _plot_curves("dqn_gridworld", _curve(metrics), "training return (window 50)")
    return {"setting": f"preset gridworld (replay + target net), {config.total_timesteps:,} "
                        f"steps, greedy on fresh random boards, 15-move cap",
                "number": "win % " + spread(win, 100), "seeds": seeds,
                "compile_s": t.compile_wall, "run_s": t.run_wall, "plot": plot}


def run_dqn_mountaincar(quick: bool) -> dict[str, Any]:
    from jaxrl.algos import dqn

    seeds = 4 if quick else 8
    steps = 20_000 if quick else None
    config, metrics, result, t = _train_eval(dqn, "mountaincar", seeds, steps,
                                             20 if quick else 100, 200)
    plot = _plot_curves("dqn_mountaincar", _curve(metrics), "training return (window 50)",
                        target=-136.75)
    return {"setting": f"preset mountaincar, {config.total_timesteps:,} steps, greedy "
                        f"return over {20 if quick else 100} episodes",
                "number": spread(np.asarray(result.mean_return)), "seeds": seeds,
                "compile_s": t.compile_wall, "run_s": t.run_wall, "plot": plot}


def run_reinforce(quick: bool) -> dict[str, Any]:
    mod = _load("reinforce_cartpole")
    seeds = 4 if quick else 16
    r = mod.run_preset("book", seeds, 0)
    plot = _plot_curves("reinforce_cartpole", r["ma"], "episode length (moving avg 50)",
                        "episode", target=180)
    return {"setting": f"book preset, {r['episodes']} episodes, moving average (50) at the end",
                "number": spread(r["final"]), "seeds": seeds, "compile_s": r["compile"],
                "run_s": r["run"], "plot": plot}


def run_a2c(quick: bool) -> dict[str, Any]:
    mod = _load("a2c_cartpole")
    seeds = 4 if quick else 16
    budget = 100_000 if quick else 1_000_000
    args = argparse.Namespace(seeds=seeds, seed=0, budget={"book": budget}, window=10_000,
                              chunks=20 if quick else 40)
    r = mod.run_preset("book", args)
    when, at = mod.first_time(r, 300.0)
    reached = f"mean 300 after {when:.1f} s ({at:,} steps)" if when is not None else \
        "mean 300 not reached"
    final = np.asarray(r["curves"])[:, -1]
    plot = _plot_curves("a2c_cartpole", r["curves"], "episode length (10k-step window)",
                        "update", target=300)
    return {"setting": f"book preset (N-step 10), {budget:,} steps per seed",
                "number": f"{reached}; final length {spread(final)}", "seeds": seeds,
                "compile_s": r["compile"], "run_s": r["run"], "plot": plot}


def run_ppo(quick: bool) -> dict[str, Any]:
    mod = _load("ppo_cartpole")
    seeds = 4 if quick else 16
    steps = 100_000 if quick else 500_000
    args = argparse.Namespace(seeds=seeds, steps=steps, seed=0)
    r = mod.run_case("cartpole", None, args)
    plot = _plot_curves("ppo_cartpole", r["trail"], "return (trailing mean)", target=475)
    return {"setting": f"preset cartpole, {steps:,} steps per seed; greedy over 8 episodes",
                "number": f"training {spread(r['final'])}; greedy {spread(r['greedy'].mean(1))}",
                "seeds": seeds, "compile_s": r["compile_s"], "run_s": r["run_s"], "plot": plot}


def run_evolution(quick: bool) -> dict[str, Any]:
    from jaxrl import envs
    from jaxrl.algos import ga
    from jaxrl.core.episodes import evaluate

    seeds = 4 if quick else 8
    env, params = envs.make("CartPole-v1")
    cfg = ga.PRESETS["book"].config
    if quick:
        cfg = cfg.replace(generations=20)
    agent = ga.make(cfg, env, params)

    def one(key):
        state, metrics = agent.train(key)
        return metrics, evaluate(agent, state, env, params, jax.random.key(99), 20).mean_return

    keys = jax.random.split(jax.random.key(0), seeds)
    program = par.over_seeds(one)
    t0 = time.perf_counter()
    compiled = program.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics, greedy = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    plot = _plot_curves("evolution_ga", np.asarray(metrics["best_fitness"]), "best fitness",
                        "generation")
    return {"setting": f"GA book preset: population {cfg.population_size}, "
                        f"{cfg.generations} generations, {cfg.episodes} episodes per fitness",
                "number": f"greedy return {spread(np.asarray(greedy))}", "seeds": seeds,
                "compile_s": compile_s, "run_s": run_s, "plot": plot}


def _child(script: str, args: list[str], timeout: float = 3600) -> list[dict[str, Any]]:
    """A chapter script run as a child process, its rows read from its ``--json`` file.

    Every chapter script writes a JSON list of rows (name, what, setting, number, seeds,
    compile_s, run_s, plot) when given ``--json PATH``; each becomes a row of the table,
    and the script's printed summary is kept under it. A plot is copied into
    ``out/book/`` so that RESULTS.md links only to files that are kept with it.
    """
    import json
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="jaxrl-book-") as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, str(HERE / f"{script}.py"), *args, "--json", str(out)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           check=False)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            errors = [ln for ln in r.stderr.splitlines()
                      if re.match(r"^[\w.]*(Error|Exception)", ln)]
            tail = (errors or r.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{script}.py {' '.join(args)} exited {r.returncode}: {tail}")
        if not out.is_file():
            raise RuntimeError(f"{script}.py {' '.join(args)} wrote no --json rows")
        raw = json.loads(out.read_text())
    if not isinstance(raw, list) or not raw:
        raise RuntimeError(f"{script}.py --json: expected a non-empty list of rows")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    summary = f"{script}.py {' '.join(args)}: {wall:.0f} s wall in all\n" + "\n".join(lines[-30:])
    rows = []
    for i, item in enumerate(raw):
        missing = {"name", "what", "setting", "number"} - set(item)
        if missing:
            raise RuntimeError(f"{script}.py --json row {i}: missing {sorted(missing)}")
        plot = ""
        if item.get("plot"):
            src = ROOT / item["plot"]
            if src.is_file():
                PLOTS.mkdir(parents=True, exist_ok=True)
                dst = PLOTS / f"{script}_{item['name']}{src.suffix}"
                shutil.copyfile(src, dst)
                plot = str(dst.relative_to(HERE))
        rows.append({"name": str(item["name"]), "what": str(item["what"]),
                     "setting": str(item["setting"]), "number": str(item["number"]),
                     "seeds": item.get("seeds", ""), "compile_s": item.get("compile_s"),
                     "run_s": item.get("run_s"), "plot": plot,
                     "details": summary if i == len(raw) - 1 else ""})
    return rows


def _chapter_script(script: str, quick_args: list[str] | None = None,
                    full_args: list[str] | None = None) -> Callable[[bool], Any]:
    """A chapter script's rows, with ``--quick`` (or ``quick_args``) in quick mode."""

    def run(quick: bool) -> list[dict[str, Any]]:
        if quick:
            return _child(script, ["--quick"] if quick_args is None else quick_args)
        return _child(script, full_args or [])

    run.child = True  # type: ignore[attr-defined]  # may run beside others (--jobs)
    return run


class _Skip(Exception):
    """The row is skipped, with this note."""


REGISTRY: list[Entry] = [
    Entry("bandit_testbed", "2", "10-armed bandit, eps-greedy / softmax / UCB",
          "eps 0.1, softmax tau 1.12, 500 plays, sample-mean Q",
          "mean reward rises; softmax converges faster (curves, no number)",
          "bandit_testbed", run_bandit),
    Entry("contextual_bandit", "2", "contextual bandit, 10-100-10 net, softmax tau 2",
          "Adam 1e-2, 5000 steps", "running mean reward ~8.5 of 10", "bandit_testbed",
          run_contextual),
    Entry("tabular", "3", "tabular Q-learning (Taxi-v3; quick: Gridworld player mode)",
          "(jaxrl's own: the book goes straight to DQN)", "optimal greedy policy (Taxi 7.93)",
          "tabular", run_tabular),
    Entry("dqn_gridworld", "3", "DQN + replay + target network, Gridworld random mode",
          "buffer 2000, batch 250, 5000 games, max 100 moves, sync 500",
          "over 90 % wins (replay only: 86.5 %)", "dqn_gridworld", run_dqn_gridworld),
    Entry("dqn_mountaincar", "article", "DQN on MountainCar-v0",
          "MLP 32-32, Adam 1e-3, batch 64, replay 50k, target 1000, 120k steps",
          "-136.75 after 120,000 steps (one seed)", "dqn_mountaincar", run_dqn_mountaincar),
    Entry("reinforce_cartpole", "4", "REINFORCE on CartPole",
          "MLP 4-150-2, Adam 9e-4, gamma 0.99, 500 episodes",
          "moving average (50) of length ~180 of 200", "reinforce_cartpole", run_reinforce),
    Entry("a2c_cartpole", "5", "advantage actor-critic, N-step 10",
          "net 4-25-50, Adam 1e-4, gamma 0.95, 7 worker processes",
          "mean episode length 300 after 45 s", "a2c_cartpole", run_a2c),
    Entry("ppo_cartpole", "survey", "PPO (clipped ratio) on CartPole-v1",
          "the standard form", "solves CartPole (475+); SB3 ~43 s per 500k-step seed",
          "ppo_cartpole", run_ppo),
    Entry("evolution", "6", "genetic algorithm on CartPole",
          "net 4-10-10-2, population 20, 100 generations, 5 episodes per fitness",
          "a generation that maximises reward", "evolution", run_evolution),
    Entry("distributional", "7", "C51 / QR-DQN on Freeway-MinAtar",
          "51 atoms on [-10, 10], cross-entropy to the projected target",
          "4 or more crossings per episode = trained", "distributional",
          _chapter_script("distributional")),
    Entry("curiosity", "8", "curiosity (ICM) driving DQN", "beta 0.2, lambda 0.1, eta 1.0",
          "progress without extrinsic reward", "curiosity", _chapter_script("curiosity")),
    Entry("many_agents", "9", "neighbourhood / mean-field Q-learning on Ising",
          "20 agents; 10x10 grid, tau 0.5, gamma 0.9",
          "1-D: two aligned domains; 2-D: all but 3 spins aligned", "many_agents",
          _chapter_script("many_agents")),
    Entry("doorkey", "10", "relational DQN on DoorKey-5x5",
          "3 heads, replay 9000, batch 50, Adam 5e-4, sync 100",
          "at least 94 % of episodes solved", "doorkey", _chapter_script("doorkey")),
]


# ------------------------------------------------------------------------------- report
def run_entry(entry: Entry, quick: bool) -> list[Row]:
    """The entry's row, or one row per result a chapter script reports."""
    row = Row(entry.name, entry.chapter, entry.what, entry.source_setting, entry.source_number)
    if not (HERE / f"{entry.script}.py").is_file():
        row.status = f"skipped: benchmarks/{entry.script}.py does not exist yet"
        return [row]
    print(f"[reproduce_book] {entry.name}{' (quick)' if quick else ''}...", flush=True)
    t0 = time.perf_counter()
    try:
        out = entry.run(quick)
    except _Skip as e:
        row.status = f"skipped: {e}"
        return [row]
    except Exception as e:  # noqa: BLE001 - one failed reproduction must not hide the others
        row.status = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        row.details = traceback.format_exc(limit=3)
        print(f"[reproduce_book] {entry.name} failed: {row.status}", flush=True)
        return [row]
    rows = []
    for item in out if isinstance(out, list) else [out]:
        r = dataclasses.replace(row)
        for k, v in item.items():
            if k == "name":
                r.name = f"{entry.name}/{v}"
            else:
                setattr(r, k, v)
        rows.append(r)
        print(f"[reproduce_book] {r.name}: {r.number}", flush=True)
    print(f"[reproduce_book] {entry.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def _run_all(entries: list[Entry], quick: bool, jobs: int) -> list[list[Row]]:
    """Every entry's rows, in order. With ``jobs > 1`` the chapter scripts (child
    processes, most of their time single-threaded compilation) run beside the rest:
    ``jobs - 1`` threads take chapter scripts from a queue, and the main thread runs the
    in-process entries, then helps with the queue."""
    if jobs == 1:
        return [run_entry(e, quick) for e in entries]
    import threading

    done: dict[int, list[Row]] = {}
    queue = [i for i, e in enumerate(entries) if getattr(e.run, "child", False)]
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop(0)
            done[i] = run_entry(entries[i], quick)

    threads = [threading.Thread(target=drain, daemon=True) for _ in range(jobs - 1)]
    for t in threads:
        t.start()
    for i, e in enumerate(entries):
        if not getattr(e.run, "child", False):
            done[i] = run_entry(e, quick)
    drain()
    for t in threads:
        t.join()
    return [done[i] for i in range(len(entries))]


def machine() -> str:
    import flax
    import jaxlib
    import optax

    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}; {par.cpu_cores()} cores usable; {jax.device_count()} "
            f"{jax.devices()[0].platform} device(s); load average at the end {load}; "
            f"Python {platform.python_version()}, jax {jax.__version__}, jaxlib "
            f"{jaxlib.__version__}, flax {flax.__version__}, optax {optax.__version__}")


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_markdown(rows: list[Row], path: Path, quick: bool, wall: float, jobs: int = 1) -> None:
    lines = [
        "# jaxrl against the book: every reproduction in one table",
        "",
        (f"Generated by `python benchmarks/reproduce_book.py{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {wall / 60:.1f} min; "
        "do not edit by hand."),
        "",
        f"Machine: {machine()}.",
        "",
    ]
    if quick:
        lines += [("**Quick mode: reduced budgets (fewer seeds and steps than the sources "
                  "and the full run); the numbers show the pipeline works, not the final "
                  "results.** Run without `--quick` for those."), ""]
    lines += [
        ("Times are wall seconds on a shared machine (other jobs were running): `compile` "
        "is tracing plus XLA compilation, `run` the compiled program until its results "
        "are ready; `-` where a child process or a single call does not split them. "
        "Spread: mean ± std over seeds (min, max)."
        + (f" {jobs} reproductions ran at once (`--jobs {jobs}`: the chapter scripts beside "
           "the others), so their times are contended." if jobs > 1 else "")),
        "",
        ("| ch. | reproduction | source setting | source result | jaxrl setting | jaxrl result "
        "| seeds | compile s | run s | plot | status |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        plot = f"[png]({r.plot})" if r.plot else ""
        lines.append("| " + " | ".join(_cell(x) for x in (
            r.chapter, f"`{r.name}`: {r.what}", r.source_setting, r.source_number, r.setting,
            r.number, r.seeds, _seconds(r.compile_s), _seconds(r.run_s), plot, r.status)) + " |")
    details = [r for r in rows if r.details]
    if details:
        lines += ["", "## Printed summaries and notes", ""]
        for r in details:
            lines += [f"### {r.name}", "", "```", r.details.rstrip(), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None, registry: list[Entry] | None = None) -> list[Row]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced budgets (a few minutes)")
    ap.add_argument("--only", default="", help="comma-separated entry names (default: all)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"), help="the Markdown file to write")
    ap.add_argument("--jobs", type=int, default=None,
                    help="reproductions at once: chapter scripts (child processes) run beside "
                         "the in-process ones (default: 2 with --quick, else 1, so that full "
                         "runs are timed alone)")
    args = ap.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else (2 if args.quick else 1)
    if jobs < 1:
        ap.error(f"--jobs must be >= 1, got {jobs}")
    registry = REGISTRY if registry is None else registry
    names = [e.name for e in registry]
    only = [n for n in args.only.split(",") if n]
    for n in only:
        if n not in names:
            ap.error(f"--only: no entry {n!r}; entries: {', '.join(names)}")
    t0 = time.perf_counter()
    chosen = [e for e in registry if not only or e.name in only]
    rows = [r for out in _run_all(chosen, args.quick, jobs) for r in out]
    write_markdown(rows, Path(args.out), args.quick, time.perf_counter() - t0, jobs)
    print(f"wrote {args.out}: {len(rows)} rows "
          f"({sum(r.status == 'ok' for r in rows)} ok)")
    return rows


if __name__ == "__main__":
    main()
