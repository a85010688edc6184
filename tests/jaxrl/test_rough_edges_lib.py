"""Issue 26, the library's rough edges a new user hit, each checked as the user met it.

1. ``jaxrl.train(algo, env=Corridor(6))`` and ``env=(env, params)``: the run directory
   names the class and its options when they rebuild it, else says so and takes the
   object back (``load``/``resume``/``export`` with ``env=``).
2. A callback whose ``on_chunk`` returns ``False`` stops the run after that chunk
   (checkpointed, resumable, ``Result.stopped_by``); ``StopOnReturn`` and
   ``--stop-at-return``.
3. A policy of a user's environment whose module is not importable: one line saying
   what is missing and how to supply it; ``load_policy(path, env=obj)`` then works.
4. ``jaxrl.enable_compile_cache()`` from Python (sealed entries, switched off again).
5. Short reprs of ``EvalResult`` and ``Policy``, the arrays still there.
6. Every ``jaxrl.X`` the README and docs use is reachable after ``import jaxrl``.

The algorithm is the test probe (``probe.py``: trains in milliseconds); the environment
the README's corridor, saved as a module of a temporary folder.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe import cached

import jaxrl
from jaxrl import cli
from jaxrl.errors import RunError
from jaxrl.runs import checkpoint as ckpt
from jaxrl.runs import run
from jaxrl.runs import rundir as R

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MODULE = "rough_edges_corridor"


@pytest.fixture
def probe(monkeypatch):
    """The probe algorithm, its programs kept in the test run's compile cache (the same
    program again is loaded, not compiled); no learning curves drawn."""
    from jaxrl.runs.result import Result

    monkeypatch.setattr(Result, "plot", lambda self, path=None, **kw: None)
    with cached() as name:
        yield name


@pytest.fixture(scope="module")
def corridor(tmp_path_factory):
    """The README's ``corridor.py`` as the importable module ``rough_edges_corridor``."""
    import importlib

    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S)
                 if "class Corridor" in b)
    folder = tmp_path_factory.mktemp("code")
    (folder / f"{MODULE}.py").write_text(block)
    sys.path.insert(0, str(folder))
    sys.modules.pop(MODULE, None)
    try:
        yield importlib.import_module(MODULE)
    finally:
        sys.modules.pop(MODULE, None)
        sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def corridor_run(corridor, tmp_path_factory):
    """``jaxrl.train(probe, env=Corridor(6), seeds=2, out_dir=...)``, once for the module."""
    from jaxrl.runs.result import Result

    out = tmp_path_factory.mktemp("runs") / "corridor"
    with pytest.MonkeyPatch.context() as patch, cached() as name:
        patch.setattr(Result, "plot", lambda self, path=None, **kw: None)
        result = jaxrl.train(name, env=corridor.Corridor(6), seeds=2, out_dir=out)
    return result


def _spec(path: pathlib.Path) -> dict:
    return json.loads((path / R.CONFIG_FILE).read_text())


# ------------------------------------------------------------------------------ 1
def test_train_takes_an_environment_object_and_names_it_in_the_run(probe, corridor,
                                                                   corridor_run):
    out = corridor_run.run_dir
    spec = _spec(out)
    # As `--env rough_edges_corridor:Corridor --env-option length=6` stores it.
    assert spec["env"] == f"{MODULE}:Corridor" and spec["env_options"] == {"length": 6}
    assert spec["env_fingerprint"] == run.env_fingerprint(
        *run.make_env(f"{MODULE}:Corridor", {"length": 6}))
    assert corridor_run.env.length == 6
    # An (env, params) pair: params fields that differ are options too.
    pair = jaxrl.train(probe, env=(corridor.Corridor(5), corridor.Params(max_steps_in_episode=9)))
    assert pair.spec.env_options == {"length": 5, "max_steps_in_episode": 9}
    assert pair.env_params.max_steps_in_episode == 9
    # Read back by name, no object needed (the module is imported: trusted).
    loaded = jaxrl.load(out)
    assert loaded.env.length == 6 and loaded.spec.env == f"{MODULE}:Corridor"
    with pytest.raises(RunError, match="env_options apply to an environment named"):
        jaxrl.train(probe, env=corridor.Corridor(6), env_options={"length": 3})
    with pytest.raises(RunError, match="an envs.core.Environment or an"):
        jaxrl.train(probe, env=42)


