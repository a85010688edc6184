"""The training driver, config resolution, logging formats and the Python API.

Driver mechanics (chunking, resume, bit-identity) use ``_DriverProbe``, a tiny
test-only algorithm (``tests/jaxrl/probe.py``, not a real learner) so they run in seconds; the
API test at the end trains the real PPO.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax
import numpy as np
import pytest
from probe import (
    probe,  # noqa: F401 - the fixture registering the test-only algorithm
    state_bits,
)

import jaxrl
from jaxrl.core import metrics as M
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import overrides as O
from jaxrl.runs import run
from jaxrl.runs.rundir import MetricsWriter, RunDir, read_metrics


# ------------------------------------------------------------------ driver
def test_chunked_run_matches_agent_train(probe):
    result = run.train(probe, "CartPole-v1", seeds=3, seed=5, chunk_updates=4)
    assert result.updates_done == 13 and result.complete
    keys = run.seed_keys(5, 3)
    state, metrics = jax.jit(jax.vmap(result.agent.train))(keys)
    for name in ("env_steps", "episode_return", "episodes", "w0"):
        np.testing.assert_allclose(result.metrics[name], np.asarray(metrics[name]), rtol=1e-6)
    np.testing.assert_allclose(result.state.w, state.w, rtol=1e-6)
    assert result.metrics["w0"].shape == (3, 13)
    # Seeds are fold_in(key(seed), i): the first two seeds do not depend on how many there are.
    two = run.train(probe, "CartPole-v1", seeds=2, seed=5, chunk_updates=4)
    np.testing.assert_array_equal(two.metrics["w0"], result.metrics["w0"][:2])


def test_resume_is_bit_identical(probe, tmp_path):
    full = run.train(probe, "CartPole-v1", seeds=2, out_dir=tmp_path / "full", chunk_updates=4,
                     checkpoint_every=5)
    part = run.train(probe, "CartPole-v1", seeds=2, out_dir=tmp_path / "part", chunk_updates=4,
                     checkpoint_every=5, stop_after=3)
    assert part.updates_done == 3 and not part.complete
    assert ckpt.read_header(tmp_path / "part" / ckpt.FILENAME)["updates_done"] == 3
    mid = run.resume(tmp_path / "part", stop_after=4)  # crosses a checkpoint at 5
    assert mid.updates_done == 7
    end = run.resume(tmp_path / "part")
    assert end.updates_done == 13
    assert state_bits(end.state) == state_bits(full.state)
    for name in full.metrics:
        assert full.metrics[name].astype(np.float64).tobytes() == \
            end.metrics[name].astype(np.float64).tobytes(), name
    for f in ("metrics.csv", "config.json"):
        assert (tmp_path / "full" / f).read_bytes() == (tmp_path / "part" / f).read_bytes(), f
    # TensorBoard: the resumed run's curve has the uninterrupted run's points, once each.
    assert _scalars(tmp_path / "part" / "tensorboard", "stats/w0") == \
        _scalars(tmp_path / "full" / "tensorboard", "stats/w0")
    assert len(_scalars(tmp_path / "full" / "tensorboard", "stats/w0")) == 13


def _scalars(logdir: Path, tag: str) -> list[tuple[int, float]]:
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(logdir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_resume_cuts_rows_written_after_the_checkpoint(probe, tmp_path):
    """Rows logged after the last checkpoint (a crash before the next one) are dropped."""
    full = run.train(probe, "CartPole-v1", seeds=2, out_dir=tmp_path / "a", chunk_updates=4)
    d = tmp_path / "b"
    run.train(probe, "CartPole-v1", seeds=2, out_dir=d, chunk_updates=4, checkpoint_every=4,
              stop_after=4)
    with open(d / "metrics.csv", "a") as f:  # a crashed run's extra rows
        f.write("5,0,10,nan,0,0.5\n5,1,10,nan,0,0.5\n")
    end = run.resume(d)
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (d / "metrics.csv").read_bytes()
    assert state_bits(end.state) == state_bits(full.state)


def test_resume_refuses_changed_config(probe, tmp_path):
    d = tmp_path / "r"
    run.train(probe, "CartPole-v1", seeds=2, out_dir=d, stop_after=2)
    cfg = (d / "config.json").read_text().replace('"width": 3', '"width": 4')
    (d / "config.json").write_text(cfg)
    with pytest.raises(run.RunError) as err:
        run.resume(d)
    msg = str(err.value)
    assert "config width: checkpoint 3, this run 4" in msg
    assert "state.w: checkpoint shape (2, 3), this run (2, 4)" in msg


def test_existing_and_unwritable_output_dirs_are_refused(probe, tmp_path):
    run.train(probe, "CartPole-v1", out_dir=tmp_path / "x")
    with pytest.raises(run.RunError, match="already holds a run.*complete.*--overwrite"):
        run.train(probe, "CartPole-v1", out_dir=tmp_path / "x")
    run.train(probe, "CartPole-v1", out_dir=tmp_path / "y", stop_after=2, checkpoint_every=1)
    with pytest.raises(run.RunError, match="already holds a run.*--resume"):
        run.train(probe, "CartPole-v1", out_dir=tmp_path / "y")
    again = run.train(probe, "CartPole-v1", out_dir=tmp_path / "x", overwrite=True)
    assert again.complete
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(run.RunError, match="cannot create output directory"):
        RunDir.create(blocker / "sub")
    with pytest.raises(run.RunError, match="exists and is not a directory"):
        RunDir.create(blocker)


def test_final_return_is_episode_weighted_over_the_last_twentieth():
    # 40 updates -> window of 2. Seed 0: 3 episodes averaging 10, 1 averaging 30 -> 15.
    ret = np.full((3, 40), 99.0)
    eps = np.ones((3, 40))
    ret[0, -2:], eps[0, -2:] = [10.0, 30.0], [3, 1]
    ret[1, -2:], eps[1, -2:] = [np.nan, 4.0], [0, 2]
    ret[2, -2:], eps[2, -2:] = [np.nan, np.nan], [0, 0]
    out = M.final_returns(ret, eps, M.final_window(40))
    np.testing.assert_allclose(out[:2], [15.0, 4.0])
    assert math.isnan(out[2])


# ------------------------------------------------------------------ config
def test_continuing_tasks_report_reward_per_step():
    # 2 seeds x 40 updates, no episode ever ends (a bandit): the window is the last 2.
    reward = np.tile(np.arange(40, dtype=np.float32), (2, 1))
    reward[1] *= 2
    metrics = {"episode_return": np.full((2, 40), np.nan), "episodes": np.zeros((2, 40)),
               "reward": reward, "env_steps": np.tile(np.arange(1, 41), (2, 1))}
    assert M.continuing(metrics)
    np.testing.assert_allclose(M.final_rewards(metrics), [38.5, 77.0])
    metrics["episodes"][0, 3] = 1  # one episode ended: an episodic task after all
    assert not M.continuing(metrics)


def test_config_values_are_read_by_the_default_type():
    cfg = run.resolve_config("ppo", {"lr": "3e-4", "num_envs": "8", "anneal_lr": "false",
                                     "actor_hidden": "32,32", "activation": "relu",
                                     "total_timesteps": "1e5"})
    assert cfg.lr == pytest.approx(3e-4) and isinstance(cfg.lr, float)
    assert cfg.num_envs == 8 and cfg.anneal_lr is False
    assert cfg.actor_hidden == (32, 32) and cfg.total_timesteps == 100_000
    assert run.resolve_config("ppo", {"critic_hidden": "(16,)"}).critic_hidden == (16,)
    with pytest.raises(run.RunError, match="takes an integer, got '2.5'"):
        run.resolve_config("ppo", {"num_envs": "2.5"})
    with pytest.raises(run.RunError, match="takes true or false"):
        run.resolve_config("ppo", {"anneal_lr": "maybe"})


def test_shortcuts_map_to_each_algorithms_fields():
    assert run.resolve_config("ppo", total_steps=4096, num_envs=2).total_timesteps == 4096
    assert run.resolve_config("dqn", total_steps=5000).total_timesteps == 5000
    assert run.resolve_config("contextual_bandit", total_steps=64).total_timesteps == 64
    with pytest.raises(run.RunError, match="--total-steps counts environment steps; "
                                           "reinforce's budget is in episodes: use --set "
                                           "num_episodes=N"):
        run.resolve_config("reinforce", total_steps=5000)
    for name in ("ga", "es"):
        with pytest.raises(run.RunError, match=f"{name}'s budget is in generations: use --set "
                                               f"generations=N"):
            run.resolve_config(name, total_steps=5000)


def test_old_names_are_aliases_of_the_new(tmp_path):
    """``total_env_steps`` (dqn family), ``total_steps`` and ``learning_rate`` (contextual
    bandit) are today's ``total_timesteps`` and ``lr`` wherever text becomes a config."""
    assert O.ALIASES["total_env_steps"] == O.ALIASES["total_steps"] == "total_timesteps"
    assert O.ALIASES["learning_rate"] == "lr"
    for algo in ("dqn", "c51", "qrdqn"):
        cfg = run.resolve_config(algo, {"total_env_steps": "4000"})
        assert cfg.total_timesteps == 4000 and not hasattr(cfg, "total_env_steps")
    cfg = run.resolve_config("contextual_bandit", {"total_steps": "64", "learning_rate": "1e-3"})
    assert (cfg.total_timesteps, cfg.lr) == (64, 1e-3)
    toml = tmp_path / "old.toml"
    toml.write_text("total_env_steps = 3000\nlr = 2e-3\n")
    assert run.resolve_config("dqn", toml=toml).total_timesteps == 3000
    # An old config.json's table, and the spec of a run, read the same.
    old = O.config_to_dict(run.resolve_config("dqn", {"total_timesteps": "3000"}))
    old["total_env_steps"] = old.pop("total_timesteps")
    assert O.config_from_dict("dqn", old) == run.resolve_config("dqn", {"total_timesteps": "3000"})
    # Keywords of jaxrl.train (through make_spec's overrides).
    spec, built = run.make_spec("contextual_bandit", overrides={"total_steps": 32})
    assert built.config.total_timesteps == 32 and spec.config["total_timesteps"] == 32
    # Two names of one field in one place are refused; the new name needs no alias.
    with pytest.raises(run.RunError, match="both set total_timesteps"):
        run.resolve_config("dqn", {"total_env_steps": "10", "total_timesteps": "20"})
    with pytest.raises(run.RunError, match="no config field 'total_env_step'.*total_env_steps"):
        run.resolve_config("dqn", {"total_env_step": "10"})
    # A spec in the old names and the same spec in the new ones do not differ.
    new_spec, _ = run.make_spec("dqn", overrides={"total_timesteps": 3000})
    old_spec = dataclasses.replace(new_spec, config=old)
    assert old_spec.config != new_spec.config and old_spec.differences(new_spec) == []
    changed = dataclasses.replace(new_spec, config={**new_spec.config, "lr": 0.5})
    assert old_spec.differences(changed) == ["config.lr: 0.001 vs 0.5"]


