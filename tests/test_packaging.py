"""What gets installed: one top-level package ``jaxrl`` (the environments inside it as
``jaxrl.envs``), typed, licensed, versioned; and jaxrl works beside a user's own ``envs``."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile
from importlib import metadata

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("jaxrl-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_jaxrl_only_with_the_environments_inside(wheel):
    names = wheel.namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"jaxrl"}
    env_modules = sorted(p.name for p in (ROOT / "envs").glob("*.py"))
    assert sorted(n.split("/")[-1] for n in names if n.startswith("jaxrl/envs/")
                  and n.count("/") == 2) == env_modules
    assert "jaxrl/py.typed" in names
    for layer in ("core", "algos", "runs", "output", "parallel", "cli"):
        assert f"jaxrl/{layer}/__init__.py" in names, layer
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "envs/"))]
    info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert wheel.read(info).decode().split() == ["jaxrl"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "jaxrl = jaxrl.cli:main" in entry
    meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist: jax")]
    # ranges, not pins (an extra's marker, `; extra == "dev"`, is not a version)
    assert requires and not any("==" in line.split(";")[0] for line in requires), requires


def test_version_is_the_distributions():
    proc = subprocess.run([str(BIN / "jaxrl"), "--version"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    import jaxrl

    assert proc.stdout.strip() == f"jaxrl {jaxrl.__version__}" == f"jaxrl {metadata.version('jaxrl')}"


@pytest.mark.heavy
def test_a_users_own_envs_package_does_not_shadow_jaxrl(tmp_path):
    """A working directory with its own ``envs/`` package (common in RL code): training,
    listing and the README's PYTHONPATH=. pattern all use jaxrl's environments."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "__init__.py").write_text("MINE = True\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = ("import envs, jaxrl\n"
            "assert envs.MINE\n"
            "r = jaxrl.train('ppo', total_steps=512, num_envs=4, num_steps=32, seeds=1)\n"
            "from jaxrl import envs as jaxrl_envs\n"
            "assert jaxrl_envs is not envs and jaxrl_envs.__name__ == 'jaxrl.envs'\n"
            "print('trained', r.final_return.shape)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained (1,)" in proc.stdout
    proc = subprocess.run([str(BIN / "jaxrl"), "list", "envs"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CartPole-v1" in proc.stdout


def test_the_checkout_folder_is_not_importable_as_plain_envs():
    """From the repository root ``envs`` is a folder on the path: importing it by that
    name is refused in one line (a second copy of the environments would not be jaxrl's)."""
    proc = subprocess.run([sys.executable, "-c", "import envs"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "import the environments as jaxrl.envs" in proc.stderr


@pytest.mark.heavy
def test_the_suite_runs_from_outside_the_repository(tmp_path):
    """Collect every test and run a few, with the working directory elsewhere (one pytest:
    collecting imports every test module; ``-k`` picks what runs)."""
    tests = ROOT / "tests"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests),
         "-k", "test_returns.py or (test_core.py and spaces)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert "error" not in last.lower() and " passed" in last and "deselected" in last, last
    assert int(last.split(" passed")[0].split()[-1]) >= 10, last
