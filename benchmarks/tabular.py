"""Tabular Q-learning and SARSA on Gridworld (static, player) and Taxi-v3, many seeds per program.

For every (task, algorithm) pair, ``jax.jit(jax.vmap(agent.train))`` trains ``--seeds``
independent Q-tables in one compiled program; compile time (``lower().compile()``)
and run time (until ``block_until_ready``) are measured apart. Each learned greedy
policy is then played from *every* start state of the task (the tasks are
deterministic, so this is exact, not a sample):

* Gridworld static: the one start (0, 3); player mode: the 13 free cells.
* Taxi-v3: the 300 start states (Gymnasium's reset is uniform over them).

Columns: ``greedy return`` is the mean over seeds of the mean over start states
(min over seeds in brackets); ``optimal`` is the same for the optimal policy (a
breadth-first search on the Gridworld board, value iteration on Taxi's tables);
``win %`` is the share of (seed, start) episodes ended by a win (goal / drop-off);
``opt %`` the share played with the optimal return. Then the greedy policies of seed
0 are printed (an arrow board for Gridworld; for Taxi, the states with the passenger
waiting at R going to B, and aboard going to B).

Usage: ``python benchmarks/tabular.py [--seeds 32] [--quick]``
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import envs
from jaxrl.algos import tabular
from jaxrl.envs.gridworld import Gridworld
from jaxrl.envs.taxi import TaxiState

# (task, preset name): each algorithm's ``tabular.PRESETS_BY_ALGORITHM[algorithm][preset]``
# fixes the config, the environment and its options.
TASKS: list[tuple[str, str]] = [
    ("Gridworld static", "gridworld_static"),
    ("Gridworld player", "gridworld_player"),
    ("Taxi-v3", "taxi"),
]


def gridworld_starts(env: Gridworld) -> tuple[Any, Any, np.ndarray]:
    """(obs, states, optimal returns) for every start cell of a fixed board."""
    base = env.static_state()
    blocked = {tuple(np.asarray(base.pit)), tuple(np.asarray(base.wall))}
    goal = tuple(np.asarray(base.goal))
    if env.mode == "static":
        cells = [tuple(np.asarray(base.player))]
    else:
        cells = [(r, c) for r in range(env.size) for c in range(env.size)
                 if (r, c) not in blocked and (r, c) != goal]
    # BFS distances from the goal; the optimal return is goal_reward + (d - 1) * step_reward.
    dist, todo = {goal: 0}, deque([goal])
    while todo:
        r, c = todo.popleft()
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nxt = (r + dr, c + dc)
            inside = 0 <= nxt[0] < env.size and 0 <= nxt[1] < env.size
            if inside and nxt not in blocked and nxt not in dist:
                dist[nxt] = dist[(r, c)] + 1
                todo.append(nxt)
    p = env.default_params
    optimal = np.array([p.goal_reward + (dist[c] - 1) * p.step_reward for c in cells])
    states = jax.vmap(lambda rc: base.replace(player=rc))(jnp.asarray(cells, jnp.int32))
    return jax.vmap(env.observe)(states), states, optimal


def taxi_starts(env: Any) -> tuple[Any, Any, np.ndarray]:
    """(obs, states, optimal returns) for Taxi's 300 start states."""
    t = env.tables
    nxt, rew, term = t.next_state[:, :, 0], t.reward, t.terminated
    v = np.zeros(nxt.shape[0])
    for _ in range(200):  # undiscounted value iteration; shortest plans are < 20 steps
        v = (rew + np.where(term, 0.0, v[nxt])).max(axis=1)
    starts = jnp.asarray(t.starts)
    n = starts.shape[0]
    zeros = jnp.zeros(n, jnp.int32)
    states = TaxiState(starts, zeros, jnp.full(n, -1, jnp.int32), jnp.zeros(n, bool))
    return starts, states, v[t.starts]


