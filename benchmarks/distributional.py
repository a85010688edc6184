"""C51, QR-DQN and plain DQN on MinAtar's Freeway at the same settings and steps (chapter 7).

The book trains a C51-style agent (51 atoms on [-10, 10]) on Atari Freeway and calls
it trained at 4 or more crossings per episode. jaxrl plays gymnax's pure-JAX
``Freeway-MinAtar`` (10x10x7 boolean planes, 3 actions, 2,500-step episodes, reward 1
per crossing, so an episode's return counts its crossings).

A fair comparison: the three agents are built from ONE settings dict (``dqn.FREEWAY``:
conv torso, 16 copies, batch 64 every 32 env steps, 3-step double targets, Polyak
target, Adam learning rate, epsilon schedule, step budget) and differ only in the value
head: plain DQN (one value per action, MSE), C51 (51 atoms on [0, 5], the ``c51``
``freeway`` preset) and QR-DQN (51 quantiles, kappa 1, the ``qrdqn`` ``freeway``
preset); the script checks that no other field differs. Each agent trains ``--seeds``
seeds in one compiled program, then every seed plays ``--episodes`` greedy episodes.
Printed: greedy crossings per episode (mean, std and worst seed over seeds, each seed
the mean of its episodes), how many seeds reach the book's 4, the ratio to plain DQN,
the training return over the last 40 % of the run, and times (wall and process CPU).
Beside them: a random policy and "always up" measured here, and gymnax-driven PPO (conv
torso) on the same game (65,536 steps a seed), for its throughput. A picture
of one seed's learned return distribution at a start state is written for C51 and
QR-DQN (``benchmarks/out/``).

Measured (8 seeds x 150,000 steps, 10 greedy episodes a seed; the machine loaded):
plain DQN 38.6 ± 13.8 crossings (worst seed 15.7), C51 50.9 ± 6.3 (worst 40.0, 1.32x
DQN), QR-DQN 49.4 ± 17.4 (worst 4.3, 1.28x); about 7 minutes on an idle 2-core CPU
(estimated from the CPU seconds the script prints).

``--quick`` (the pipeline only, about 90 s on an idle 2-core CPU): plain DQN and C51,
2 seeds x 40,000 steps, 2 greedy episodes, no QR-DQN, PPO or exploring column; its
pictures are named ``*_quick.png``. ``--json PATH`` writes one
row per agent (the ``benchmarks/reproduce_book.py`` contract).

Usage: ``python benchmarks/distributional.py [--quick] [--seeds 8] [--steps 150000]
[--episodes 10] [--agents dqn,c51,qrdqn,ppo] [--json PATH]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import stats  # benchmarks/stats.py (this script's folder is on sys.path when run)

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

from jaxrl import envs
from jaxrl.algos import dqn, ppo
from jaxrl.core.metrics import final_returns, final_window
from jaxrl.output import plotting
from jaxrl.runs import evaluation

ENV = "gymnax/Freeway-MinAtar"
ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
BOOK_TRAINED = 4.0  # crossings per episode
AGENTS = ("dqn", "c51", "qrdqn", "ppo")
WHAT = {"dqn": "plain DQN", "c51": "C51", "qrdqn": "QR-DQN", "ppo": "PPO (gymnax-driven)"}
# The fields the value head owns: the only ones allowed to differ between the DQN agents.
HEAD_FIELDS = {"distribution", "num_atoms", "num_quantiles", "v_min", "v_max", "kappa",
               "loss", "huber_delta"}
PPO_BATCH = 64 * 128  # PPO's env steps per update (64 copies x 128 steps)


def training_tail(metrics) -> np.ndarray:
    """Per seed, the mean return of the training episodes ending in the last 40 % of updates
    (NaN when none ends there: Freeway's episodes last 2,500 steps of every copy)."""
    ret = np.asarray(metrics["episode_return"])
    return final_returns(ret, metrics["episodes"], final_window(ret.shape[-1], 0.4))


def spread(x: np.ndarray) -> str:
    """``mean ± std (min a, max b); IQM m [95 % CI]`` over seeds (benchmarks/stats.py)."""
    return (f"{x.mean():.1f} ± {x.std():.1f} (min {x.min():.1f}, max {x.max():.1f}); "
            f"{stats.iqm_text(x)}")


def ratio(mean: float, ref: float) -> str:
    """``mean / ref`` as ``1.02x``; ``inf`` when only ``ref`` is 0, ``-`` when both are."""
    if ref > 0:
        return f"{mean / ref:.2f}x"
    return "inf" if mean > 0 else "-"


def fair_configs(steps: int) -> dict[str, dqn.Config]:
    """Plain DQN, C51 and QR-DQN from the same ``dqn.FREEWAY`` settings at ``steps``.

    Raises:
        RuntimeError: a field other than the value head's (``HEAD_FIELDS``) differs.
    """
    shared = {**dqn.FREEWAY, "total_timesteps": steps}
    configs = {
        "dqn": dqn.PRESETS["freeway"].config.replace(**shared),
        "c51": dqn.C51.presets["freeway"].config.replace(**shared),
        "qrdqn": dqn.QRDQN.presets["freeway"].config.replace(**shared),
    }
    ref = configs["dqn"]
    for name, config in configs.items():
        differ = {f.name for f in dataclasses.fields(ref)
                  if getattr(config, f.name) != getattr(ref, f.name)} - HEAD_FIELDS
        if differ:
            raise RuntimeError(f"{name} differs from plain DQN in {sorted(differ)}: not a fair "
                               "comparison")
    return configs


def baselines(env, params, episodes: int, key) -> tuple[np.ndarray, np.ndarray]:
    """Returns of ``episodes`` episodes of a random and of an always-up (action 1) policy,
    both in one compiled program."""

    def episode(k, random):
        k_reset, k_run = jax.random.split(k)
        _, state = env.reset(k_reset, params)

        def step(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            action = jnp.where(random, jax.random.randint(k_act, (), 0, 3), 1)
            _, state, reward, _, _, _ = env.step(k_step, state, action, params)
            return (state, total + reward), None

        steps = int(params.max_steps_in_episode)
        (_, total), _ = jax.lax.scan(step, (state, 0.0), jax.random.split(k_run, steps))
        return total

    keys = jax.random.split(key, 2 * episodes)
    random = jnp.arange(2 * episodes) < episodes
    out = np.asarray(jax.jit(jax.vmap(episode))(keys, random))
    return out[:episodes], out[episodes:]


def exploring(agent, states, env, params, episodes: int) -> np.ndarray:
    """Per seed, the mean return of ``episodes`` episodes of the policy as it explored at
    the end of training (DQN agents: epsilon-greedy at the final epsilon; PPO: sampled
    actions). A greedy Freeway policy can stall for a whole episode where two actions'
    values differ by less than their errors (waiting a step costs about (1 - gamma) of
    the value); a little exploration unsticks it, so this shows what the seeds learned
    beside the strict greedy score."""
    result = evaluation.evaluate_seeds(agent, states, env, params, episodes=episodes, greedy=False,
                               seed=54321, start="fresh")
    return np.asarray(result.returns).mean(axis=1)


def write_json(path: str, rows: list[dict]) -> None:
    """``rows`` as a JSON list, written atomically (``PATH.tmp``, then renamed)."""
    from jaxrl.runs.checkpoint import atomic_write

    atomic_write(path, json.dumps(rows, indent=1).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="pipeline check: dqn and c51, 2 seeds x 40,000 steps, 2 episodes")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per agent (8; quick 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps per seed (150,000; quick 40,000)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="greedy episodes per seed (10; quick 2)")
    parser.add_argument("--agents", default=None,
                        help=f"comma-separated, from {','.join(AGENTS)} (default all; quick "
                             "dqn,c51); dqn is always run (the ratios' reference)")
    parser.add_argument("--ppo-steps", type=int, default=65_536,
                        help="PPO env steps per seed (its row is for throughput; rounded up "
                             f"to whole updates of {PPO_BATCH:,})")
    parser.add_argument("--json", default=None, metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args()
    def pick(value, quick, full):
        return value if value is not None else (quick if args.quick else full)

    seeds = pick(args.seeds, 2, 8)
    steps = pick(args.steps, 40_000, 150_000)
    episodes = pick(args.episodes, 2, 10)
    agents = (args.agents or ("dqn,c51" if args.quick else ",".join(AGENTS))).split(",")
    unknown = [a for a in agents if a not in AGENTS]
    if unknown:
        parser.error(f"unknown agent(s) {', '.join(unknown)}; choose from {', '.join(AGENTS)}")
    agents = ["dqn"] + [a for a in AGENTS[1:] if a in agents]
    ppo_steps = -(-args.ppo_steps // PPO_BATCH) * PPO_BATCH
    for name, value in (("seeds", seeds), ("steps", steps), ("episodes", episodes),
                        ("ppo-steps", ppo_steps)):
        if value < 1:
            parser.error(f"--{name} must be >= 1, got {value}")

    OUT.mkdir(exist_ok=True)
    env, params = envs.make(ENV)
    configs = fair_configs(steps)
    shared = configs["dqn"]
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s); "
          f"{ENV}, {steps:,} env steps x {seeds} seeds per agent, one program each, "
          f"{episodes} greedy episodes per seed")
    print(f"shared settings (dqn.FREEWAY): {shared.num_envs} copies, hidden {shared.hidden}, "
          f"batch {shared.batch_size} every {shared.train_every} updates, buffer "
          f"{shared.buffer_size:,}, {shared.n_steps}-step double targets, Polyak tau "
          f"{shared.tau}, Adam {shared.lr:g}, epsilon -> {shared.epsilon_end} over "
          f"{shared.epsilon_decay_steps:,.0f} steps; heads: dqn MSE, c51 "
          f"{configs['c51'].num_atoms} atoms on [{configs['c51'].v_min:g}, "
          f"{configs['c51'].v_max:g}], qrdqn {configs['qrdqn'].num_quantiles} quantiles "
          f"(kappa {configs['qrdqn'].kappa:g})")

    wall0, cpu0 = time.perf_counter(), evaluation.process_cpu_seconds()
    results = {}  # name -> (greedy [seeds], training tail [seeds], Timing, env steps, plot)
    for name in agents:
        if name == "ppo":
            continue
        agent = dqn.make(configs[name], env, params)
        keys = jax.random.split(jax.random.key(0), seeds)
        states, metrics, result, t = evaluation.train_and_evaluate(
            agent, env, params, keys, jax.random.key(12345), episodes)
        greedy = np.asarray(result.returns).mean(axis=1)  # [seeds]
        explore = np.full(seeds, np.nan) if args.quick else exploring(
            agent, states, env, params, episodes)
        plot = None
        if name != "dqn":
            one = jax.tree.map(lambda x: x[0], states)
            obs, _ = env.reset(jax.random.key(1), params)
            dist = jax.device_get(agent.distribution(one, obs))
            path = OUT / f"freeway_{name}_distribution{'_quick' * args.quick}.png"
            plotting.return_distribution(dist, path, action_names=["noop", "up", "down"],
                                         title=f"{name} on Freeway-MinAtar, seed 0, start state")
            plot = str(path.relative_to(ROOT))
            print(f"  wrote {plot}")
        results[name] = (greedy, explore, training_tail(metrics), t, seeds * steps, plot)
        print(f"  {name}: greedy {np.round(greedy, 1)}; {t.summary(seeds * steps)}", flush=True)

    if "ppo" in agents:  # PPO driven by gymnax on the same game (conv torso chosen automatically)
        ppo_config = ppo.Config(num_envs=64, num_steps=128, total_timesteps=ppo_steps,
                                lr=5e-4, actor_hidden=(128,), critic_hidden=(128,),
                                activation="relu", ent_coef=0.01)
        ppo_agent = ppo.make(ppo_config, env, params)
        keys = jax.random.split(jax.random.key(0), seeds)
        states, metrics, result, t = evaluation.train_and_evaluate(
            ppo_agent, env, params, keys, jax.random.key(12345), episodes)
        greedy = np.asarray(result.returns).mean(axis=1)
        explore = exploring(ppo_agent, states, env, params, episodes)
        results["ppo"] = (greedy, explore, training_tail(metrics), t,
                          seeds * ppo_config.total_timesteps, None)
        print(f"  ppo: greedy {np.round(greedy, 1)}; {t.summary(seeds * ppo_steps)}", flush=True)
    random, up = baselines(env, params, 64, jax.random.key(7))
    wall, cpu = time.perf_counter() - wall0, evaluation.process_cpu_seconds() - cpu0

    print(f"\nFreeway-MinAtar, greedy crossings per episode; {seeds} seeds x {steps:,} env steps "
          f"each (PPO {ppo_steps:,}), {episodes} greedy episodes per seed, the same settings "
          "for dqn, c51 and qrdqn but the value head")
    head = (f"{'agent':<6} {'greedy mean':>11} {'std':>5} {'worst':>6} {'best':>5} "
            f"{'seeds >= 4':>10} {'/ dqn':>6} {'exploring':>15} {'training, last 40 %':>19} "
            f"{'compile s':>9} "
            f"{'run s':>6} {'CPU s':>6} {'env steps/s':>11}")
    print(head)
    print("-" * len(head))
    dqn_mean = float(results["dqn"][0].mean())
    rows = []
    for name, (greedy, explore, tail, t, env_steps, plot) in results.items():
        tail_mean = np.nanmean(tail) if np.isfinite(tail).any() else np.nan
        explore_text = (f"{explore.mean():.1f} (min {explore.min():.1f})"
                        if np.isfinite(explore).all() else "-")
        print(f"{name:<6} {greedy.mean():11.1f} {greedy.std():5.1f} {greedy.min():6.1f} "
              f"{greedy.max():5.1f} {int((greedy >= BOOK_TRAINED).sum()):>6} / {seeds:<1} "
              f"{ratio(float(greedy.mean()), dqn_mean):>6} "
              f"{explore_text:>15} {tail_mean:19.1f} "
              f"{t.compile_wall:9.1f} {t.run_wall:6.1f} {t.compile_cpu + t.run_cpu:6.0f} "
              f"{env_steps / t.run_wall:11,.0f}")
        agent_steps = ppo_steps if name == "ppo" else steps
        source = ("ppo.Config, 64 copies x 128 steps" if name == "ppo"
                  else "dqn.FREEWAY settings, the value head apart")
        setting = (f"{source}, {agent_steps:,} env steps per seed, greedy over {episodes} "
                   f"episode{'s' * (episodes > 1)}")
        number = f"{spread(greedy)} crossings"
        if name != "dqn":
            r = ratio(float(greedy.mean()), dqn_mean)
            number += ", plain DQN 0 too" if r == "-" else f", {r} plain DQN"
            # whether the difference to plain DQN is more than the seeds' luck
            number += f"; {stats.improvement_text(greedy, results['dqn'][0], (name, 'dqn'))}"
        rows.append({"name": name, "what": f"{WHAT[name]} on Freeway-MinAtar",
                     "setting": setting, "number": number, "seeds": seeds,
                     "compile_s": round(t.compile_wall, 1), "run_s": round(t.run_wall, 1),
                     "plot": plot})
    print(f"\n{'book (ch. 7): trained at':<34} >= {BOOK_TRAINED:g} crossings per episode")
    print(f"{'random policy (64 episodes)':<34} {random.mean():.2f} (max {random.max():g})")
    print(f"{'always up (64 episodes)':<34} {up.mean():.1f}")
    if not args.quick:
        print("exploring: the same seeds' policies with their training exploration (DQN agents: "
              "epsilon-greedy at the final epsilon 0.05, the evaluation epsilon of Mnih et al. "
              "2015; PPO: actions sampled), mean over seeds (worst seed)")
    # Compilation runs on one core, the seeds' training on both (one device per core): on
    # an idle 2-core machine the run takes about its CPU seconds less half the training's.
    idle = cpu - sum(t.run_cpu / 2 for _, _, _, t, _, _ in results.values())
    print(f"\nall agents and evaluations: {wall:.0f} s wall, {cpu:.0f} s process CPU (about "
          f"{idle:.0f} s wall on an idle 2-core CPU: CPU seconds less half of the training "
          "runs', which use both cores); env steps/s: training and the greedy episodes, over "
          "run time without compilation")
    if args.json:
        write_json(args.json, rows)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
