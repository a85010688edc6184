"""DoorKey-5x5 (chapter 10): a relational DQN's solved rate, PPO beside it, and the
environment's speed beside xland-minigrid's DoorKey, all in one run.

1. ``--seeds`` relational DQN agents (``jaxrl.algos.dqn`` with ``torso="relational"``:
   the view's 49 cells as entities, 3 attention heads; double DQN, replay and target
   network of the one DQN agent) train in ONE compiled program, then each plays the same
   ``--episodes`` fresh boards of MiniGrid's DoorKey-5x5 (its rewards and 250-step cap):
   greedily (argmax Q), and again epsilon-greedily for each of ``--eval-epsilons``
   (``jaxrl.core.episodes.epsilon_agent``, Atari DQN's evaluation policy; a memoryless greedy
   policy can loop forever on a board, a small epsilon leaves the loop). Printed: the
   solved rate per seed and policy, the means (the source: at least 94 %; target 99 %),
   and the times, with the CPU seconds and the idle-machine estimate they give.
   ``--preset doorkey`` (default) is jaxrl's setting, ``doorkey_book`` the source's
   (replay 9000, batch 50, Adam 5e-4, gamma 0.99, target sync 100, -0.01 a step).
2. PPO with a plain MLP (the flattened view) on the same boards, ``--seeds`` seeds in one
   program, for comparison (``--ppo-steps``; 0 skips it).
3. Environment speed: DoorKey-5x5 steps per second at ``--copies`` copies (4,096), random
   actions, auto-reset, one ``jit(scan(vmap(step)))``, beside xland-minigrid's
   ``MiniGrid-DoorKey-5x5`` (``GymAutoResetWrapper``) run the same way in its own Python
   (``--xminigrid-python /work/peers/xminigrid-venv/bin/python``; a separate venv with
   ``pip install xminigrid``, never this project's). Interleaved rounds, the ratio printed.
   ``--skip-speed`` leaves it out.

``--quick``: 2 seeds, 16,000 DQN and 40,000 PPO steps, 100 boards, no speed part (about
45 s of CPU on the idle machine: the pipeline, not results). ``--json PATH``: the result
rows (one per DQN evaluation policy, one for PPO) for ``benchmarks/reproduce_book.py``.

Usage: ``python benchmarks/doorkey.py [--preset doorkey] [--seeds 8] [--episodes 1000]
[--steps N] [--ppo-steps N] [--eval-epsilons 0.01,0.05] [--copies 4096]
[--xminigrid-python PATH] [--only speed|dqn|ppo] [--skip-speed] [--attention-png PATH]
[--quick] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

from jaxrl import envs
from jaxrl.algos import dqn, ppo
from jaxrl.core import episodes as ev
from jaxrl.runs import evaluation

SOURCE_SOLVED = 0.94
TARGET_SOLVED = 0.99
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Budgets: the full run and --quick (about 90 s on the idle machine, compiles included).
FULL = {"seeds": 8, "episodes": 1000, "steps": None, "ppo_steps": 300_000}
QUICK = {"seeds": 2, "episodes": 100, "steps": 16_000, "ppo_steps": 40_000}

# PPO with a plain network for comparison: the flattened 7x7x3 view into a 64-64 MLP.
PPO_CONFIG = ppo.Config(num_envs=16, num_steps=128, epochs=4, minibatches=4,
                        total_timesteps=300_000, actor_hidden=(64, 64), critic_hidden=(64, 64),
                        torso="mlp", lr=1e-3, ent_coef=0.01, gamma=0.99, gae_lambda=0.95)

# The peer's loop, run in its own interpreter: the same shape as ours (scan of a vmapped
# auto-resetting step, random actions drawn inside), timed after a compile call.
PEER = r"""
import json, sys, time, jax, jax.numpy as jnp, xminigrid
from xminigrid.wrappers import GymAutoResetWrapper
copies, steps, rounds = (int(a) for a in sys.argv[1:4])
env, params = xminigrid.make("MiniGrid-DoorKey-5x5")
env = GymAutoResetWrapper(env)
n_actions = env.num_actions(params)
def run(key):
    ts = jax.vmap(env.reset, in_axes=(None, 0))(params, jax.random.split(key, copies))
    def body(ts, k):
        a = jax.random.randint(k, (copies,), 0, n_actions)
        ts = jax.vmap(env.step, in_axes=(None, 0, 0))(params, ts, a)
        return ts, ts.reward.sum()
    return jax.lax.scan(body, ts, jax.random.split(key, steps))[1].sum()