def run_one(task: str, env, params, algorithm: str, cfg: Any, seeds: int, starts) -> dict:
    agent = tabular.make(cfg, env, params)
    keys = jax.random.split(jax.random.key(0), seeds)
    t0 = time.perf_counter()
    train = jax.jit(jax.vmap(agent.train)).lower(keys).compile()
    t1 = time.perf_counter()
    state, metrics = train(keys)
    jax.block_until_ready(state.q)
    t2 = time.perf_counter()

    obs, states, optimal = starts
    _, index = tabular.tabular_spec(env, params)
    cap = int(params.max_steps_in_episode)

    @jax.jit
    @jax.vmap
    def play(q):
        return jax.vmap(
            lambda o, s: tabular.greedy_rollout(q, env, params, o, s, index, cap)
        )(obs, states)

    res = play(state.q)
    ret = np.asarray(res.episode_return)  # [seeds, starts]
    per_seed = ret.mean(axis=1)
    return {
        "task": task, "algorithm": algorithm, "steps": cfg.num_updates * cfg.batch_size,
        "greedy": per_seed.mean(), "greedy_min": per_seed.min(), "optimal": optimal.mean(),
        "win": 100 * np.asarray(res.won).mean(),
        "opt": 100 * np.isclose(ret, optimal[None]).mean(),
        "train_last": float(np.nanmean(np.asarray(metrics["episode_return"])[:, -10:])),
        "compile": t1 - t0, "run": t2 - t1,
        "sps": seeds * cfg.num_updates * cfg.batch_size / (t2 - t1),
        "q0": np.asarray(state.q[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=32, help="seeds trained in one program")
    parser.add_argument("--quick", action="store_true", help="Gridworld only")
    args = parser.parse_args()

    rows = []
    for task, preset_name in TASKS:
        if args.quick and task.startswith("Taxi"):
            continue
        presets = {a: tabular.PRESETS_BY_ALGORITHM[a][preset_name] for a in tabular.ALGORITHMS}
        first = presets[tabular.ALGORITHMS[0]]
        env, params = envs.make(first.env, **first.env_options)  # the same for both
        starts = taxi_starts(env) if first.env == "Taxi-v3" else gridworld_starts(env)
        for algorithm, preset in presets.items():
            row = run_one(task, env, params, algorithm, preset.config, args.seeds, starts)
            row["env"] = env
            rows.append(row)
            print(f"done: {task} {algorithm} ({row['compile'] + row['run']:.1f} s)", flush=True)

    print(f"\n{args.seeds} seeds per program; greedy policies played from every start state\n")
    head = (f"{'task':<17} {'algorithm':<10} {'steps/seed':>10} {'greedy return':>20} "
            f"{'optimal':>7} {'win %':>6} {'opt %':>6} {'train ret':>9} "
            f"{'compile s':>9} {'run s':>6} {'steps/s':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        greedy = f"{r['greedy']:.3f} (min {r['greedy_min']:.2f})"
        print(f"{r['task']:<17} {r['algorithm']:<10} {r['steps']:>10,} {greedy:>20} "
              f"{r['optimal']:>7.3f} {r['win']:>6.1f} {r['opt']:>6.1f} {r['train_last']:>9.2f} "
              f"{r['compile']:>9.1f} {r['run']:>6.1f} {r['sps']:>10,.0f}")
    print("\ntrain ret: mean return of the training (epsilon-greedy) episodes, last 10 updates")

    for r in rows:
        print(f"\n== {r['task']}, {r['algorithm']}, seed 0: greedy policy ==")
        if r["task"].startswith("Taxi"):
            print(tabular.taxi_policy_text(r["q0"], passenger="R", destination="B"))
            print()
            print(tabular.taxi_policy_text(r["q0"], passenger="taxi", destination="B"))
        else:
            print(tabular.policy_text(r["q0"], r["env"]))


if __name__ == "__main__":
    main()
