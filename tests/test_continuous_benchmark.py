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


def test_brax_settings_restated_for_rejax(bench):
    """On the Brax tasks rejax runs jaxrl's settings: every field that decides the work
    restated in rejax's terms, and a setting rejax cannot express refused."""
    from jaxrl.algos import continuous

    configs = bench.brax_configs("reacher")
    sac, td3 = configs["sac"], configs["td3"]
    assert sac.total_timesteps == td3.total_timesteps == bench.BRAX_TASKS["reacher"][2]
    same = bench.rejax_same(sac, "sac", "brax/reacher", 50)
    assert same["env"] == "brax/reacher" and same["env_params"] == {"episode_length": 50}
    assert same["hidden_layer_sizes"] == sac.hidden and same["agent_kwargs"] == {
        "activation": sac.activation}
    assert same["learning_rate"] == sac.actor_lr and same["polyak"] == 1.0 - sac.tau
    assert same["fill_buffer"] == sac.learning_starts and same["num_epochs"] == 1
    assert same["batch_size"] == sac.batch_size and same["buffer_size"] == sac.buffer_size
    assert same["target_entropy_ratio"] is None and not same["normalize_observations"]
    t = bench.rejax_same(td3, "td3", "brax/reacher", 50)
    assert t["policy_delay"] == td3.policy_delay and t["target_noise"] == td3.target_noise
    assert t["exploration_noise"] == td3.exploration_noise and t["max_grad_norm"] >= 1e9
    with pytest.raises(ValueError, match="one learning rate"):
        bench.rejax_same(sac.replace(critic_lr=3e-4), "sac", "brax/reacher", 50)
    with pytest.raises(ValueError, match="64-64"):
        bench.rejax_same(continuous.TD3Config(hidden=(256, 256)), "td3", "brax/reacher", 50)
    names = [name for name, _ in bench.contestants("inverted_pendulum")]
    assert names == ["jaxrl-sac", "jaxrl-td3", "jaxrl-ppo", "rejax-sac", "rejax-td3"]
