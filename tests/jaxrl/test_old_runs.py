"""Run directories written by the code before the layer restructuring still work.

``tests/fixtures/old_runs/`` holds run directories written by jaxrl at commit 3465f23
(flat modules, top-level ``envs``; how: ``tests/fixtures/old_runs/README.txt``). With
today's code each must load, evaluate (to the very numbers the old code gave), play,
export (a policy that acts as the old code's export of the same run), and the stopped
ones resume to the end bit-identical to the same run trained by the old code without a
stop (its metrics, summary and whole training state); under another jax than the one that
wrote the fixtures, bit-identical to the old code's own resume under that jax (digests).

Only the public API is used (``jaxrl.load``, ``jaxrl.resume``, ``Result.evaluate``,
``jaxrl.export``, ``jaxrl.load_policy``, and ``jaxrl eval/play/export`` as commands), and
every fixture is copied to a temporary directory first: the fixtures are never written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jaxlib
import numpy as np
import pytest

import jaxrl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "old_runs"

# Stopped run -> the same run trained by the old code without a stop.
RESUMABLE = {
    "ppo_cartpole_stopped": "ppo_cartpole_golden",
    "dqn_cartpole_stopped": "dqn_cartpole_golden",
    "ppo_icm_maze_stopped": "ppo_icm_maze_golden",
    "bandit_stopped": "bandit_finished",
}
FINISHED = ("ppo_cartpole_golden", "dqn_cartpole_golden", "ppo_icm_maze_golden",
            "bandit_finished", "q_learning_taxi_finished")
RUNS = sorted([*RESUMABLE, *FINISHED])
EXPECTED = json.loads((FIXTURES / "expected_eval.json").read_text())
# summary.json's numbers that do not depend on timing.
SUMMARY_NUMBERS = ("updates_done", "num_updates", "env_steps_per_seed", "final_is_reward_per_step",
                   "final_return", "final_return_mean", "final_return_std", "bad_seeds")
CLI_RUN = "q_learning_taxi_finished"  # the run the commands are tried on (cheapest)
_WROTE = EXPECTED["written_by"]
# The old code's numbers are those of the jax/jaxlib that ran it: another XLA build
# computes the same run differently in the last bits (jax 0.10.2 resumes all four stopped
# runs to other bits than these 0.9.2 goldens, e.g. DQN's q_mean by 1e-7). So under
# another jax a resumed run is held to the digests of the old code's own resume under that
# jax (resumed_by_old_code.json, written by old_resume_digests.py beside it); a jax with
# none there skips the bitwise comparison, saying so, and everything else still runs.
SAME_JAX = (jax.__version__, jaxlib.__version__) == (_WROTE["jax"], _WROTE["jaxlib"])
JAX_KEY = f"jax {jax.__version__} jaxlib {jaxlib.__version__}"
RESUMED_BY_OLD = json.loads((FIXTURES / "resumed_by_old_code.json").read_text())
OTHER_JAX = (f"the old code's numbers here are for {', '.join(sorted(RESUMED_BY_OLD))}; this is "
             f"{JAX_KEY}: bitwise comparison with them skipped (add this jax: "
             f"tests/fixtures/old_runs/old_resume_digests.py)")
# Said with every bitwise failure, in case it is the machine that differs, not the code.
NOTE = (f"(the fixtures were written by jax {_WROTE['jax']}, jaxlib {_WROTE['jaxlib']} on "
        f"'{_WROTE['cpu']}', devices {_WROTE['devices']}; this is jax {jax.__version__} on "
        f"devices {jax.devices()}; see tests/fixtures/old_runs/README.txt)")


# ------------------------------------------------------------------------------ helpers
def read_csv(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """``metrics.csv`` as its columns and ``{column: float64[seeds, updates]}``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], np.array(rows[1:], dtype=np.float64)
    assert header[:2] == ["update", "seed"], header
    seeds = int(body[:, 1].max()) + 1
    out = {name: body[:, i].reshape(-1, seeds).T for i, name in enumerate(header)}
    np.testing.assert_array_equal(out["seed"], np.arange(seeds)[:, None] + 0 * out["seed"])
    return header, out


def leaves(state) -> list[np.ndarray]:
    """Every leaf of a training state as a NumPy array (typed keys as their key data)."""
    out = []
    for x in jax.tree.leaves(state):
        dtype = getattr(x, "dtype", None)
        if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x))
    return out


