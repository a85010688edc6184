"""Hostile round two (issue 25): files that name code, environments that changed or are
faulty, the device layout of a run, and compile-cache entries swapped under their key.

* **No code runs from a file before the user trusts it.** A ``config.json`` or policy
  file whose environment (or algorithm) is ``package.module:Name`` imports nothing
  until the user trusts it (``--trust-code`` / ``trust_code=True``, an explicit
  ``env=`` for ``load_policy``, or the module imported / registered by their own code).
  A sentinel module writes a file when imported; every refusal leaves no such file.
* **A custom environment is fingerprinted** at training time; resuming with one that now
  behaves otherwise (a reward times 5) is refused, the unchanged one resumes bit-identical.
* **The device layout is part of the run**: resume restores it (the CLI asks for the
  run's CPU device count before JAX starts) or refuses in one line naming the command.
* **Compile-cache entries are checked against their key**: an entry swapped in from
  another program is not used (one warning line; the run trains its own program).
* **Faulty custom environments** are refused in one line naming the environment.

The runs train ``_DriverProbe`` (``tests/jaxrl/probe.py``) in-process, once per module,
with a module-wide persistent compilation cache; each test copies what it needs.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from probe import PROBE
from probe import cached as probe_cached

import jaxrl
from jaxrl import cli
from jaxrl.errors import RunError
from jaxrl.runs import run
from jaxrl.runs import rundir as R

MOD = "jaxrl_hostile_sentinel"  # the user's environment module (written per module run)
ENV = f"{MOD}:Walk"
BASE = {"seeds": 2, "chunk_updates": 4, "checkpoint_every": 5}  # the probe: 13 updates
STOP = 7

SENTINEL_SOURCE = textwrap.dedent('''
    """A user's environment module; importing it leaves a file beside it (the sentinel)."""
    import pathlib

    pathlib.Path(__file__).with_name("IMPORTED").write_text("imported\\n")

    import jax
    import jax.numpy as jnp
    from flax import struct

    from jaxrl.envs import spaces
    from jaxrl.envs.core import Environment

    REWARD_SCALE = 1.0


    @struct.dataclass
    class Params:
        max_steps_in_episode: int = 8


    class Walk(Environment):
        """A noisy walk on a line; reward: the position."""

        def __init__(self, size: int = 3):
            self.size = size

        @property
        def default_params(self):
            return Params()

        def reset_env(self, key, params):
            return jnp.zeros(self.size), {"pos": jnp.zeros(()), "t": jnp.zeros((), jnp.int32)}

        def step_env(self, key, state, action, params):
            pos = state["pos"] + jnp.where(action == 1, 1.0, -1.0) + 0.1 * jax.random.normal(key)
            t = state["t"] + 1
            return (jnp.full((self.size,), pos), {"pos": pos, "t": t}, REWARD_SCALE * pos,
                    pos > 3.0, t >= params.max_steps_in_episode, {})

        def action_space(self, params=None):
            return spaces.Discrete(2)

        def observation_space(self, params=None):
            return spaces.Box(-100.0, 100.0, (self.size,))


    class WrongShape(Walk):
        def observation_space(self, params=None):
            return spaces.Box(-100.0, 100.0, (self.size + 1,))


    class NoSpaces(Walk):
        def action_space(self, params=None):
            return None


    class Boom(Walk):
        def __init__(self, size: int = 3):
            raise RuntimeError("the constructor fell over")


    class BadStep(Walk):
        def step_env(self, key, state, action, params):
            raise KeyError("velocity")