@pytest.mark.heavy
def test_a_run_directory_in_the_old_names_resumes_twice(tmp_path):
    """config.json in the old names (``total_steps``, ``learning_rate``) beside a checkpoint
    in the new: the two specs are the same run; it resumes, stops, resumes again to the
    end (config.json is never rewritten) and ends as the run without stops."""
    import json

    out = tmp_path / "bandit"
    kw = dict(seeds=2, total_steps=24, num_envs=2, hidden=(4,), checkpoint_every=2)
    jaxrl.train("contextual_bandit", out_dir=out, stop_after=4, **kw)
    spec = json.loads((out / "config.json").read_text())
    cfg = spec["config"]
    cfg["total_steps"], cfg["learning_rate"] = cfg.pop("total_timesteps"), cfg.pop("lr")
    (out / "config.json").write_text(json.dumps(spec, indent=2) + "\n")
    before = (out / "config.json").read_bytes()
    assert jaxrl.resume(out, stop_after=4).updates_done == 8
    r = jaxrl.resume(out)
    assert r.complete and r.updates_done == 12 and r.config.total_timesteps == 24
    assert (out / "config.json").read_bytes() == before
    whole = jaxrl.train("contextual_bandit", **kw)
    for k in whole.metrics:
        np.testing.assert_array_equal(np.asarray(r.metrics[k]), np.asarray(whole.metrics[k]))
    assert jaxrl.load(out).updates_done == 12