def leaf_digests(state) -> list[str]:
    """SHA-256 of every leaf (dtype, shape and bytes; typed keys as key data), sorted.
    As tests/fixtures/old_runs/old_resume_digests.py computes them."""
    out = []
    for a in leaves(state):
        a = np.ascontiguousarray(a)
        out.append(hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest())
    return sorted(out)


def assert_same_state(got, want, what: str) -> None:
    g, w = leaves(got), leaves(want)
    assert jax.tree.structure(got) == jax.tree.structure(want), what
    assert len(g) == len(w), what
    for i, (a, b) in enumerate(zip(g, w)):
        assert a.dtype == b.dtype and a.shape == b.shape, (what, i, a.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: leaf {i} {NOTE}")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def spec_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())


def observations(result, n: int = 64) -> np.ndarray:
    """``n`` observations in the run's observation space (NumPy: nothing to compile)."""
    space = result.env.observation_space(result.env_params)
    if hasattr(space, "n"):  # Discrete: every state
        return np.arange(int(space.n), dtype=space.dtype)
    shape = tuple(space.shape)
    low = np.broadcast_to(np.asarray(space.low, np.float64), shape)
    high = np.broadcast_to(np.asarray(space.high, np.float64), shape)
    low, high = np.where(np.isfinite(low), low, -3.0), np.where(np.isfinite(high), high, 3.0)
    return np.random.default_rng(0).uniform(low, high, (n, *shape)).astype(space.dtype)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    """One copy of every fixture for loading, evaluating and exporting (never resumed)."""
    root = tmp_path_factory.mktemp("old_runs")
    for name in RUNS:
        shutil.copytree(FIXTURES / name, root / name)
    return root


@pytest.fixture(scope="module")
def loaded(copies):
    """``name -> jaxrl.load(copy)``, each loaded once for the whole module."""
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = jaxrl.load(copies / name)
        return cache[name]
    return get


@pytest.fixture(scope="module", autouse=True)
def fixtures_untouched():
    """No test writes into tests/fixtures/old_runs (each works on a copy)."""
    before = tree_digest(FIXTURES)
    yield
    assert tree_digest(FIXTURES) == before, "a test changed tests/fixtures/old_runs"


class Commands:
    """``jaxrl eval``, ``play`` and ``export`` on a copy of ``CLI_RUN``, as subprocesses
    started together (each only reads the run; export replaces policy.msgpack atomically)."""

    def __init__(self, root: Path):
        self.root, self.run_dir = root, root / CLI_RUN
        shutil.copytree(FIXTURES / CLI_RUN, self.run_dir)
        env = dict(os.environ, JAXRL_CACHE_DIR="off")
        # The commands import the same jaxrl as this test.
        here = str(Path(jaxrl.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [env.get("PYTHONPATH")])])
        run = str(self.run_dir)
        self.args = {
            "eval": ["eval", run, "--episodes", "2", "--max-steps", "20"],
            "play": ["play", run, "--out", str(root / "play"), "--max-steps", "10"],
            # The default output: the run's policy.msgpack, which the old code's export holds.
            "export": ["export", run, "--overwrite"],
        }
        self.procs = {}
        for k, args in self.args.items():
            with open(root / f"{k}.out", "w") as log:
                self.procs[k] = subprocess.Popen([sys.executable, "-m", "jaxrl", *args],
                                                 cwd=root, env=env, stdout=log,
                                                 stderr=subprocess.STDOUT)

    def results(self) -> dict[str, tuple[int, str]]:
        """``{command: (exit status, output)}`` once all have ended."""
        for p in self.procs.values():
            p.wait(timeout=300)
        return {k: (p.returncode, (self.root / f"{k}.out").read_text())
                for k, p in self.procs.items()}

    def kill(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def commands(tmp_path_factory):
    c = Commands(tmp_path_factory.mktemp("commands"))
    yield c
    c.kill()


@pytest.fixture(scope="module", autouse=True)
def start_commands_early(request):
    """The commands run in processes of their own: started with the module (when their
    test is selected, and not in a pytest-xdist worker, which may not run it), they run
    beside the tests in this process instead of after them."""
    if not hasattr(request.config, "workerinput") and any(
            getattr(item, "originalname", "") == "test_commands_eval_play_export"
            for item in request.session.items):
        request.getfixturevalue("commands")


# ------------------------------------------------------------------------------ tests
def test_the_fixtures_are_there():
    """Every run the tests name is a fixture and every fixture is tested."""
    on_disk = sorted(p.name for p in FIXTURES.iterdir() if (p / "config.json").is_file())
    assert on_disk == RUNS
    assert sorted(EXPECTED["runs"]) == RUNS
    for entry in RESUMED_BY_OLD.values():
        assert sorted(entry["runs"]) == sorted(RESUMABLE)
    # The digests for the fixtures' own jax are those of the golden runs' metrics.csv.
    for name, golden in RESUMABLE.items():
        want = RESUMED_BY_OLD[f"jax {_WROTE['jax']} jaxlib {_WROTE['jaxlib']}"]["runs"][name]
        assert hashlib.sha256((FIXTURES / golden / "metrics.csv").read_bytes()).hexdigest() \
            == want["metrics_csv_sha256"]
    for name in RUNS:
        for f in ("config.json", "metrics.csv", "checkpoint.msgpack", "summary.json"):
            assert (FIXTURES / name / f).is_file(), (name, f)
        assert not (FIXTURES / name / ".jaxrl.lock").exists()


@pytest.mark.parametrize("name", RUNS)
def test_load(name, copies, loaded):
    """The run loads as it was saved, and loading writes nothing."""
    before = tree_digest(copies / name)
    r = loaded(name)
    spec = spec_json(FIXTURES / name)
    assert r.algorithm == spec["algorithm"] and r.env_name == spec["env"]
    assert r.seeds == spec["seeds"] == 2
    assert r.spec.num_updates == spec["num_updates"]
    assert r.complete == (name not in RESUMABLE)
    header, csv_metrics = read_csv(FIXTURES / name / "metrics.csv")
    assert r.updates_done == csv_metrics["update"].shape[1]
    assert sorted(r.metrics) == sorted(header[2:])
    for k, v in r.metrics.items():
        v = np.asarray(v)
        np.testing.assert_array_equal(v, csv_metrics[k].astype(v.dtype), err_msg=k)
    saved, now = json.loads((FIXTURES / name / "summary.json").read_text()), r.summary_json()
    for k in SUMMARY_NUMBERS:
        assert now[k] == saved[k], k
    assert tree_digest(copies / name) == before


@pytest.mark.parametrize("name", RUNS)
def test_evaluate_gives_the_old_numbers(name, loaded):
    ev = loaded(name).evaluate(**EXPECTED["evaluate"])
    want = EXPECTED["runs"][name]
    for k in ("returns", "lengths", "terminated"):
        got = np.asarray(getattr(ev, k))
        np.testing.assert_array_equal(got, np.array(want[k], dtype=got.dtype),
                                      err_msg=f"{k} {NOTE}")


@pytest.mark.parametrize("name", RUNS)
def test_export_acts_as_the_old_export(name, loaded, tmp_path):
    """Today's export of an old run loads and acts; where the old code exported the run
    too (its policy.msgpack, loaded by today's ``load_policy``), both act the same."""
    r = loaded(name)
    path = jaxrl.export(r, tmp_path / "policy.msgpack")
    obs = observations(r)
    new = jaxrl.load_policy(path)  # the best seed
    assert (new.algorithm, new.env, new.seeds) == (r.algorithm, r.env_name, r.seeds)
    greedy = np.asarray(new(obs))
    assert greedy.shape[:1] == obs.shape[:1]
    other = jaxrl.load_policy(path, seed=1 - new.seed)
    assert other.seed == 1 - new.seed
    other_greedy = np.asarray(other(obs))
    old_file = FIXTURES / name / "policy.msgpack"  # the old code's `jaxrl export` of this run
    if not old_file.is_file():
        assert name in RESUMABLE  # only the stopped runs were not exported by the old code
        return
    old = jaxrl.load_policy(old_file)
    assert (old.algorithm, old.env, old.seeds, old.seed) == (
        new.algorithm, new.env, new.seeds, new.seed)
    np.testing.assert_array_equal(old.final_return, new.final_return)
    np.testing.assert_array_equal(np.asarray(old(obs)), greedy)
    key = jax.random.key(5)
    np.testing.assert_array_equal(np.asarray(old(obs, key=key, greedy=False)),
                                  np.asarray(new(obs, key=key, greedy=False)))
    np.testing.assert_array_equal(
        np.asarray(jaxrl.load_policy(old_file, seed=other.seed)(obs)), other_greedy)


@pytest.mark.parametrize("name", [  # one in the default run, every one in CI's heavy stage
    n if n == "dqn_cartpole_stopped" else pytest.param(n, marks=pytest.mark.heavy)
    for n in sorted(RESUMABLE)])
def test_resume_ends_as_the_old_code_without_a_stop(name, loaded, tmp_path):
    """A stopped old run resumed by today's code ends bit-identical to the old code's
    uninterrupted run: metrics in memory and in metrics.csv, summary, whole state."""
    golden = FIXTURES / RESUMABLE[name]
    run_dir = tmp_path / name
    shutil.copytree(FIXTURES / name, run_dir)
    r = jaxrl.resume(run_dir)
    assert r.complete and r.updates_done == spec_json(golden)["num_updates"]
    assert not (run_dir / ".jaxrl.lock").exists()
    assert (run_dir / "learning_curve.png").is_file()

    # What holds under any jax: the rows before the stop are kept byte for byte, the
    # columns and the state's layout are the uninterrupted run's, the Result is the file.
    resumed_csv = (run_dir / "metrics.csv").read_bytes()
    assert resumed_csv.startswith((FIXTURES / name / "metrics.csv").read_bytes())
    header, got = read_csv(run_dir / "metrics.csv")
    want_header, want = read_csv(golden / "metrics.csv")
    assert header == want_header
    assert sorted(r.metrics) == sorted(header[2:])
    for k, v in r.metrics.items():
        v = np.asarray(v)
        np.testing.assert_array_equal(v, got[k].astype(v.dtype), err_msg=k)
    golden_state = loaded(RESUMABLE[name]).state
    assert jax.tree.structure(r.state) == jax.tree.structure(golden_state)
    assert [(x.shape, x.dtype) for x in leaves(r.state)] == [
        (x.shape, x.dtype) for x in leaves(golden_state)]
    # The digests of the old code's own resume of this run under this jax.
    digests = RESUMED_BY_OLD.get(JAX_KEY, {}).get("runs", {}).get(name)
    if digests is not None:
        assert hashlib.sha256(resumed_csv).hexdigest() == digests["metrics_csv_sha256"], \
            f"metrics.csv differs from the old code's resume under {JAX_KEY}"
        assert leaf_digests(r.state) == digests["state_leaves_sha256"], \
            f"the final state differs from the old code's resume under {JAX_KEY}"
    saved_state = jaxrl.load(run_dir).state  # as checkpointed
    assert leaf_digests(saved_state) == leaf_digests(r.state)
    if not SAME_JAX:
        if digests is None:
            pytest.skip(OTHER_JAX)
        return

    # The same jax as the fixtures': against the old code's run never stopped.
    # metrics.csv, read back: the same numbers, and the same bytes.
    for k in header:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"metrics.csv {k} {NOTE}")
    assert resumed_csv == (golden / "metrics.csv").read_bytes()

    # The Result in memory.
    for k, v in r.metrics.items():
        v = np.asarray(v)
        np.testing.assert_array_equal(v, want[k].astype(v.dtype), err_msg=f"{k} {NOTE}")

    # The summary's final numbers.
    s, w = (json.loads((d / "summary.json").read_text()) for d in (run_dir, golden))
    for k in SUMMARY_NUMBERS:
        assert s[k] == w[k], k

    # The whole final state (params, optimiser, environments, keys, buffers), in memory
    # and as checkpointed, against the old uninterrupted run's checkpoint.
    assert_same_state(r.state, golden_state, f"{name} resumed vs {RESUMABLE[name]}")
    assert_same_state(saved_state, golden_state,
                      f"{name} resumed, loaded back, vs {RESUMABLE[name]}")


@pytest.mark.heavy
def test_commands_eval_play_export(commands, loaded):
    """``jaxrl eval``, ``play`` and ``export`` on an old run, as a user types them."""
    out = commands.results()
    for k, (rc, text) in out.items():
        assert rc == 0, f"jaxrl {' '.join(commands.args[k])}:\n{text}"
    assert "q_learning" in out["eval"][1], out["eval"][1]
    assert sorted(commands.root.glob("play.*")), sorted(commands.root.iterdir())  # .txt .png .gif
    assert "policy.msgpack" in out["export"][1], out["export"][1]
    policy = jaxrl.load_policy(commands.run_dir / "policy.msgpack")
    old = jaxrl.load_policy(FIXTURES / CLI_RUN / "policy.msgpack")
    obs = observations(loaded(CLI_RUN))  # every Taxi state
    np.testing.assert_array_equal(np.asarray(policy(obs)), np.asarray(old(obs)))
