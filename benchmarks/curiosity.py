"""Curiosity (chapter 8): ICM and RND against plain PPO and a random policy on
sparse-reward tasks, 8 seeds each in one program per agent, the same step budget for all.

The maze is the ``maze_icm`` preset's board: 15x15, ``layout_seed=1``, ``extra_doors=0``
(a tree of 16 rooms, one route, 48 steps from start to goal; uniform random actions
never reach the goal within the 200-step episode). The presets' curiosity is
non-episodic with its own critic (``intrinsic_critic``) and whitened input
(``curiosity_normalize_obs``), RND's recipe; plain PPO runs the same PPO settings.

1. No extrinsic reward (coverage): Maze-v0 and MountainCar-v0 with curiosity alone
   (``extrinsic_coef=0``) against uniform random actions and plain PPO on the sparse
   task (whose reward is zero until it first reaches the goal): distinct cells visited
   over the run (Maze: player cells; MountainCar: 16x16 position x velocity bins) and the
   furthest MountainCar position. Target: curious agents cover >= 2x plain PPO's cells.
2. Sparse reward (solving): the Maze goal and sparse MountainCar's flag, curiosity plus
   the extrinsic reward. A seed solves the task when the episodes of its last 10 % of
   updates reach the goal in at least half of them (mean return >= 0.5, the goal paying
   1). Target: ICM or RND on >= 7 of 8 seeds, plain PPO on few.
3. DeepSea (gymnax ``DeepSea-bsuite``, size 20, deterministic): episodes until the
   first treasure (an episode of return > 0.5), per seed; curiosity with the maze
   preset's settings, with the reward weighted as there and with none.

Writes ``benchmarks/out/curiosity_maze_visits.png``: the maze cells visited by the first
rollout, and over the whole run by RND with no extrinsic reward and by plain PPO (seed 0).

    python benchmarks/curiosity.py            # the whole benchmark
    python benchmarks/curiosity.py --quick    # a tenth of the budget (a smoke run)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxrl import parallel

parallel.use_cpu_cores()

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs.wrappers import EpisodeStatistics, VecEnv
from jaxrl import curiosity
from jaxrl.algos import ppo
from jaxrl.plotting import visitation_maps

SEEDS = 8
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def train(cfg, env, params, settings=None, seed=0):
    """PPO ``cfg`` for ``SEEDS`` seeds under each of ``settings`` (dicts of config leaves,
    e.g. ``{"extrinsic_coef": 0.0}``), all in one program, the runs split over the CPU
    devices. Returns one ``(final states, metrics as NumPy)`` per setting and the seconds
    taken (compiling included)."""
    settings = settings or [{}]
    names = sorted(settings[0])
    values = {k: jnp.repeat(jnp.asarray([s[k] for s in settings], jnp.float32), SEEDS)
              for k in names}
    keys = jnp.tile(jax.random.split(jax.random.key(seed), SEEDS), len(settings))

    def one(key, leaves):
        return ppo.make(cfg.replace(**leaves), env, params).train(key)

    t0 = time.time()
    state, metrics = parallel.over_seeds(one)(keys, values)
    jax.block_until_ready(metrics)
    sec = time.time() - t0
    out = []
    for i in range(len(settings)):
        part = lambda x, i=i: x[i * SEEDS:(i + 1) * SEEDS]
        out.append((jax.tree.map(part, state),
                    {k: np.asarray(part(v)) for k, v in metrics.items()}))
    return out, sec


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


# ------------------------------------------------------------------------------ settings
PURE = {"curiosity_eta": 1.0, "extrinsic_coef": 0.0}  # no extrinsic reward: the book's eta


def with_reward(cfg):
    """The preset's own bonus scale and goal weight (the sparse-reward setting)."""
    return {"curiosity_eta": cfg.curiosity_eta, "extrinsic_coef": cfg.extrinsic_coef}


def config(preset, steps, kind):
    """PPO's preset ``preset`` with ``kind`` of curiosity and ``steps`` per seed."""
    return ppo.PRESETS[preset].config.replace(total_timesteps=steps, curiosity=kind,
                                              exploration_metrics=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the budget")
    ap.add_argument("--parts", default="maze,car,deepsea")
    args = ap.parse_args()
    scale = 0.1 if args.quick else 1.0
    parts = args.parts.split(",")
    t_all = time.time()
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
    coverage_rows, sparse_rows = [], []
    for part in parts:
        if part not in tasks:
            continue
        name, preset, (env, params), steps = tasks[part]
        t0 = time.time()
        cells, far = random_coverage(env, params, 16, steps // 16)
        coverage_rows.append((name, "random actions", cells, far, time.time() - t0))
        [(plain_state, plain)], plain_sec = train(config(preset, steps, "none"), env, params)
        for kind in ("icm", "rnd"):
            cfg = config(preset, steps, kind)
            [(st, pure), (_, sparse)], sec = train(cfg, env, params, [PURE, with_reward(cfg)])
            coverage_rows.append((name, f"{kind.upper()}, no extrinsic reward",
                                  pure["visited_cells"][:, -1], pure.get("furthest_position"), sec))
            sparse_rows.append((name, kind.upper(), sparse, sec))
            if part == "maze" and kind == "rnd":
                rnd_state = st
        coverage_rows.append((name, "plain PPO (sparse reward)", plain["visited_cells"][:, -1],
                              plain.get("furthest_position"), plain_sec))
        sparse_rows.append((name, "plain PPO", plain, plain_sec))
        if part == "maze":
            maze = env
            os.makedirs(OUT, exist_ok=True)
            path = os.path.join(OUT, "curiosity_maze_visits.png")
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
        print("| task | agent | cells visited, mean of 8 (min, max) | x plain | "
              "furthest position, mean (min, max) | s |")
        print("|---|---|---|---|---|---|")
        plain = {r[0]: np.mean(r[2]) for r in coverage_rows if r[1].startswith("plain")}
        for name, agent, cells, far, sec in coverage_rows:
            far_s = fmt(np.max(far, axis=-1)) if far is not None and far.ndim == 2 else (
                fmt(far) if far is not None and "Car" in name else "-")
            print(f"| {name} | {agent} | {fmt(cells)} | {np.mean(cells) / plain[name]:.2f} | "
                  f"{far_s} | {sec:.0f} |")
        print()
    if sparse_rows:
        print("## Sparse reward: solved = the goal reached in >= 50 % of the episodes of the "
              "last 10 % of updates\n")
        print("| task | agent | seeds solved | success rate, mean (min, max) | "
              "episodes to first goal, mean (min, max) |")
        print("|---|---|---|---|---|")
        for name, agent, m, sec in sparse_rows:
            rate, ok = solved(m)
            print(f"| {name} | {agent} | {int(ok.sum())} / {SEEDS} | {fmt(rate)} | "
                  f"{fmt(first_success(m))} |")
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
            labels = ([f"{kind.upper()}, reward weighted {cfg.extrinsic_coef:g}x",
                       f"{kind.upper()}, no extrinsic reward"] if kind != "none" else ["plain PPO"])
            for (_, m), label in zip(runs, labels):
                first = first_success(m)
                print(f"| {label} | {int(np.isfinite(first).sum())} / {SEEDS} | {fmt(first)} | "
                      f"{sec:.0f} |")
        print()
    print(f"total {time.time() - t_all:.0f} s (load {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
