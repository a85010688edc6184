"""Many agents in one program: the chapter-9 results beside the source's, a battle of
mean-field Q against independent Q, and agent-steps per second from 20 to 10,000 agents.

1. Ising (8 seeds in one program per row): each seed trains, then plays 16 fresh
   random worlds for 200 steps with its greedy policy; printed: the aligned share
   (1-D: neighbouring pairs; 2-D: spins with the majority), its worst seed, and the
   share of worlds that align completely. Rows for the default reward (the new
   configuration's local energy) and the book's timing (``reward_after_move=False``).
2. Battle (``Battle-v0``, 20x20, 20 a side): red learns with mean-field Q, blue with
   independent Q, in the same program; then 100 evaluation battles per seed between
   the two trained policies (both sampling their Boltzmann policies). A control row
   trains independent Q on both sides (a fair measurement gives about 50 %).
3. Throughput on ``Ising2D-v0`` as the torus grows (20, 100, 1,000, 10,000 agents):
   environment alone (random actions) and mean-field Q training, on one device and
   on every device (``jaxrl.parallel.over_seeds``, 2 seeds); compile time apart, clocks
   stopped after ``block_until_ready``.

Usage: ``python benchmarks/many_agents.py [--skip-ising] [--skip-battle]
[--skip-throughput] [--battle-steps 60000] [--seeds 8]``. Prints markdown tables; no asserts.

Battle outcomes are all-or-nothing per seed (a trained pair plays its 100 battles the same
way), and with two sides learning against each other the lead swings back and forth as
training goes on (training win-rate curves of 4 seeds over 164k steps went 0.56, 0.35,
0.38, 0.77, 0.57, 0.11, 0.33, 0.76, 0.16, 0.20): compare the rows, not one number.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from jaxrl import parallel

parallel.use_cpu_cores()

import jax
import jax.numpy as jnp
import numpy as np

import envs
from jaxrl.algos import get, marl

ISING_ROWS = [
    # (algorithm, env, total world steps, env options, the source's result)
    ("nq", "Ising1D-v0", 48_000, {}, "two aligned domains (90 % of pairs)"),
    ("iql", "Ising1D-v0", 48_000, {}, ""),
    ("nq", "Ising1D-v0", 96_000, {"reward_after_move": False}, "two aligned domains"),
    ("iql", "Ising1D-v0", 96_000, {"reward_after_move": False}, ""),
    ("mfq", "Ising2D-v0", 32_000, {}, "all but 3 of 100 spins aligned (97 %)"),
    ("iql", "Ising2D-v0", 32_000, {}, ""),
    ("mfq", "Ising2D-v0", 64_000, {"reward_after_move": False}, "97 %"),
]


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def timed(fn, *args):
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, t1 - t0, time.perf_counter() - t1


def ising(seeds: int) -> str:
    rows = []
    for algo, name, total, options, source in ISING_ROWS:
        env, params = envs.make(name, **options)
        agent = marl.make(get(algo).Config(total_timesteps=total, hidden=(32,)), env, params)

        def one(key, agent=agent, env=env, params=params):
            k_train, k_eval = jax.random.split(key)
            state, _ = agent.train(k_train)
            _, last = marl.spins_after(agent, state, env, params, k_eval, 200, 16, True)
            return jax.vmap(env.aligned_fraction)(last)

        keys = jax.random.split(jax.random.key(0), seeds)
        aligned, comp, run = timed(parallel.over_seeds(one), keys)
        aligned = np.asarray(aligned)
        per_seed = aligned.mean(axis=1)
        timing = "book's (before the move)" if options.get("reward_after_move") is False \
            else "default (after the move)"
        rows.append([f"{algo} {name}", timing, f"{total:,}", f"{per_seed.mean():.3f}",
                     f"{per_seed.min():.3f}", f"{np.mean(aligned == 1.0):.0%}",
                     f"{comp:.0f} + {run:.0f}", source])
        print(rows[-1], flush=True)
    return table(["run", "reward timing", "world steps/seed", "aligned (mean of seeds)",
                  "worst seed", "worlds fully aligned", "compile + run s", "source"], rows)


def battle(seeds: int, steps: int) -> str:
    env, params = envs.make("Battle-v0", neighbourhood="view")
    rows = []
    for algo, opponent in (("mfq", "iql"), ("iql", "iql")):
        base = marl.for_name(algo).PRESETS["battle"].config
        cfg = dataclasses.replace(base, opponent=opponent, total_timesteps=steps)
        agent = marl.make(cfg, env, params)

        def one(key, agent=agent):
            k_train, k_eval = jax.random.split(key)
            state, m = agent.train(k_train)
            r = marl.battle_results(agent, state, env, params, k_eval, 100, greedy=False)
            return r, m["win_rate"][-20:]

        (res, train_wins), comp, run = timed(parallel.over_seeds(one),
                                             jax.random.split(jax.random.key(0), seeds))
        red = np.asarray(res["red_wins"])
        rows.append([f"red {algo} vs blue {opponent}", f"{steps:,}",
                     f"{red.mean():.1%}", " ".join(f"{x:.2f}" for x in red),
                     f"{np.asarray(res['blue_wins']).mean():.1%}",
                     f"{np.asarray(res['draws']).mean():.1%}",
                     f"{float(np.nanmean(train_wins)):.1%}",
                     f"{np.asarray(res['length']).mean():.0f}", f"{comp:.0f} + {run:.0f}"])
        print(rows[-1], flush=True)
    return table(["battle", "world steps/seed", "red wins (mean of seeds)", "per seed",
                  "blue wins", "draws", "red wins, last 20 training updates",
                  "mean length", "compile + run s"], rows)


def throughput() -> str:
    sizes = [(4, 5), (10, 10), (25, 40), (100, 100)]
    rows = []
    devices = jax.local_devices()
    for h, w in sizes:
        env, params = envs.make("Ising2D-v0", height=h, width=w)
        n, worlds = h * w, 8
        steps = max(50, 2_000_000 // (worlds * n))  # at least 2M agent-steps per clock

        def roll(key, env=env, params=params, n=n, worlds=worlds, steps=steps):
            k0, k1 = jax.random.split(key)
            _, s = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, worlds), params)

            def body(s, k):
                ka, ks = jax.random.split(k)
                a = jax.random.randint(ka, (worlds, n), 0, 2)
                _, s, r, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                    jax.random.split(ks, worlds), s, a, params)
                return s, jnp.mean(r)

            return jax.lax.scan(body, s, jax.random.split(k1, steps))[1]

        _, env_comp, env_run = timed(jax.jit(roll), jax.random.key(0))
        env_sps = worlds * steps * n / env_run

        updates = max(5, 4_000_000 // (2 * worlds * 10 * n))  # >= 4M agent-steps, 2 seeds
        cfg = marl.MFQConfig(num_envs=worlds, num_steps=10,
                             total_timesteps=worlds * 10 * updates, hidden=(32,))
        agent = marl.make(cfg, env, params)
        keys = jax.random.split(jax.random.key(1), 2)
        out = []
        for devs in ([devices[0]], devices):
            _, comp, run = timed(parallel.over_seeds(agent.train, devices=devs), keys)
            out.append((comp, 2 * cfg.total_timesteps * n / run))
        rows.append([f"{n:,} ({h}x{w})", f"{env_sps:,.0f}", f"{env_comp:.1f}",
                     f"{out[0][1]:,.0f}", f"{out[1][1]:,.0f} ({len(devices)} devices)",
                     f"{out[0][0]:.1f} / {out[1][0]:.1f}"])
        print(rows[-1], flush=True)
    return table(["agents", "env only: agent-steps/s (8 worlds)", "env compile s",
                  "mfq training: agent-steps/s, 1 device (2 seeds x 8 worlds)",
                  "mfq training, all devices", "training compile s (1 / all)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-ising", action="store_true")
    parser.add_argument("--skip-battle", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--battle-steps", type=int, default=60_000)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    print(f"devices: {jax.local_devices()}")
    out = []
    if not args.skip_ising:
        out.append(ising(args.seeds))
    if not args.skip_battle:
        out.append(battle(args.seeds, args.battle_steps))
    if not args.skip_throughput:
        out.append(throughput())
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
