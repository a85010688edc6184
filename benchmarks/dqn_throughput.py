"""DQN training throughput as seeds and environment copies grow: what a seed costs.

For each (seeds, envs per seed) pair, ``jit(vmap(agent.run))`` runs ``--updates``
DQN updates (one step of every copy plus one gradient step of batch ``--batch``,
learning from the first update) on CartPole-v1 or Gridworld random mode, after a
warm-up call that compiles it. Printed: environment steps per second (all seeds and
copies), gradient steps per second (all seeds), the time of one update, and the
compile time. Wall times; process CPU time beside them (less distorted when other
programs share the machine).

Usage: ``python benchmarks/dqn_throughput.py [--env cartpole|gridworld]
[--seeds 1 8 64 256] [--envs 8] [--updates 500] [--batch 64] [--hidden 64 64]``
"""

from __future__ import annotations

import argparse
import time

import jax

from jaxrl.algos import dqn
from jaxrl.runs import evaluation

PRESET = {"cartpole": "cartpole", "gridworld": "gridworld"}


def measure(
    env_name: str, seeds: int, num_envs: int, updates: int, batch: int, hidden: tuple[int, ...]
) -> dict:
    base = dqn.PRESETS[PRESET[env_name]].config
    config = base.replace(
        hidden=hidden,
        num_envs=num_envs, total_timesteps=num_envs * updates, batch_size=batch,
        buffer_size=num_envs * max(10_000 // num_envs, 1), learning_starts=0,
    )
    env, params = dqn.preset_env(PRESET[env_name])
    agent = dqn.make(config, env, params)
    keys = jax.random.split(jax.random.key(0), seeds)
    init = jax.jit(jax.vmap(agent.init))
    run = jax.jit(jax.vmap(lambda s: agent.run(s, updates)))
    state = jax.block_until_ready(init(keys))
    w0 = time.perf_counter()
    compiled = run.lower(state).compile()
    w1 = time.perf_counter()
    state, _ = jax.block_until_ready(compiled(state))  # first run: buffer filling, warm caches
    w2, c2 = time.perf_counter(), evaluation.process_cpu_seconds()
    state, _ = jax.block_until_ready(compiled(state))
    w3, c3 = time.perf_counter(), evaluation.process_cpu_seconds()
    wall, cpu = w3 - w2, c3 - c2
    return {
        "compile": w1 - w0, "wall": wall, "cpu": cpu,
        "env_sps": seeds * num_envs * updates / wall,
        "grad_sps": seeds * updates / wall,
        "ms_per_update": 1e3 * wall / updates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="cartpole", choices=sorted(PRESET))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--envs", type=int, nargs="+", default=[8])
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, nargs="*", default=None,
                        help="hidden widths (default: the preset's)")
    args = parser.parse_args()
    hidden = tuple(args.hidden) if args.hidden else dqn.PRESETS[PRESET[args.env]].config.hidden
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s); "
          f"DQN on {args.env}, MLP {hidden}, batch {args.batch}, {args.updates} updates per run")
    print(f"{'seeds':>6} {'envs/seed':>9} {'env steps/s':>12} {'grad steps/s':>13} "
          f"{'ms/update':>10} {'CPU/wall':>9} {'compile s':>10}")
    for num_envs in args.envs:
        for seeds in args.seeds:
            r = measure(args.env, seeds, num_envs, args.updates, args.batch, hidden)
            print(f"{seeds:>6} {num_envs:>9} {r['env_sps']:>12,.0f} {r['grad_sps']:>13,.0f} "
                  f"{r['ms_per_update']:>10.2f} {r['cpu'] / r['wall']:>9.2f} {r['compile']:>10.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
