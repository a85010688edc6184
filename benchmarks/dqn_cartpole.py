"""DQN on CartPole-v1: mean greedy return over 8 seeds trained in one program.

Target (issue 3): a mean greedy return of at least 475 (of 500) over 8 seeds. Each
seed trains for the preset's environment steps, then plays ``--episodes`` fresh
episodes greedily (500-step limit). Printed per seed: greedy mean and minimum
return, the training return over the last 10 % of the run; then the mean and times
(compile apart from the run; wall and process CPU).

Usage: ``python benchmarks/dqn_cartpole.py [--seeds 8] [--episodes 100] [--steps N]``
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

from jaxrl.algos import dqn  # noqa: E402
from jaxrl.runs import evaluation  # noqa: E402
from jaxrl.runs.run import final_returns  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=None, help="override total_timesteps")
    args = parser.parse_args()

    config = dqn.PRESETS["cartpole"].config
    if args.steps is not None:
        config = config.replace(total_timesteps=args.steps)
    env, params = dqn.preset_env("cartpole")
    agent = dqn.make(config, env, params)
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s); "
          f"{config.total_timesteps:,} env steps x {args.seeds} seeds in one program")

    keys = jax.random.split(jax.random.key(0), args.seeds)
    _, metrics, result, t = evaluation.train_and_evaluate(
        agent, env, params, keys, jax.random.key(12345), args.episodes, max_steps=500
    )
    returns = np.asarray(result.returns)
    train_tail = final_returns(metrics, 0.1)
    print(f"\n{'seed':>4} {'greedy mean':>12} {'greedy min':>11} {'training, last 10 %':>20}")
    for i in range(args.seeds):
        print(f"{i:>4} {returns[i].mean():12.1f} {returns[i].min():11.0f} {train_tail[i]:20.1f}")
    print(f"{'mean':>4} {returns.mean():12.1f}")
    print(f"\n{'target (issue 3)':<36} >= 475")
    print(f"{'jaxrl, mean of ' + str(args.seeds) + ' seeds':<36} {returns.mean():.1f} "
          f"(worst seed {returns.mean(axis=1).min():.1f})")
    steps = args.seeds * config.total_timesteps
    print("\n" + t.summary(steps))


if __name__ == "__main__":
    main()
