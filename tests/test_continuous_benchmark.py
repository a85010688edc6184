"""benchmarks/continuous.py: its rows (final greedy return per seed, steps/s, time to
threshold on every seed without stopping there), its ratios and its JSON.

The jaxrl side only (rejax lives in its own environment): a tiny SAC on Pendulum, 2 seeds,
with the threshold below any return, so every seed is solved at the first evaluation and
the run must still go on to the end of its budget.
"""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # a benchmark script end to end

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "continuous.py"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script(PATH)


def test_rows_ratios_and_json(bench, monkeypatch, tmp_path, capsys):
    from jaxrl.algos import continuous

    tts = bench.tts
    tiny = continuous.SACConfig(total_timesteps=96, learning_starts=32, batch_size=8,
                                buffer_size=96, hidden=(8,))
    monkeypatch.setitem(bench.TASKS, "pendulum", (
        tts.Task("gymnax/Pendulum-v1", -1e9, 2, 20), "pendulum", "pendulum.yaml"))
    monkeypatch.setattr(bench, "contestants", lambda task: [
        ("jaxrl-sac", lambda: tts.jaxrl_contestant("sac", tiny, preset_name="pendulum"))])
    out = tmp_path / "c.json"
    bench.main(["--seeds", "2", "--eval-every", "32", "--json", str(out)])
    doc = json.loads(out.read_text())
    (row,) = doc["tasks"]["pendulum"]["rows"]
    assert [h["env_steps"] for h in row["history"]] == [32, 64, 96]  # on past the solve
    assert row["solve_env_steps"] == 32 and row["solved_all"]
    # 2 greedy episodes of 20 steps: each return lies in [20 * -16.27, 0]
    assert len(row["final_returns"]) == 2
    assert all(-20 * 16.3 <= x <= 0 for x in row["final_returns"])
    assert row["final_returns"] == row["history"][-1]["returns"]
    updating = row["run_s"] - row["eval_s"]
    assert row["steps_per_s"] == pytest.approx(96 * 2 / updating, rel=0.01)
    text = capsys.readouterr().out
    assert "jaxrl-sac" in text and "2/2" in text

    rows = [{"contestant": "jaxrl-sac", "steps_per_s": 300.0},
            {"contestant": "jaxrl-sac@rejax", "steps_per_s": 90.0},
            {"contestant": "rejax-sac", "steps_per_s": 150.0},
            {"contestant": "rejax-sac@same", "steps_per_s": 100.0},
            {"contestant": "jaxrl-td3", "steps_per_s": 50.0}]
    bench.add_ratios(rows)
    assert [r.get("speed_vs_rejax") for r in rows] == [2.0, 0.9, None, None, None]