run = jax.jit(run)
t = time.perf_counter()
run(jax.random.key(0)).block_until_ready()
compile_s = time.perf_counter() - t
print(json.dumps({"compile": compile_s}), flush=True)
for r in range(rounds):
    sys.stdin.readline()  # the parent says when (interleaved with ours)
    t = time.perf_counter(); run(jax.random.key(r + 1)).block_until_ready()
    print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
"""


def our_speed_fn(copies: int, steps: int):
    env, params = envs.make("DoorKey-5x5-v0")
    n_actions = env.action_space(params).n

    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, copies), params)

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            a = jax.random.randint(k_act, (copies,), 0, n_actions)
            _, state, r, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_step, copies), state, a, params)
            return state, r.sum()

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1].sum()

    return jax.jit(run)


def speed(args) -> None:
    print(f"\n== Environment speed: DoorKey-5x5, {args.copies:,} copies, {args.speed_steps} steps "
          f"per call, random actions, auto-reset ==")
    run = our_speed_fn(args.copies, args.speed_steps)
    t = time.perf_counter()
    run(jax.random.key(0)).block_until_ready()
    print(f"jaxrl compile {time.perf_counter() - t:.1f} s")
    peer = None
    if args.xminigrid_python:
        peer = subprocess.Popen(
            [args.xminigrid_python, "-c", PEER, str(args.copies), str(args.speed_steps),
             str(args.rounds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "XLA_FLAGS": ""})
        first = peer.stdout.readline()
        if not first:
            print(f"xminigrid did not start ({args.xminigrid_python}); only jaxrl measured")
            peer = None
        else:
            print(f"xminigrid compile {json.loads(first)['compile']:.1f} s")
    ours, theirs = [], []
    for r in range(args.rounds):
        t = time.perf_counter()
        run(jax.random.key(r + 1)).block_until_ready()
        ours.append(time.perf_counter() - t)
        if peer is not None:
            peer.stdin.write("go\n")
            peer.stdin.flush()
            theirs.append(json.loads(peer.stdout.readline())["seconds"])
    if peer is not None:
        peer.wait()
    n = args.copies * args.speed_steps
    best_ours = n / min(ours)
    print(f"{'round':>5} {'jaxrl steps/s':>14} {'xminigrid steps/s':>18}")
    for r in range(args.rounds):
        print(f"{r:>5} {n / ours[r]:14,.0f} " + (f"{n / theirs[r]:18,.0f}" if theirs else ""))
    if theirs:
        best_theirs = n / min(theirs)
        print(f"best {best_ours:14,.0f} {best_theirs:18,.0f}   jaxrl / xminigrid = "
              f"{best_ours / best_theirs:.2f} (median ratio "
              f"{np.median(np.asarray(theirs) / np.asarray(ours)):.2f})")
    else:
        print(f"best {best_ours:14,.0f}")
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; each side "
          f"one jit on one CPU device, rounds interleaved)")


def spread(values: np.ndarray, unit: str, scale: float = 1.0) -> str:
    """The contract's "mean ± std (min a, max b) unit" over seeds."""
    v = scale * np.asarray(values, np.float64)
    return f"{v.mean():.1f} ± {v.std():.1f} (min {v.min():.1f}, max {v.max():.1f}) {unit}"


def idle_estimate(cpu_s: float) -> float:
    """Wall seconds the same work would take on the idle machine: its CPU seconds spread
    over the cores (the seeds run on one CPU device per core)."""
    return cpu_s / max(os.cpu_count() or 1, 1)


def train_and_score(agent, env, params, seeds: int, seed_key, episodes: int,
                    epsilons: tuple[float, ...] = ()):
    """``seeds`` agents trained and scored in ONE compiled program: each plays the same
    ``episodes`` fresh boards greedily and then epsilon-greedily for each of ``epsilons``
    (``jaxrl.core.episodes.epsilon_agent``; the same boards again). Returns ``(states,
    [greedy result, *epsilon results], timing)``."""
    eval_key = jax.random.key(12345)
    players = [agent, *(ev.epsilon_agent(agent, e) for e in epsilons)]

    def one(key):
        state, _ = agent.train(key)
        return state, [ev.evaluate(p, state, env, params, eval_key, episodes) for p in players]

    keys = jax.random.split(seed_key, seeds)
    wall0, cpu0 = time.perf_counter(), evaluation.process_cpu_seconds()
    compiled = par.over_seeds(one).lower(keys).compile()
    wall1, cpu1 = time.perf_counter(), evaluation.process_cpu_seconds()
    states, results = jax.block_until_ready(compiled(keys))
    wall2, cpu2 = time.perf_counter(), evaluation.process_cpu_seconds()
    return states, results, evaluation.Timing(wall1 - wall0, cpu1 - cpu0, wall2 - wall1, cpu2 - cpu1)


