"""C51, QR-DQN and plain DQN on MinAtar's Freeway at the same step budget (chapter 7).

The book trains a C51-style agent (51 atoms on [-10, 10]) on Atari Freeway and calls
it trained at 4 or more crossings per episode. jaxrl plays gymnax's pure-JAX
``Freeway-MinAtar`` (10x10x7 boolean planes, 3 actions, 2,500-step episodes, reward 1
per crossing, so an episode's return counts its crossings). Each agent trains 8 seeds
in one compiled program with the ``freeway`` preset of ``c51`` / ``qrdqn`` (plain DQN:
the shared ``dqn.FREEWAY`` settings), then every seed plays ``--episodes``
greedy episodes. Printed: greedy crossings per episode (mean, spread and worst seed
over seeds), how many seeds reach the book's 4, the training return over the last
40 % of the run, and times. Beside them: a random policy and "always up" measured here,
and the environment throughput of gymnax-driven PPO (conv torso) on the same game.
A picture of one seed's learned return distribution at a start state is written for
C51 and QR-DQN (``benchmarks/out/``).

The default budget (60,000 steps a seed, PPO 65,536 for its throughput) costs about 90 s
of CPU time per DQN agent (compile, train, evaluate), well inside 15 minutes on an idle
2-core CPU; every agent's mean stays far above the book's 4 (measured: DQN 19.7, C51 19.0,
QR-DQN 20.2, 8 seeds each).

Usage: ``python benchmarks/distributional.py [--seeds 8] [--steps 60000] [--episodes 2]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import parallel as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

import envs
from jaxrl import evaluate as ev
from jaxrl import plotting
from jaxrl.algos import dqn, ppo
from jaxrl.metrics import final_returns, final_window

ENV = "gymnax/Freeway-MinAtar"


def last_tenth(metrics) -> np.ndarray:
    """Per seed, the mean return of the training episodes ending in the last 40 % of updates
    (Freeway's episodes last 2,500 steps: at 60,000 steps of 16 copies they all end at 2/3
    of the run; NaN when none ends, as for PPO's 64 copies at 65,536 steps)."""
    ret = np.asarray(metrics["episode_return"])
    return final_returns(ret, metrics["episodes"], final_window(ret.shape[-1], 0.4))
OUT = Path(__file__).parent / "out"
BOOK_TRAINED = 4.0  # crossings per episode


def baseline(env, params, policy: str, seeds: int, key) -> np.ndarray:
    """Returns of one episode per seed of a random or always-up (action 1) policy."""

    def episode(k):
        k_reset, k_run = jax.random.split(k)
        _, state = env.reset(k_reset, params)

        def step(carry, k):
            state, total = carry
            k_act, k_step = jax.random.split(k)
            action = (jax.random.randint(k_act, (), 0, 3) if policy == "random"
                      else jnp.int32(1))
            _, state, reward, _, _, _ = env.step(k_step, state, action, params)
            return (state, total + reward), None

        steps = int(params.max_steps_in_episode)
        (_, total), _ = jax.lax.scan(step, (state, 0.0), jax.random.split(k_run, steps))
        return total

    return np.asarray(jax.jit(jax.vmap(episode))(jax.random.split(key, seeds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=60_000, help="env steps per seed")
    parser.add_argument("--episodes", type=int, default=2, help="greedy episodes per seed")
    parser.add_argument("--ppo-steps", type=int, default=65_536, help="PPO env steps per seed")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    env, params = envs.make(ENV)
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s); "
          f"{ENV}, {args.steps:,} env steps x {args.seeds} seeds per agent, one program each")

    c51_config = dqn.for_name("c51").PRESETS["freeway"].config.replace(
        total_env_steps=args.steps)
    configs = {
        # plain DQN: the shared Freeway settings (dqn.FREEWAY), one value per action
        "dqn": dqn.Config(**{**dqn.FREEWAY, "total_env_steps": args.steps}),
        "c51": c51_config,
        "qrdqn": dqn.for_name("qrdqn").PRESETS["freeway"].config.replace(
            total_env_steps=args.steps),
    }
    rows = []
    t_all = time.perf_counter()
    for name, config in configs.items():
        agent = dqn.make(config, env, params)
        keys = jax.random.split(jax.random.key(0), args.seeds)
        states, metrics, result, t = ev.train_and_evaluate(
            agent, env, params, keys, jax.random.key(12345), args.episodes)
        greedy = np.asarray(result.returns).mean(axis=1)  # [seeds]
        tail = last_tenth(metrics)
        rows.append((name, greedy, tail, t, args.seeds * config.total_env_steps))
        print(f"  {name}: greedy {np.round(greedy, 1)}; {t.summary(rows[-1][-1])}", flush=True)
        if name != "dqn":
            one = jax.tree.map(lambda x: x[0], states)
            obs, _ = env.reset(jax.random.key(1), params)
            dist = jax.device_get(agent.distribution(one, obs))
            path = OUT / f"freeway_{name}_distribution.png"
            plotting.return_distribution(dist, path, action_names=["noop", "up", "down"],
                                         title=f"{name} on Freeway-MinAtar, seed 0, start state")
            print(f"  wrote {path}")

    # PPO driven by gymnax on the same game (conv torso chosen automatically).
    ppo_config = ppo.Config(num_envs=64, num_steps=128, total_timesteps=args.ppo_steps,
                            lr=5e-4, actor_hidden=(128,), critic_hidden=(128,),
                            activation="relu", ent_coef=0.01)
    ppo_agent = ppo.make(ppo_config, env, params)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    _, ppo_metrics, ppo_result, ppo_t = ev.train_and_evaluate(
        ppo_agent, env, params, keys, jax.random.key(12345), args.episodes)
    ppo_steps = args.seeds * ppo_config.total_timesteps
    ppo_greedy = np.asarray(ppo_result.returns).mean(axis=1)
    total = time.perf_counter() - t_all

    random = baseline(env, params, "random", 64, jax.random.key(7))
    up = baseline(env, params, "up", 64, jax.random.key(8))

    print(f"\nFreeway-MinAtar, crossings per episode; {args.seeds} seeds x {args.steps:,} env "
          f"steps each, {args.episodes} greedy episodes per seed")
    head = (f"{'agent':<8} {'greedy mean':>11} {'std':>5} {'worst':>6} {'seeds >= 4':>10} "
            f"{'training, last 40 %':>20} {'compile s':>9} {'run s':>6} {'env steps/s':>11} "
            f"{'/ dqn':>6}")
    print(head)
    print("-" * len(head))
    dqn_mean = rows[0][1].mean()
    for name, greedy, tail, t, steps in rows:
        print(f"{name:<8} {greedy.mean():11.1f} {greedy.std():5.1f} {greedy.min():6.1f} "
              f"{int((greedy >= BOOK_TRAINED).sum()):>6} / {args.seeds:<1} "
              f"{np.nanmean(tail):20.1f} {t.compile_wall:9.1f} {t.run_wall:6.1f} "
              f"{steps / t.run_wall:11,.0f} {greedy.mean() / max(dqn_mean, 1e-9):6.2f}")
    print(f"{'ppo':<8} {ppo_greedy.mean():11.1f} {ppo_greedy.std():5.1f} {ppo_greedy.min():6.1f} "
          f"{int((ppo_greedy >= BOOK_TRAINED).sum()):>6} / {args.seeds:<1} "
          f"{np.nanmean(last_tenth(ppo_metrics)):20.1f} {ppo_t.compile_wall:9.1f} "
          f"{ppo_t.run_wall:6.1f} {ppo_steps / ppo_t.run_wall:11,.0f}   "
          f"({args.ppo_steps:,} steps per seed)")
    print(f"\n{'book (ch. 7): trained at':<34} >= {BOOK_TRAINED:g} crossings per episode")
    print(f"{'random policy (64 episodes)':<34} {random.mean():.2f} (max {random.max():g})")
    print(f"{'always up (64 episodes)':<34} {up.mean():.1f}")
    print(f"\ntotal {total:.0f} s wall (env steps/s: training and the greedy episodes, "
          f"over run time without compilation)")


if __name__ == "__main__":
    main()
