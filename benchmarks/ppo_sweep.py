"""A PPO hyperparameter sweep on CartPole-v1 as one compiled program.

8 settings (4 learning rates x 2 clip ranges by default) x 8 seeds = 64 training runs
in one ``jit`` call through ``jaxrl.runs.sweep.sweep``. Prints the table of final returns
with the best setting marked, compile and run times, and writes a heatmap beside the
learning curves (``ppo_sweep.png``).

The budget defaults to 150,000 steps per run: at 500,000 most settings reach the
500 ceiling and the table cannot tell them apart.

Usage: ``python benchmarks/ppo_sweep.py [--steps 150000] [--seeds 8]
[--grid lr=1e-4,3e-4,1e-3,3e-3 --grid clip_eps=0.1,0.3] [--out benchmarks/out]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the settings are split over one device per core

from jaxrl.algos import ppo  # noqa: E402
from jaxrl.runs.sweep import sweep  # noqa: E402

DEFAULT_GRID = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "clip_eps": [0.1, 0.3]}


def parse_grid(items: list[str] | None) -> dict[str, list[float]]:
    if not items:
        return DEFAULT_GRID
    grid = {}
    for item in items:
        name, _, values = item.partition("=")
        grid[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="append", help="FIELD=V1,V2,... (repeatable)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = parser.parse_args()

    grid = parse_grid(args.grid)
    base = ppo.Config(total_timesteps=args.steps)
    result = sweep("ppo", args.env, base, grid=grid, seeds=args.seeds, key=args.seed)
    runs = len(result.settings) * result.num_seeds
    steps = int(result.env_steps[-1])
    print(result.table())
    print(f"{len(result.settings)} settings x {result.num_seeds} seeds = {runs} runs of "
          f"{steps:,} steps in one program: compile {result.compile_seconds:.1f} s, run "
          f"{result.run_seconds:.1f} s ({result.run_seconds / runs:.2f} s per run, "
          f"{runs * steps / result.run_seconds:,.0f} steps/s)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ppo_sweep.png")
    result.plot(path)
    print(f"plot: {path}")
    ranked = np.argsort(-np.nan_to_num(result.mean, nan=-np.inf))
    print("ranking:", ", ".join(
        "{" + ", ".join(f"{k}={result.settings[i][k]:g}" for k in grid) + f"}}={result.mean[i]:.0f}"
        for i in ranked
    ))


if __name__ == "__main__":
    main()