def timing_line(t, env_steps: int) -> str:
    total_cpu = t.compile_cpu + t.run_cpu
    return (t.summary(env_steps) + f"\n  CPU seconds {total_cpu:.0f} -> about "
            f"{idle_estimate(total_cpu):.0f} s on the idle {os.cpu_count()}-core machine "
            f"(load average now {os.getloadavg()[0]:.1f})")


def train_dqn(args) -> list[dict]:
    config = dqn.PRESETS[args.preset].config
    if args.steps is not None:
        config = config.replace(total_timesteps=args.steps)
    env, params = dqn.preset_env(args.preset)
    # Scored on MiniGrid's own DoorKey-5x5 (its rewards and 250-step cap), whatever the
    # preset trained with (the book's preset: -0.01 a step, 400 steps).
    eval_env, eval_params = envs.make("DoorKey-5x5-v0", action_set="book")
    agent = dqn.make(config, env, params)
    print(f"\n== Relational DQN ({args.preset}): {config.total_timesteps:,} env steps x "
          f"{args.seeds} seeds in one program, {args.episodes:,} fresh boards each ==")
    states, results, t = train_and_score(agent, eval_env, eval_params, args.seeds,
                                         jax.random.key(0), args.episodes, args.eval_epsilons)
    solved = [np.asarray(r.wins).mean(axis=1) for r in results]
    lengths = [np.asarray(r.lengths).mean(axis=1) for r in results]
    labels = ["greedy", *(f"eps {e:g}" for e in args.eval_epsilons)]
    print(f"{'seed':>4} " + " ".join(f"{lab + ' solved %':>16} {'length':>7}" for lab in labels))
    for i in range(args.seeds):
        print(f"{i:>4} " + " ".join(f"{100 * s[i]:16.1f} {n[i]:7.1f}"
                                    for s, n in zip(solved, lengths)))
    for lab, s in zip(labels, solved):
        print(f"{lab:>8}: mean {100 * s.mean():.1f} % solved, min seed {100 * s.min():.1f} %, "
              f"{int((s >= TARGET_SOLVED).sum())} of {args.seeds} seeds >= "
              f"{100 * TARGET_SOLVED:.0f} %")
    print(f"(the source: at least {100 * SOURCE_SOLVED:.0f} %; target {100 * TARGET_SOLVED:.0f} %"
          f" mean over seeds; greedy = argmax Q, eps = epsilon-greedy evaluation as Atari DQN's)")
    steps = args.seeds * config.total_timesteps
    print(timing_line(t, steps))
    plot = None
    if args.attention_png:
        from jaxrl.core.networks import attention_weights
        from jaxrl.output.plotting import attention_maps

        one = jax.tree.map(lambda x: x[0], states)
        obs, _ = eval_env.reset(jax.random.key(99), eval_params)
        net = dqn.q_network(config, env, params)
        w = attention_weights(net, one.params, jnp.asarray(obs)[None])[0]
        os.makedirs(os.path.dirname(args.attention_png) or ".", exist_ok=True)
        attention_maps(eval_env.unwrapped.render_view(obs), w, args.attention_png,
                       title="relational DQN, seed 0: attention received per head")
        print(f"attention maps: {args.attention_png}")
        plot = os.path.relpath(os.path.abspath(args.attention_png), ROOT)
    rows = []
    for lab, s in zip(labels, solved):
        name = "relational_dqn" if lab == "greedy" else f"relational_dqn_eps{lab[4:]}"
        policy = "greedy" if lab == "greedy" else f"epsilon-greedy ({lab[4:]})"
        rows.append({
            "name": name, "what": "relational (attention) DQN on DoorKey-5x5",
            "setting": f"preset {args.preset}, {config.total_timesteps:,} env steps per seed, "
                       f"{policy} over {args.episodes:,} fresh boards",
            "number": spread(s, "% solved", 100.0), "seeds": args.seeds,
            "compile_s": round(t.compile_wall, 1), "run_s": round(t.run_wall, 1),
            "plot": plot if lab == "greedy" else None,
        })
    return rows