def test_an_environment_no_name_rebuilds_is_saved_with_a_note_and_taken_back(
        probe, corridor, tmp_path, capsys):
    class Walled(corridor.Corridor):  # defined in a function: no name rebuilds it
        pass

    Walled.__module__ = "__main__"  # as in a user's script
    out = tmp_path / "main"
    first = jaxrl.train(probe, env=Walled(4), out_dir=out, stop_after=5)
    err = capsys.readouterr().err
    label = "<__main__.test_an_environment_no_name_rebuilds_is_saved_with_a_note_and_" \
            "taken_back.<locals>.Walled instance>"
    assert first.spec.env == label and _spec(out)["env"] == label
    notes = [line for line in err.splitlines() if "no name rebuilds" in line]
    assert len(notes) == 1 and "defined in __main__" in notes[0] and "env=" in notes[0]
    with pytest.raises(RunError, match=r"pass it back: jaxrl.load\(\.\.\., env="):
        jaxrl.load(out)
    with pytest.raises(RunError, match=r"jaxrl.resume\(\.\.\., env="):
        jaxrl.resume(out)
    with pytest.raises(RunError, match="not the one .* was trained on"):
        jaxrl.load(out, env=Walled(5))
    loaded = jaxrl.load(out, env=Walled(4))
    assert loaded.updates_done == 5 and loaded.env.length == 4
    done = jaxrl.resume(out, env=Walled(4))
    whole = jaxrl.train(probe, env=Walled(4))
    assert done.complete
    np.testing.assert_array_equal(np.asarray(done.state.w), np.asarray(whole.state.w))
    policy = jaxrl.load_policy(jaxrl.export(out, env=Walled(4)), env=Walled(4))
    assert int(policy(jnp.eye(4)[0])) == 0


# ------------------------------------------------------------------------------ 2
class _StopAt:
    """Stops once ``at`` updates are done (returns False), counts its calls."""

    def __init__(self, at: int, answer_before: object = None):
        self.at, self.answer_before, self.calls = at, answer_before, []

    def on_start(self, info):
        pass

    def on_chunk(self, first_update, metrics):
        last = first_update + metrics["env_steps"].shape[1] - 1
        self.calls.append(last)
        return False if last >= self.at else self.answer_before

    def on_checkpoint(self, updates_done):
        pass

    def on_end(self, summary):
        self.summary = dict(summary)


def test_a_callback_returning_false_stops_the_run_after_that_chunk(probe, tmp_path):
    out = tmp_path / "stopped"
    cb = _StopAt(4)
    # 13 updates, 2 per chunk: the callback asks after update 4; nothing more runs.
    result = jaxrl.train(probe, env="CartPole-v1", seeds=2, chunk_updates=2,
                         checkpoint_every=0, out_dir=out, callbacks=[cb])
    assert result.updates_done == 4 and not result.complete
    assert cb.calls == [2, 4]
    assert result.stopped_by == "_StopAt.on_chunk returned False after update 4"
    assert "stopped after 4 of 13 updates: _StopAt" in result.summary()
    assert "stopped early" in repr(result)
    assert cb.summary["updates_done"] == 4
    assert ckpt.read_header(out / R.CHECKPOINT_FILE)["updates_done"] == 4
    assert json.loads((out / R.SUMMARY_FILE).read_text())["stopped_by"] == result.stopped_by
    assert jaxrl.load(out).stopped_by == result.stopped_by
    # Resumable, to the same bits as a run never stopped.
    resumed = jaxrl.resume(out)
    whole = jaxrl.train(probe, env="CartPole-v1", seeds=2, chunk_updates=2)
    assert resumed.complete and resumed.stopped_by is None
    np.testing.assert_array_equal(np.asarray(resumed.state.w), np.asarray(whole.state.w))
    assert jaxrl.load(out).stopped_by is None
    # None and True go on.
    going = jaxrl.train(probe, env="CartPole-v1", seeds=2, chunk_updates=2,
                        callbacks=[_StopAt(10**6, None), _StopAt(10**6, True)])
    assert going.complete and going.stopped_by is None


def test_stop_on_return_decides_on_a_full_window_of_pooled_episodes():
    from jaxrl.output.logging import StopOnReturn

    def chunk(returns, episodes):
        return {"episode_return": np.array(returns, float), "episodes": np.array(episodes)}

    mean = StopOnReturn(10.0, window=3)
    mean.on_start(None)
    assert mean.on_chunk(1, chunk([[20, 20], [np.nan, np.nan]], [[1, 1], [0, 0]])) is True
    assert mean.on_chunk(3, chunk([[0], [np.nan]], [[2], [0]])) is True  # seed 1: none yet
    # Updates 2-4 pooled: seed 0 (20 + 2 * 0 + 40) / 4 = 15, seed 1 12: mean 13.5.
    assert mean.on_chunk(4, chunk([[40], [12]], [[1], [1]])) is False
    assert mean.stop_reason == ("StopOnReturn: mean return over seeds 13.5 >= 10 "
                                "(episodes of updates 2-4)")
    mean.on_start(None)  # a new run: nothing seen
    assert mean.stop_reason is None and mean.on_chunk(1, chunk([[40]], [[1]])) is True
    every = StopOnReturn(12.0, over="all seeds", window=3)
    assert every.on_chunk(1, chunk([[20, 20, 0], [20, 20, 8]], [[1, 1, 2], [1, 1, 1]])) is True
    assert every.on_chunk(4, chunk([[52], [30]], [[1], [1]])) is False  # 18 and 19.3
    with pytest.raises(RunError, match="finite target"):
        StopOnReturn(float("nan"))
    with pytest.raises(RunError, match="'mean' or 'all seeds'"):
        StopOnReturn(1.0, over="median")


