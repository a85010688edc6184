"""Advantage actor-critic on CartPole-v1 (the book's chapter 5): book settings and tuned.

Source: a two-headed network (4-25-50 shared, actor 50-2, critic 50-25-1 tanh),
Adam 1e-4, gamma 0.95, critic weight 0.1, seven worker processes. N-step (N = 10):
mean episode length 300 after 45 s of training; Monte Carlo: about 140.
Target here: mean episode length 450 in under 10 s, 16 seeds trained together.

Measured: every preset trains ``--seeds`` seeds together as one
``jit(vmap(agent.run))`` program, run in chunks of updates so the host can read the
learning curve, stop at the budget, and time it on the wall clock.

* Mean episode length of a seed at an update: the mean length of the episodes that
  ended in the last ``--window`` environment steps of that seed
  (``a2c.windowed_mean``); the curve reported is its mean over seeds.
* Time to a threshold: the wall time (compilation excluded, shown apart) at which
  the seeds' mean curve first reaches it; updates inside a chunk are placed in time
  linearly. Steps are per seed.
* Also printed: the mean length at 45 s (the book's budget) when the run got there.

Usage: ``python benchmarks/a2c_cartpole.py [--seeds 16] [--presets book book_mc tuned]
[--out benchmarks/out/a2c_cartpole.png]``
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core


from jaxrl import envs  # noqa: E402
from jaxrl.algos import a2c  # noqa: E402

BOOK = {"book": (300.0, 45.0), "book_mc": (140.0, 45.0)}  # (mean length, seconds)
TARGET = (450.0, 10.0)


def run_preset(name: str, args) -> dict:
    env, params = envs.make("CartPole-v1")
    cfg = a2c.PRESETS[name].config
    if name in args.budget:
        cfg = cfg.replace(total_timesteps=args.budget[name])
    agent = a2c.make(cfg, env, params)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    chunk = max(1, agent.num_updates // args.chunks)

    t0 = time.perf_counter()
    init = par.over_seeds(agent.init).lower(keys).compile()
    state = init(keys)

    def run_for(n: int):
        """``n`` updates of every seed, compiled (seeds split over the devices)."""
        return par.over_seeds(lambda s: agent.run(s, n)).lower(state).compile()

    run_c = run_for(chunk)
    compile_s = time.perf_counter() - t0

    parts, clock, done = [], [], 0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < agent.num_updates:
        n = min(chunk, agent.num_updates - done)
        t_start = time.perf_counter() - t0
        if n == chunk:
            state, m = run_c(state)
        else:  # the last, shorter chunk compiles once more: keep it out of the clock
            t_pause = time.perf_counter()
            tail = run_for(n)
            t0 += time.perf_counter() - t_pause
            t_start = time.perf_counter() - t0
            state, m = tail(state)
        m = jax.device_get(m)
        t_end = time.perf_counter() - t0
        parts.append(m)
        clock.append(t_start + (t_end - t_start) * np.arange(1, n + 1) / n)
        done += n
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0

    steps = np.concatenate([p["env_steps"] for p in parts], axis=1)  # [seeds, U]
    rets = np.concatenate([p["episode_return"] for p in parts], axis=1)
    counts = np.concatenate([p["episodes"] for p in parts], axis=1)
    curves = np.stack([a2c.windowed_mean(steps[i], rets[i], counts[i], args.window)
                       for i in range(args.seeds)])
    with np.errstate(all="ignore"):
        mean = np.nanmean(curves, axis=0)
    return dict(name=name, cfg=cfg, compile=compile_s, run=run_s, cpu=cpu_s,
                clock=np.concatenate(clock), steps=steps[0], curves=curves, mean=mean)


def first_time(r: dict, threshold: float):
    hits = np.nonzero(np.nan_to_num(r["mean"], nan=-np.inf) >= threshold)[0]
    if not len(hits):
        return None, None
    return float(r["clock"][hits[0]]), int(r["steps"][hits[0]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="+", default=["book", "book_mc", "tuned"],
                        choices=sorted(a2c.PRESETS))
    parser.add_argument("--book-steps", type=int, default=1_000_000,
                        help="env steps per seed for the book presets")
    parser.add_argument("--tuned-steps", type=int, default=None,
                        help="env steps per seed for the tuned preset (default: its own)")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=40, help="host checks per run")
    parser.add_argument("--out", default="benchmarks/out/a2c_cartpole.png")
    args = parser.parse_args()
    args.budget = {"book": args.book_steps, "book_mc": args.book_steps}
    if args.tuned_steps:
        args.budget["tuned"] = args.tuned_steps

    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs; {args.seeds} seeds per preset, "
          "trained together in one program")
    results = []
    for name in args.presets:
        r = run_preset(name, args)
        results.append(r)
        c = r["cfg"]
        print(f"\n[{name}] mode {c.mode}, {c.num_envs} envs x N={c.num_steps}, trunk {c.trunk}, "
              f"actor {c.actor_hidden}, critic {c.critic_hidden} ({c.critic_output}), "
              f"lr {c.lr:g}{' annealed' if c.anneal_lr else ''}, gamma {c.gamma}")
        print(f"  compile {r['compile']:.1f} s; run {r['run']:.1f} s wall ({r['cpu']:.1f} s CPU) "
              f"for {args.seeds} x {int(r['steps'][-1]):,} steps "
              f"= {args.seeds * r['steps'][-1] / r['run']:,.0f} steps/s")
        for thr in (140, 300, 450, 475):
            t, s = first_time(r, thr)
            msg = f"{t:.1f} s, {s:,} steps per seed" if t is not None else "not reached"
            print(f"  mean length >= {thr}: {msg}")
        at45 = np.nonzero(r["clock"] <= 45.0)[0]
        if len(at45) and r["clock"][-1] >= 45.0:
            print(f"  mean length at 45 s: {r['mean'][at45[-1]]:.0f}")
        final = r["curves"][:, -1]
        print(f"  at the end: mean {np.nanmean(final):.0f}, worst seed {np.nanmin(final):.0f}")

    print("\nsource vs ours:")
    for r in results:
        if r["name"] in BOOK:
            thr, secs = BOOK[r["name"]]
            t, _ = first_time(r, thr)
            ours = f"{t:.1f} s" if t is not None else "not reached"
            print(f"  {r['name']:<8} book: mean length {thr:.0f} after {secs:.0f} s (7 processes); "
                  f"ours to {thr:.0f}: {ours} ({args.seeds} seeds together)")
        else:
            t, _ = first_time(r, TARGET[0])
            ours = f"{t:.1f} s" if t is not None else "not reached"
            print(f"  {r['name']:<8} target: mean length {TARGET[0]:.0f} in < {TARGET[1]:.0f} s; "
                  f"ours: {ours} ({args.seeds} seeds together; book's 300 took 45 s)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, r in enumerate(results):
        lo, hi = np.nanpercentile(r["curves"], [10, 90], axis=0)
        for ax, x in ((ax1, r["steps"]), (ax2, r["clock"])):
            ax.plot(x, r["mean"], color=f"C{i}", label=f"{r['name']} (mean of {args.seeds})")
            ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15)
    ax2.scatter([45], [300], color="k", marker="*", s=120, zorder=5,
                label="book N-step: 300 after 45 s")
    ax2.scatter([45], [140], color="grey", marker="*", s=120, zorder=5,
                label="book Monte Carlo: ~140")
    ax2.axhline(TARGET[0], color="k", ls=":", lw=1)
    ax2.axvline(TARGET[1], color="k", ls=":", lw=1, label="target: 450 within 10 s")
    ax1.set_xlabel("environment steps per seed")
    ax2.set_xlabel("wall seconds (all seeds together, compilation excluded)")
    ax2.set_xscale("log")
    for ax in (ax1, ax2):
        ax.set_ylabel(f"mean episode length (last {args.window:,} steps)")
        ax.set_ylim(0, 510)
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=7, loc="upper left")
    fig.suptitle("Advantage actor-critic on CartPole-v1", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"\nplot written to {args.out}")


if __name__ == "__main__":
    main()
