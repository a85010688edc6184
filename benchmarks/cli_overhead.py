"""What the run directory costs: a preset trained by the pure program against the same
program driven as ``jaxrl train`` drives it, on one CPU device, in the same process.

For each case the same seeds, config and environment are trained twice:

* ``pure``: ``jax.jit(jax.vmap(agent.train))`` over the seed keys, the whole run in
  one compiled call (no host work at all); timed after a first call that compiles it.
* ``run dir``: ``jaxrl.train(..., out_dir=...)``, the path of ``jaxrl train``: the driver
  runs the updates in compiled chunks, writes ``metrics.csv`` and TensorBoard events
  after each chunk, checkpoints (every ``--checkpoint-every`` updates, default about five
  per run, plus the last) and draws nothing (progress off). Its run time excludes
  compiling, as ``Result.run_seconds`` does.

Printed per case: both run times, their ratio (run dir / pure: 1.00 is no overhead) and
the checkpoint size. The cases:

* ``dqn:cartpole``: DQN's ``cartpole`` preset (issue 27: within 10 % of the pure program);
* ``ppo:cartpole``: PPO's ``cartpole`` preset, likewise;
* ``dqn:freeway 4k`` / ``dqn:freeway 48k``: DQN's ``freeway`` preset on MinAtar Freeway
  with a 4,000- and a 48,000-transition buffer (two seeds; 134 MB per checkpoint at
  48k): the ratio of their run-directory speeds says what a big buffer's checkpoints
  cost (issue 27: 0.8 or more).

Usage: ``python benchmarks/cli_overhead.py [--only dqn:cartpole,...] [--seeds 16]
[--steps 100000] [--json PATH]``. Run it on an otherwise idle machine: both columns are
wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAXRL_CACHE_DIR", "off")  # every program compiled here, timed apart

import jax

import jaxrl
from jaxrl import algos
from jaxrl.runs import run as runs

CASES = {
    # name: (algorithm, preset, seeds, overrides)
    "dqn:cartpole": ("dqn", "cartpole", 16, {"total_timesteps": 100_000}),
    "ppo:cartpole": ("ppo", "cartpole", 16, {}),
    "dqn:freeway 4k": ("dqn", "freeway", 2, {"buffer_size": 4_000, "total_timesteps": 40_000}),
    "dqn:freeway 48k": ("dqn", "freeway", 2, {"buffer_size": 48_000, "total_timesteps": 40_000}),
}


def pure_seconds(algorithm: str, preset: str, seeds: int, overrides: dict) -> float:
    """Run time of one compiled call of ``jit(vmap(agent.train))`` (compiled first)."""
    _, built = runs.make_spec(algorithm, preset=preset, seeds=seeds, config=overrides)
    keys = jax.random.split(jax.random.key(0), seeds)
    train = jax.jit(jax.vmap(built.agent.train)).lower(keys).compile()
    start = time.perf_counter()
    jax.block_until_ready(train(keys))
    return time.perf_counter() - start


def run_dir_seconds(algorithm: str, preset: str, seeds: int, overrides: dict,
                    out: Path) -> tuple[float, int]:
    """Run time (compile excluded) of ``jaxrl.train`` writing a run directory, and the
    size of its checkpoint in bytes."""
    result = jaxrl.train(algorithm, preset=preset, seeds=seeds, out_dir=out, config=overrides)
    return result.run_seconds, (out / "checkpoint.msgpack").stat().st_size


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help="comma-separated case names (default: all)")
    p.add_argument("--json", default="", help="also write the rows here")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every case's step budget (0.05: a quick look)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    print(f"jax {jax.__version__}, {len(jax.devices())} CPU device(s), "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            algorithm, preset, seeds, overrides = CASES[name]
            if args.scale != 1.0:
                base = overrides.get("total_timesteps") or \
                    algos.get(algorithm).presets[preset].config.total_timesteps
                overrides = {**overrides, "total_timesteps": max(1, int(base * args.scale))}
            pure = pure_seconds(algorithm, preset, seeds, overrides)
            driven, size = run_dir_seconds(algorithm, preset, seeds, overrides,
                                           Path(tmp) / name.replace(":", "_").replace(" ", "_"))
            rows.append({"case": name, "seeds": seeds, "pure_s": pure, "run_dir_s": driven,
                         "ratio": driven / pure, "checkpoint_bytes": size})
            print(f"  {name}: pure {pure:.2f} s, run dir {driven:.2f} s", flush=True)
    print(f"\n{'case':18s} {'seeds':>5s} {'pure s':>8s} {'run dir s':>10s} {'ratio':>6s} "
          f"{'checkpoint':>11s}")
    for r in rows:
        print(f"{r['case']:18s} {r['seeds']:5d} {r['pure_s']:8.2f} {r['run_dir_s']:10.2f} "
              f"{r['ratio']:6.2f} {r['checkpoint_bytes'] / 1e6:9.1f} MB")
    big = {r["case"]: r for r in rows}
    if "dqn:freeway 4k" in big and "dqn:freeway 48k" in big:
        speed = big["dqn:freeway 4k"]["run_dir_s"] / big["dqn:freeway 48k"]["run_dir_s"]
        print(f"\nFreeway through the run directory: the 48k buffer trains at {speed:.2f} of "
              f"the 4k buffer's speed")
    print("ratio: run dir / pure (1.00: the run directory costs nothing); both exclude "
          "compiling")
    doc = {"jax": jax.__version__, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    main()
