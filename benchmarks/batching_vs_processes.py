"""Batching versus processes: one A2C trained three ways on CartPole-v1.

The book (chapter 5) parallelises its actor-critic with worker processes. jaxrl's
claim is that on a CPU one vmapped, compiled program does the same job faster.
This script measures it, with the same network, the same update and the same
hyperparameters in all three ways; only who steps the environments differs:

* ``vmapped``: ``jaxrl.algos.a2c``: ``num_envs`` copies of jaxrl's CartPole inside
  one XLA program (collect, returns and the gradient step compiled together), run
  in chunks of updates so the host can watch the learning curve and stop.
* ``gym-async``: Gymnasium's ``AsyncVectorEnv`` (one subprocess per copy, shared
  memory, ``forkserver`` start: forking a process that runs JAX is unsafe), stepped
  by a Python loop that calls the same jitted JAX policy each step and the same
  jitted ``a2c.make_learner(...).learn`` each update: process-level parallelism.
* ``gym-sync``: the same loop over Gymnasium's ``SyncVectorEnv`` (copies stepped
  one after another in the main process).

For each way and ``num_envs`` it prints environment steps per second (learning
included, compilation and process start-up excluded and shown apart) and the wall
time until the mean episode length reaches 300 (the book's number: 300 after 45 s
with seven processes). Every point stops at the threshold, at ``--time-cap``
seconds or at ``--max-steps`` steps, whichever comes first; a point that stopped
early prints the best mean length it reached.

Measured how:
* Mean episode length: the mean length of the episodes that ended in the last
  ``--window`` environment steps (``a2c.windowed_mean``), one seed per point.
  Time to 300 is therefore noisy (one seed); the steps/s column is not.
* Gymnasium runs in ``SAME_STEP`` autoreset mode and the loop bootstraps a
  truncated episode from ``info["final_obs"]``, exactly as the vmapped version does.
* The A2C settings are the ``"tuned"`` preset with a constant learning rate (the
  annealed one depends on the run's length, which differs between points).
* Asynchronous envs above ``--async-max`` copies are skipped: every copy is a
  Python process (roughly 60 MB each), and on a 2-core machine hundreds of them
  only add scheduling. The table says so.

Usage: ``python benchmarks/batching_vs_processes.py [--envs 1 2 4 ... 1024]
[--gym-envs 1 4 16 64 256 1024] [--time-cap 60] [--out benchmarks/out/batching.png]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import numpy as np

from jaxrl import envs
from jaxrl.algos import a2c

THRESHOLD = 300.0
BOOK_SECONDS_TO_300 = 45.0  # the book: mean length 300 after 45 s, 7 worker processes
BOOK_PROCESSES = 7


@dataclasses.dataclass
class Point:
    """One (way, num_envs) measurement."""

    way: str
    num_envs: int
    steps: int = 0
    seconds: float = 0.0  # training wall time (compile / start-up excluded)
    startup: float = 0.0  # compilation (and process start-up for Gymnasium)
    time_to_threshold: float | None = None
    steps_to_threshold: int | None = None
    best: float = float("nan")  # best windowed mean length reached
    note: str = ""

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")


def benchmark_config(lr: float) -> a2c.Config:
    """The tuned preset with a constant learning rate."""
    return a2c.PRESETS["tuned"].config.replace(anneal_lr=False, lr=lr)


def _crossing(curve: np.ndarray, threshold: float) -> int | None:
    hits = np.nonzero(np.nan_to_num(curve, nan=-np.inf) >= threshold)[0]
    return int(hits[0]) if len(hits) else None


# --------------------------------------------------------------------------------- ours
def run_vmapped(cfg: a2c.Config, num_envs: int, args, seed: int) -> Point:
    env, params = envs.make("CartPole-v1")
    steps_per_update = num_envs * cfg.num_steps
    cfg = cfg.replace(
        num_envs=num_envs, reset_pool=None,
        total_timesteps=max(args.max_steps, steps_per_update),
    )
    agent = a2c.make(cfg, env, params)
    chunk = max(1, args.chunk_steps // steps_per_update)
    point = Point("vmapped", num_envs)

    t0 = time.perf_counter()
    init = jax.jit(agent.init).lower(jax.random.PRNGKey(seed)).compile()
    state = init(jax.random.PRNGKey(seed))
    run = jax.jit(agent.run, static_argnums=1).lower(state, chunk).compile()
    point.startup = time.perf_counter() - t0

    steps, rets, counts, clock = [], [], [], []
    t0 = time.perf_counter()
    while True:
        t_start = time.perf_counter() - t0
        state, m = run(state)  # chunk is baked into the compiled program
        m = jax.device_get(m)
        t_end = time.perf_counter() - t0
        n = len(m["env_steps"])
        steps.append(m["env_steps"]), rets.append(m["episode_return"])
        counts.append(m["episodes"])
        # updates inside a chunk are equally long: place each one in time linearly
        clock.append(t_start + (t_end - t_start) * np.arange(1, n + 1) / n)
        curve = a2c.windowed_mean(
            np.concatenate(steps), np.concatenate(rets), np.concatenate(counts), args.window
        )
        hit = _crossing(curve, THRESHOLD)
        total = int(np.concatenate(steps)[-1])
        if hit is not None or t_end > args.time_cap or total >= args.max_steps:
            break
    point.seconds = t_end
    point.steps = total
    point.best = float(np.nanmax(curve)) if np.any(np.isfinite(curve)) else float("nan")
    if hit is not None:
        point.time_to_threshold = float(np.concatenate(clock)[hit])
        point.steps_to_threshold = int(np.concatenate(steps)[hit])
    return point


# --------------------------------------------------------------------------------- Gymnasium
def run_gymnasium(cfg: a2c.Config, num_envs: int, mode: str, args, seed: int) -> Point:
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    way = f"gym-{mode}"
    point = Point(way, num_envs)
    cfg = cfg.replace(num_envs=num_envs)
    n_steps = cfg.num_steps

    t0 = time.perf_counter()
    kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP}
    if mode == "async":
        kwargs["context"] = "forkserver"
    vec = gym.make_vec(
        "CartPole-v1", num_envs=num_envs, vectorization_mode=mode, vector_kwargs=kwargs
    )
    learner = a2c.make_learner(cfg, (4,), 2)

    @jax.jit
    def policy(params, obs, key):
        key, k = jax.random.split(key)
        return learner.sample(params, obs, k), key

    learn = jax.jit(learner.learn)
    key = jax.random.PRNGKey(seed)
    key, k_net = jax.random.split(key)
    params = learner.init_params(k_net)
    opt_state = learner.optimizer.init(params)
    obs, _ = vec.reset(seed=seed)
    obs = obs.astype(np.float32)
    # compile both functions on the right shapes before the clock starts
    dummy = a2c.Rollout(
        obs=np.zeros((n_steps, num_envs, 4), np.float32),
        actions=np.zeros((n_steps, num_envs), np.int32),
        rewards=np.zeros((n_steps, num_envs), np.float32),
        terminated=np.zeros((n_steps, num_envs), bool),
        truncated=np.zeros((n_steps, num_envs), bool),
        final_obs=np.zeros((n_steps, num_envs, 4), np.float32),
        valid=np.ones((n_steps, num_envs), bool),
    )
    jax.block_until_ready(policy(params, obs, key))
    jax.block_until_ready(learn(params, opt_state, dummy))
    point.startup = time.perf_counter() - t0

    ep_len = np.zeros(num_envs, np.int64)
    ep_ret = np.zeros(num_envs, np.float64)
    total = 0
    steps, rets, counts = [], [], []
    clock = []
    env_time = 0.0
    buf = {k: np.zeros_like(v) for k, v in dataclasses.asdict(dummy).items()}
    buf["valid"][:] = True  # n-step mode learns from every step (zeros_like left it False)
    t0 = time.perf_counter()
    while True:
        finished_len, finished = 0.0, 0
        for t in range(n_steps):
            actions, key = policy(params, obs, key)
            actions = np.asarray(actions)
            te0 = time.perf_counter()
            next_obs, reward, term, trunc, info = vec.step(actions)
            env_time += time.perf_counter() - te0
            next_obs = next_obs.astype(np.float32)
            final = next_obs.copy()
            if "_final_obs" in info:
                idx = np.nonzero(info["_final_obs"])[0]
                if len(idx):
                    final[idx] = np.stack(info["final_obs"][idx])
            buf["obs"][t], buf["actions"][t] = obs, actions
            buf["rewards"][t], buf["terminated"][t], buf["truncated"][t] = reward, term, trunc
            buf["final_obs"][t] = final
            ep_len += 1
            ep_ret += reward
            done = term | trunc
            finished += int(done.sum())
            finished_len += float(ep_ret[done].sum())
            ep_len[done], ep_ret[done] = 0, 0.0
            obs = next_obs
        params, opt_state, _ = learn(params, opt_state, a2c.Rollout(**buf))
        total += n_steps * num_envs
        steps.append(total)
        rets.append(finished_len / finished if finished else np.nan)
        counts.append(finished)
        now = time.perf_counter() - t0
        clock.append(now)
        curve = a2c.windowed_mean(np.array(steps), np.array(rets), np.array(counts), args.window)
        hit = _crossing(curve, THRESHOLD)
        if hit is not None or now > args.time_cap or total >= args.max_steps:
            break
    jax.block_until_ready(params)
    point.seconds = time.perf_counter() - t0
    vec.close()
    point.steps = total
    point.best = float(np.nanmax(curve)) if np.any(np.isfinite(curve)) else float("nan")
    if hit is not None:
        point.time_to_threshold = clock[hit]
        point.steps_to_threshold = steps[hit]
    point.note = f"env.step {100 * env_time / point.seconds:.0f}% of the time"
    return point


# --------------------------------------------------------------------------------- output
def print_table(points: list[Point], args) -> None:
    print()
    print(f"A2C on CartPole-v1, time to mean episode length {THRESHOLD:.0f} "
          f"(book: {BOOK_SECONDS_TO_300:.0f} s with {BOOK_PROCESSES} processes); "
          f"cap {args.time_cap:.0f} s / {args.max_steps:,} steps per point")
    head = (f"{'way':<10} {'envs':>5} {'steps/s':>10} {'steps':>10} {'to 300 (s)':>11} "
            f"{'steps to 300':>13} {'best':>6} {'startup s':>10}  note")
    print(head)
    print("-" * len(head))
    for p in points:
        t = f"{p.time_to_threshold:.1f}" if p.time_to_threshold is not None else "not reached"
        s = f"{p.steps_to_threshold:,}" if p.steps_to_threshold is not None else "-"
        if p.note.startswith("skipped"):
            print(f"{p.way:<10} {p.num_envs:>5} {'-':>10} {'-':>10} {'-':>11} {'-':>13} "
                  f"{'-':>6} {'-':>10}  {p.note}")
            continue
        print(f"{p.way:<10} {p.num_envs:>5} {p.steps_per_second:>10,.0f} {p.steps:>10,} "
              f"{t:>11} {s:>13} {p.best:>6.0f} {p.startup:>10.1f}  {p.note}")


def plot(points: list[Point], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"vmapped": ("C0", "o"), "gym-sync": ("C1", "s"), "gym-async": ("C2", "^")}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for way, (color, marker) in styles.items():
        pts = [p for p in points if p.way == way and not p.note.startswith("skipped")]
        if not pts:
            continue
        n = [p.num_envs for p in pts]
        ax1.plot(n, [p.steps_per_second for p in pts], color=color, marker=marker, label=way)
        reached = [p for p in pts if p.time_to_threshold is not None]
        ax2.plot([p.num_envs for p in reached], [p.time_to_threshold for p in reached],
                 color=color, marker=marker, label=way)
        missed = [p for p in pts if p.time_to_threshold is None]
        if missed:
            ax2.scatter([p.num_envs for p in missed], [p.seconds for p in missed],
                        facecolors="none", edgecolors=color, marker=marker, s=60,
                        label=f"{way}: not reached (time spent)")
    ax2.axhline(BOOK_SECONDS_TO_300, color="grey", ls="--", lw=1,
                label=f"book: {BOOK_SECONDS_TO_300:.0f} s, {BOOK_PROCESSES} processes")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("environment copies (num_envs)")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_ylabel("environment steps per second (learning included)")
    ax1.set_title("Throughput")
    ax2.set_ylabel(f"wall seconds to mean length {THRESHOLD:.0f}")
    ax2.set_title("Time to mean episode length 300 (one seed)")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=7)
    fig.suptitle("A2C on CartPole-v1: one vmapped program vs Gymnasium vector envs", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nplot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+",
                        default=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--gym-envs", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024])
    parser.add_argument("--ways", nargs="+", default=["vmapped", "gym-sync", "gym-async"],
                        choices=["vmapped", "gym-sync", "gym-async"])
    parser.add_argument("--async-max", type=int, default=64,
                        help="skip AsyncVectorEnv above this many processes")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per point")
    parser.add_argument("--max-steps", type=int, default=3_000_000, help="env steps per point")
    parser.add_argument("--window", type=int, default=10_000,
                        help="env steps in the trailing mean episode length")
    parser.add_argument("--chunk-steps", type=int, default=20_000,
                        help="vmapped: env steps per compiled chunk between checks")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/out/batching_vs_processes.png")
    args = parser.parse_args()

    cfg = benchmark_config(args.lr)
    print(f"jax {jax.__version__}, devices {jax.devices()}, cpu count {os.cpu_count()}")
    print(f"A2C config: {cfg}")
    points: list[Point] = []
    for way in args.ways:
        counts = args.envs if way == "vmapped" else args.gym_envs
        for n in counts:
            if way == "gym-async" and n > args.async_max:
                points.append(Point(way, n, note=f"skipped: > --async-max={args.async_max} "
                                                 "processes"))
                continue
            if way == "vmapped":
                p = run_vmapped(cfg, n, args, args.seed)
            else:
                p = run_gymnasium(cfg, n, way.split("-")[1], args, args.seed)
            points.append(p)
            t = (f"{p.time_to_threshold:.1f} s" if p.time_to_threshold is not None
                 else f"not reached (best {p.best:.0f})")
            print(f"{way:<10} envs {n:>5}: {p.steps_per_second:>10,.0f} steps/s, "
                  f"to {THRESHOLD:.0f}: {t}  [{p.steps:,} steps in {p.seconds:.1f} s, "
                  f"startup {p.startup:.1f} s] {p.note}", flush=True)
    print_table(points, args)
    plot(points, args.out)


if __name__ == "__main__":
    main()
