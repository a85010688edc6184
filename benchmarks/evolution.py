"""Evolution on CartPole-v1 (the book's chapter 6): the GA and OpenAI-ES, whole populations
as one compiled program per generation.

Source: a genetic algorithm with a 4-10-10-2 network, population 20, 100 generations,
fitness = mean return of 5 episodes; OpenAI's ES is named, with the claim that it scales
linearly over workers that share noise seeds (1,440 cores in Salimans et al., 2017).

Printed (no asserts):

1. Learning: each preset, ``--seeds`` seeds trained together (one ``jit(vmap(train))``
   program, seeds split over the CPU devices): the first generation whose best member
   scored 500 on all its fitness episodes (median over seeds, and how many seeds got
   there), the greedy return of the final policy (GA: best member; ES: the mean
   parameters) over 20 episodes (mean and worst seed), compile and run times apart.
2. Population scaling: one ES generation (every member plays one episode with a
   trained mean, so episodes run long, then the ES step) for populations 16 to
   16,384: members evaluated per second and env steps per second, on one device and
   with the members split over all devices (``es.make(..., devices=...)``).
3. Peer: the same population work driven by evosax's ``Open_ES`` through
   ``jaxrl.algos.evolution.evosax_step`` (same evaluator, same population and episodes),
   seconds per generation beside jaxrl's ES (skipped when evosax is missing).

Times are wall seconds after ``block_until_ready``, compile apart; CPU seconds are
printed too (the machine may be shared).

Usage: ``python benchmarks/evolution.py [--seeds 8] [--max-population 16384]
[--peer-population 1024] [--sections learning,scaling,peer]``
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from jaxrl.parallel import devices as par

par.use_cpu_cores()  # before JAX starts: one CPU device per core

import jax.numpy as jnp
import optax

from jaxrl import envs
from jaxrl.algos import es, evolution, ga
from jaxrl.core.episodes import evaluate
from jaxrl.output.logging import table

ENV = "CartPole-v1"


def timed(fn, *args):
    """(compiled program, compile seconds, output, run wall seconds, run CPU seconds)."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(compiled(*args))
    return compiled, compile_s, out, time.perf_counter() - t0, time.process_time() - c0


def learning(seeds: int):
    env, params = envs.make(ENV)
    rows, trained_mean = [], None
    for label, module, preset in (("GA book", ga, "book"), ("GA tuned", ga, "cartpole"),
                                  ("ES tuned", es, "cartpole"), ("ES openai", es, "openai")):
        cfg = module.PRESETS[preset].config
        agent = module.make(cfg, env, params)

        def one(key, agent=agent):
            state, metrics = agent.train(key)
            greedy = evaluate(agent, state, env, params, jax.random.key(99), 20).mean_return
            return state, metrics, greedy

        keys = jax.random.split(jax.random.key(0), seeds)
        _, compile_s, (state, m, greedy), run_s, cpu_s = timed(par.over_seeds(one), keys)
        best = np.asarray(m["best_fitness"])
        hit = [int(np.argmax(b >= 500)) + 1 for b in best if (b >= 500).any()]
        greedy = np.asarray(greedy)
        steps = int(np.asarray(m["env_steps"])[:, -1].sum())
        rows.append([
            label, f"{cfg.population_size} x {cfg.generations} gen, {cfg.episodes} ep",
            f"{np.median(hit):.0f} ({len(hit)}/{seeds})" if hit else f"- (0/{seeds})",
            f"{greedy.mean():.1f} (min {greedy.min():.0f}, {int((greedy >= 500).sum())}/{seeds} at 500)",
            f"{compile_s:.1f}", f"{run_s:.1f} ({cpu_s:.1f} CPU)", f"{steps / 1e6:.1f}M",
        ])
        if module is es and preset == "cartpole":
            trained_mean = np.asarray(state.mean[int(np.argmax(greedy))])
    print(f"Learning on {ENV}: {seeds} seeds per row in one program; source: GA 4-10-10-2, "
          "population 20, 100 generations, fitness = mean of 5 episodes")
    print(table(["run", "settings", "gen. to best=500 (median)", "greedy return (20 ep)",
                 "compile s", "run s", "env steps"], rows))
    return trained_mean


def generation_program(cfg, env, params, mean, devices):
    agent = es.make(cfg, env, params, devices=devices)
    state = agent.init(jax.random.key(0))
    state = state.replace(mean=jnp.asarray(mean))
    return jax.jit(agent.update), state


