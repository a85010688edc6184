"""benchmarks/time_to_solve.py: its evaluation schedule, solved detection, table and JSON.

The jaxrl side only (the peers live in their own environment): a tiny PQN on 2 seeds, run
once never solved (every evaluation point recorded, the JSON and table read back), then
again with the threshold set from the first run's returns, so that the point where every
seed first reaches it is known in advance: the run must stop exactly there.
"""

import json
from pathlib import Path

import jax
import pytest

pytestmark = pytest.mark.heavy  # a benchmark script end to end

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_solve.py"


@pytest.fixture(scope="module")
def tts(load_script):
    return load_script(PATH)


def test_schedule_solved_detection_table_and_json(tts, monkeypatch, tmp_path, capsys):
    from jaxrl.algos import pqn

    tiny = pqn.Config(num_envs=4, num_steps=8, epochs=1, minibatches=1, hidden=(8,),
                      total_timesteps=4 * 8 * 6)  # 32 env steps per update, 6 updates
    assert tts.schedule(32, 6, 64) == [2, 4, 6]
    assert tts.schedule(512, 976, 10_000)[:3] == [20, 40, 59]  # at or past 10k, 20k, 30k
    assert tts.schedule(512, 976, 10_000)[-1] == 976
    monkeypatch.setattr(tts, "build", lambda name, args: tts.jaxrl_contestant("pqn", tiny))

    # 1) never solved: every point of the schedule is evaluated; table and JSON say so
    monkeypatch.setattr(tts, "THRESHOLD", 1e9)
    out = tmp_path / "tts.json"
    tts.main(["--only", "jaxrl-pqn", "--seeds", "2", "--devices", "one", "--eval-every", "64",
              "--json", str(out)])
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert [h["env_steps"] for h in row["history"]] == [64, 128, 192]
    assert row["solved"] == 0 and not row["solved_all"] and row["solve_env_steps"] is None
    assert row["seconds_incl_compile"] is None and row["compile_s"] > 0
    returns = [h["returns"] for h in row["history"]]
    assert all(len(r) == 2 and all(1 <= x <= tts.EPISODE_CAP for x in r) for r in returns)
    text = capsys.readouterr().out
    assert "jaxrl-pqn" in text and "0/2" in text and "not all solved by 192 steps" in text

    # 2) the threshold one seed reaches only at the end: the first point where both seeds
    # are at or above it is known from run 1 (same keys, same program: same returns)
    threshold = max(min(r) for r in returns)
    first = next(i for i, r in enumerate(returns) if min(r) >= threshold)
    monkeypatch.setattr(tts, "THRESHOLD", threshold)
    contestant = tts.jaxrl_contestant("pqn", tiny)
    row = tts.race(contestant, 2, 64, jax.devices()[:1])
    assert row["solved_all"] and row["solved"] == 2
    assert len(row["history"]) == first + 1
    assert row["solve_env_steps"] == 64 * (first + 1)
    assert row["seconds_incl_compile"] >= row["seconds_excl_compile"] > 0

    # ratios: over the fastest solved peer on the same device count, none without peers
    rows = [dict(row), {**row, "contestant": "p1", "peer": True, "seconds_excl_compile": 2.0,
                        "seconds_incl_compile": 4.0},
            {**row, "contestant": "p2", "peer": True, "seconds_excl_compile": 1.0,
             "seconds_incl_compile": 8.0}]
    rows[0].update(seconds_excl_compile=3.0, seconds_incl_compile=6.0)
    tts.add_ratios(rows)
    assert (rows[0]["ratio_excl"], rows[0]["ratio_incl"]) == (3.0, 1.5)
    lonely = [dict(row)]
    tts.add_ratios(lonely)
    assert lonely[0]["ratio_excl"] is None
