"""Hostile inputs, round two (issue 25, items 4, 5, 12, 13, 16): each is refused in one
line (exit 2 from the CLI, ``RunError`` from Python) before anything large is allocated,
or gives the right result, and leaves the user's files as they were.

* every seed non-finite under ``--on-nonfinite mask``: training stops in one line, and
  eval, play, export and ``Result.evaluate`` refuse a run whose every seed is
  non-finite (eval and export leave out the masked seeds of a run that has others);
* a repeated ``--grid`` field (or an old name of it) is refused;
* a sweep's size is checked from its lists' lengths, before anything is expanded;
* ``--set`` of a field that also has a flag (``num_envs``, ``total_timesteps``) works,
  and both at once is refused;
* sizes that cannot fit (``--episodes``, a state, environment options) are refused
  with the estimate and the memory available.

Most cases train the tiny probe algorithm (``tests/jaxrl/probe.py``) in-process with a
module-wide compile cache.
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
import jax.numpy as jnp
import numpy as np
import pytest
from probe import (
    PROBE,
    no_plot,  # noqa: F401 - a fixture, requested by name
)
from probe import cached as probe_cached

from jaxrl import cli, load_policy
from jaxrl.errors import RunError, TrainingError
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import policy, run
from jaxrl.runs import rundir as R
from jaxrl.runs import sweep as sweep_mod

ENV = "CartPole-v1"
BASE = ["--env", ENV, "--chunk", "4", "--checkpoint-every", "5", "-q"]


@pytest.fixture(scope="module", autouse=True)
def _probe_and_cache():
    """``"_probe"`` is an algorithm, and its programs go to the run's compile cache."""
    with probe_cached():
        yield




def refused(capsys, *argv: str) -> str:
    """The one error line of a CLI command that must exit 2."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxrl: error: "), err
    return err


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != R.LOCK_FILE}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished 2-seed probe run, the same run with every parameter NaN, and a masked
    4-seed run with some seeds non-finite."""
    root = tmp_path_factory.mktemp("runs")
    good = root / "good"
    result = run.train(PROBE, ENV, seeds=2, out_dir=good, chunk_updates=4, checkpoint_every=5)
    nan = root / "nan"  # what an old run of all-masked seeds left: NaN parameters
    result.state = result.state.replace(w=jnp.full_like(result.state.w, jnp.nan))
    result.save(nan)
    masked = root / "masked"
    mixed = run.train(PROBE, ENV, seeds=4, out_dir=masked, chunk_updates=4, checkpoint_every=5,
                      nan_at=7, nan_share=0.5, on_nonfinite="mask")
    assert 0 < len(mixed.bad_seeds) < 4
    return {"good": good, "nan": nan, "masked": masked, "bad": mixed.bad_seeds}


def copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