def scaling(mean, max_population: int):
    env, params = envs.make(ENV)
    devices = jax.devices()
    rows = []
    sizes = [p for p in (16, 64, 256, 1024, 4096, 16384) if p <= max_population]
    for size in sizes:
        cfg = es.Config(population_size=size, episodes=1, generations=1)
        row = [f"{size:,}"]
        for devs in (devices[:1], devices):
            update, state = generation_program(cfg, env, params, mean, devs)
            compiled, _, _, _, _ = timed(update, state)
            t0 = time.perf_counter()
            reps = 3 if size <= 1024 else 1
            for _ in range(reps):
                _, m = jax.block_until_ready(compiled(state))
            wall = (time.perf_counter() - t0) / reps
            row += [f"{size / wall:,.0f}", f"{int(m['env_steps']) / wall / 1e6:.2f}M"]
        rows.append(row)
    n = len(devices)
    print("\nPopulation scaling: one ES generation (1 episode per member, trained mean, "
          "sigma 0.1), one seed")
    print(table(["population", "members/s (1 device)", "steps/s (1 device)",
                 f"members/s ({n} devices)", f"steps/s ({n} devices)"], rows))


def peer(mean, population: int = 1024, episodes: int = 3, rounds: int = 7):
    try:
        from evosax.algorithms import Open_ES
    except ImportError:
        print("\nevosax is not installed (pip install -e '.[evolution]'): peer skipped")
        return
    from importlib.metadata import version

    env, params = envs.make(ENV)
    cfg = es.Config(population_size=population, episodes=episodes, generations=1)
    programs = []
    for devs, label in ((jax.devices()[:1], "jaxrl es, 1 device"),
                        (jax.devices(), f"jaxrl es, {len(jax.devices())} devices")):
        update, state = generation_program(cfg, env, params, mean, devs)
        programs.append((label, update, state))
    policy = evolution.policy_for(env, params, cfg.hidden, cfg.activation, "es")
    evaluator = evolution.make_evaluator(policy, env, params, episodes)
    strategy = Open_ES(population_size=population, solution=policy.template,
                       optimizer=optax.adam(cfg.lr),
                       std_schedule=optax.constant_schedule(cfg.sigma))
    es_params = strategy.default_params
    state = strategy.init(jax.random.key(0), policy.unravel(jnp.asarray(mean)), es_params)
    step = evolution.evosax_step(strategy, es_params, evaluator)
    programs.append(("evosax Open_ES, 1 device", jax.jit(lambda s: step(s, jax.random.key(1))),
                     state))
    compiled = []
    for label, fn, st in programs:
        t0 = time.perf_counter()
        c = fn.lower(st).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(c(st))  # warm
        compiled.append((label, c, st, compile_s, [], []))
    # Interleaved rounds, best of each: the drivers see the same machine load.
    for _ in range(rounds):
        for _, c, st, _, walls, cpus in compiled:
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(c(st))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    rows = [[label, f"{compile_s:.1f}", f"{min(walls):.3f}", f"{min(cpus):.3f}",
             f"{population * episodes / min(walls):,.0f}"]
            for label, _, _, compile_s, walls, cpus in compiled]
    print(f"\nPeer: one generation of {population:,} members x {episodes} episodes "
          f"(trained mean, sigma {cfg.sigma}); evosax {version('evosax')}; best of "
          f"{rounds} interleaved rounds")
    print(table(["driver", "compile s", "wall s / generation", "CPU s / generation",
                 "member-episodes/s"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--max-population", type=int, default=16384)
    ap.add_argument("--peer-population", type=int, default=1024)
    ap.add_argument("--sections", default="learning,scaling,peer",
                    help="comma-separated subset of learning,scaling,peer")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    print(f"jax {jax.__version__}, {len(jax.devices())} CPU device(s)\n")
    if "learning" in sections:
        mean = learning(args.seeds)
    else:  # a trained mean for the timing sections: one ES seed
        env, params = envs.make(ENV)
        agent = es.make(es.PRESETS["cartpole"].config, env, params)
        mean = np.asarray(jax.jit(agent.train)(jax.random.key(0))[0].mean)
    if "scaling" in sections:
        scaling(mean, args.max_population)
    if "peer" in sections:
        peer(mean, args.peer_population)


if __name__ == "__main__":
    main()
