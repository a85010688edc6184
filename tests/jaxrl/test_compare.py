"""``jaxrl compare`` / ``jaxrl.compare``: rliable's numbers, on runs and sweeps, honestly.

The statistics are checked against rliable called directly on the same score matrices
with the same NumPy seed (hand-made arrays: no training). The runs are the test-only
probe algorithm (``probe.py``: trains in milliseconds), saved once per module: two
settings on CartPole-v1, one on MountainCar-v0 (with fewer seeds), a stopped run,
a run with masked seeds, an old sweep (final returns in sweep.csv) and a sweep in the
new layout (``sweep.json`` lists one run directory per setting). A real sweep and
``--evaluate`` (each a compile more) are ``slow``.
"""

from __future__ import annotations

import inspect
import itertools
import json
import shutil
import sys

import numpy as np
import pytest
from probe import ProbeConfig, cached

import jaxrl
from jaxrl import cli
from jaxrl.errors import RunError
from jaxrl.output import files
from jaxrl.runs.compare import FIGURES, JSON_FILE, compare, compare_scores
from jaxrl.runs.result import Result

REPS = 60  # small: the same seed gives the same intervals at any count


def rliable_or_skip():
    pytest.importorskip("rliable")
    from rliable import library, metrics

    return library, metrics


def direct(scores: dict, seed: int, reps: int = REPS, gap: bool = False):
    """rliable itself on ``scores``: the aggregates, then every ordered pair."""
    library, metrics = rliable_or_skip()
    funcs = [metrics.aggregate_iqm, metrics.aggregate_median, metrics.aggregate_mean]
    funcs += [metrics.aggregate_optimality_gap] if gap else []
    np.random.seed(seed)
    point, ci = library.get_interval_estimates(
        scores, lambda x: np.array([f(x) for f in funcs]), reps=reps)
    np.random.seed(seed)
    pairs = {f"{x},{y}": (scores[x], scores[y]) for x, y in itertools.permutations(scores, 2)}
    poi, poi_ci = library.get_interval_estimates(
        pairs, metrics.probability_of_improvement, reps=reps) if pairs else ({}, {})
    return point, ci, poi, poi_ci


def same_as_rliable(result, seed: int, gap: bool = False) -> None:
    point, ci, poi, poi_ci = direct(result.scores, seed, result.reps, gap)
    for a in result.agents:
        np.testing.assert_array_equal(result.point[a], point[a])
        np.testing.assert_array_equal(result.interval[a], ci[a])
    assert len(result.pairs) == len(poi)
    for p in result.pairs:
        assert p.probability == poi[f"{p.x},{p.y}"]
        assert [p.low, p.high] == list(np.ravel(poi_ci[f"{p.x},{p.y}"]))


# ------------------------------------------------------------------- statistics alone
def test_statistics_are_rliables_own():
    rliable_or_skip()
    rng = np.random.default_rng(3)
    scores = {"a": rng.normal(size=(8, 1)), "b": rng.normal(0.8, 1.0, size=(5, 1)),
              "c": rng.normal(0.1, 0.2, size=(6, 1))}  # ragged: rliable takes that
    state = np.random.get_state()
    result = compare_scores(scores, ["T"], reps=REPS, seed=7)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the caller's generator kept
    assert result.metrics == ["IQM", "median", "mean"]
    same_as_rliable(result, 7)
    # each statistic alone gives the same numbers (the bootstrap draws do not depend on it)
    library, metrics = rliable_or_skip()
    np.random.seed(7)
    point, ci = library.get_interval_estimates(scores, metrics.aggregate_iqm, reps=REPS)
    assert ci["a"].ravel().tolist() == result.interval["a"][:, 0].tolist()
    # a pair alone, as rliable's README computes it, is the first pair's numbers
    np.random.seed(7)
    poi, poi_ci = library.get_interval_estimates(
        {"a,b": (scores["a"], scores["b"])}, metrics.probability_of_improvement, reps=REPS)
    first = result.pairs[0]
    assert (first.x, first.y, first.probability) == ("a", "b", poi["a,b"])
    # the points are what the formulas say
    assert result.point["b"][2] == pytest.approx(scores["b"].mean())
    ordered = np.sort(scores["a"].ravel())
    assert result.point["a"][0] == pytest.approx(ordered[2:6].mean())
    # ordered pairs are complementary
    by = {(p.x, p.y): p for p in result.pairs}
    assert by["a", "b"].probability + by["b", "a"].probability == pytest.approx(1.0)
    assert result.pairs[0].significant == (result.pairs[0].low > 0.5 or result.pairs[0].high < 0.5)
    # another seed, other intervals
    assert not np.array_equal(compare_scores(scores, reps=REPS, seed=8).interval["a"],
                              result.interval["a"])


