"""PPO with Gaussian actions on gymnax's Pendulum-v1 and MountainCarContinuous-v0.

Both environments come through the gymnax bridge (``envs.make("gymnax/Pendulum-v1")``);
time limits are truncations (Pendulum never terminates), so the critic bootstraps
through every episode end of Pendulum. For each environment, ``--seeds`` runs train
in one compiled program; the script prints the final training return (episodes
ending in the last 5% of updates), a greedy evaluation of the final policies (the
Gaussian mean, 8 fresh episodes per seed), compile and run times, and writes the
learning curves (``ppo_continuous.png``).

Peers (Stable-Baselines3 RL Zoo PPO, tuned, with generalised state-dependent
exploration (gSDE); published evaluation on Hugging Face, sb3/ppo-<env>):
Pendulum-v1 -230.42 +- 142.54, MountainCarContinuous-v0 94.57 +- 0.45.

Usage: ``python benchmarks/ppo_continuous.py [--seeds 8] [--env pendulum|mcc|both]
[--out benchmarks/out]``
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from jaxrl import envs
from jaxrl.algos import ppo
from jaxrl.runs.evaluation import evaluate_seeds
from jaxrl.runs.sweep import final_returns

PEERS = {
    "gymnax/Pendulum-v1": "-230.42 +- 142.54 (SB3 RL Zoo PPO + gSDE)",
    "gymnax/MountainCarContinuous-v0": "94.57 +- 0.45 (SB3 RL Zoo PPO + gSDE)",
}

# The presets (found with jaxrl.runs.sweep: lr x gamma on Pendulum, exploration on Mountain Car).
CONFIGS = {ppo.PRESETS[p].env: ppo.PRESETS[p].config
           for p in ("pendulum", "mountaincar_continuous")}
NAMES = {"pendulum": "gymnax/Pendulum-v1", "mcc": "gymnax/MountainCarContinuous-v0"}


def run(name: str, seeds: int, seed: int) -> dict:
    env, params = envs.make(name)
    config = CONFIGS[name]
    agent = ppo.make(config, env, params)
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(agent.train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    states, metrics = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    window = max(1, agent.num_updates // 20)
    final = final_returns(metrics["episode_return"], metrics["episodes"], window)
    # The Gaussian mean, 8 fresh episodes per seed (the same 8 for every seed).
    greedy_ret = np.asarray(evaluate_seeds(agent, states, env, params, episodes=8,
                                           seed=seed + 1).returns)
    return dict(name=name, config=config, metrics=metrics, final=final, greedy=greedy_ret,
                compile_s=compile_s, run_s=run_s, window=window,
                log_std=np.asarray(states.params.log_std))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", choices=["pendulum", "mcc", "both"], default="both")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = parser.parse_args()
    names = list(NAMES.values()) if args.env == "both" else [NAMES[args.env]]

    results = []
    for name in names:
        r = run(name, args.seeds, args.seed)
        results.append(r)
        c, steps = r["config"], int(r["metrics"]["env_steps"][0, -1])
        print(f"PPO (Gaussian) on {name}: {args.seeds} seeds x {steps:,} steps in one program")
        print(f"  config: {c.num_envs} envs x {c.num_steps} steps, {c.epochs} epochs x "
              f"{c.minibatches} minibatches, lr {c.lr:g}, gamma {c.gamma}, lambda {c.gae_lambda}, "
              f"reward_scale {c.reward_scale}, normalize_obs {c.normalize_obs}")
        print(f"  compile {r['compile_s']:.1f} s, run {r['run_s']:.1f} s "
              f"({r['run_s'] / args.seeds:.2f} s per seed)")
        f, g = r["final"], r["greedy"]
        print(f"  final training return (last {r['window']} updates): {np.nanmean(f):.1f} +- "
              f"{np.nanstd(f):.1f} over seeds (min {np.nanmin(f):.1f}, max {np.nanmax(f):.1f})")
        print(f"  greedy evaluation (8 episodes x {args.seeds} seeds): {g.mean():.1f} +- "
              f"{g.std():.1f}; per-seed means " + " ".join(f"{x:.0f}" for x in g.mean(axis=1)))
        print(f"  final policy std (mean over seeds): {np.exp(r['log_std']).mean():.3f}")
        print(f"  peer: {PEERS[name]}")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ppo_continuous.png")
    _plot(results, path)
    print(f"plot: {path}")


def _plot(results: list[dict], path: str) -> None:
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jaxrl.output.plotting import smooth_returns

    fig = Figure(figsize=(6.5 * len(results), 4.5))
    FigureCanvasAgg(fig)
    for i, r in enumerate(results):
        ax = fig.add_subplot(1, len(results), i + 1)
        m = r["metrics"]
        steps = m["env_steps"][0]
        curves = smooth_returns(m["episode_return"], m["episodes"], 5)
        for c in curves:
            ax.plot(steps, c, color="tab:blue", alpha=0.3, linewidth=0.8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ax.plot(steps, np.nanmean(curves, axis=0), color="tab:blue", linewidth=2,
                    label=f"mean of {len(curves)} seeds")
        ax.set_title(f"PPO on {r['name'].split('/')[-1]}: greedy {r['greedy'].mean():.0f}")
        ax.set_xlabel("environment steps (per seed)")
        ax.set_ylabel("episode return (training, smoothed)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
