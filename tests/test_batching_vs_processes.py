"""benchmarks/batching_vs_processes.py: the Gymnasium-driven loop learns like the vmapped one.

The benchmark's claim rests on all ways training the same A2C; a loop that collects
but does not learn (once, every step was masked out) would make the comparison
meaningless while still printing steps/s. Both ways must clearly beat a random
policy (mean episode length about 22) on a small budget.
"""

import argparse
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "batching_vs_processes.py"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script(PATH)


@pytest.mark.slow  # two learning runs (benchmarks/batching_vs_processes.py measures them)
def test_gymnasium_loop_and_vmapped_program_both_learn(bench):
    pytest.importorskip("gymnasium")
    args = argparse.Namespace(time_cap=30.0, max_steps=120_000, window=5_000,
                              chunk_steps=10_000)
    cfg = bench.benchmark_config(3e-3)
    gym = bench.run_gymnasium(cfg, 16, "sync", args, seed=0)
    ours = bench.run_vmapped(cfg, 16, args, seed=0)
    assert gym.steps > 0 and ours.steps > 0
    assert gym.best > 100, f"the Gymnasium loop did not learn: best mean length {gym.best:.0f}"
    assert ours.best > 100, f"the vmapped program did not learn: best {ours.best:.0f}"