def test_statistics_significance_normalised_and_few_runs():
    rliable_or_skip()
    rng = np.random.default_rng(0)
    scores = {"good": rng.uniform(0.8, 1.0, size=(10, 2)),
              "bad": rng.uniform(0.0, 0.2, size=(10, 2))}
    result = compare_scores(scores, ["X", "Y"], reps=REPS, seed=1,
                            reference={"X": (0, 1), "Y": (0, 1)})
    assert result.metrics[-1] == "optimality gap"
    same_as_rliable(result, 1, gap=True)
    by = {(p.x, p.y): p for p in result.pairs}
    assert by["good", "bad"].significant and by["good", "bad"].low > 0.5
    assert by["bad", "good"].significant and by["bad", "good"].high < 0.5
    text = str(result)
    assert text.count("yes, good better") == 2 and "normalised" in text
    # one or two runs: numbers still come, with a warning instead of a crash
    few = compare_scores({"one": np.array([1.0]), "two": np.array([0.5, 2.0])}, reps=REPS)
    assert few.interval["one"][0, 0] == few.interval["one"][1, 0] == 1.0
    assert sum("say little" in n for n in few.notes) == 2
    for bad in ({"a": np.array([1.0, np.nan])}, {"a": np.ones((3, 2)), "b": np.ones((3, 1))}):
        with pytest.raises(RunError):
            compare_scores(bad)
    with pytest.raises(RunError, match="reps"):
        compare_scores({"a": np.ones(3)}, reps=0)


