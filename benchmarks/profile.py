"""Where the time of a PPO and a DQN update goes on CartPole-v1, and how far from the peak.

Each phase of an update is compiled on its own as a ``lax.scan`` of ``--reps``
repetitions (state donated, so nothing is copied per call) and timed after a warm-up
call, best of ``--rounds``:

* ``env step``: ``num_envs`` copies of CartPole-v1 (episode statistics, auto-reset).
* ``action``: the network's forward pass on ``num_envs`` observations and the draw
  (epsilon-greedy for DQN, a categorical sample for PPO).
* ``replay insert`` / ``replay sample`` (DQN): one row into the buffer; a uniform batch
  with its n-step window.
* ``forward/backward``: loss and gradients on one batch (DQN: the batch through the
  online network twice and the target network once, as double DQN does; PPO: one
  minibatch through actor and critic).
* ``optimiser``: Adam with global-norm clipping, applied to the parameters.
* ``whole update``: the agent's own ``update`` (what the driver runs), for reference:
  the phases' sum beside it shows what the composition costs or saves.

Each phase's floating-point work comes from XLA's cost analysis of the compiled
program; its rate is set against this machine's matmul peak, measured here as the
best float32 matmul rate over a few sizes (``jnp.dot`` under ``jit``, all cores).
Timings are wall clock (the phases run single-threaded except large matmuls); on a
loaded machine they are loose, the ratios less so.

Usage: ``python benchmarks/profile.py [--reps 200] [--rounds 3] [--quick] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxrl import envs
from jaxrl.algos import dqn, ppo
from jaxrl.core import replay
from jaxrl.envs.wrappers import EpisodeStatistics, VecEnv


def _flops(compiled: Any) -> float:
    try:
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0]
        return float(cost.get("flops", 0.0)) if cost else 0.0
    except Exception:  # noqa: BLE001 - a backend without cost analysis
        return 0.0


def timed(step: Callable[[Any], Any], carry: Any, reps: int, rounds: int) -> tuple[float, float]:
    """(seconds per repetition, flops per repetition) of ``step`` scanned ``reps`` times."""
    def many(c):
        return jax.lax.scan(lambda c, _: (step(c), None), c, None, reps)[0]

    # XLA's cost analysis counts a loop body once, so the work of one repetition is read
    # from the step compiled alone.
    flops = _flops(jax.jit(step).lower(carry).compile())
    program = jax.jit(many, donate_argnums=0)
    carry = jax.tree.map(lambda x: x.copy(), carry)  # the caller's arrays stay usable
    compiled = program.lower(carry).compile()
    carry = compiled(carry)
    jax.block_until_ready(carry)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        carry = compiled(carry)
        jax.block_until_ready(carry)
        best = min(best, time.perf_counter() - t)
    return best / reps, flops


def matmul_peak(rounds: int) -> tuple[float, int]:
    """Best float32 matmul FLOP/s over a few square sizes (all cores), and its size."""
    best, size = 0.0, 0
    for n in (256, 512, 1024, 2048):
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        f = jax.jit(lambda a, b: a @ b)
        jax.block_until_ready(f(a, b))
        reps = max(1, int(2e9 / (2 * n**3)))
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(reps):
                out = f(a, b)
            jax.block_until_ready(out)
            rate = 2 * n**3 * reps / (time.perf_counter() - t)
            if rate > best:
                best, size = rate, n
    return best, size


def adam_clip(lr: float, max_norm: float) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(max_norm), optax.adam(lr))


def env_phase(num_envs: int) -> tuple[Callable, Any]:
    env, params = envs.make("CartPole-v1")
    venv = VecEnv(EpisodeStatistics(env), num_envs)
    _, state = venv.reset(jax.random.key(0), params)

    def step(c):
        state, key = c
        key, k_act, k_step = jax.random.split(key, 3)
        action = jax.random.randint(k_act, (num_envs,), 0, 2)
        _, state, *_ = venv.step(k_step, state, action, params)
        return state, key

    return step, (state, jax.random.key(1))


def dqn_phases(reps: int, rounds: int) -> tuple[dict, Any]:
    preset = dqn.PRESETS["cartpole"]
    cfg = preset.config
    env, params = dqn.preset_env("cartpole")
    net = dqn.q_network(cfg, env, params)
    obs0 = jnp.zeros((cfg.num_envs, *env.observation_space(params).shape), jnp.float32)
    theta = dqn.init_params(net, jax.random.key(0), obs0[:1])
    out: dict[str, tuple[float, float]] = {}
    out["env step"] = timed(*env_phase(cfg.num_envs), reps, rounds)

    def act(c):
        obs, key = c
        key, k = jax.random.split(key)
        a = dqn.epsilon_greedy(k, net.apply(theta, obs), 0.1)
        return obs + a[:, None].astype(obs.dtype) * 1e-6, key

    out["action"] = timed(act, (obs0, jax.random.key(2)), reps, rounds)
    example = replay.Transition(obs=obs0[0], action=jnp.zeros((), jnp.int32),
                                reward=jnp.zeros((), jnp.float32), next_obs=obs0[0],
                                terminated=jnp.zeros((), bool), truncated=jnp.zeros((), bool))
    rows = cfg.buffer_size // cfg.num_envs
    buf = replay.init(example, rows, cfg.num_envs)
    row = replay.Transition(obs=obs0, action=jnp.zeros(cfg.num_envs, jnp.int32),
                            reward=jnp.ones(cfg.num_envs, jnp.float32), next_obs=obs0,
                            terminated=jnp.zeros(cfg.num_envs, bool),
                            truncated=jnp.zeros(cfg.num_envs, bool))
    out["replay insert"] = timed(lambda b: replay.add(b, row), buf, reps, rounds)
    full = buf
    for _ in range(4):
        full = replay.add(full, row)

    def sample(c):
        b, key, acc = c
        key, k = jax.random.split(key)
        index = replay.sample_uniform(b, k, cfg.batch_size)
        batch = replay.n_step_batch(b, index, cfg.n_steps, cfg.gamma)
        return b, key, acc + jnp.sum(batch.reward) + jnp.sum(batch.obs)

    out["replay sample"] = timed(sample, (full, jax.random.key(3), jnp.float32(0)), reps, rounds)
    bobs = jax.random.normal(jax.random.key(4), (cfg.batch_size, *obs0.shape[1:]))
    action = jnp.zeros(cfg.batch_size, jnp.int32)

    def loss(p, target):
        both = net.apply(p, jnp.concatenate([bobs, bobs]))
        q, q_next = both[: cfg.batch_size], jax.lax.stop_gradient(both[cfg.batch_size:])
        q_target = net.apply(target, bobs)
        best = jnp.argmax(q_next, axis=-1)
        y = 1.0 + 0.99 * jnp.take_along_axis(q_target, best[:, None], axis=-1)[:, 0]
        taken = jnp.take_along_axis(q, action[:, None], axis=-1)[:, 0]
        return jnp.mean((y - taken) ** 2)

    def fwd_bwd(c):
        # The parameters move a little every repetition, so XLA cannot hoist the
        # gradient out of the loop.
        p, acc = c
        g = jax.grad(loss)(p, theta)
        return jax.tree.map(lambda x, d: x - 1e-6 * d, p, g), acc

    out["forward/backward"] = timed(fwd_bwd, (theta, jnp.float32(0)), reps, rounds)
    opt = adam_clip(cfg.lr, cfg.max_grad_norm or 1e9)
    grads = jax.tree.map(lambda x: x * 1e-3, theta)

    def optimise(c):
        p, s = c
        u, s = opt.update(grads, s, p)
        return optax.apply_updates(p, u), s

    out["optimiser"] = timed(optimise, (theta, opt.init(theta)), reps, rounds)
    agent = dqn.make(cfg.replace(learning_starts=0), env, params)
    state = agent.init(jax.random.key(5))
    out["whole update"] = timed(lambda s: agent.update(s)[0], state, reps, rounds)
    return out, cfg


def ppo_phases(reps: int, rounds: int) -> tuple[dict, Any]:
    cfg = ppo.PRESETS["cartpole"].config
    env, params = envs.make("CartPole-v1")
    nets = ppo.networks(cfg, env, params)
    obs0 = jnp.zeros((cfg.num_envs, *nets.obs_shape), jnp.float32)
    pa = nets.actor.init(jax.random.key(0), obs0[:1])
    pc = nets.critic.init(jax.random.key(1), obs0[:1])
    out: dict[str, tuple[float, float]] = {}
    out["env step"] = timed(*env_phase(cfg.num_envs), reps, rounds)

    def act(c):
        obs, key = c
        key, k = jax.random.split(key)
        logits = nets.actor.apply(pa, obs)
        a = jax.random.categorical(k, logits)
        v = nets.critic.apply(pc, obs)[..., 0]
        return obs + (a + v)[:, None].astype(obs.dtype) * 1e-6, key

    out["action"] = timed(act, (obs0, jax.random.key(2)), reps, rounds)
    mb = cfg.minibatch_size
    bobs = jax.random.normal(jax.random.key(3), (mb, *nets.obs_shape))
    acts = jnp.zeros(mb, jnp.int32)
    adv = jax.random.normal(jax.random.key(4), (mb,))
    old_logp = jnp.full((mb,), -0.69)

    def loss(p):
        logits = nets.actor.apply(p[0], bobs)
        logp = jax.nn.log_softmax(logits)[jnp.arange(mb), acts]
        ratio = jnp.exp(logp - old_logp)
        pg = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 0.8, 1.2) * adv))
        v = nets.critic.apply(p[1], bobs)[..., 0]
        return pg + 0.5 * jnp.mean((v - adv) ** 2)

    def fwd_bwd(c):
        p, acc = c
        g = jax.grad(loss)(p)
        return jax.tree.map(lambda x, d: x - 1e-6 * d, p, g), acc

    out["forward/backward"] = timed(fwd_bwd, ((pa, pc), jnp.float32(0)), reps, rounds)
    opt = adam_clip(cfg.lr, cfg.max_grad_norm)
    grads = jax.tree.map(lambda x: x * 1e-3, (pa, pc))

    def optimise(c):
        p, s = c
        u, s = opt.update(grads, s, p)
        return optax.apply_updates(p, u), s

    out["optimiser"] = timed(optimise, ((pa, pc), opt.init((pa, pc))), reps, rounds)
    agent = ppo.make(cfg, env, params)
    state = agent.init(jax.random.key(5))
    out["whole update"] = timed(lambda s: agent.update(s)[0], state, max(reps // 20, 2), rounds)
    return out, cfg


def report(name: str, phases: dict, per_update: dict, peak: float) -> list[str]:
    """Rows: phase, µs per call, calls per update, µs per update, FLOP/s, % of peak."""
    head = (f"  {'phase':<18}{'us/call':>10}{'calls/upd':>11}{'us/upd':>10}"
            f"{'MFLOP/call':>12}{'GFLOP/s':>10}{'% peak':>8}")
    lines = [name, head]
    total = 0.0
    for phase, (sec, flops) in phases.items():
        calls = per_update.get(phase, 1.0)
        us = sec * 1e6
        rate = flops / sec if sec > 0 else 0.0
        if phase != "whole update":
            total += us * calls
        lines.append(f"  {phase:<18}{us:>10.1f}{calls:>11.3g}{us * calls:>10.1f}"
                     f"{flops / 1e6:>12.3f}{rate / 1e9:>10.2f}{100 * rate / peak:>8.2f}")
    lines.append(f"  {'sum of phases':<18}{'':>10}{'':>11}{total:>10.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200, help="repetitions per timed call")
    ap.add_argument("--rounds", type=int, default=3, help="timed calls per phase (best kept)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute)")
    ap.add_argument("--json", default=None, metavar="PATH", help="write result rows here")
    args = ap.parse_args()
    reps, rounds = (50, 2) if args.quick else (args.reps, args.rounds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"jax {jax.__version__}, {jax.device_count()} device(s), {os.cpu_count()} cores, "
          f"load average {load:.1f} (timings are loose when it exceeds the core count)")
    t0 = time.perf_counter()
    peak, size = matmul_peak(rounds)
    print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s (float32 {size}x{size})\n")
    rows = []
    d, dcfg = dqn_phases(reps, rounds)
    # Per update: one env step and one action of every copy, one insert; a learning
    # phase every train_every updates (gradient_steps samples, gradient steps).
    learn = dcfg.gradient_steps / dcfg.train_every
    per = {"replay sample": learn, "forward/backward": learn, "optimiser": learn}
    print("\n".join(report(f"DQN, preset cartpole ({dcfg.num_envs} envs, batch "
                           f"{dcfg.batch_size}, hidden {dcfg.hidden}, n={dcfg.n_steps}, "
                           f"double={dcfg.double})", d, per, peak)))
    print()
    p, pcfg = ppo_phases(reps, rounds)
    rollout = pcfg.num_steps
    grads = pcfg.epochs * pcfg.minibatches
    per = {"env step": rollout, "action": rollout, "forward/backward": grads,
           "optimiser": grads}
    print("\n".join(report(f"PPO, preset cartpole ({pcfg.num_envs} envs x {pcfg.num_steps} "
                           f"steps, {pcfg.epochs} epochs x {pcfg.minibatches} minibatches)",
                           p, per, peak)))
    run_s = time.perf_counter() - t0
    for algo, phases in (("dqn", d), ("ppo", p)):
        sec, flops = phases["whole update"]
        rows.append({
            "name": f"{algo}-profile", "what": f"{algo.upper()} update on CartPole-v1, by phase",
            "setting": f"preset cartpole, one seed, best of {rounds} x {reps} updates",
            "number": f"{sec * 1e6:.1f} us per update, {flops / sec / 1e9:.2f} GFLOP/s "
                      f"({100 * flops / sec / peak:.2f} % of the {peak / 1e9:.0f} GFLOP/s "
                      f"matmul peak)",
            "seeds": 1, "compile_s": None, "run_s": round(run_s, 1), "plot": None,
        })
    if args.json:
        from jaxrl.runs.checkpoint import atomic_write

        atomic_write(args.json, json.dumps(rows, indent=1).encode())


if __name__ == "__main__":
    main()
