"""The 10-armed testbed and the contextual bandit, each in one compiled program.

Three parts, printed as tables with the sources' numbers beside ours:

1. The book's testbed (chapter 2): 10 arms, ``p ~ U(0, 1)``, reward ``Binomial(10, p)``;
   2,000 runs x 1,000 pulls of greedy, epsilon-greedy, softmax (tau 1.12), UCB and
   gradient bandits, all in one ``jit``. The book gives curves, not numbers: the
   running mean rises and softmax gets there faster; the ceiling is the best arm,
   ``10 E[max of 10 U(0, 1)] = 100/11 = 9.09``. Figure: ``--out``.
2. Sutton and Barto's Gaussian testbed (``q* ~ N(0, 1)``, reward ``N(q*, 1)``), where
   their figures 2.2, 2.4 and 2.5 give values to compare with (read off the figures:
   approximate). Figure: ``<out>_sutton_barto.png``.
3. The book's contextual bandit (10 states x 10 arms, network 10-100-10, softmax
   tau 2, Adam): its running mean reward (the last 500 pulls) beside the book's ~8.5,
   the best achievable ``10 E[max_a p[s, a]]`` and what the softmax policy can earn
   with perfect estimates. Figure: ``<out>_contextual.png``.

Wall times: compile and run apart (first call vs the compiled program's run).

Usage: ``python benchmarks/bandit_testbed.py [--out bandit_testbed.png] [--runs 2000]
[--pulls 1000] [--seeds 64] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from jaxrl.algos import bandit_agents as ba
from jaxrl.envs.bandits import Bandit
from jaxrl.output.plotting import bandit_testbed, figure, smooth_returns

# --------------------------------------------------------------------------- agents
BOOK_AGENTS = {
    "greedy": ba.greedy(),
    "eps-greedy 0.1": ba.EpsilonGreedyConfig(epsilon=0.1),
    "eps-greedy 0.01": ba.EpsilonGreedyConfig(epsilon=0.01),
    "eps-greedy 0.1, alpha 0.1": ba.EpsilonGreedyConfig(epsilon=0.1, estimator="constant"),
    "softmax tau 1.12": ba.SoftmaxConfig(temperature=1.12),
    "UCB c 2": ba.UCBConfig(c=2.0),
    "gradient 0.1": ba.GradientBanditConfig(step_size=0.1),
    "gradient 0.1, no baseline": ba.GradientBanditConfig(step_size=0.1, baseline=False),
}
BOOK_SAYS = {
    "eps-greedy 0.1": "book: eps 0.1, mean reward rises",
    "softmax tau 1.12": "book: converges faster than eps",
}

SB_AGENTS = {  # figures 2.2 and 2.4, q* ~ N(0, 1)
    "greedy": ba.greedy(),
    "eps-greedy 0.01": ba.EpsilonGreedyConfig(epsilon=0.01),
    "eps-greedy 0.1": ba.EpsilonGreedyConfig(epsilon=0.1),
    "UCB c 2": ba.UCBConfig(c=2.0),
}
# (average reward, % optimal) at pull 1000, read off S&B's figures: approximate.
SB_SAYS = {
    "greedy": "fig 2.2: ~1.0, ~35 %",
    "eps-greedy 0.01": "fig 2.2: ~1.3, ~55 %",
    "eps-greedy 0.1": "fig 2.2: ~1.35, ~80 % (fig 2.4: ~1.35)",
    "UCB c 2": "fig 2.4: ~1.5, above eps 0.1",
}
SB_GRADIENT = {  # figure 2.5, q* ~ N(4, 1)
    "gradient 0.1": ba.GradientBanditConfig(step_size=0.1),
    "gradient 0.4": ba.GradientBanditConfig(step_size=0.4),
    "gradient 0.1, no baseline": ba.GradientBanditConfig(step_size=0.1, baseline=False),
    "gradient 0.4, no baseline": ba.GradientBanditConfig(step_size=0.4, baseline=False),
}
SB_GRADIENT_SAYS = "fig 2.5: with baseline far above without"


def testbed_table(result: ba.BanditTestbedResult, says: dict[str, str], last: int) -> str:
    final = result.final(last=last)
    first = min(100, result.num_pulls)
    lines = [
        f"{'agent':28s} {'reward':>9s} {'% opt':>9s} {'reward':>9s}   source",
        f"{'':28s} {f'last {last}':>9s} {f'last {last}':>9s} {f'1st {first}':>9s}",
    ]
    for i, label in enumerate(result.labels):
        f = final[label]
        early = float(result.average_reward[i, :first].mean())
        lines.append(
            f"{label:28s} {f['average_reward']:9.3f} {f['optimal_percent']:9.1f} {early:9.3f}"
            f"   {says.get(label, '')}"
        )
    lines.append(
        f"{'best arm (ceiling)':28s} {float(result.best_expected_reward.mean()):9.3f}"
    )
    lines.append(
        f"wall time: compile {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s "
        f"({len(result.labels)} agents x {result.num_runs} runs x {result.num_pulls} pulls)"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- contextual
CONTEXTUAL = {
    "book: tau 2, Adam 1e-2, 5000 steps": ba.ContextualBanditConfig(),
    "errata: tau 2, Adam 1e-3, 10000 steps": ba.ContextualBanditConfig(
        total_timesteps=10_000, lr=1e-3),
    "tau 1.12, Adam 1e-2, 5000 steps": ba.ContextualBanditConfig(temperature=1.12),
}


def contextual_part(seeds: int, quick: bool, out: str) -> None:
    print(f"\n== Contextual bandit (10 states x 10 arms), {seeds} seeds, "
          "running mean = mean reward of the last 500 pulls (sd over seeds) ==")
    print("book: running mean reward ~8.5 of max 10")
    header = (f"{'setting':40s} {'running mean±sd':>15s} {'softmax ceil':>12s} "
              f"{'greedy pol.':>11s} {'best':>6s} {'% opt':>6s} {'seconds':>8s}")
    print(header)
    curves = {}
    for label, cfg in CONTEXTUAL.items():
        if quick:
            cfg = cfg.replace(total_timesteps=1000)
            label = f"{label} (quick: 1000)"
        r = ba.train_contextual(cfg, jax.random.key(1), num_seeds=seeds, window=500)
        sd = r.final_reward.std()
        print(f"{label[:40]:40s} {r.final_reward.mean():8.3f} ± {sd:4.2f} "
              f"{r.softmax_ceiling.mean():12.3f} "
              f"{r.greedy_reward.mean():11.3f} {r.best_reward.mean():6.3f} "
              f"{100 * r.final_optimal.mean():6.1f} {r.seconds:8.1f}")
        curves[label] = r.reward_curve
    print("best achievable over problems: 10 E[max_a p[s, a]] = 100/11 = "
          f"{ba.best_mean_reward(10):.3f}")
    print("softmax ceil: what softmax(10 p / tau) earns with perfect estimates (the policy's cap);"
          "\ngreedy pol.: expected reward of acting greedily on the learned network.")

    fig = figure(8, 4.5)
    ax = fig.subplots()
    window = 50
    for label, curve in curves.items():
        smooth = smooth_returns(curve, None, window)[window - 1:]  # full windows only
        ax.plot(np.arange(window, len(curve) + 1), smooth, lw=1.0, label=label)
    ax.axhline(ba.best_mean_reward(10), color="k", ls=":", lw=1, label="best arm (9.09)")
    ax.axhline(8.5, color="grey", ls="--", lw=1, label="book (~8.5)")
    ax.set_xlabel("Pulls")
    ax.set_ylabel(f"Reward (mean over {seeds} seeds, window 50)")
    ax.set_ylim(4.5, 9.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Contextual bandit, 10 states x 10 arms")
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bandit_testbed.png", help="PNG of the book's testbed")
    parser.add_argument("--runs", type=int, default=2000, help="independent problems")
    parser.add_argument("--pulls", type=int, default=1000, help="pulls per problem")
    parser.add_argument("--seeds", type=int, default=64, help="contextual bandit seeds")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    runs, pulls, seeds = args.runs, args.pulls, args.seeds
    if args.quick:
        runs, pulls, seeds = 100, 200, 4
    last = min(100, pulls)
    stem, _ = os.path.splitext(args.out)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")

    start = time.perf_counter()
    print(f"\n== The book's 10-armed testbed: p ~ U(0,1), reward Binomial(10, p); "
          f"{runs} runs x {pulls} pulls ==")
    book = ba.run_testbed(BOOK_AGENTS, jax.random.key(0), num_runs=runs, num_pulls=pulls)
    print(testbed_table(book, BOOK_SAYS, last))
    bandit_testbed(book, path=args.out,
                   title=f"10-armed testbed, Binomial(10, p) rewards ({runs} runs)")
    print(f"wrote {args.out}")

    print(f"\n== Sutton & Barto's testbed: q* ~ N(0, 1), reward N(q*, 1); "
          f"{runs} runs x {pulls} pulls ==")
    sb = ba.run_testbed(SB_AGENTS, jax.random.key(0), num_runs=runs, num_pulls=pulls,
                        env=Bandit(reward="gaussian"))
    print(testbed_table(sb, SB_SAYS, last))
    env = Bandit(reward="gaussian")
    sb_grad = ba.run_testbed(SB_GRADIENT, jax.random.key(0), num_runs=runs, num_pulls=pulls,
                             env=env, env_params=env.default_params.replace(q_mean=4.0))
    print(f"-- q* ~ N(4, 1) ({SB_GRADIENT_SAYS}) --")
    print(testbed_table(sb_grad, {}, last))
    sb_path = f"{stem}_sutton_barto.png"
    bandit_testbed(sb, path=sb_path,
                   title=f"Sutton & Barto testbed, q* ~ N(0,1) ({runs} runs)")
    print(f"wrote {sb_path}")

    contextual_part(seeds, args.quick, f"{stem}_contextual.png")
    print(f"\ntotal wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