# ------------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    made = {}
    with cached(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(Result, "plot", lambda self, path=None, **kw: None)  # curves: not needed
        for name, env, lr, seeds, extra in [
            ("lo", "CartPole-v1", 0.1, 5, {}),
            ("hi", "CartPole-v1", 0.5, 5, {}),
            ("mc_lo", "MountainCar-v0", 0.1, 4, {}),
            ("part", "CartPole-v1", 0.1, 5, {"stop_after": 6}),
            ("masked", "CartPole-v1", 0.1, 6, {"config": {"nan_at": 4, "nan_share": 0.5},
                                               "on_nonfinite": "mask"}),
        ]:
            made[name] = jaxrl.train("_probe", env=env, seeds=seeds, total_steps=28,
                                     out_dir=root / name, lr=lr, **extra)
    shutil.copytree(root / "mc_lo", root / "mc_again")  # a second agent's MountainCar run
    # a sweep as jaxrl wrote it before settings were kept: no "runs", sweep.csv without "run"
    old = root / "old_sweep"
    old.mkdir()
    (old / "sweep.json").write_text(json.dumps({
        "algorithm": "_probe", "env": "CartPole-v1", "grid": {"lr": [0.1, 0.5]},
        "final_window": 1, "best": {"lr": 0.5}}))
    lines = ["lr,seed,final_return"] + [f"{lr!r},{s},{float(made[name].final_return[s])!r}"
                                        for name, lr in (("lo", 0.1), ("hi", 0.5))
                                        for s in range(5)]
    (old / "sweep.csv").write_text("\n".join(lines) + "\n")
    # a sweep as jaxrl writes it now: one run directory per setting, listed in sweep.json
    new = root / "new_sweep"
    (new / "runs").mkdir(parents=True)
    entries = []
    for name, lr in (("lo", 0.1), ("hi", 0.5)):
        shutil.copytree(root / name, new / "runs" / f"lr{lr}")
        entries.append({"label": f"lr={lr:g}", "setting": {"lr": lr}, "dir": f"runs/lr{lr}"})
    (new / "sweep.json").write_text(json.dumps({
        "algorithm": "_probe", "env": "CartPole-v1", "grid": {"lr": [0.1, 0.5]},
        "final_window": 1, "runs": entries}))
    return root, made


@pytest.fixture
def at(runs, monkeypatch):
    """Inside the runs' folder, ``"_probe"`` registered."""
    root, _ = runs
    monkeypatch.chdir(root)
    with cached():
        yield root


@pytest.mark.heavy
def test_runs_give_rliables_numbers_of_their_final_returns(runs, at):
    _, made = runs
    result = jaxrl.compare(["lo", "hi"], reps=REPS, seed=3)
    assert result.agents == ["_probe lr=0.1", "_probe lr=0.5"]  # told apart by their config
    assert result.tasks == ["CartPole-v1"]
    for agent, name in zip(result.agents, ("lo", "hi")):
        np.testing.assert_array_equal(result.scores[agent][:, 0], made[name].final_return)
        np.testing.assert_array_equal(result.scores[agent][:, 0],
                                      jaxrl.load(name).final_return)
    same_as_rliable(result, 3)
    assert "final return" in result.score_kind and "5%" in result.score_kind


def test_cli_prints_the_table_and_writes_figures_and_json(runs, at, capsys):
    out = at / "figs"
    assert cli.main(["compare", "A=lo", "B=hi", "--reps", str(REPS), "--seed", "2",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "IQM [95% CI]" in text and "P(X > Y)" in text and "--seed 2" in text
    assert text.splitlines()[-1].startswith("wrote ")
    for name in FIGURES:
        assert (files.png_software(out / name) or "").startswith(f"jaxrl {jaxrl.__version__}")
    saved = json.loads((out / JSON_FILE).read_text())
    lib = jaxrl.compare(["A=lo", "B=hi"], reps=REPS, seed=2)
    assert saved["agents"] == ["A", "B"] and saved["reps"] == REPS and saved["seed"] == 2
    assert saved["results"]["A"]["IQM"]["point"] == lib.point["A"][0]
    assert saved["results"]["B"]["mean"]["high"] == lib.interval["B"][1, 2]
    assert saved["probability_of_improvement"][0]["probability"] == lib.pairs[0].probability
    same_as_rliable(lib, 2)
    # --json prints the same dictionary
    assert cli.main(["compare", "A=lo", "B=hi", "--reps", str(REPS), "--seed", "2",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == saved["results"]
    # again: refused without --overwrite; replaced with it; a user's file never
    assert cli.main(["compare", "lo", "--reps", "20", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["compare", "lo", "--reps", "20", "--out", str(out), "--overwrite"]) == 0
    (out / FIGURES[0]).write_bytes(b"my picture")
    assert cli.main(["compare", "lo", "--reps", "20", "--out", str(out), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (out / FIGURES[0]).read_bytes() == b"my picture"
    # never into a run directory
    assert cli.main(["compare", "lo", "--reps", "20", "--out", "hi"]) == 2
    assert "run or sweep directory" in capsys.readouterr().err
    assert not (at / "hi" / JSON_FILE).exists()


def test_several_environments_need_a_reference(runs, at, capsys):
    _, made = runs
    two = ["x=lo", "x=mc_lo", "y=hi", "y=mc_again"]
    assert cli.main(["compare", *two, "--reps", "20"]) == 2
    err = capsys.readouterr().err
    assert "--reference ENV=LOW:HIGH" in err and len(err.strip().splitlines()) == 1
    ref = {"CartPole-v1": (-3.0, 3.0), "MountainCar-v0": (-2.0, 4.0)}
    result = jaxrl.compare(two, reference=ref, reps=REPS, seed=5)
    assert result.tasks == ["CartPole-v1", "MountainCar-v0"] and result.normalized
    np.testing.assert_allclose(result.scores["y"][:, 1], (made["mc_lo"].final_return + 2) / 6)
    np.testing.assert_allclose(result.scores["x"][:, 0], (made["lo"].final_return[:4] + 3) / 6)
    assert result.scores["x"].shape == (4, 2)  # 5 and 4 seeds: the first 4 of each, said so
    assert any("first 4" in n for n in result.notes)
    same_as_rliable(result, 5, gap=True)
    # the same from the command line
    assert cli.main(["compare", *two, "--reps", str(REPS), "--seed", "5", "--json",
                     "--reference", "CartPole-v1=-3:3", "--reference", "MountainCar-v0=-2:4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"]["x"]["optimality gap"]["point"] == result.point["x"][3]
    for bad, words in ((["--reference", "CartPole-v1=0-500"], "ENV=LOW:HIGH"),
                       (["--reference", "Pong=0:1"], "no run trained on"),
                       (["--reference", "CartPole-v1=1:1"], "differ")):
        assert cli.main(["compare", "lo", "--reps", "20", *bad]) == 2
        assert words in capsys.readouterr().err


def test_incomplete_runs_and_masked_seeds_are_left_out_with_a_note(runs, at):
    _, made = runs
    result = compare(["lo", "part"], reps=20)
    assert result.agents == ["_probe"] and result.scores["_probe"].shape == (5, 1)
    assert any("part stopped after 6 of 14 updates" in n for n in result.notes)
    both = compare(["a=lo", "b=part"], reps=20, include_incomplete=True)
    assert both.agents == ["a", "b"] and any("incomplete" in n for n in both.notes)
    masked = compare(["masked"], reps=20)
    bad = made["masked"].bad_seeds
    assert 0 < len(bad) < 6 and masked.scores["_probe"].shape == (6 - len(bad), 1)
    assert any(f"seed(s) {', '.join(map(str, bad))}" in n for n in masked.notes)


def test_sweeps_old_and_new(runs, at):
    _, made = runs
    old = compare(["old_sweep"], reps=REPS, seed=4)
    assert old.agents == ["_probe lr=0.1", "_probe lr=0.5"]
    for agent, name in zip(old.agents, ("lo", "hi")):
        np.testing.assert_array_equal(old.scores[agent][:, 0], made[name].final_return)
    same_as_rliable(old, 4)
    new = compare(["new_sweep", "mine=hi"], reps=REPS, seed=4)
    assert new.agents == ["_probe lr=0.1", "_probe lr=0.5", "mine"]
    np.testing.assert_array_equal(new.scores["_probe lr=0.5"], new.scores["mine"])
    same_as_rliable(new, 4)
    with pytest.raises(RunError, match="drop --evaluate"):
        compare(["old_sweep"], evaluate=2)


def test_bad_input_is_one_line(runs, at, capsys):
    (at / "empty").mkdir(exist_ok=True)
    damaged = at / "damaged"
    if not damaged.exists():
        shutil.copytree(at / "lo", damaged)
        (damaged / "config.json").write_text("{not json")
    for args, words in ((["nowhere"], "does not exist"),
                        (["empty"], "neither a run directory"),
                        (["damaged"], "not valid JSON"),
                        (["lo", "lo"], "given twice"),
                        (["=lo"], "needs a name"),
                        (["lo", "--reps", "0"], "--reps must be >= 1"),
                        (["lo", "--evaluate", "x"], "--evaluate takes an integer")):
        assert cli.main(["compare", *args]) == 2, args
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, (args, err)
    assert cli.main(["compare", "nowhere", "--out", "figs-never"]) == 2
    assert not (at / "figs-never").exists()  # --out is created only when there is a result
    # a damaged summary.json only loses the timings: the scores come from the metrics
    shutil.copytree(at / "hi", at / "nosummary", dirs_exist_ok=True)
    (at / "nosummary" / "summary.json").write_text("{broken")
    assert compare(["nosummary"], reps=20).scores["_probe"].shape == (5, 1)


@pytest.mark.slow  # compiles the evaluation program
def test_evaluate_scores_greedy_episodes(runs, at):
    _, made = runs
    result = compare(["lo"], evaluate=2, reps=20)
    ev = made["lo"].evaluate(episodes=2, greedy=True, seed=0)
    np.testing.assert_allclose(result.scores["_probe"][:, 0], np.asarray(ev.returns).mean(axis=1))
    assert "2 greedy episode(s)" in result.score_kind


def test_without_rliable_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "rliable", None)  # import rliable -> ImportError
    assert callable(jaxrl.compare) and "compare" in jaxrl.__all__
    assert cli.main(["compare", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == 'jaxrl: error: comparing runs needs rliable: pip install "jaxrl[compare]"'


@pytest.mark.slow  # a real sweep: compiles its program, writes a run per setting
def test_a_sweep_as_jaxrl_writes_it(tmp_path, monkeypatch):
    rliable_or_skip()
    from jaxrl.runs.sweep import sweep

    monkeypatch.chdir(tmp_path)
    with cached():
        keep = {"keep": "all"} if "keep" in inspect.signature(sweep).parameters else {}
        result = sweep("_probe", "CartPole-v1", ProbeConfig(total_timesteps=28),
                       grid={"lr": [0.1, 0.5]}, seeds=4, **keep)
        (tmp_path / "sw").mkdir()
        result.save(tmp_path / "sw")
        got = compare(["sw"], reps=REPS, seed=4)
    assert got.agents == ["_probe lr=0.1", "_probe lr=0.5"]
    np.testing.assert_allclose(np.stack([got.scores[a][:, 0] for a in got.agents]),
                               result.final_returns, rtol=1e-5)
    same_as_rliable(got, 4)
