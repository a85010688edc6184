"""What a second device and a second process buy: throughput against the ideal line.

The same fixed job, PPO seeds (``ppo`` preset ``cartpole``) and evolution populations
(``es`` preset ``cartpole``: 128 members per generation, each seed a population), run
as one compiled program whose seed axis is split over the devices of every process
(``jaxrl.parallel.devices.over_seeds``; several processes joined by ``jax.distributed`` on
loopback, CPU collectives through gloo), and one big population (``espop``: one seed of
1,024 members whose every generation is split over the devices, ``--split population``):

    1 process  x 1 device       the baseline
    1 process  x 2 devices      one XLA CPU device per core
    2 processes x 1 device      what a second host would add, here on the same 2 cores

Printed: compile and run seconds, throughput (environment steps/s; members evaluated/s
for ES), the ideal (baseline x devices in all) and the efficiency (measured / ideal).
Two processes on a 2-core machine share the cores that one process with 2 devices
already used, and pay process start-up, gloo set-up and a metrics gather: their
efficiency against one process is what a second *host* would cost in overhead, not
what it would add in cores. Timings on a shared machine move with the load (printed).

Usage: ``python benchmarks/scaling.py [--seeds 8] [--ppo-steps 200000]
[--es-generations 20] [--es-population 1024] [--algos ppo,es,espop]
[--configs 1x1,1x2,2x1] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def worker(args: argparse.Namespace) -> None:
    """One process of a measurement; process 0 prints ``RESULT {json}``."""
    from jaxrl.parallel import devices as par
    from jaxrl.parallel import processes as distributed

    if args.coordinator:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               cpu_devices=args.devices, heartbeat_seconds=60)
    else:
        par.use_cpu_cores(args.devices)
    import jax
    import numpy as np

    from jaxrl import envs
    from jaxrl.algos import es, ppo
    from jaxrl.runs import driver

    env, params = envs.make("CartPole-v1")
    if args.algo == "ppo":
        cfg = ppo.PRESETS["cartpole"].config.replace(total_timesteps=args.ppo_steps)
        agent = ppo.make(cfg, env, params)
        members = 0
    elif args.algo == "es":
        cfg = es.PRESETS["cartpole"].config.replace(generations=args.es_generations)
        agent = es.make(cfg, env, params)
        members = cfg.population_size * cfg.generations * args.seeds
    else:  # "espop": one seed, its population split over every device of every process
        cfg = es.PRESETS["cartpole"].config.replace(generations=args.es_generations,
                                                    population_size=args.es_population)
        agent = es.make(cfg, env, params, devices=jax.devices())
        args.seeds = 1
        members = cfg.population_size * cfg.generations
    keys = driver.seed_keys(0, args.seeds)
    program = par.over_seeds(agent.train, devices=agent.devices,
                             replicate=agent.devices is not None)
    t0 = time.perf_counter()
    compiled = program.compile(keys)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, metrics = compiled(keys)
    steps = par.to_host(metrics["env_steps"])  # waits for every process's share
    run_s = time.perf_counter() - t0
    if distributed.is_writer():
        print("RESULT " + json.dumps({
            "devices": len(program.devices_for(args.seeds)), "processes":
            distributed.process_count(), "compile_s": compile_s, "run_s": run_s,
            "env_steps": float(np.sum(np.asarray(steps)[:, -1])), "members": members,
            "platform": jax.devices()[0].platform}), flush=True)


def measure(algo: str, processes: int, devices: int, args: argparse.Namespace) -> dict:
    """Run one configuration in fresh child processes; the result of process 0."""
    from jaxrl.parallel.launch import free_port

    base = [sys.executable, str(Path(__file__).resolve()), "--worker", "--algo", algo,
            "--devices", str(devices), "--seeds", str(args.seeds),
            "--ppo-steps", str(args.ppo_steps), "--es-generations", str(args.es_generations),
            "--es-population", str(args.es_population)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    if processes == 1:
        cmds = [base]
    else:
        port = free_port()
        cmds = [base + ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
                        "--process-id", str(i)] for i in range(processes)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for c in cmds]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=args.timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"{algo} {processes}x{devices}: a process exited "
                               f"{p.returncode}: {(err.strip().splitlines() or [''])[-1]}")
    line = next(ln for ln in outs[0][0].splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8, help="seeds (a multiple of 2)")
    ap.add_argument("--ppo-steps", type=int, default=200_000, help="PPO env steps per seed")
    ap.add_argument("--es-generations", type=int, default=20, help="ES generations per seed")
    ap.add_argument("--configs", default="1x1,1x2,2x1",
                    help="PROCESSESxDEVICES_PER_PROCESS, comma-separated")
    ap.add_argument("--es-population", type=int, default=1024,
                    help="members of the one population of the espop job")
    ap.add_argument("--algos", default="ppo,es,espop",
                    help="ppo: seeds split; es: seeds split, each a population of 128; "
                         "espop: one seed, its population split (--split population)")
    ap.add_argument("--quick", action="store_true", help="small budgets")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per configuration")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--algo", default="ppo", help=argparse.SUPPRESS)
    ap.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--num-processes", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.ppo_steps, args.es_generations = min(args.ppo_steps, 50_000), min(
            args.es_generations, 5)
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",") if c]
    load0 = os.getloadavg()[0]
    print(f"{args.seeds} seeds per job; PPO cartpole {args.ppo_steps:,} steps per seed; ES "
          f"cartpole 128 members x {args.es_generations} generations per seed; espop: 1 seed "
          f"of {args.es_population} members x {args.es_generations} generations; "
          f"{os.cpu_count()} CPUs; load average {load0:.1f} at the start")
    header = (f"{'job':<5} {'processes x devices':>19} {'compile s':>9} {'run s':>7} "
              f"{'throughput':>16} {'ideal':>16} {'efficiency':>10}")
    print(header)
    print("-" * len(header))
    for algo in [a for a in args.algos.split(",") if a]:
        baseline = None
        for processes, devices in configs:
            r = measure(algo, processes, devices, args)
            unit, work = ("members/s", r["members"]) if algo.startswith("es") else (
                "steps/s", r["env_steps"])
            rate = work / r["run_s"]
            if baseline is None:
                baseline = rate / r["devices"]
            ideal = baseline * r["devices"]
            where = f"{processes} x {devices} ({r['devices']} in all)"
            print(f"{algo:<5} {where:>19} "
                  f"{r['compile_s']:9.1f} {r['run_s']:7.2f} {rate:>10,.0f} {unit:<5} "
                  f"{ideal:>10,.0f} {unit:<5} {100 * rate / ideal:9.0f}%", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end. ideal = the first row's "
          "throughput per device x devices in all. Two processes here share the 2 cores "
          "one process with 2 devices uses: their row shows the cost of crossing processes "
          "(start-up, gloo, the metrics gather), not the gain of a second host.")


if __name__ == "__main__":
    main()
