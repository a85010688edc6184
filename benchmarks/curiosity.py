"""Curiosity (chapter 8): ICM and RND against plain PPO and a random policy on
sparse-reward tasks, 8 seeds each in one program per agent, the same step budget for all.

The maze is the ``maze_icm`` preset's board: 15x15, ``layout_seed=1``, ``extra_doors=0``
(a tree of 16 rooms, one route, 48 steps from start to goal; uniform random actions
never reach the goal within the 200-step episode). The presets' curiosity is
non-episodic with its own critic (``curiosity.intrinsic_critic``) and whitened input
(``curiosity.normalize_obs``), RND's recipe.
Each curious agent runs its own preset (``maze_icm``, ``maze_rnd``, ...); plain PPO runs
the same PPO settings without the module.

1. No extrinsic reward (coverage): Maze-v0 and MountainCar-v0 with curiosity alone
   (``curiosity.extrinsic_coef=0``) against uniform random actions and plain PPO on the sparse
   task (whose reward is zero until it first reaches the goal): distinct cells visited
   over the run (Maze: player cells, 159 reachable; MountainCar: 16x16 position x
   velocity bins of the observations acted on) and the furthest MountainCar position.
   Target: curious agents cover >= 2x plain PPO's cells. MountainCar's ceiling: a
   breadth-first search over every action sequence from 2,000 start states (states
   merged on a 0.0005 x 0.00005 grid) reaches about 210 of the 256 bins within
   200-step episodes.
2. Sparse reward (solving): the Maze goal and sparse MountainCar's flag, curiosity plus
   the extrinsic reward. A seed solves the task when the episodes of its last 10 % of
   updates reach the goal in at least half of them (mean return >= 0.5, the goal paying
   1). Target: ICM or RND on >= 7 of 8 seeds, plain PPO on few.
3. DeepSea (gymnax ``DeepSea-bsuite``, size 20, deterministic): episodes until the
   first treasure (an episode of return > 0.5), per seed; curiosity with the maze
   preset's settings, with the reward weighted as there and with none.

Writes ``benchmarks/out/curiosity_maze_visits.png``: the maze cells visited by the first
rollout, and over the whole run by RND with no extrinsic reward and by plain PPO (seed 0).

    python benchmarks/curiosity.py                  # the whole benchmark
    python benchmarks/curiosity.py --quick          # 2 seeds, a tenth of the budget
    python benchmarks/curiosity.py --json rows.json # also write the result rows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import stats  # benchmarks/stats.py (this script's folder is on sys.path when run)

from jaxrl.parallel import devices as parallel

parallel.use_cpu_cores()

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs
from jaxrl.algos import curiosity, ppo
from jaxrl.core.config import replace_paths
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv
from jaxrl.output.plotting import visitation_maps

SEEDS = 8  # per agent and setting (--quick: 2)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
PLOT = "benchmarks/out/curiosity_maze_visits.png"  # relative to the repository root
MAZE_REACHABLE = 159  # open cells of the preset's 15x15 tree maze
CAR_REACHABLE = 210  # MountainCar bins reachable in 200-step episodes (the docstring)


def train(cfg, env, params, settings=None, seed=0):
    """PPO ``cfg`` for ``SEEDS`` seeds under each of ``settings`` (dicts of config leaves,
    by path, e.g. ``{"curiosity.extrinsic_coef": 0.0}``), all in one program, the runs split over the CPU
    devices. Returns one ``(final states, metrics as NumPy)`` per setting and the
    ``(compile, run)`` seconds."""
    settings = settings or [{}]
    names = sorted(settings[0])
    values = {k: jnp.repeat(jnp.asarray([s[k] for s in settings], jnp.float32), SEEDS)
              for k in names}
    keys = jnp.tile(jax.random.split(jax.random.key(seed), SEEDS), len(settings))

    def one(key, leaves):
        return ppo.make(replace_paths(cfg, leaves), env, params).train(key)

    t0 = time.time()
    program = parallel.over_seeds(one).compile(keys, values)
    t1 = time.time()
    state, metrics = program(keys, values)
    jax.block_until_ready(metrics)
    t2 = time.time()
    out = []
    for i in range(len(settings)):
        part = lambda x, i=i: x[i * SEEDS:(i + 1) * SEEDS]
        out.append((jax.tree.map(part, state),
                    {k: np.asarray(part(v)) for k, v in metrics.items()}))
    return out, (t1 - t0, t2 - t1)


def random_coverage(env, params, num_envs, steps, seed=0):
    """Uniform random actions, ``num_envs`` copies for ``steps`` steps each, per seed:
    (distinct cells, furthest first observation component)."""
    cover = curiosity.coverage(env, params)
    venv = VecEnv(EpisodeStatistics(env), num_envs)
    n = env.action_space(params).n

    def one(key):
        k_reset, k_run = jax.random.split(key)
        obs, st = venv.reset(k_reset, params)

        def step(carry, k):
            obs, st, visits, far = carry
            k_a, k_s = jax.random.split(k)
            visits = visits.at[jax.vmap(cover.cell)(obs)].add(1)
            far = jnp.maximum(far, jnp.max(obs.reshape(num_envs, -1)[:, 0]))
            obs, st, *_ = venv.step(k_s, st, jax.random.randint(k_a, (num_envs,), 0, n), params)
            return (obs, st, visits, far), None

        init = (obs, st, jnp.zeros((cover.num_cells,), jnp.int32), jnp.float32(-jnp.inf))
        (_, _, visits, far), _ = jax.lax.scan(step, init, jax.random.split(k_run, steps))
        return jnp.sum(visits > 0), far

    cells, far = parallel.over_seeds(one)(jax.random.split(jax.random.key(seed), SEEDS))
    return np.asarray(cells), np.asarray(far)


def solved(metrics):
    """Per seed: mean return of the episodes in the last 10 % of updates >= 0.5."""
    r, e = metrics["episode_return"], metrics["episodes"]
    k = max(1, r.shape[1] // 10)
    rr, ee = np.nan_to_num(r[:, -k:]), e[:, -k:]
    rate = (rr * ee).sum(1) / np.maximum(ee.sum(1), 1)
    return rate, rate >= 0.5


def first_success(metrics, threshold=0.5):
    """Per seed: episodes ended up to and including the first update with an episode of
    return > threshold (NaN: never)."""
    out = []
    for best, eps in zip(metrics["best_return"], metrics["episodes"]):
        hit = np.nonzero(np.nan_to_num(best, nan=-np.inf) > threshold)[0]
        out.append(float(np.cumsum(eps)[hit[0]]) if hit.size else np.nan)
    return np.array(out)


def fmt(x):
    x = np.asarray(x, np.float64)
    return f"{np.nanmean(x):.1f} (min {np.nanmin(x):.1f}, max {np.nanmax(x):.1f})" \
        if np.any(np.isfinite(x)) else "never"


def spread(x, unit, digits=1):
    """``mean ± std (min a, max b) unit`` over the finite entries (``never`` if none)."""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return f"never ({unit})"
    f = f"{{:.{digits}f}}"
    return (f"{f.format(x.mean())} ± {f.format(x.std())} (min {f.format(x.min())}, "
            f"max {f.format(x.max())}) {unit}; {stats.iqm_text(x, f)}")


# ------------------------------------------------------------------------------ settings
PURE = {"curiosity.eta": 1.0, "curiosity.extrinsic_coef": 0.0}  # no extrinsic reward: the book's eta


def with_reward(cfg):
    """The preset's own bonus scale and goal weight (the sparse-reward setting)."""
    return {"curiosity.eta": cfg.curiosity.eta,
            "curiosity.extrinsic_coef": cfg.curiosity.extrinsic_coef}


