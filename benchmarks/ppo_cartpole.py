"""PPO on CartPole-v1: 16 seeds x 500,000 steps trained as one compiled program.

Runs, in one process: the ``cartpole`` preset (tuned for throughput) with the seeds
split over one CPU device per core (``jaxrl.parallel.devices``), the same on one device, and
the ``cleanrl`` preset (the defaults: CleanRL's settings) on all devices. For each:
compile time, run time, time per seed, the fraction of seeds whose mean return at
the end of training is at least 475, and the time to that threshold.

* Final return of a seed: the mean return of the episodes that ended in the last 10
  updates (5,120 steps) of its run, 976 updates x 512 steps = 499,712 steps.
* Time to threshold: the first update at which a seed's trailing 10-update mean
  return reaches 475, converted to seconds as the same fraction of the measured run
  (all seeds advance in lockstep in one program); reported per seed (median, max)
  and for "all seeds" (the last seed to cross).
* The final policies are also run greedily (argmax) for one full episode each on
  8 fresh starts per seed (at most 500 steps).

Source/peer numbers printed beside ours: Stable-Baselines3's PPO runs CartPole at
about 11,600 steps/s on this 2-core CPU (about 43 s for 500,000 steps, one seed), and
a single well-written pure-JAX PPO (PureJaxRL-style) runs 500,000 steps in about 2 s
after compilation. Target: at most 1 s per seed when 16 seeds train together.

Usage: ``python benchmarks/ppo_cartpole.py [--seeds 16] [--steps 500000] [--single]
[--cases cartpole cartpole@1 cleanrl] [--out benchmarks/out]`` (``NAME@1``: one device)
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before anything starts JAX: one CPU device per core
import numpy as np

from jaxrl import envs
from jaxrl.algos import ppo
from jaxrl.output.plotting import smooth_returns
from jaxrl.runs.evaluation import evaluate_seeds
from jaxrl.runs.sweep import final_returns

THRESHOLD = 475.0
WINDOW = 10  # updates in the trailing mean
SB3_SECONDS = 43.0  # Stable-Baselines3 PPO, 500k CartPole steps, this CPU (source number)
SB3_STEPS_PER_SECOND = 11_600
PEER_SINGLE_SECONDS = 2.0  # one pure-JAX PPO, 500k steps after compilation (peer number)


def run_case(preset: str, devices: int | None, args) -> dict:
    """Train ``args.seeds`` seeds of ``preset``; returns times and per-seed results."""
    env, params = envs.make("CartPole-v1")
    config = ppo.PRESETS[preset].config.replace(total_timesteps=args.steps)
    agent = ppo.make(config, env, params)
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)
    pool = jax.devices()[:devices] if devices else None
    program = par.over_seeds(agent.train, devices=pool)
    used = len(program.devices_for(args.seeds))

    t0 = time.perf_counter()
    compiled = program.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    states, metrics = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    metrics = {k: np.asarray(v) for k, v in metrics.items()}

    n_updates = agent.num_updates
    final = final_returns(metrics["episode_return"], metrics["episodes"], WINDOW)
    trail = smooth_returns(metrics["episode_return"], metrics["episodes"], WINDOW)
    first = np.where(trail >= THRESHOLD, np.arange(n_updates)[None], n_updates).min(axis=1)
    # From this update on, the trailing mean never dips below the threshold again.
    stays = np.where(trail < THRESHOLD, np.arange(n_updates)[None], -1).max(axis=1) + 1
    greedy = evaluate_seeds(agent, states, env, params, episodes=8, seed=args.seed + 1,
                            max_steps=500).returns  # [seeds, 8]
    return dict(
        name=f"{preset}, {used} device{'s' if used > 1 else ''}", preset=preset, config=config,
        devices=used, compile_s=compile_s, run_s=run_s, n_updates=n_updates,
        env_steps=metrics["env_steps"][0], steps=int(metrics["env_steps"][0, -1]),
        final=final, trail=trail, first=first, stays=stays, greedy=greedy,
    )


def describe(case: dict, idx: np.ndarray, what: str) -> str:
    """Median and last-seed time (and steps) at which ``idx`` (update per seed) happens."""
    ok = idx < case["n_updates"]
    if not ok.any():
        return f"{what}: never"
    secs = (idx[ok] + 1) * case["run_s"] / case["n_updates"]
    stp = case["env_steps"][idx[ok]]
    last = (f"{secs.max():.2f} s ({stp.max():,} steps)" if ok.all()
            else f"not reached by {int((~ok).sum())} seeds")
    return (f"{what}: median {np.median(secs):.2f} s ({int(np.median(stp)):,} steps), "
            f"all seeds {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", nargs="+", default=["cartpole", "cartpole@1", "cleanrl"],
                        help="presets to run; NAME@1 runs it on one device")
    parser.add_argument("--single", action="store_true",
                        help="also time one seed of the cartpole preset alone")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = parser.parse_args()
    for case in args.cases:
        if case.split("@")[0] not in ppo.PRESETS:
            parser.error(f"unknown preset {case!r}; presets: {', '.join(ppo.PRESETS)}")

    print(f"PPO on CartPole-v1: {args.seeds} seeds x {args.steps:,} steps per program; "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s), "
          f"{par.cpu_cores()} cores, jax {jax.__version__}")
    results = []
    for case in args.cases:
        preset, _, dev = case.partition("@")
        r = run_case(preset, int(dev) if dev else None, args)
        results.append(r)
        c = r["config"]
        print(f"\n[{r['name']}] {c.num_envs} envs x {c.num_steps} steps, {c.epochs} epochs x "
              f"{c.minibatches} minibatches, lr {c.lr:g} annealed, actor {c.actor_hidden} "
              f"critic {c.critic_hidden} {c.activation}")
        print(f"  compile {r['compile_s']:.1f} s, run {r['run_s']:.2f} s, "
              f"{r['run_s'] / args.seeds:.2f} s per seed, "
              f"{args.seeds * r['steps'] / r['run_s']:,.0f} steps/s over all seeds")
        print(f"  final return (episodes in the last {WINDOW} updates): mean "
              f"{np.nanmean(r['final']):.1f}, min {np.nanmin(r['final']):.1f}; seeds >= "
              f"{THRESHOLD:.0f}: {int(np.sum(r['final'] >= THRESHOLD))}/{args.seeds}")
        print(f"  greedy final policy, 8 episodes per seed: mean {r['greedy'].mean():.1f}, "
              f"min {r['greedy'].min():.0f}")
        print("  " + describe(r, r["first"], f"time to threshold ({WINDOW}-update trailing "
                                             f"mean first >= {THRESHOLD:.0f})"))
        print("  " + describe(r, r["stays"], "time to stay >= threshold for the rest of the run"))

    if args.single:
        env, params = envs.make("CartPole-v1")
        agent = ppo.make(ppo.PRESETS["cartpole"].config.replace(total_timesteps=args.steps), env, params)
        k = jax.random.PRNGKey(args.seed)
        t0 = time.perf_counter()
        c1 = jax.jit(agent.train).lower(k).compile()
        c1_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, m1 = jax.block_until_ready(c1(k))
        r1_s = time.perf_counter() - t0
        f1 = final_returns(np.asarray(m1["episode_return"])[None],
                           np.asarray(m1["episodes"])[None], WINDOW)[0]
        print(f"\n[cartpole, one seed alone] compile {c1_s:.1f} s, run {r1_s:.2f} s, "
              f"final return {f1:.1f}")

    print(f"\n{'run':<24} {'s/seed':>7} {'vs SB3':>7} {'vs 1 pure-JAX':>14} {'seeds >= 475':>13}")
    for r in results:
        per_seed = r["run_s"] / args.seeds
        print(f"{r['name']:<24} {per_seed:>7.2f} {SB3_SECONDS / per_seed:>6.0f}x "
              f"{PEER_SINGLE_SECONDS / per_seed:>13.1f}x "
              f"{int(np.sum(r['final'] >= THRESHOLD)):>9}/{args.seeds}")
    print(f"peers (500k steps, one seed, this CPU): Stable-Baselines3 ~{SB3_SECONDS:.0f} s "
          f"({SB3_STEPS_PER_SECOND:,} steps/s); one pure-JAX PPO ~{PEER_SINGLE_SECONDS:.0f} s "
          f"after compile. Target: <= 1 s per seed with 16 seeds together.")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ppo_cartpole.png")
    _plot(results, path, args.seeds)
    print(f"plot: {path}")


def _plot(results, path, seeds) -> None:
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for r, color in zip(results, ["tab:blue", "tab:green", "tab:orange", "tab:purple"]):
        for c in r["trail"]:
            ax.plot(r["env_steps"], c, color=color, alpha=0.2, linewidth=0.6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # Same preset on fewer devices: the same curve (dashed on top), only slower.
            style = ":" if r["devices"] == 1 and r["preset"] == "cartpole" else "-"
            ax.plot(r["env_steps"], np.nanmean(r["trail"], axis=0), color=color, linewidth=2,
                    linestyle=style, label=f"{r['name']}: mean of {seeds} seeds, {r['run_s']:.1f} s")
    ax.axhline(THRESHOLD, color="tab:red", linestyle="--", label=f"{THRESHOLD:.0f}")
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel(f"episode return ({WINDOW}-update trailing mean)")
    ax.set_title(f"PPO, CartPole-v1: {seeds} seeds per program (run time after compile)")
    ax.set_ylim(0, 520)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