def train_ppo(args) -> list[dict]:
    env, params = envs.make("DoorKey-5x5-v0", action_set="book")
    config = PPO_CONFIG.replace(total_timesteps=args.ppo_steps)
    agent = ppo.make(config, env, params)
    print(f"\n== PPO, plain MLP: {config.total_timesteps:,} env steps x {args.seeds} seeds ==")
    _, results, t = train_and_score(agent, env, params, args.seeds, jax.random.key(1),
                                    args.episodes)
    solved = np.asarray(results[0].wins).mean(axis=1)
    print("solved % per seed: " + " ".join(f"{100 * s:.1f}" for s in solved))
    print(f"mean {100 * solved.mean():.1f} % (greedy: the most likely action)")
    print(timing_line(t, args.seeds * config.total_timesteps))
    return [{
        "name": "ppo_mlp", "what": "PPO with a plain MLP on DoorKey-5x5 (for comparison)",
        "setting": f"MLP 64-64 on the flat view, {config.total_timesteps:,} env steps per seed, "
                   f"greedy over {args.episodes:,} fresh boards",
        "number": spread(solved, "% solved", 100.0), "seeds": args.seeds,
        "compile_s": round(t.compile_wall, 1), "run_s": round(t.run_wall, 1), "plot": None,
    }]


def write_json(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    from jaxrl.runs.checkpoint import atomic_write

    atomic_write(path, json.dumps(rows, indent=1).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="doorkey", choices=["doorkey", "doorkey_book"])
    parser.add_argument("--seeds", type=int, default=None, help="default 8 (--quick: 2)")
    parser.add_argument("--episodes", type=int, default=None, help="default 1000 (--quick: 100)")
    parser.add_argument("--steps", type=int, default=None, help="override total_timesteps")
    parser.add_argument("--ppo-steps", type=int, default=None,
                        help=f"default {PPO_CONFIG.total_timesteps:,} (--quick: "
                             f"{QUICK['ppo_steps']:,}); 0 skips PPO")
    parser.add_argument("--eval-epsilons", default="0.01,0.05",
                        help="epsilon-greedy evaluations besides the greedy one ('' for none)")
    parser.add_argument("--copies", type=int, default=4096)
    parser.add_argument("--speed-steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--xminigrid-python", default="/work/peers/xminigrid-venv/bin/python",
                        help="python of a venv with xminigrid installed ('' to skip)")
    parser.add_argument("--only", choices=["speed", "dqn", "ppo"], default=None)
    parser.add_argument("--skip-speed", action="store_true", help="no environment-speed part")
    parser.add_argument("--attention-png", default="benchmarks/out/doorkey_attention.png")
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, short runs, 100 boards, no speed test (about 90 s idle)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="write the result rows as JSON (benchmarks/reproduce_book.py)")
    args = parser.parse_args()
    budget = QUICK if args.quick else FULL
    for name in ("seeds", "episodes", "steps", "ppo_steps"):
        if getattr(args, name) is None:
            setattr(args, name, budget[name])
    try:
        args.eval_epsilons = tuple(float(e) for e in args.eval_epsilons.split(",") if e.strip())
    except ValueError:
        parser.error(f"--eval-epsilons: comma-separated numbers, got {args.eval_epsilons!r}")
    if any(not 0 <= e <= 1 for e in args.eval_epsilons):
        parser.error("--eval-epsilons must lie in [0, 1]")
    if args.seeds < 1 or args.episodes < 1:
        parser.error("--seeds and --episodes must be at least 1")
    if args.xminigrid_python and not os.path.exists(args.xminigrid_python):
        print(f"no {args.xminigrid_python}: xminigrid skipped", file=sys.stderr)
        args.xminigrid_python = ""
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s), "
          f"load average {os.getloadavg()[0]:.1f}" + ("; --quick budget" if args.quick else ""))
    t0, cpu0 = time.perf_counter(), evaluation.process_cpu_seconds()
    rows: list[dict] = []
    if args.only == "speed" or (args.only is None and not (args.quick or args.skip_speed)):
        speed(args)
    if args.only in (None, "dqn"):
        rows += train_dqn(args)
    if args.only in (None, "ppo") and args.ppo_steps > 0:
        rows += train_ppo(args)
    cpu = evaluation.process_cpu_seconds() - cpu0
    print(f"\ntotal {time.perf_counter() - t0:.0f} s wall, {cpu:.0f} CPU s (about "
          f"{idle_estimate(cpu):.0f} s on the idle machine; load average now "
          f"{os.getloadavg()[0]:.1f})")
    if args.json:
        write_json(args.json, rows)
        print(f"rows: {args.json}")


if __name__ == "__main__":
    main()
