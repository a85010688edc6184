"""Every kept setting of a sweep is a run: ``jaxrl sweep`` writes ``SWEEP/runs/<setting>/``,
the run directory ``jaxrl train`` writes, and eval, play, export, load and
``train --resume`` take it as it is.

One small sweep (tabular Q-learning on Gridworld, a 2 x 2 grid, 2 seeds, 2,048 steps)
from Python is saved once and read back by the commands; two more, the same program,
come from the command line.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxrl
from jaxrl import cli
from jaxrl.runs import run
from jaxrl.runs import sweep as sweep_mod

SWEEP = ["sweep", "q_learning", "--env", "Gridworld-v0", "--grid", "lr=0.1,0.5",
         "--grid", "gamma=0.9,0.99", "--seeds", "2", "--seed", "3", "--total-steps", "2048",
         "-q"]
SETTINGS = [{"lr": 0.1, "gamma": 0.9}, {"lr": 0.1, "gamma": 0.99},
            {"lr": 0.5, "gamma": 0.9}, {"lr": 0.5, "gamma": 0.99}]


def main(*argv: str) -> tuple[int, str, str]:
    """``jaxrl ARGV`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def best_by_csv(sweep_dir: Path) -> dict[str, float]:
    """The best setting by sweep.csv's final returns (mean over seeds), read back."""
    with open(sweep_dir / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    means: dict[tuple[float, float], list[float]] = {}
    for r in rows:
        means.setdefault((float(r["lr"]), float(r["gamma"])), []).append(float(r["final_return"]))
    (lr, gamma), _ = max(means.items(), key=lambda kv: np.mean(kv[1]))
    return {"lr": lr, "gamma": gamma}


def tree(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """``(sweep directory, SweepResult, stdout)`` of ``jaxrl sweep`` (every setting kept);
    the command's own ``SweepResult`` is caught on its way."""
    d = tmp_path_factory.mktemp("sweep") / "sw"
    caught = []
    real = sweep_mod.sweep

    def catch(*a, **k):
        caught.append(real(*a, **k))
        return caught[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sweep_mod, "sweep", catch)
        code, out, err = main(*SWEEP, "--out", d)
    assert code == 0, err
    return d, caught[0], out


@pytest.mark.heavy
def test_every_setting_is_a_run(swept):
    d, result, out = swept
    assert result.kept == (0, 1, 2, 3)
    index = json.loads((d / "sweep.json").read_text())
    runs = index["runs"]
    assert [r["setting"] for r in runs] == SETTINGS
    assert [r["dir"] for r in runs] == [f"runs/lr={s['lr']},gamma={s['gamma']}" for s in SETTINGS]
    assert runs[0]["label"] == "lr=0.1, gamma=0.9"
    assert sorted(p.name for p in (d / "runs").iterdir()) == sorted(r["dir"][5:] for r in runs)
    with open(d / "sweep.csv", newline="") as f:
        finals = [float(r["final_return"]) for r in csv.DictReader(f)]
    for i, r in enumerate(runs):
        loaded = jaxrl.load(d / r["dir"])
        assert loaded.complete and loaded.seeds == 2 and loaded.spec.seed == 3
        assert loaded.spec.env == "Gridworld-v0"
        assert {k: loaded.spec.config[k] for k in ("lr", "gamma")} == r["setting"]
        assert loaded.config.lr == r["setting"]["lr"]
        # The run's own final returns (from its metrics.csv) are the sweep's.
        np.testing.assert_allclose(loaded.final_return, finals[2 * i:2 * i + 2], rtol=1e-12)
    assert index["best"] == best_by_csv(d) == result.best_setting
    assert index["best_run"] == runs[result.best]["dir"]
    assert result.best_run.run_dir == d / index["best_run"]
    assert f"best run: {d / index['best_run']}" in out and "runs: every setting in" in out


@pytest.mark.heavy
def test_best_run_evaluates_and_exports(swept):
    d = swept[0]
    best = d / json.loads((d / "sweep.json").read_text())["best_run"]
    code, out, err = main("eval", best, "--episodes", "2")
    assert code == 0, err
    assert "q_learning on Gridworld-v0: 2 seed(s) x 2 episodes" in out and "greedy" in out
    code, out, err = main("export", best)
    assert code == 0, err
    policy = jaxrl.load_policy(best / "policy.msgpack")
    env, params = jaxrl.envs.make("Gridworld-v0")
    obs, _ = env.reset(jax.random.key(0), params)
    assert 0 <= int(policy(obs)) < 4


@pytest.mark.slow  # a rollout and its pictures compiled and drawn
def test_best_run_plays(swept):
    d = swept[0]
    best = d / json.loads((d / "sweep.json").read_text())["best_run"]
    code, out, err = main("play", best, "--max-steps", "3")
    assert code == 0, err
    assert "q_learning on Gridworld-v0, seed 0, greedy policy" in out
    assert (best / "play.txt").is_file() and (best / "play.gif").is_file()


def test_resume_of_a_kept_run_verifies_it_and_changes_nothing(swept):
    d = swept[0]
    target = d / "runs" / "lr=0.1,gamma=0.99"
    before = tree(target)
    code, out, err = main("train", "--resume", target, "-q")
    assert code == 0, err
    assert "already complete (8/8 updates); nothing to resume" in out
    assert tree(target) == before


@pytest.mark.slow  # one training run compiled besides the sweep
def test_a_kept_run_is_the_run_train_gives(swept):
    """Same keys: the kept run of lr=0.5, gamma=0.99 is ``jaxrl train --set lr=0.5 --set
    gamma=0.99 --seeds 2 --seed 3``'s run. Its final state is bit for bit the same here
    (tabular Q-learning); metrics agree to float rounding (two compiled programs)."""
    d = swept[0]
    kept = jaxrl.load(d / "runs" / "lr=0.5,gamma=0.99")
    trained = run.train("q_learning", "Gridworld-v0", seeds=2, seed=3, total_steps=2048,
                        config={"lr": 0.5, "gamma": 0.99})
    assert kept.spec.to_json() == trained.spec.to_json()
    for a, b in zip(jax.tree.leaves(kept.state), jax.tree.leaves(trained.state)):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for name in ("episode_return", "episodes", "env_steps"):
        np.testing.assert_array_equal(kept.metrics[name], trained.metrics[name], err_msg=name)
    np.testing.assert_allclose(kept.metrics["abs_td"], trained.metrics["abs_td"], rtol=1e-5)


def test_keep_best_1_keeps_exactly_the_best(tmp_path):
    d = tmp_path / "one"
    code, out, err = main(*SWEEP, "--out", d, "--keep", "best:1")
    assert code == 0, err
    best = best_by_csv(d)
    name = f"lr={best['lr']},gamma={best['gamma']}"
    assert [p.name for p in (d / "runs").iterdir()] == [name]
    index = json.loads((d / "sweep.json").read_text())
    assert index["runs"] == [{"label": f"lr={best['lr']:g}, gamma={best['gamma']:g}",
                              "setting": best, "dir": f"runs/{name}"}]
    assert len((d / "sweep.csv").read_text().splitlines()) == 1 + 4 * 2  # every setting's rows
    assert "the best 1 of 4 settings" in out
    assert f"best run: {d / 'runs' / name}" in out and f"jaxrl eval {d / 'runs' / name}" in out
    assert jaxrl.load(d / "runs" / name).config.gamma == best["gamma"]


@pytest.mark.slow  # one more sweep
def test_keep_none_writes_no_run(tmp_path):
    code, out, err = main(*SWEEP, "--out", tmp_path / "none", "--keep", "none")
    assert code == 0, err
    assert not (tmp_path / "none" / "runs").exists()
    assert json.loads((tmp_path / "none" / "sweep.json").read_text())["runs"] == []
    assert "no setting was kept as a run" in out


def test_overwrite_replaces_runs_and_keeps_a_users_files(swept, tmp_path):
    d = tmp_path / "sw"
    shutil.copytree(swept[0], d)
    target = d / "runs" / "lr=0.5,gamma=0.9"
    (target / "notes.txt").write_text("mine")
    old_ckpt = (target / "checkpoint.msgpack").stat().st_mtime_ns
    # Runs in the way (no sweep files: a sweep stopped while writing): refused, not replaced.
    for name in ("sweep.json", "sweep.csv", "sweep.png"):
        (d / name).unlink()
    code, _, err = main(*SWEEP, "--out", d)
    assert code == 2 and "already holds a run; pass --overwrite" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = main(*SWEEP, "--out", d, "--overwrite")
    assert code == 0, err
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "checkpoint.msgpack").stat().st_mtime_ns != old_ckpt
    assert jaxrl.load(target).complete
    assert not list((d / "runs").glob(".jaxrl*")) and not list(target.glob(".jaxrl*"))
    # A run's file that jaxrl did not write is never replaced: refused before compiling.
    (target / "summary.json").write_text('{"mine": 1}')
    code, _, err = main(*SWEEP, "--out", d, "--overwrite")
    assert code == 2 and "summary.json that jaxrl did not write" in err
    assert (target / "summary.json").read_text() == '{"mine": 1}'


@pytest.mark.parametrize("keep", ["best:0", "most", "best:x"])
def test_a_bad_keep_is_refused_in_one_line(keep, tmp_path):
    code, _, err = main(*SWEEP, "--out", tmp_path / "s", "--keep", keep)
    assert code == 2 and "--keep takes all, none or best:K" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="keep takes all, none or best:K"):
        sweep_mod.parse_keep(keep)


def test_runs_that_cannot_be_written_are_refused_before_compiling(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("compiled before refusing")

    monkeypatch.setattr(sweep_mod, "over_seeds", boom)
    env = jaxrl.envs.make("Gridworld-v0")
    with pytest.raises(ValueError, match=r"runs cannot be kept: .*\(env, params\) pair"):
        sweep_mod.sweep("q_learning", env, grid={"lr": [0.1]}, seeds=1, keep="all")
    with pytest.raises(ValueError, match="runs cannot be kept: the key is not an integer seed"):
        sweep_mod.sweep("q_learning", "Gridworld-v0", grid={"lr": [0.1]}, seeds=1,
                        key=jax.random.key(0), keep="best:1")


def test_library_runs_and_an_interrupted_save(swept, tmp_path, monkeypatch):
    result = dataclasses.replace(swept[1], _saved={}, _bad={})  # saved apart from the fixture's
    assert result.ranking[0] == result.best
    best = result.best_run
    assert best.config.lr == result.best_setting["lr"] and best.complete
    worst = dataclasses.replace(result, kept=(result.best,), _saved={}, _bad={},
                                states=jax.tree.map(lambda x: x[result.best:result.best + 1],
                                                    result.states))
    with pytest.raises(ValueError, match="was not kept as a run"):
        worst.run(result.ranking[-1])
    # Ctrl-C while writing the second run: the first is whole, the second leaves nothing,
    # and no sweep.json lists runs that are not there.
    from jaxrl.runs.rundir import RunDir

    calls = []
    real = RunDir.save_checkpoint

    def stop_second(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(RunDir, "save_checkpoint", stop_second)
    with pytest.raises(KeyboardInterrupt):
        result.save(tmp_path / "lib")
    names = result.run_names
    assert [p.name for p in (tmp_path / "lib" / "runs").iterdir()] == [names[0]]
    assert jaxrl.load(tmp_path / "lib" / "runs" / names[0]).complete
    assert not (tmp_path / "lib" / "sweep.json").exists()
    monkeypatch.setattr(RunDir, "save_checkpoint", real)
    with pytest.raises(run.RunError, match="already holds a run"):
        result.save(tmp_path / "lib")
    dirs = dataclasses.replace(result, _saved={}).save(tmp_path / "lib", overwrite=True)
    assert [p.name for p in dirs] == names


def test_how_many_runs_are_kept_and_the_disk_they_need(tmp_path, monkeypatch):
    """keep=None keeps all settings while their runs are small together, else the best
    that fit (said in a line); a count asked for that the disk cannot hold is refused in
    one line, before compiling."""
    auto = sweep_mod.KEEP_AUTO_BYTES
    assert sweep_mod._keep_count("auto", 0, 64, auto // 64, "") == (64, "")
    count, note = sweep_mod._keep_count("auto", 0, 64, auto // 10, "")
    assert count == 10 and "keeping the best 10 of 64 settings" in note and "--keep all" in note
    assert sweep_mod._keep_count("auto", 0, 64, 1, "an (env, params) pair") == (0, "")
    assert sweep_mod._keep_count("best", 5, 3, 1, "") == (3, "")
    assert sweep_mod._keep_count("all", 0, 64, 10 * auto, "") == (64, "")
    monkeypatch.setattr(sweep_mod, "_free_disk", lambda path: 10_000)
    assert sweep_mod._fit_disk(4, "", "all", 4, 2_000, tmp_path) == (4, "")
    with pytest.raises(run.RunError, match=r"keeping 8 setting\(s\) as runs needs about "
                                           r"16.0 kB of disk .*--keep best:K"):
        sweep_mod._fit_disk(8, "", "all", 8, 2_000, tmp_path)
    count, note = sweep_mod._fit_disk(8, "", "auto", 8, 2_000, tmp_path)
    assert count == 5 and "room for no more" in note
    # The command refuses before compiling, and writes nothing.
    monkeypatch.setattr(sweep_mod, "over_seeds", lambda *a, **k: pytest.fail("compiled"))
    code, _, err = main(*SWEEP, "--out", tmp_path / "s", "--keep", "all")
    assert code == 2 and "of disk" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "runs").exists()
