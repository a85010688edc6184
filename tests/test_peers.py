"""benchmarks/peers.py: its floors run, and its table holds each contestant to its floor.

The peers themselves live in their own environment; here only jaxrl's side of the script:
the table's ratios from fixed times (the first floor row of a section, or the one
``FLOOR_OF`` names: double DQN's for jaxrl's defaults), and the PPO floor program at a
tiny size (finite, seed-dependent, the update count its settings imply).
"""

from pathlib import Path

import jax
import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers(load_script):
    return load_script(PATH)


def test_table_holds_each_row_to_its_floor(peers):
    times = {"jaxrl (PureJaxRL's features)": [2.2, 2.0],
             peers.DQN_DEFAULTS: [3.0],
             "floor: network work alone": [1.0, 1.5],
             peers.DOUBLE_FLOOR: [2.5]}
    notes = {name: "compile 1.0 s" for name in times}
    notes["purejaxrl"] = "skipped (ImportError: no --purejaxrl path given)"
    lines = peers.table("DQN", {"times": times, "notes": notes}, 1000.0, "env steps")
    row = {next(n for n in notes if line.strip().startswith(n)): line for line in lines[1:]}
    assert "2.00x floor" in row["jaxrl (PureJaxRL's features)"]  # min 2.0 over floor 1.0
    assert "1.20x floor" in row[peers.DQN_DEFAULTS]  # 3.0 over the double floor's 2.5
    assert "1.00x floor" in row["floor: network work alone"]
    assert row["purejaxrl"].endswith("skipped (ImportError: no --purejaxrl path given)")
    # without a floor row no ratio is claimed
    alone = peers.table("x", {"times": {"a": [1.0]}, "notes": {"a": "n"}}, 1.0, "u")
    assert "floor" not in alone[1]


def test_ppo_floor_runs_per_seed(peers):
    keys = jax.random.split(jax.random.key(0), 2)
    fn = peers.ppo_floor(2 * 4 * 128)  # two updates of 4 envs x 128 steps
    jaxpr = str(jax.make_jaxpr(fn)(keys))
    assert "length=2" in jaxpr  # the update loop: total // (envs * steps)
    assert "length=16" in jaxpr  # 4 epochs x 4 minibatches per update
    out = np.asarray(jax.jit(fn)(keys))
    assert out.shape == (2,) and np.all(np.isfinite(out)) and out[0] != out[1]