def test_bad_names_and_values_are_refused_with_closest_matches():
    with pytest.raises(run.RunError, match="no config field 'lrr'.*Did you mean: lr"):
        run.resolve_config("ppo", {"lrr": "1"})
    with pytest.raises(run.RunError, match="unknown algorithm 'ppp'.*ppo"):
        run.resolve_config("ppp")
    with pytest.raises(run.RunError, match="lr must be finite and > 0"):
        run.resolve_config("ppo", {"lr": "-3e-4"})
    with pytest.raises(run.RunError, match="minibatches=3 must divide the batch"):
        run.resolve_config("ppo", {"minibatches": "3"})
    with pytest.raises(run.RunError, match="unknown environment 'CartPol-v1'.*CartPole-v1"):
        run.make_spec("ppo", "CartPol-v1")
    with pytest.raises(run.RunError, match="seeds must be an integer >= 1"):
        run.make_spec("ppo", "CartPole-v1", seeds=0)


def test_presets_are_a_starting_point_for_overrides():
    from jaxrl.algos import ppo

    spec, built = run.make_spec("ppo", preset="cartpole", overrides={"lr": "3e-3"})
    assert built.config.actor_hidden == O.preset("ppo", "cartpole").config.actor_hidden == (32,)
    assert built.config.lr == 3e-3  # the override wins over the preset's 1e-3
    assert spec.config["actor_hidden"] == [32]
    # A preset is (config, env, env options): its environment is the run's.
    p = O.preset("dqn", "gridworld")
    spec, built = run.make_spec("dqn", preset="gridworld")
    assert spec.env == p.env == "Gridworld-v0" and spec.env_options["mode"] == "random"
    assert spec.obs_noise == p.obs_noise > 0
    with pytest.raises(run.RunError, match="made for Gridworld-v0, not CartPole-v1"):
        run.make_spec("dqn", "CartPole-v1", preset="gridworld")
    with pytest.raises(run.RunError, match="no preset 'cartpol'.*Did you mean: cartpole"):
        run.make_spec("ppo", preset="cartpol")
    with pytest.raises(run.RunError, match="a preset or a Config object, not both"):
        run.make_spec("ppo", preset="cartpole", config=ppo.Config())