''')


# ------------------------------------------------------------------------------ set-up
def _forget_module() -> None:
    """As if this process had never imported the user's module."""
    sys.modules.pop(MOD, None)
    importlib.invalidate_caches()


class World:
    """The user's module on ``sys.path`` and a probe run on its environment (stopped at
    ``STOP``, plus the same run uninterrupted and its exported policy)."""

    def __init__(self, root: Path):
        self.mod_dir = root / "userlib"
        self.mod_dir.mkdir()
        self.module = self.mod_dir / f"{MOD}.py"
        self.module.write_text(SENTINEL_SOURCE)
        self.sentinel = self.mod_dir / "IMPORTED"
        self.full = root / "full"
        self.part = root / "part"
        full = run.train(PROBE, ENV, out_dir=self.full, **BASE)
        run.train(PROBE, ENV, out_dir=self.part, stop_after=STOP, **BASE)
        self.policy = jaxrl.export(full, root / "policy.msgpack")
        self.full_csv = (self.full / R.METRICS_FILE).read_bytes()
        self.full_ckpt = (self.full / R.CHECKPOINT_FILE).read_bytes()

    def untrusted(self) -> None:
        """The module is importable but not imported; no sentinel yet."""
        _forget_module()
        self.sentinel.unlink(missing_ok=True)

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.part, dest)
        return dest


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    with probe_cached():
        (root / "w").mkdir()
        sys.path.insert(0, str(root / "w" / "userlib"))
        try:
            yield World(root / "w")
        finally:
            sys.path.remove(str(root / "w" / "userlib"))
            _forget_module()


@pytest.fixture
def untrusted(world):
    world.untrusted()
    yield world
    _forget_module()


def files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def refused(capsys, *argv: str) -> str:
    code = cli.main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxrl: error: ")
    return err


# ------------------------------------------------------------------------------ item 9: trust
def test_commands_refuse_a_module_named_in_config_json(untrusted, tmp_path, capsys):
    d = untrusted.copy(tmp_path / "run")
    before = files(d)
    for argv in (["eval", str(d)], ["play", str(d), "--out", str(tmp_path / "p")],
                 ["export", str(d), "--out", str(tmp_path / "policy.msgpack")],
                 ["train", "--resume", str(d), "-q"]):
        err = refused(capsys, *argv)
        assert MOD in err and "--trust-code" in err, err
        assert not untrusted.sentinel.exists(), f"{argv[0]} imported the module"
        assert MOD not in sys.modules
    assert files(d) == before
    assert not (tmp_path / "policy.msgpack").exists() and not list(tmp_path.glob("p*"))


def test_python_api_refuses_a_module_named_in_a_file(untrusted, tmp_path):
    d = untrusted.copy(tmp_path / "run")
    before = files(d)
    for call in (lambda: jaxrl.load(d), lambda: jaxrl.resume(d),
                 lambda: jaxrl.export(d, tmp_path / "p.msgpack"),
                 lambda: jaxrl.load_policy(untrusted.policy)):
        with pytest.raises(RunError, match=f"imports no module named in a file.*{MOD}"):
            call()
        assert not untrusted.sentinel.exists() and MOD not in sys.modules
    assert files(d) == before
    with pytest.raises(RunError, match="is a policy for the environment"):
        jaxrl.load_policy(untrusted.policy, env="CartPole-v1")
    assert not untrusted.sentinel.exists()


def test_an_algorithm_named_in_config_json_is_not_imported(untrusted, tmp_path, capsys):
    d = untrusted.copy(tmp_path / "run")
    cfg = json.loads((d / R.CONFIG_FILE).read_text())
    cfg["algorithm"], cfg["env"] = f"{MOD}:RECORD", "CartPole-v1"
    (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
    for argv in (["eval", str(d)], ["train", "--resume", str(d), "-q"]):
        err = refused(capsys, *argv)
        assert "algorithm" in err and MOD in err and "--trust-code" in err, err
    with pytest.raises(RunError, match="algorithm"):
        jaxrl.load(d)
    assert not untrusted.sentinel.exists() and MOD not in sys.modules


def test_trusted_by_flag_by_env_argument_or_by_the_users_own_import(untrusted, tmp_path,
                                                                     capsys):
    d = untrusted.copy(tmp_path / "run")
    assert cli.main(["export", str(d), "--out", str(tmp_path / "p.msgpack"),
                     "--trust-code"]) == 0, capsys.readouterr().err
    assert untrusted.sentinel.exists()  # the user said so: imported
    assert (tmp_path / "p.msgpack").is_file()
    untrusted.untrusted()
    assert jaxrl.load(d, trust_code=True).updates_done == STOP
    untrusted.untrusted()
    policy = jaxrl.load_policy(untrusted.policy, env=ENV)  # the user names the environment
    assert policy.env == ENV and int(policy(np.zeros(3, np.float32))) == 0
    untrusted.untrusted()
    importlib.import_module(MOD)  # the user's own code imported it: nothing more to ask
    assert jaxrl.load(d).updates_done == STOP
    assert jaxrl.load_policy(untrusted.policy).env == ENV


def test_builtin_and_registered_names_need_no_trust(tmp_path):
    from jaxrl.runs.build import _untrusted_module

    assert _untrusted_module("environment", "CartPole-v1") is None
    assert _untrusted_module("environment", "gymnax/Acrobot-v1") is None
    assert _untrusted_module("algorithm", "ppo") is None
    assert _untrusted_module("environment", "nowhere_mod:Env") == "nowhere_mod"
    assert _untrusted_module("algorithm", "nowhere_mod:ALGO") == "nowhere_mod"
    assert "nowhere_mod" not in sys.modules


def test_resume_hint_names_trust_code_for_a_users_module(world, tmp_path):
    spec = R.read_spec(world.part)
    assert run.resume_command(tmp_path, spec).endswith(" --trust-code")
    assert "--trust-code" not in run.resume_command(tmp_path, R.read_spec(world.full).__class__(
        **{**spec.__dict__, "env": "CartPole-v1"}))


# ------------------------------------------------------------------------------ item 6: fingerprint
def test_a_custom_environment_is_fingerprinted_and_builtins_are_not(world, tmp_path):
    spec = R.read_spec(world.full)
    assert spec.env_fingerprint and spec.env_fingerprint["values"]
    plain = run.make_spec(PROBE, "CartPole-v1", **BASE)[0]
    assert plain.env_fingerprint is None


def test_a_changed_environment_is_refused_on_resume(world, tmp_path, capsys):
    d = world.copy(tmp_path / "run")
    before = files(d)
    original = world.module.read_text()
    try:
        world.module.write_text(original.replace("REWARD_SCALE = 1.0", "REWARD_SCALE = 5.00"))
        _forget_module()
        with pytest.raises(RunError, match=f"environment '{MOD}:Walk' changed since training"):
            jaxrl.resume(d, trust_code=True)
        assert files(d) == before
        _forget_module()
        err = refused(capsys, "train", "--resume", str(d), "-q", "--trust-code")
        assert "changed since training" in err
        assert files(d) == before
    finally:
        world.module.write_text(original)
        _forget_module()
    # The environment it was trained with: resumed, bit-identical to the uninterrupted run.
    resumed = jaxrl.resume(d, trust_code=True)
    assert resumed.complete
    assert (d / R.METRICS_FILE).read_bytes() == world.full_csv
    assert (d / R.CHECKPOINT_FILE).read_bytes() == world.full_ckpt


def test_an_edited_params_default_is_a_change_too(world, tmp_path):
    d = world.copy(tmp_path / "run")
    original = world.module.read_text()
    try:
        world.module.write_text(original.replace("max_steps_in_episode: int = 8",
                                                 "max_steps_in_episode: int = 9"))
        _forget_module()
        with pytest.raises(RunError, match="changed since training"):
            jaxrl.resume(d, trust_code=True)
    finally:
        world.module.write_text(original)
        _forget_module()


# ------------------------------------------------------------------------------ item 15: faulty envs
@pytest.mark.parametrize("cls, what", [
    ("WrongShape", "shape (3,), but its observation_space has shape (4,)"),
    ("NoSpaces", "has no usable spaces: action_space(params) returned NoneType"),
    ("Boom", "could not be built: RuntimeError: the constructor fell over"),
    ("BadStep", "fails in step: KeyError"),
])
def test_a_faulty_custom_environment_is_one_line_naming_it(world, tmp_path, capsys, cls, what):
    importlib.import_module(MOD)
    err = refused(capsys, "train", PROBE, "--env", f"{MOD}:{cls}", "--out",
                  str(tmp_path / "r"), "-q")
    assert f"environment '{MOD}:{cls}'" in err and what in err, err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------ item 7: layout
def test_the_layout_is_recorded_and_another_is_refused(world, tmp_path, capsys):
    spec = R.read_spec(world.part)
    assert spec.layout == {"platform": jax.default_backend(), "devices": 1, "processes": 1,
                           "split": "seeds"}
    importlib.import_module(MOD)
    for change, words in (({"devices": 2}, "pass --cpu-devices 2"),
                          ({"processes": 2}, "jaxrl launch --processes 2 -- train --resume")):
        d = world.copy(tmp_path / f"run{len(words)}")
        cfg = json.loads((d / R.CONFIG_FILE).read_text())
        cfg["layout"].update(change)
        (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
        before = files(d)
        with pytest.raises(RunError, match=words):
            jaxrl.resume(d)
        assert words in refused(capsys, "train", "--resume", str(d), "-q")
        assert files(d) == before


def test_the_multiprocess_resume_hint_is_a_command_launch_accepts(world, tmp_path):
    from jaxrl.parallel import launch

    spec = R.read_spec(world.part)
    two = spec.__class__(**{**spec.__dict__, "env": "CartPole-v1",
                            "layout": {"platform": "cpu", "devices": 4, "processes": 2,
                                       "split": "seeds"}})
    hint = run.resume_command(tmp_path / "r", two)
    assert hint == f"jaxrl launch --processes 2 -- train --resume {tmp_path / 'r'} --cpu-devices 2"
    argv = hint.split()[1:]
    args = cli.build_parser().parse_args(argv)
    cmds = launch.commands(args.jaxrl_args, args.processes, 1234)
    child = cli.build_parser().parse_args(cmds[1][3:])  # python -m jaxrl ...
    assert child.resume == str(tmp_path / "r") and child.cpu_devices == 2
    assert child.num_processes == 2 and child.process_id == 1


LAYOUT_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from jaxrl.parallel import devices as par
    assert par.use_cpu_cores(2) == 2
    import probe
    from jaxrl.runs import run
    probe.register()
    kw = dict(seeds=2, chunk_updates=4, checkpoint_every=5)
    run.train("_probe", "CartPole-v1", out_dir={full!r}, **kw)
    run.train("_probe", "CartPole-v1", out_dir={part!r}, stop_after=7, **kw)
""")


def test_cli_resume_asks_for_the_runs_cpu_device_count(world, tmp_path, monkeypatch):
    """``jaxrl train --resume DIR`` without ``--cpu-devices``: the run's count, from its
    config.json, before JAX starts (the subprocess test below runs it for real)."""
    from jaxrl.parallel import devices as parallel

    d = world.copy(tmp_path / "run")
    cfg = json.loads((d / R.CONFIG_FILE).read_text())
    cfg["layout"].update(platform="cpu", devices=6, processes=2)
    (d / R.CONFIG_FILE).write_text(json.dumps(cfg))
    monkeypatch.setattr(parallel, "_backends_initialised", lambda: False)
    for argv, want in ((["train", "--resume", str(d)], 3),
                       (["train", "--resume", str(d), "--cpu-devices", "5"], 5),
                       (["train", "ppo"], None)):
        args = cli.build_parser().parse_args(argv)
        cli._restore_layout(args)
        assert args.cpu_devices == want, argv


RESUME_ON_ONE_CORE = textwrap.dedent("""
    import os, runpy, sys
    os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})  # the default: 1 CPU device
    sys.argv = [{probe!r}, "train", "--resume", {part!r}, "-q"]
    runpy.run_path({probe!r}, run_name="__main__")
""")


@pytest.mark.slow
def test_cli_resume_restores_the_device_count_before_jax_starts(tmp_path):
    """Trained on 2 CPU devices, resumed by ``jaxrl train --resume`` in a process pinned
    to one core (whose default would be 1 device): on 2 again, bytes identical."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAXRL_CACHE_DIR"] = str(tmp_path / "xla")
    full, part = tmp_path / "full", tmp_path / "part"
    code = LAYOUT_CHILD.format(tests=str(Path(__file__).parent), full=str(full), part=str(part))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((part / R.CONFIG_FILE).read_text())["layout"]["devices"] == 2
    code = RESUME_ON_ONE_CORE.format(probe=str(Path(__file__).with_name("probe.py")),
                                     part=str(part))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (part / R.METRICS_FILE).read_bytes() == (full / R.METRICS_FILE).read_bytes()
    assert (part / R.CHECKPOINT_FILE).read_bytes() == (full / R.CHECKPOINT_FILE).read_bytes()


# ------------------------------------------------------------------------------ item 8: compile cache
def test_a_swapped_compile_cache_entry_is_not_used(world, tmp_path, monkeypatch, capsys):
    """Two configs of the probe (other ``lr``: other programs of the same shapes) train
    against jaxrl's compile cache; the second's entries are copied over the first's.
    The first config then trains its own program, as without a cache."""
    from jax._src import compilation_cache as cc

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes", "jax_compilation_cache_max_size")
    saved = {n: getattr(jax.config, n) for n in names}
    cache = tmp_path / "xla"
    monkeypatch.setenv("JAXRL_CACHE_DIR", str(cache))
    try:
        assert cli.enable_compile_cache() == str(cache)
        jax.config.update(names[1], 0.0)  # the probe compiles in well under a second

        def train(lr: float):
            return run.train(PROBE, "CartPole-v1", seeds=1, chunk_updates=13, lr=lr)

        own = train(0.1)
        first = {p.name: p.read_bytes() for p in cache.glob("*-cache")}
        other = train(0.37)
        second = {p.name: p.read_bytes() for p in cache.glob("*-cache") if p.name not in first}
        assert first and second
        swapped = 0
        for name in first:  # the other program's entry under this program's key
            stem = name.rsplit("-", 2)[0]
            match = [n for n in second if n.rsplit("-", 2)[0] == stem]
            if match:
                (cache / name).write_bytes(second[match[0]])
                swapped += 1
        assert swapped
        capsys.readouterr()
        again = train(0.1)
        np.testing.assert_array_equal(again.metrics["w0"], own.metrics["w0"])
        assert not np.array_equal(again.metrics["w0"], other.metrics["w0"])
        err = [line for line in capsys.readouterr().err.splitlines() if "jaxrl" in line]
        assert err and all("does not match its key" in line for line in err), err
    finally:
        for n, v in saved.items():
            jax.config.update(n, v)
        cc.reset_cache()
