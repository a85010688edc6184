"""DQN on Gridworld random mode: the book's chapter 3 result, reproduced and beaten.

The book trains one agent (experience replay: 86.5 % wins over 1,000 random boards;
replay plus a target network: "over 90 %"). Here ``--seeds`` agents (default 8) train
together in ONE compiled program (``jit(vmap(train))``), then each plays the same
``--episodes`` fresh random boards greedily with the book's 15-move cap. Printed: the
win rate per seed and its mean, the win rate on the boards that can be won at all
(``Gridworld.solvable``: a few have the goal cut off), the mean return, and times
(compile apart from the run, wall and process CPU, ``block_until_ready`` before each
clock stops).

Presets (``jaxrl.algos.dqn.PRESETS``): ``gridworld`` (jaxrl's tuned setting, the
default), ``book_replay`` and ``book_target`` (the book's settings: one environment,
its buffer and batch sizes, its game counts converted to steps).

Usage: ``python benchmarks/dqn_gridworld.py [--preset gridworld] [--seeds 8]
[--episodes 1000] [--steps N] [--replay]`` (``--replay`` prints one game move by move)
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

from jaxrl.algos import dqn  # noqa: E402
from jaxrl.core import episodes as ev  # noqa: E402
from jaxrl.envs.gridworld import ACTION_NAMES  # noqa: E402
from jaxrl.runs import evaluation  # noqa: E402

SOURCE = {
    "book_replay": ("book, replay", "86.5 %"),
    "book_target": ("book, replay + target network", "over 90 %"),
    "gridworld": ("book's best (target network)", "over 90 %; jaxrl target >= 95 %"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gridworld", choices=sorted(SOURCE))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=None, help="override total_timesteps")
    parser.add_argument("--replay", action="store_true", help="print one game move by move")
    args = parser.parse_args()

    config = dqn.PRESETS[args.preset].config
    if args.steps is not None:
        config = config.replace(total_timesteps=args.steps)
    env, params = dqn.preset_env(args.preset)
    agent = dqn.make(config, env, params)
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s); "
          f"preset {args.preset}: {config.total_timesteps:,} env steps x {args.seeds} seeds "
          f"in one program")

    keys = jax.random.split(jax.random.key(0), args.seeds)
    states, _, result, t = evaluation.train_and_evaluate(
        agent, env, params, keys, jax.random.key(12345), args.episodes, max_steps=15
    )
    boards = jax.tree.map(lambda x: x[0], result.initial_state)  # the same for every seed
    solvable = np.asarray(jax.vmap(env.solvable)(boards))
    wins = np.asarray(result.wins)
    win = wins.mean(axis=1)
    win_solvable = wins[:, solvable].mean(axis=1)
    mean_return = np.asarray(result.returns).mean(axis=1)

    print(f"\n{args.episodes} fresh random boards (the same for every seed), 15-move cap; "
          f"{100 * solvable.mean():.1f} % of them can be won")
    print(f"{'seed':>4} {'win %':>7} {'win % of solvable':>18} {'mean return':>12}")
    for i in range(args.seeds):
        print(f"{i:>4} {100 * win[i]:7.1f} {100 * win_solvable[i]:18.1f} {mean_return[i]:12.2f}")
    print(f"{'mean':>4} {100 * win.mean():7.1f} {100 * win_solvable.mean():18.1f} "
          f"{mean_return.mean():12.2f}")
    source, number = SOURCE[args.preset]
    print(f"\n{'source (' + source + ')':<44} {number}")
    print(f"{'jaxrl, mean of ' + str(args.seeds) + ' seeds':<44} {100 * win.mean():.1f} % "
          f"(min {100 * win.min():.1f} %)")
    steps = args.seeds * config.total_timesteps
    print("\n" + t.summary(steps))
    if args.replay:
        print("\nOne game of seed 0 (greedy):")
        one = jax.tree.map(lambda x: x[0], states)
        print(ev.replay_text(env, params, agent, one, jax.random.key(7), action_names=ACTION_NAMES))


if __name__ == "__main__":
    main()