def config(preset, steps, kind):
    """``kind``'s own preset of the task (``maze_icm`` -> ``maze_rnd`` for RND; plain PPO
    the ICM preset's PPO settings) with ``steps`` per seed."""
    if kind != "none":
        preset = preset.rsplit("_", 1)[0] + "_" + kind
    return ppo.PRESETS[preset].config.replace(total_timesteps=steps, curiosity=kind,
                                              exploration_metrics=True)


def write_json(path, rows):
    """The result rows, written atomically (``path.tmp``, then replaced)."""
    from jaxrl.runs.checkpoint import atomic_write

    atomic_write(path, json.dumps(rows, indent=1).encode())


def main() -> None:
    global SEEDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds, a tenth of the budget, no DeepSea (a smoke run)")
    ap.add_argument("--parts", default=None, help="comma list of maze, car, deepsea")
    ap.add_argument("--json", default=None, metavar="PATH", help="write the result rows here")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    SEEDS = 2 if args.quick else 8
    parts = (args.parts or ("maze,car" if args.quick else "maze,car,deepsea")).split(",")
    plot = PLOT.replace(".png", "_quick.png") if args.quick else PLOT  # keep the full run's
    rows = []

    def row(name, what, setting, number, times=(None, None), plot=None):
        rows.append({"name": name, "what": what, "setting": setting, "number": number,
                     "seeds": SEEDS, "compile_s": None if times[0] is None else round(times[0], 1),
                     "run_s": None if times[1] is None else round(times[1], 1), "plot": plot})

    t_all, cpu_all = time.time(), time.process_time()
    print(f"# Curiosity: {SEEDS} seeds per agent and setting, {len(jax.devices())} CPU devices; "
          f"load {os.getloadavg()[0]:.1f} at start\n")

    def task(preset, steps):  # the preset's env and options, its step budget
        p = ppo.PRESETS[preset]
        return preset, envs.make(p.env, **p.env_options), int(steps * scale)

    maze_opts = ppo.PRESETS["maze_icm"].env_options
    tasks = {
        "maze": (f"Maze-v0 {', '.join(f'{k}={v}' for k, v in maze_opts.items())}".strip(),
                 *task("maze_icm", ppo.PRESETS["maze_icm"].config.total_timesteps)),
        "car": ("MountainCar-v0 (sparse)", *task("mountaincar_sparse_icm", 1_024_000)),
    }
    reachable = {"maze": MAZE_REACHABLE, "car": CAR_REACHABLE}
    coverage_rows, sparse_rows = [], []
    for part in parts:
        if part not in tasks:
            continue
        name, preset, (env, params), steps = tasks[part]
        t0 = time.time()
        cells, far = random_coverage(env, params, 16, steps // 16)
        coverage_rows.append((part, name, "random", "random actions", cells, far, None,
                              (None, time.time() - t0), steps))
        [(plain_state, plain)], plain_sec = train(config(preset, steps, "none"), env, params)
        for kind in ("icm", "rnd"):
            cfg = config(preset, steps, kind)
            [(st, pure), (_, sparse)], sec = train(cfg, env, params, [PURE, with_reward(cfg)])
            coverage_rows.append((part, name, kind, f"{kind.upper()}, no extrinsic reward",
                                  pure["visited_cells"][:, -1], pure.get("furthest_position"),
                                  pure, sec, steps))
            sparse_rows.append((part, name, kind, kind.upper(), sparse, sec, steps))
            if part == "maze" and kind == "rnd":
                rnd_state = st
        coverage_rows.append((part, name, "plain", "plain PPO (sparse reward)",
                              plain["visited_cells"][:, -1], plain.get("furthest_position"),
                              plain, plain_sec, steps))
        sparse_rows.append((part, name, "plain", "plain PPO", plain, plain_sec, steps))
        if part == "maze":
            maze = env
            os.makedirs(OUT, exist_ok=True)
            path = os.path.join(OUT, os.path.basename(plot))
            ex, px = rnd_state.exploration, plain_state.exploration
            visitation_maps(
                maze.walls, [ex.first[0], ex.total[0], px.total[0]],
                ["before training (first rollout)", "RND, no reward: whole run",
                 "plain PPO, sparse reward: whole run"],
                path, goal=maze.goal,
                suptitle="Maze-v0 (15x15 tree maze): cells visited (seed 0)")
            print(f"visitation heat maps: {path}\n")

    if coverage_rows:
        print("## No extrinsic reward: coverage (the same steps per seed for every agent)\n")
        print("| task | agent | cells visited, mean (min, max) | of reachable | x plain | "
              "furthest position, mean (min, max) | flag reached | s (compile + run) |")
        print("|---|---|---|---|---|---|---|---|")
        plain = {r[0]: np.mean(r[4]) for r in coverage_rows if r[2] == "plain"}
        for part, name, kind, agent, cells, far, m, sec, steps in coverage_rows:
            far_s, flag, far_n = "-", "-", ""
            if part == "car":  # furthest position acted on (the flag ends the episode)
                best = np.max(far, axis=-1) if far.ndim == 2 else far
                far_s = f"{best.mean():.2f} (min {best.min():.2f}, max {best.max():.2f})"
                far_n = f"; furthest position {spread(best, '', 2).strip()}"
                if m is not None:  # an episode that ended at the flag (return 1)
                    hit = np.any(np.nan_to_num(m["best_return"], nan=-1.0) > 0.5, axis=1)
                    flag = f"{int(hit.sum())} / {SEEDS}"
                    far_n += f", the flag reached on {flag} seeds"
            ratio = np.mean(cells) / plain[part]
            print(f"| {name} | {agent} | {fmt(cells)} | {np.mean(cells) / reachable[part]:.0%} | "
                  f"{ratio:.2f} | {far_s} | {flag} | "
                  f"{(sec[0] or 0) + sec[1]:.0f} |")
            unit = "cells" if part == "maze" else "16x16 bins"
            row(f"{part}_cover_{kind}", f"{agent} on {name}: distinct states visited",
                f"{steps:,} env steps per seed; distinct {unit} (of {reachable[part]} reachable) "
                f"over the run",
                f"{spread(cells, unit)} ({ratio:.2f}x plain PPO){far_n}", sec,
                plot if part == "maze" else None)
        print()
    if sparse_rows:
        print("## Sparse reward: solved = the goal reached in >= 50 % of the episodes of the "
              "last 10 % of updates\n")
        print("| task | agent | seeds solved | success rate, mean (min, max) | "
              "episodes to first goal, mean (min, max) |")
        print("|---|---|---|---|---|")
        for part, name, kind, agent, m, sec, steps in sparse_rows:
            rate, ok = solved(m)
            first = first_success(m)
            print(f"| {name} | {agent} | {int(ok.sum())} / {SEEDS} | {fmt(rate)} | "
                  f"{fmt(first)} |")
            goal = "goal" if part == "maze" else "flag"
            row(f"{part}_{goal}_{kind}", f"{agent} on {name}: sparse reward at the {goal}",
                f"{steps:,} env steps per seed; solved = the {goal} reached in >= 50 % of the "
                f"episodes of the last 10 % of updates",
                f"{int(ok.sum())} / {SEEDS} seeds solved; success rate {spread(rate, '', 2).strip()}"
                f"; first {goal} after {spread(first, 'episodes', 0)}", sec)
        print("\n(seconds per agent are in the coverage table: one program ran both settings)\n")
    if "deepsea" in parts:
        env, params = envs.make("gymnax/DeepSea-bsuite", size=20, deterministic=True)
        steps = int(204_800 * scale)
        print(f"## DeepSea-bsuite, size 20, deterministic ({steps:,} steps per seed, "
              f"{steps // 20:,} episodes)\n")
        print("| agent | seeds finding the treasure | episodes to first treasure, mean (min, max) "
              "| s |")
        print("|---|---|---|---|")
        # DeepSea's small cost per move right, weighted up like the goal, teaches the agent
        # to stop moving right before it finds the treasure: pure curiosity rows too.
        for kind in ("icm", "rnd", "none"):
            cfg = config("maze_icm", steps, kind)
            sets = [with_reward(cfg), PURE] if kind != "none" else None
            runs, sec = train(cfg, env, params, sets)
            labels = ([f"{kind.upper()}, reward weighted {cfg.curiosity.extrinsic_coef:g}x",
                       f"{kind.upper()}, no extrinsic reward"] if kind != "none" else ["plain PPO"])
            names = ([f"deepsea_{kind}", f"deepsea_{kind}_pure"] if kind != "none"
                     else ["deepsea_plain"])
            for (_, m), label, rname in zip(runs, labels, names):
                first = first_success(m)
                found = int(np.isfinite(first).sum())
                print(f"| {label} | {found} / {SEEDS} | {fmt(first)} | {sum(sec):.0f} |")
                row(rname, f"{label}: DeepSea-bsuite size 20 (deterministic)",
                    f"{steps:,} env steps per seed ({steps // 20:,} episodes), the maze "
                    f"preset's settings", f"{found} / {SEEDS} seeds found the treasure; first "
                    f"after {spread(first, 'episodes', 0)}", sec)
        print()
    print(f"total {time.time() - t_all:.0f} s wall, {time.process_time() - cpu_all:.0f} s CPU "
          f"(load {os.getloadavg()[0]:.1f} at the end)")
    if args.json:
        write_json(args.json, rows)
        print(f"rows: {args.json}")


if __name__ == "__main__":
    main()
