"""End to end: the installed ``jaxrl`` console script, run as a subprocess on tiny budgets.

One module-scoped set of runs (real PPO on CartPole) feeds most tests: an
uninterrupted run, and the same run stopped after 5 of 8 updates then resumed.
``JAXRL_CACHE_DIR`` points at a temporary compilation cache so the three
subprocesses compile the training program once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrl import cli
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run

JAXRL = Path(sys.executable).parent / "jaxrl"  # the console script pip installed

TINY = ["ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", "256", "--num-envs", "2",
        "--set", "num_steps=16", "--set", "epochs=1", "--set", "minibatches=1",
        "--set", "actor_hidden=8", "--set", "critic_hidden=8", "--set", "anneal_lr=false",
        "--chunk", "4"]  # every run below shares one compiled program (and the cache)
NUM_UPDATES = 8  # 256 steps / (2 envs * 16 steps)


def jaxrl(*args: str, cwd: Path, cache: Path, timeout: float = 600, check: bool = True):
    env = {**os.environ, "JAXRL_CACHE_DIR": str(cache)}
    proc = subprocess.run([str(JAXRL), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"jaxrl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    assert JAXRL.exists(), f"console script not installed at {JAXRL} (pip install -e .)"
    root = tmp_path_factory.mktemp("cli")
    cache = root / "xla-cache"
    full = jaxrl("train", *TINY, "--checkpoint-every", "3", "--out", "full", cwd=root, cache=cache)
    part = jaxrl("train", *TINY, "--checkpoint-every", "3", "--out", "part", "--stop-after", "5",
                 "-q", cwd=root, cache=cache)
    resumed = jaxrl("train", "--resume", "part", "-q", cwd=root, cache=cache)
    return {"root": root, "cache": cache, "full": full, "part": part, "resumed": resumed}


def _leaves(path: Path) -> dict:
    from flax import serialization

    return serialization.msgpack_restore(serialization.msgpack_restore(path.read_bytes())["body"])


def test_train_prints_progress_and_summary(runs):
    out, err = runs["full"].stdout, runs["full"].stderr
    assert "compiling" in err and f"update {NUM_UPDATES}/{NUM_UPDATES}" in err and "steps/s" in err
    lines = out.splitlines()
    head = lines[0].split()
    for col in ("algorithm", "env", "seeds", "final", "return", "compile", "run", "steps/s"):
        assert col in head
    row = lines[2].split()
    assert row[:3] == ["ppo", "CartPole-v1", "2"]
    assert "run directory: full" in out
    assert "stopped at update 5/8; continue with: jaxrl train --resume part" in runs["part"].stdout


def test_run_directory_contents(runs):
    d = runs["root"] / "full"
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["checkpoint.msgpack", "config.json", "learning_curve.png", "metrics.csv", "summary.json",
         "tensorboard"])
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["algorithm"] == "ppo" and cfg["env"] == "CartPole-v1" and cfg["seeds"] == 2
    assert cfg["config"]["actor_hidden"] == [8] and cfg["config"]["num_steps"] == 16
    assert cfg["num_updates"] == NUM_UPDATES

    # CSV: one column per metric, one row per update and seed.
    lines = (d / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["update", "seed", "env_steps", "episode_return", "episodes"]
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "lr"} <= set(header)
    rows = [r.split(",") for r in lines[1:]]
    assert len(rows) == NUM_UPDATES * 2
    assert [(int(r[0]), int(r[1])) for r in rows] == [(u, s) for u in range(1, 9) for s in (0, 1)]
    assert [int(r[2]) for r in rows[::2]] == [32 * u for u in range(1, 9)]
    assert all(len(r) == len(header) for r in rows)

    # The learning curve is a real PNG.
    from PIL import Image

    with Image.open(d / "learning_curve.png") as im:
        im.verify()
    with Image.open(d / "learning_curve.png") as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200

    # The checkpoint loads into the run's state structure, at the last update.
    loaded = run.load(d)
    assert ckpt.read_header(d / ckpt.FILENAME)["updates_done"] == NUM_UPDATES
    assert loaded.params.actor["params"]["Dense_0"]["kernel"].shape == (2, 4, 8)
    assert loaded.metrics["episode_return"].shape == (2, NUM_UPDATES)

    # TensorBoard reads the event file: one point per update, at x = env steps.
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea_mod.EventAccumulator(str(d / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/episode_return", "loss/policy_loss", "stats/entropy"} <= set(tags)
    steps = [e.step for e in acc.Scalars("stats/entropy")]
    assert steps == [32 * u for u in range(1, 9)]
    csv_entropy = np.mean(np.array([float(r[header.index("entropy")]) for r in rows]).reshape(8, 2), 1)
    np.testing.assert_allclose([e.value for e in acc.Scalars("stats/entropy")], csv_entropy,
                               rtol=1e-6)

    summary = json.loads((d / "summary.json").read_text())
    assert summary["updates_done"] == NUM_UPDATES and len(summary["final_return"]) == 2


def test_resume_is_bit_identical(runs):
    full, part = runs["root"] / "full", runs["root"] / "part"
    assert (full / "metrics.csv").read_bytes() == (part / "metrics.csv").read_bytes()
    a, b = _leaves(full / ckpt.FILENAME), _leaves(part / ckpt.FILENAME)
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert np.asarray(a[k]).tobytes() == np.asarray(b[k]).tobytes(), k


@pytest.mark.heavy
def test_checkpoint_of_another_shape_or_algorithm_is_refused(runs, tmp_path):
    root, cache = runs["root"], runs["cache"]
    d = tmp_path / "wider"
    shutil.copytree(root / "part", d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["config"]["actor_hidden"] = [16]
    cfg["num_updates"] = NUM_UPDATES + 1  # so --resume does not think the run is complete
    (d / "config.json").write_text(json.dumps(cfg))
    proc = jaxrl("train", "--resume", str(d), cwd=tmp_path, cache=cache, check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "config actor_hidden: checkpoint [8], this run [16]" in err
    assert "['Dense_0']['kernel']: checkpoint shape (2, 4, 8), this run (2, 4, 16)" in err

    # A PPO checkpoint in a DQN run directory names the algorithm.
    d2 = tmp_path / "dqn"
    d2.mkdir()
    spec, _ = run.make_spec("dqn", "CartPole-v1", seeds=2, total_steps=800)
    run.write_json(d2 / "config.json", spec.to_json())
    shutil.copy(root / "full" / ckpt.FILENAME, d2 / ckpt.FILENAME)
    proc = jaxrl("train", "--resume", str(d2), cwd=tmp_path, cache=cache, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "algorithm: checkpoint 'ppo', this run 'dqn'" in proc.stderr


@pytest.mark.slow  # a real SIGINT to a running subprocess; the atomic save itself is unit-tested
def test_ctrl_c_saves_a_checkpoint_that_resumes(runs, tmp_path):
    """SIGINT stops after the running chunk, saves, exits 130; the run then resumes."""
    args = [*TINY, "--total-steps", "2000000", "--checkpoint-every", "0"]
    env = {**os.environ, "JAXRL_CACHE_DIR": str(runs["cache"])}
    proc = subprocess.Popen([str(JAXRL), "train", *args, "--out", "big"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        for line in proc.stderr:  # wait for the first progress line: training is running
            if "update" in line and "steps/s" in line:
                break
            assert time.time() < deadline, "no progress line"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint saved; continue with: jaxrl train --resume big" in err
    done = ckpt.read_header(tmp_path / "big" / ckpt.FILENAME)["updates_done"]
    total = 2_000_000 // 32
    assert 0 < done < total
    rows = (tmp_path / "big" / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 * done  # CSV and checkpoint agree
    more = jaxrl("train", "--resume", "big", "--stop-after", "2", "-q", cwd=tmp_path,
                 cache=runs["cache"])
    assert f"stopped at update {done + 2}/{total}" in more.stdout


@pytest.mark.heavy
def test_eval_and_play(runs):
    root, cache = runs["root"], runs["cache"]
    proc = jaxrl("eval", "full", "--episodes", "3", cwd=root, cache=cache)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ppo on CartPole-v1: 2 seed(s) x 3 episodes")
    assert lines[3].split()[0] == "greedy" and lines[4].split()[0] == "stochastic"
    proc = jaxrl("play", "full", cwd=root, cache=cache)
    assert "ppo on CartPole-v1, seed 0, greedy policy: return" in proc.stdout
    from PIL import Image

    with Image.open(root / "full" / "play.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames > 5
    with Image.open(root / "full" / "play.png") as png:
        png.verify()


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxrl: error: ")
    return err


def test_user_errors_exit_2_with_one_line(runs, tmp_path):
    cache = runs["cache"]
    err = _one_line_error(jaxrl("train", "ppo2", cwd=tmp_path, cache=cache, check=False))
    assert "unknown algorithm 'ppo2'" in err and "Did you mean: ppo" in err
    (tmp_path / "afile").write_text("")
    err = _one_line_error(jaxrl("train", *TINY, "--out", "afile/run", cwd=tmp_path, cache=cache,
                                check=False))
    assert "cannot create output directory afile/run" in err


@pytest.mark.parametrize("argv, expected", [
    (["train", "ppo", "--env", "CartPol-v1"], "Did you mean: CartPole-v1"),
    (["train", "ppo", "--set", "lrr=1e-3"], "no config field 'lrr'. Did you mean: lr"),
    (["train", "ppo", "--set", "lr=-3e-4"], "lr must be finite and > 0"),
    (["train", "ppo", "--num-envs", "3", "--set", "num_steps=5", "--set", "minibatches=4"],
     "minibatches=4 must divide the batch num_envs * num_steps = 15"),
    (["train", "ppo", "--seeds", "0"], "--seeds must be >= 1"),
    (["train", "ppo", "--set", "lr"], "--set takes FIELD=VALUE"),
    (["trian", "ppo"], "did you mean 'train'"),
    (["train", "reinforce", "--total-steps", "100"],
     "--total-steps counts environment steps; reinforce's budget is in episodes: "
     "use --set num_episodes=N"),
    (["train", "ga", "--total-steps", "100"], "ga's budget is in generations: "
     "use --set generations=N"),
    (["sweep", "ppo", "--grid", "lrr=1e-3"], "--grid: ppo has no config field 'lrr'."),
    (["sweep", "ppo", "--grid", "num_steps=8,16"], "static field"),
    (["list", "ppx"], "Did you mean: ppo"),
    (["train", "ppo", "--preset", "cartpol"], "no preset 'cartpol' (presets: cleanrl, cartpole, "),
    (["train", "reinforce", "--preset", "tunde"], "Did you mean: tuned"),
    (["sweep", "ppo", "--preset", "nope", "--grid", "lr=1e-3,3e-3"], "no preset 'nope'"),
])
def test_bad_input_is_refused_before_compiling(argv, expected, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    def no_compile(*a, **k):
        raise AssertionError("compiled despite bad input")

    from jaxrl.runs import driver

    monkeypatch.setattr(driver, "chunk_function", no_compile)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxrl: error: ")
    assert expected in err
    assert not (tmp_path / "runs").exists()  # nothing written either


def test_list_shows_spaces_and_config_defaults(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1" in out and "Discrete(2)" in out and "Gridworld-v0" in out
    assert "shape=(4, 4, 4)" in out  # Gridworld's observation space
    ppo = out[out.index("\nppo:"):]
    assert "total_timesteps" in ppo and "0.00025" in ppo and "Adam learning rate" in ppo
    assert "presets (--preset NAME): cleanrl, cartpole" in ppo
    # What each preset sets: its environment and the fields it changes.
    assert "  cartpole: CartPole-v1; actor_hidden=[32], critic_hidden=[32], lr=0.001" in ppo
    assert "default environment: CartPole-v1" in ppo


def test_python_dash_m_and_help():
    proc = subprocess.run([sys.executable, "-m", "jaxrl", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    for word in ("train", "eval", "play", "sweep", "list"):
        assert word in proc.stdout


@pytest.mark.heavy
def test_sweep_grid_as_one_program(runs, tmp_path):
    proc = jaxrl("sweep", "q_learning", "--env", "Gridworld-v0", "--grid", "lr=0.1,0.5",
                 "--seeds", "2", "--total-steps", "2048", "--out", "sw", cwd=tmp_path,
                 cache=runs["cache"])
    assert "2 settings x 2 seeds" in proc.stdout
    table_rows = [line for line in proc.stdout.splitlines()
                  if line.lstrip("* ").startswith(("0.1 ", "0.5 "))]
    assert len(table_rows) == 2
    from PIL import Image

    with Image.open(tmp_path / "sw" / "sweep.png") as im:
        im.verify()
    rows = (tmp_path / "sw" / "sweep.csv").read_text().splitlines()
    assert rows[0] == "lr,seed,final_return" and len(rows) == 1 + 2 * 2


def test_play_text_board_for_gridworld(tmp_path, capsys):
    from jaxrl.output import play

    result = run.train("q_learning", "Gridworld-v0", seeds=1, total_steps=4096)
    out = play.play(result, out=tmp_path / "g")
    shown = capsys.readouterr().out
    assert "start\n┌────┐\n│+- P│\n│ W  │\n│    │\n│    │\n└────┘" in shown  # the static board
    assert "step 1: " in shown and (tmp_path / "g.txt").read_text().count("┌────┐") == out.episode.length + 1


def test_play_bandit_chart_draws_values_or_policy(tmp_path):
    """Rendering mechanics with a test-only agent (uniform policy; values = arm index).

    Its state holds a batch of bandit problems, as a trained agent's does: ``play``
    must draw the arms of the first one (what the agent learned on), not a fresh draw.
    """
    import jax.numpy as jnp
    from PIL import Image

    from jaxrl.core.agent import Agent
    from jaxrl.envs.bandits import BanditState
    from jaxrl.output import play

    env, params = run.make_env("Bandit-v0")
    arms = jnp.linspace(0.05, 0.95, 30, dtype=jnp.float32).reshape(1, 3, 10)  # [seeds, copies, arms]
    state = {"key": jax.random.split(jax.random.key(0), 1),
             "envs": {"inner": BanditState(arms, jnp.full((1, 3), 7, jnp.int32))}}
    uniform = Agent(init=None, update=None, num_updates=1, config=None,
                    act=lambda s, obs, key, greedy: jax.random.randint(key, (), 0, 10))
    spec = run.RunSpec("test_uniform", "Bandit-v0", {}, 1, 0, {}, 1, 1, 0)
    for agent in (uniform, Agent(**{**uniform.__dict__,
                                    "values": lambda s, obs: jnp.arange(10.0)})):
        result = run.Result(spec=spec, config=None, agent=agent, state=state, metrics={},
                            env=env, env_params=params)
        out = play.play(result, out=tmp_path / "b", max_steps=50)
        assert out.episode.length == 50
        np.testing.assert_array_equal(out.episode.states[0].arms, arms[0, 0])
        assert int(out.episode.states[0].time) == 0
        with Image.open(tmp_path / "b.png") as im:
            im.verify()