# ------------------------------------------------------------------------------ item 4
def test_mask_with_every_seed_nonfinite_stops_in_one_line(tmp_path, capsys, no_plot):
    d = tmp_path / "m"
    code = cli.main(["train", PROBE, *BASE, "--seeds", "2", "--set", "nan_at=7",
                     "--on-nonfinite", "mask", "--out", str(d)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxrl: training stopped: every seed went non-finite"), err
    # As for "stop": the last checkpoint before the NaN, its metrics rows, nothing after.
    assert ckpt.read_header(d / R.CHECKPOINT_FILE)["updates_done"] == 5
    assert len((d / R.METRICS_FILE).read_text().splitlines()) == 1 + 5 * 2
    loaded = run.load(d)
    assert np.all(np.isfinite(np.asarray(loaded.state.w)))
    with pytest.raises(TrainingError, match="every seed went non-finite"):
        run.train(PROBE, ENV, seeds=2, nan_at=3, on_nonfinite="mask")


def test_a_run_whose_every_seed_is_nonfinite_is_refused(runs, tmp_path, capsys):
    d = copy(runs["nan"], tmp_path)
    before = files(d)
    for argv in (["eval", str(d)], ["play", str(d)], ["export", str(d)]):
        assert "every seed of this run has non-finite parameters" in refused(capsys, *argv)
    assert files(d) == before and not (d / policy.POLICY_FILE).exists()
    result = run.load(d)
    with pytest.raises(RunError, match="non-finite"):
        result.evaluate(episodes=2)
    with pytest.raises(RunError, match="non-finite"):
        policy.export(result, tmp_path / "p.msgpack")
    assert not (tmp_path / "p.msgpack").exists()


def test_masked_seeds_are_left_out_of_eval_play_and_export(runs, tmp_path, capsys):
    d = copy(runs["masked"], tmp_path)
    bad = runs["bad"]
    good = [s for s in range(4) if s not in bad]
    assert cli.main(["eval", str(d), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{len(good)} seed(s) x 2 episodes" in out
    assert f"left out: seed(s) {', '.join(map(str, bad))}, whose parameters are non-finite" in out
    result = run.load(d)
    assert result.acting_seeds == tuple(good)
    assert result.evaluate(episodes=2).returns.shape == (len(good), 2)
    err = refused(capsys, "play", str(d), "--seed-index", str(bad[0]))
    assert f"seed {bad[0]}: its parameters are non-finite" in err
    path = policy.export(result, tmp_path / "p.msgpack")
    loaded = load_policy(path)
    assert loaded.seeds == len(good)
    for x in jax.tree.leaves(loaded._states):
        if jnp.issubdtype(x.dtype, jnp.floating):
            assert np.all(np.isfinite(np.asarray(x)))
    assert ckpt.read_header(path)["extra"]["seed_ids"] == good


# ------------------------------------------------------------------------------ item 5
def test_a_repeated_grid_field_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = refused(capsys, "sweep", PROBE, "--grid", "lr=0.1", "--grid", "lr=0.2", "-q")
    assert "--grid lr= twice" in err and "lr" in err
    err = refused(capsys, "sweep", PROBE, "--grid", "learning_rate=0.1", "--grid", "lr=0.2")
    assert "--grid learning_rate= and --grid lr= both set lr" in err
    assert list(tmp_path.iterdir()) == []  # refused before any output directory
    with pytest.raises(ValueError, match="grid names lr twice"):
        sweep_mod.sweep(PROBE, ENV, grid={"learning_rate": [0.1], "lr": [0.2]})
    # --set: the last of a repeated name wins (the CLI convention); two names of one
    # field are refused.
    assert cli._key_values(["lr=0.1", "lr=0.2"], "--set") == {"lr": "0.2"}
    err = refused(capsys, "train", PROBE, "--set", "lr=0.1", "--set", "learning_rate=0.2",
                  "--out", "x")
    assert "both set lr" in err


# ------------------------------------------------------------------------------ item 12
def test_a_huge_sweep_is_refused_at_once_before_expanding(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = ",".join(str(1e-4 * (i + 1)) for i in range(1000))
    clips = ",".join(str(0.01 + 1e-4 * i) for i in range(1000))
    t0 = time.perf_counter()
    err = refused(capsys, "sweep", "ppo", "--grid", f"lr={values}", "--grid",
                  f"clip_eps={clips}", "--seeds", "2")
    assert "1,000,000 settings x 2 seeds = 2,000,000 runs" in err and "--max-settings" in err
    err = refused(capsys, "sweep", "ppo", "--grid", "lr=1e-4,3e-4,1e-3", "--max-settings", "2")
    assert "3 settings" in err and "limit of 2 settings" in err
    with pytest.raises(ValueError, match="over the limit"):
        sweep_mod.sweep("ppo", ENV, grid={"lr": [1e-4 * (i + 1) for i in range(1000)],
                                          "clip_eps": [0.01 + 1e-4 * i for i in range(1000)]})
    assert time.perf_counter() - t0 < 10
    assert list(tmp_path.iterdir()) == []
    assert sweep_mod.grid_size({"a": [1, 2], "b": [1, 2, 3]}) == 6
    assert sweep_mod.check_size(6, 8) == "6 settings x 8 seeds = 48 runs"


def test_interruptible_wait_returns_and_reraises():
    assert sweep_mod._interruptible(lambda: 41 + 1) == 42
    with pytest.raises(KeyError):
        sweep_mod._interruptible(lambda: {}["missing"])


@pytest.mark.slow
def test_ctrl_c_stops_a_running_sweep(tmp_path):
    env = {**os.environ, "JAXRL_CACHE_DIR": "off"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jaxrl"), "sweep", "ppo", "--grid",
         "lr=1e-4,3e-4", "--seeds", "2", "--total-steps", "50000000", "--out", "s"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # the size line comes before compiling
            if line.startswith("sweep: 2 settings x 2 seeds = 4 runs"):
                break
        time.sleep(3)  # compiling now (about 30 s without a cache): C++ that Python waits on
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130  # without the polling wait: after the compile
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "s" / "sweep.csv").exists()


# ------------------------------------------------------------------------------ item 13
@pytest.mark.heavy
def test_set_of_a_field_that_has_a_flag(tmp_path, capsys, no_plot):
    for setting, field, value in (("num_envs=4", "num_envs", 4),
                                  ("total_timesteps=52", "total_timesteps", 52),
                                  ("total_steps=52", "total_timesteps", 52)):  # an old name
        d = tmp_path / field / setting.split("=")[0]
        assert cli.main(["train", PROBE, *BASE, "--set", setting, "--out", str(d)]) == 0, \
            capsys.readouterr().err
        assert json.loads((d / R.CONFIG_FILE).read_text())["config"][field] == value
    assert run.train(PROBE, ENV, config={"num_envs": 4}).config.num_envs == 4
    assert run.train(PROBE, ENV, num_envs=4).config.num_envs == 4
    # The flag and --set both: refused, naming both.
    err = refused(capsys, "train", PROBE, "--num-envs", "2", "--set", "num_envs=4",
                  "--out", str(tmp_path / "c"))
    assert "--num-envs 2 and num_envs=4" in err
    err = refused(capsys, "train", PROBE, "--total-steps", "26", "--set",
                  "total_timesteps=52", "--out", str(tmp_path / "c"))
    assert "both set total_timesteps" in err
    with pytest.raises(RunError, match="both set num_envs"):
        run.train(PROBE, ENV, num_envs=2, config={"num_envs": 4})
    # Run settings that are not config fields name their flag.
    for name, flag in (("seeds", "--seeds"), ("seed", "--seed"), ("env", "--env")):
        err = refused(capsys, "train", PROBE, "--set", f"{name}=2", "--out", str(tmp_path / "c"))
        assert "not a config field" in err and flag in err
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------ item 16
def test_an_evaluation_too_large_for_memory_is_refused(runs, tmp_path, capsys):
    d = copy(runs["good"], tmp_path)
    before = files(d)
    t0 = time.perf_counter()
    err = refused(capsys, "eval", str(d), "--episodes", str(10**10))
    assert "evaluating 10,000,000,000 episode(s) x 2 seed(s) needs about" in err
    assert "TiB of memory, more than the" in err and "available" in err
    assert time.perf_counter() - t0 < 15
    assert files(d) == before


def test_a_training_state_too_large_for_memory_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXRL_MEMORY_LIMIT", "1M")
    d = tmp_path / "w"
    err = refused(capsys, "train", PROBE, *BASE, "--seeds", "2", "--set", "width=1000000",
                  "--out", str(d))
    assert "the training state of 2 seed(s) needs about 7.6 MiB" in err
    assert "1.0 MiB available (JAXRL_MEMORY_LIMIT)" in err
    assert not (d / R.CHECKPOINT_FILE).exists()


def test_environment_sizes_and_values_are_bounded(tmp_path, capsys):
    for env, option, what in (("Gridworld-v0", "size=100000", "Gridworld size"),
                              ("Bandit-v0", "num_arms=1000000000", "num_arms"),
                              ("CartPole-v1", "gravity=1e999", "'gravity' must be a finite"),
                              ("Gridworld-v0", "size=4.5", "Gridworld size")):
        err = refused(capsys, "train", PROBE, "--env", env, "--env-option", option,
                      "--out", str(tmp_path / "e"))
        assert what in err, err
    assert not (tmp_path / "e").exists()


def test_a_run_refused_for_its_size_leaves_no_run_behind(tmp_path, capsys, monkeypatch):
    """Refused after compiling (the compiled chunk's peak, not the state, is too big): the
    directory holds no config.json, so the same command with a smaller size needs no
    --overwrite."""
    d = tmp_path / "w"
    monkeypatch.setenv("JAXRL_MEMORY_LIMIT", "8M")  # the state (7.6 MiB) fits, training not
    err = refused(capsys, "train", PROBE, *BASE, "--seeds", "2", "--set", "width=1000000",
                  "--out", str(d))
    assert "training 2 seed(s)" in err and "needs about" in err, err
    assert not (d / R.CONFIG_FILE).exists() and not (d / R.CHECKPOINT_FILE).exists()
    monkeypatch.delenv("JAXRL_MEMORY_LIMIT")
    assert cli.main(["train", PROBE, *BASE, "--seeds", "2", "--out", str(d), "-q"]) in (0, None)
    assert (d / R.CHECKPOINT_FILE).exists()
