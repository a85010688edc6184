"""DoorKey-5x5 (chapter 10): a relational DQN's solved rate, PPO beside it, and the
environment's speed beside xland-minigrid's DoorKey, all in one run.

1. ``--seeds`` relational DQN agents (``jaxrl.algos.dqn`` with ``torso="relational"``:
   the view's 49 cells as entities, 3 attention heads, max-pooled; double DQN, replay and
   target network of the one DQN agent) train in ONE compiled program, then each plays the
   same ``--episodes`` fresh boards greedily (MiniGrid's 250-step cap). Printed: the solved
   rate per seed and the mean (the source: at least 94 %; target 99 %), and the times.
   ``--preset doorkey_book`` runs the source's settings (replay 9000, batch 50, Adam 5e-4,
   gamma 0.99, target sync 100), ``doorkey`` (default) jaxrl's tuned one.
2. PPO with a plain MLP (the flattened view) on the same boards, ``--seeds`` seeds in one
   program, for comparison (``--ppo-steps``; 0 skips it).
3. Environment speed: DoorKey-5x5 steps per second at ``--copies`` copies (4,096), random
   actions, auto-reset, one ``jit(scan(vmap(step)))``, beside xland-minigrid's
   ``MiniGrid-DoorKey-5x5`` (``GymAutoResetWrapper``) run the same way in its own Python
   (``--xminigrid-python /work/peers/xminigrid-venv/bin/python``; a separate venv with
   ``pip install xminigrid``, never this project's). Interleaved rounds, the ratio printed.

Usage: ``python benchmarks/doorkey.py [--preset doorkey] [--seeds 8] [--episodes 1000]
[--steps N] [--ppo-steps N] [--copies 4096] [--xminigrid-python PATH] [--only speed|dqn|ppo]
[--attention-png PATH]``
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

from jaxrl import parallel as par

par.use_cpu_cores()  # before JAX starts: the seeds split over one CPU device per core

import envs
from jaxrl import evaluate as ev
from jaxrl.algos import dqn, ppo

SOURCE_SOLVED = 0.94
TARGET_SOLVED = 0.99

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


def train_dqn(args) -> None:
    config = dqn.PRESETS[args.preset].config
    if args.steps is not None:
        config = config.replace(total_env_steps=args.steps)
    env, params = dqn.preset_env(args.preset)
    agent = dqn.make(config, env, params)
    print(f"\n== Relational DQN ({args.preset}): {config.total_env_steps:,} env steps x "
          f"{args.seeds} seeds in one program ==")
    keys = jax.random.split(jax.random.key(0), args.seeds)
    states, _, result, t = ev.train_and_evaluate(agent, env, params, keys,
                                                 jax.random.key(12345), args.episodes)
    solved = np.asarray(result.wins).mean(axis=1)
    steps = np.asarray(result.lengths).mean(axis=1)
    print(f"{'seed':>4} {'solved %':>9} {'mean length':>12}")
    for i in range(args.seeds):
        print(f"{i:>4} {100 * solved[i]:9.1f} {steps[i]:12.1f}")
    print(f"mean {100 * solved.mean():9.1f}   (source: at least {100 * SOURCE_SOLVED:.0f} %, "
          f"target {100 * TARGET_SOLVED:.0f} %; min seed {100 * solved.min():.1f} %)")
    print(t.summary(args.seeds * config.total_env_steps))
    if args.attention_png:
        from jaxrl.networks import attention_weights
        from jaxrl.plotting import attention_maps

        one = jax.tree.map(lambda x: x[0], states)
        obs, _ = env.reset(jax.random.key(99), params)
        net = dqn.q_network(config, env, params)
        w = attention_weights(net, one.params, jnp.asarray(obs)[None])[0]
        os.makedirs(os.path.dirname(args.attention_png) or ".", exist_ok=True)
        attention_maps(env.unwrapped.render_view(obs), w, args.attention_png,
                       title="relational DQN, seed 0: attention received per head")
        print(f"attention maps: {args.attention_png}")


def train_ppo(args) -> None:
    env, params = envs.make("DoorKey-5x5-v0", action_set="book")
    config = PPO_CONFIG.replace(total_timesteps=args.ppo_steps)
    agent = ppo.make(config, env, params)
    print(f"\n== PPO, plain MLP: {config.total_timesteps:,} env steps x {args.seeds} seeds ==")
    keys = jax.random.split(jax.random.key(1), args.seeds)
    _, _, result, t = ev.train_and_evaluate(agent, env, params, keys, jax.random.key(12345),
                                            args.episodes)
    solved = np.asarray(result.wins).mean(axis=1)
    print("solved % per seed: " + " ".join(f"{100 * s:.1f}" for s in solved))
    print(f"mean {100 * solved.mean():.1f} % (greedy)")
    print(t.summary(args.seeds * config.total_timesteps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="doorkey", choices=["doorkey", "doorkey_book"])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=None, help="override total_env_steps")
    parser.add_argument("--ppo-steps", type=int, default=PPO_CONFIG.total_timesteps)
    parser.add_argument("--copies", type=int, default=4096)
    parser.add_argument("--speed-steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--xminigrid-python", default="/work/peers/xminigrid-venv/bin/python",
                        help="python of a venv with xminigrid installed ('' to skip)")
    parser.add_argument("--only", choices=["speed", "dqn", "ppo"], default=None)
    parser.add_argument("--attention-png", default="benchmarks/out/doorkey_attention.png")
    args = parser.parse_args()
    if args.xminigrid_python and not os.path.exists(args.xminigrid_python):
        print(f"no {args.xminigrid_python}: xminigrid skipped", file=sys.stderr)
        args.xminigrid_python = ""
    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s), "
          f"load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    if args.only in (None, "speed"):
        speed(args)
    if args.only in (None, "dqn"):
        train_dqn(args)
    if args.only in (None, "ppo") and args.ppo_steps > 0:
        train_ppo(args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