def test_stop_at_return_flag_stops_a_cli_run(probe, tmp_path, capsys):
    out = tmp_path / "cli"
    # The probe's returns are sums of three tanh values (> -4): -100 is reached as soon
    # as a full window (10 updates) is seen, after update 10 of 13.
    code = cli.main(["train", probe, "--env", "CartPole-v1", "--chunk", "2", "-q",
                     "--checkpoint-every", "0",
                     "--stop-at-return", "-100", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert ckpt.read_header(out / R.CHECKPOINT_FILE)["updates_done"] == 10
    assert "StopOnReturn: mean return over seeds" in printed
    assert "continue with: jaxrl train --resume" in printed
    assert cli.main(["train", probe, "--stop-at-return", "nan", "--out",
                     str(tmp_path / "x")]) == 2
    assert "finite target" in capsys.readouterr().err


# ------------------------------------------------------------------------------ 3
def test_a_policy_whose_environment_module_is_missing_says_how_to_supply_it(
        probe, corridor, corridor_run, monkeypatch):
    path = jaxrl.export(corridor_run)
    Corridor = corridor.Corridor
    # Elsewhere: the module is neither imported nor on the path.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "code" not in p])
    monkeypatch.delitem(sys.modules, MODULE)
    with pytest.raises(RunError) as e:
        jaxrl.load_policy(path)
    text = str(e.value)
    assert "\n" not in text
    assert f"whose module '{MODULE}' cannot be imported here" in text
    assert "PYTHONPATH" in text and "jaxrl.load_policy(path, env=Corridor(...))" in text
    policy = jaxrl.load_policy(path, env=Corridor(6))
    assert policy.env == f"{MODULE}:Corridor"
    assert np.asarray(policy(jnp.eye(6))).shape == (6,)
    with pytest.raises(RunError, match="not the one .* was trained on"):
        jaxrl.load_policy(path, env=Corridor(7))


# ------------------------------------------------------------------------------ 4
def test_compile_cache_switched_on_and_off_from_python(probe, tmp_path, monkeypatch):
    from jax._src import compilation_cache as cc

    from jaxrl.runs import compile_cache

    assert "compile_cache" in jaxrl.enable_compile_cache.__module__
    assert "jaxrl.enable_compile_cache()" in README
    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes", "jax_compilation_cache_max_size")
    saved = {n: getattr(jax.config, n) for n in names}
    cache = tmp_path / "xla"
    monkeypatch.setenv("JAXRL_CACHE_DIR", str(cache))
    try:
        assert jaxrl.enable_compile_cache() == str(cache)
        assert jax.config.jax_compilation_cache_dir == str(cache)
        jax.config.update(names[1], 0.0)  # the probe compiles in well under a second
        jaxrl.train(probe, env="CartPole-v1", chunk_updates=11, lr=0.123)
        entries = list(cache.glob("*-cache"))
        assert entries
        assert all(p.read_bytes().startswith(compile_cache.ENTRY_MAGIC) for p in entries)
        assert jaxrl.enable_compile_cache(False) is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        for n, v in saved.items():
            jax.config.update(n, v)
        cc.reset_cache()


# ------------------------------------------------------------------------------ 5
def test_evaluation_and_policy_print_in_one_short_line(probe, corridor_run):
    evaluation = corridor_run.evaluate(episodes=3, max_steps=7)
    text = repr(evaluation)
    assert "\n" not in text and len(text) < 160, text
    assert text.startswith("EvalResult(2 seeds x 3 episodes: return 0 ± 0 over seeds")
    assert "mean length 7" in text and "win rate" not in text  # action 0: never wins
    assert evaluation.returns.shape == (2, 3) and evaluation.initial_state is not None
    assert str(evaluation) == text
    policy = jaxrl.load_policy(jaxrl.export(corridor_run))
    text = repr(policy)
    assert "\n" not in text and len(text) < 200, text
    assert text.startswith(f"Policy(_probe on {MODULE}:Corridor, observations Box")
    assert "actions Discrete(2)" in text and f"seed {policy.seed} of 2" in text
    assert jax.tree.leaves(policy.states)[0].shape[0] == 2


# ------------------------------------------------------------------------------ 6
def test_documented_top_level_names_are_reachable_without_importing_jax():
    docs = README + "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    names = set(re.findall(r"(?<![\w./-])jaxrl\.(?!md\b)([A-Za-z_]\w*)", docs))
    names |= {"result", "policy", "Result", "Policy", "enable_compile_cache"}
    code = ("import sys, jaxrl; names = dir(jaxrl); "
            "assert 'jax' not in sys.modules, 'import jaxrl imported jax'; "
            f"missing = [n for n in {sorted(names)!r} if n not in names]; "
            "assert not missing, missing; "
            "jaxrl.gymnasium_plugin; assert 'jax' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in sorted(names):
        assert getattr(jaxrl, name) is not None, name
    assert jaxrl.result.Result is jaxrl.Result
    with pytest.raises(AttributeError, match=r"did you mean jaxrl.runs.sweep\?"):
        jaxrl.sweep  # noqa: B018
    assert not hasattr(jaxrl, "no_such_thing")