def test_toml_then_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('lr = 0.001\nactor_hidden = [16, 16]\nnum_envs = 2\n')
    cfg = run.resolve_config("ppo", {"num_envs": "8"}, toml=f)
    assert cfg.lr == 0.001 and cfg.actor_hidden == (16, 16) and cfg.num_envs == 8
    f.write_text("lr = [")
    with pytest.raises(run.RunError, match="not valid TOML"):
        run.resolve_config("ppo", toml=f)


# ------------------------------------------------------------------ metrics.csv
def test_csv_round_trip(tmp_path):
    m = {"env_steps": np.array([[4, 8], [4, 8]], np.int32),
         "episode_return": np.array([[np.nan, 1.25], [3.0, 0.1]], np.float32)}
    w = MetricsWriter(tmp_path / "m.csv", ["env_steps", "episode_return"])
    w.append(1, m)
    size, digest = w.flush()
    w.close()
    data = (tmp_path / "m.csv").read_bytes()
    assert size == len(data) and digest == __import__("hashlib").sha256(data).hexdigest()
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "update,seed,env_steps,episode_return"
    assert lines[1:] == ["1,0,4,nan", "1,1,4,3", "2,0,8,1.25", "2,1,8,0.100000001"]
    back = read_metrics(tmp_path / "m.csv")
    np.testing.assert_array_equal(back["env_steps"], m["env_steps"])
    np.testing.assert_array_equal(back["episode_return"].astype(np.float32), m["episode_return"])
    with pytest.raises(run.RunError, match="other columns"):
        MetricsWriter(tmp_path / "m.csv", ["env_steps", "other"], prefix=data)
    with pytest.raises(run.RunError, match="damaged or missing row"):
        read_metrics(data[:-12])


