"""DQN on MountainCar-v0: the article's result beside jaxrl's, 8 seeds in one program.

The article's DQN (MLP 32-32, Adam 1e-3, gamma 0.99, batch 64, replay 50,000, target
update every 1,000 steps, training from step 2,000, epsilon to 0.01, one environment)
reached an average return of -136.75 after 120,000 steps; 200,000 steps took about
20 minutes on a 4-core CPU. Here ``--seeds`` agents train for 120,000 environment
steps each in ONE compiled program, then each plays ``--episodes`` fresh episodes
greedily. Printed per seed: the greedy evaluation return and the mean return of the
training episodes that ended in the last 10 % of the run; then the means, the
source's number, and times (compile apart from the run; wall and process CPU).

Presets: ``mountaincar`` (jaxrl's tuned setting, the default) and
``mountaincar_article`` (the article's settings on jaxrl).

Usage: ``python benchmarks/dqn_mountaincar.py [--preset mountaincar] [--seeds 8]
[--episodes 100] [--steps 120000]``
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

SOURCE_RETURN = -136.75  # after 120,000 steps
SOURCE_TIME = "200,000 steps in ~20 min on 4 cores (one seed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", default="mountaincar", choices=["mountaincar", "mountaincar_article"]
    )
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=None, help="override total_timesteps")
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
    _, metrics, result, t = evaluation.train_and_evaluate(
        agent, env, params, keys, jax.random.key(12345), args.episodes, max_steps=200
    )
    greedy = np.asarray(result.mean_return)
    train_tail = final_returns(metrics, 0.1)
    print(f"\n{'seed':>4} {'greedy return':>14} {'training episodes, last 10 %':>29}")
    for i in range(args.seeds):
        print(f"{i:>4} {greedy[i]:14.2f} {train_tail[i]:29.2f}")
    print(f"{'mean':>4} {greedy.mean():14.2f} {train_tail.mean():29.2f}")
    print(f"\n{'source (article, 1 seed, 120,000 steps)':<44} {SOURCE_RETURN:.2f}")
    print(f"{'jaxrl greedy, mean of ' + str(args.seeds) + ' seeds':<44} {greedy.mean():.2f} "
          f"(worst seed {greedy.min():.2f}); target: better than -120")
    steps = args.seeds * config.total_timesteps
    print(f"\nsource time: {SOURCE_TIME}")
    print(t.summary(steps))


if __name__ == "__main__":
    main()
