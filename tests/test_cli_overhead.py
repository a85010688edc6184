"""benchmarks/cli_overhead.py: both columns measured on the same program, the table, the JSON.

One tiny case (a PPO run of a few updates on 2 seeds) stands in for the presets: the
script must train it both ways, write the run directory's checkpoint, and report a ratio
that is the quotient of the two times it printed.
"""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # a benchmark script end to end

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "cli_overhead.py"


def test_both_ways_the_ratio_and_json(load_script, monkeypatch, tmp_path, capsys):
    bench = load_script(PATH)
    monkeypatch.setitem(bench.CASES, "ppo:tiny", (
        "ppo", "cartpole", 2, {"num_envs": 4, "num_steps": 16, "total_timesteps": 4 * 16 * 3,
                               "actor_hidden": (8,), "critic_hidden": (8,)}))
    out = tmp_path / "o.json"
    doc = bench.main(["--only", "ppo:tiny", "--json", str(out)])
    (row,) = doc["rows"]
    assert row["case"] == "ppo:tiny" and row["seeds"] == 2
    assert row["pure_s"] > 0 and row["run_dir_s"] > 0 and row["checkpoint_bytes"] > 1000
    assert row["ratio"] == pytest.approx(row["run_dir_s"] / row["pure_s"])
    assert json.loads(out.read_text())["rows"] == doc["rows"]
    text = capsys.readouterr().out
    assert "ppo:tiny" in text and f"{row['ratio']:6.2f}" in text
    with pytest.raises(SystemExit, match="unknown case"):
        bench.main(["--only", "nope"])