# ------------------------------------------------------------------ Python API on real PPO
TINY_PPO = dict(num_envs=2, num_steps=16, epochs=1, minibatches=1, actor_hidden=(8,),
                critic_hidden=(8,))


@pytest.mark.heavy
def test_python_api_with_ppo(tmp_path):
    result = jaxrl.train("ppo", env="CartPole-v1", seeds=2, total_steps=320, **TINY_PPO)
    assert result.spec.num_updates == 10 and result.complete
    assert result.metrics["episode_return"].shape == (2, 10)
    np.testing.assert_array_equal(result.env_steps, np.tile(np.arange(1, 11) * 32, (2, 1)))
    np.testing.assert_array_equal(result.steps_per_seed, [320, 320])
    assert result.params.actor["params"]["Dense_0"]["kernel"].shape == (2, 4, 8)
    fr = result.final_return
    assert fr.shape == (2,) and np.all(np.isfinite(fr)) and np.all(fr >= 8)  # CartPole lasts >= 8 steps
    fig = result.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0 and fig.axes
    assert "final return" in result.summary()
    ev = result.evaluate(episodes=3)
    assert ev.returns.shape == (2, 3) and np.all(ev.returns == ev.lengths)  # +1 per step
    saved = result.save(tmp_path / "run")
    loaded = run.load(saved)
    assert state_bits(loaded.state) == state_bits(result.state)
    np.testing.assert_array_equal(loaded.metrics["episode_return"].astype(np.float32),
                                  result.metrics["episode_return"])


# ------------------------------------------------------------------ new-user bugs
def test_default_environment_is_the_algorithms_own():
    spec, _ = run.make_spec("q_learning")
    assert spec.env == "Taxi-v3"  # not CartPole-v1, which a table cannot hold
    spec, _ = run.make_spec("contextual_bandit")
    assert spec.env == "ContextualBandit-v0"
    with pytest.raises(run.RunError, match="CartPole-v1"):
        run.make_spec("contextual_bandit", "CartPole-v1")


@pytest.mark.heavy
def test_sweep_and_train_give_seed_i_the_same_run():
    from jaxrl.runs.sweep import sweep

    kw = dict(total_steps=2048)
    trained = run.train("q_learning", "Gridworld-v0", seeds=2, seed=3, **kw)
    swept = sweep("q_learning", "Gridworld-v0", base_config=trained.config,
                  grid={"lr": [float(trained.config.lr)]}, seeds=2, key=3)
    np.testing.assert_allclose(swept.metrics["episode_return"][0],
                               trained.metrics["episode_return"], rtol=1e-6)


def test_checkpoint_size_is_announced(probe, tmp_path, capsys):
    run.train(probe, "CartPole-v1", seeds=2, out_dir=tmp_path / "c", progress=True)
    err = capsys.readouterr().err
    assert "checkpoint: " in err and "per save" in err and "--checkpoint-every" in err
