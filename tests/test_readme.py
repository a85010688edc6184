"""The README's promises: its example runs, and its two commands are the ones CI runs."""

import ast
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
PYTHON = [body for tag, body in FENCE.findall(README) if tag == "python"]

# Python blocks that are not programs, each with why (a key must match exactly one block).
FRAGMENTS = {
    "obs, state = env.reset(key, params)": "the contract's call shapes: key, params and "
                                           "action are the reader's",
    "processes.initialize(": "one process of several: needs the other processes and a rank",
}
# Python blocks run by their own test below, which also checks what they print.
ELSEWHERE = {
    "jax.vmap(env.reset": "test_readme_example_runs",
    "jaxrl.gymnasium_plugin": "test_readme_gymnasium_example_draws_a_frame",
}
# Python blocks that run for minutes on a CPU: run by ``-m slow``.
SLOW = {
    'r.save("runs/ppo")': "16 seeds x 500k PPO steps",
    "parallel.use_cpu_cores()": "16 seeds x 500k PPO steps, twice",
}


def _is_module(block: str) -> bool:
    """A block that is a file the walkthroughs save and run (``# corridor.py``)."""
    return re.match(r"# [\w.]+\.py\n", block) is not None


def _key(block: str, keys: dict[str, str]) -> str | None:
    found = [k for k in keys if k in block]
    assert len(found) <= 1, f"README block matches several keys {found}"
    return found[0] if found else None


def _snippets() -> list:
    """Every python block of the README that runs as it stands, in a fresh interpreter."""
    params = []
    for i, block in enumerate(PYTHON):
        if _is_module(block) or _key(block, FRAGMENTS) or _key(block, ELSEWHERE):
            continue
        marks = [pytest.mark.slow] if _key(block, SLOW) else []
        params.append(pytest.param(block, id=f"block{i}", marks=marks))
    return params


def test_readme_python_is_tagged_and_every_exception_is_named():
    """A block of Python without the ``python`` tag is never run by these tests (the
    bandit snippet's missing ``import jax`` hid behind a bare fence): refuse it."""
    for tag, body in FENCE.findall(README):
        if tag:
            continue
        try:
            ast.parse(body)
        except SyntaxError:
            continue  # shell commands, a file tree: not Python
        assert not re.search(r"^(import |from \S+ import )", body, flags=re.M), (
            f"README has Python in a bare ``` fence; tag it ```python:\n{body[:300]}")
    for keys in (FRAGMENTS, ELSEWHERE, SLOW):
        for key in keys:
            assert sum(key in b for b in PYTHON) == 1, f"{key!r} names no single README block"


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="needs ruff (.[dev])")
def test_readme_python_names_only_what_it_defines():
    """Every python block but the named fragments, checked for undefined names (pyflakes'
    F821 through ruff) without running it: a missing import fails here at once."""
    for block in PYTHON:
        if _key(block, FRAGMENTS):
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821",
             "--output-format", "concise", "--stdin-filename", "snippet.py", "-"],
            input=block, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{proc.stdout}\nin the README block:\n{block}"


@pytest.mark.heavy
@pytest.mark.parametrize("block", _snippets())
def test_readme_python_snippet_runs(block, tmp_path):
    """Each runnable python block, as a user runs it: alone, in a fresh interpreter (in
    an empty folder: snippets write files such as testbed.png)."""
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\nin the README block:\n{block}"


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python example"
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "P" in proc.stdout  # the rendered board shows the player


def test_readme_opens_with_install_and_test_commands_that_ci_runs():
    bash = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install, tests = bash[0].strip(), bash[1].strip()
    assert 'pip install -e ".[dev]"' in install and "jaxrl train" in install
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in ci
    assert tests in ci, f"CI does not run the README's test command {tests!r}"


@pytest.mark.heavy
def test_readme_custom_environment_walkthrough(tmp_path):
    """The README's corridor: saved as corridor.py, trained, exported and run as written."""
    import os

    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S)
                 if "class Corridor" in b)
    (tmp_path / "corridor.py").write_text(block)
    section = README[README.index("class Corridor"):]
    commands = re.findall(r"```\n(PYTHONPATH=.*?)```", section, flags=re.S)[0].strip().splitlines()
    assert [c.split()[1] for c in commands] == ["jaxrl", "jaxrl", "python"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    bin_dir = pathlib.Path(sys.executable).parent
    outputs = []
    for line in commands:
        argv = line.split(None, 1)[1]  # drop PYTHONPATH=.
        argv = argv.replace("jaxrl ", f"{bin_dir / 'jaxrl'} ", 1) if argv.startswith("jaxrl") \
            else argv.replace("python ", f"{sys.executable} ", 1)
        proc = subprocess.run(argv, shell=True, capture_output=True, text=True, timeout=600,
                              cwd=tmp_path, env=env)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    assert "policy.msgpack" in outputs[1]
    assert outputs[2].strip() == "[" + " ".join(["1"] * 10) + "]"  # go right, everywhere
    ckpt_size = (tmp_path / "corridor-run" / "checkpoint.msgpack").stat().st_size
    policy_size = (tmp_path / "corridor-run" / "policy.msgpack").stat().st_size
    assert policy_size < ckpt_size / 20
    # The sizes the README states are the ones measured here (nice_bytes: what export prints).
    from jaxrl.runs.rundir import nice_bytes

    guide = (ROOT / "docs" / "guide" / "environments.md").read_text()
    for where, text in (("README", section), ("docs/guide/environments.md", guide)):
        said = re.search(r"(\d+) kB(?: here,)? against an? ([\d.]+ MB) checkpoint", text)
        assert said, f"{where} states the policy and checkpoint sizes of the corridor run"
        assert said.group(2) == nice_bytes(ckpt_size), (where, said.group(0),
                                                        nice_bytes(ckpt_size))
        assert abs(int(said.group(1)) - policy_size / 1000) <= 0.1 * policy_size / 1000, \
            (where, said.group(0), nice_bytes(policy_size))


@pytest.mark.heavy
def test_readme_user_algorithm_walkthrough(tmp_path):
    """The README's linear Q-learner, saved as my_algos.py in a directory outside the
    repository, trained, resumed, evaluated, exported, swept and listed by reference."""
    import json
    import os

    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S)
                 if "LINEAR_Q = algos.Algorithm" in b)
    (tmp_path / "my_algos.py").write_text(block)
    section = README[README.index("LINEAR_Q = algos.Algorithm"):]
    commands = re.findall(r"```\n(PYTHONPATH=.*?)```", section, flags=re.S)[0].strip().splitlines()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    bin_dir = pathlib.Path(sys.executable).parent
    outputs = []
    for line in commands:
        argv = line.split(None, 1)[1].replace("jaxrl ", f"{bin_dir / 'jaxrl'} ", 1)
        proc = subprocess.run(argv, shell=True, capture_output=True, text=True, timeout=600,
                              cwd=tmp_path, env=env)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout + proc.stderr)
    run_dir = tmp_path / "lq-run"
    spec = json.loads((run_dir / "config.json").read_text())
    assert spec["algorithm"] == "my_algos:LINEAR_Q"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["updates_done"] == 500, summary  # resumed to the end: 4000 / 8
    assert "greedy" in outputs[2] and (run_dir / "policy.msgpack").exists()
    assert (tmp_path / "lq-sweep" / "sweep.csv").exists()
    assert "semi-gradient Q-learning" in outputs[5] and "epsilon" in outputs[5]


def test_readme_gymnasium_example_draws_a_frame():
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S)
                 if "jaxrl.gymnasium_plugin" in b)
    code = block + "\nassert frame.dtype.name == 'uint8' and frame.ndim == 3 and frame.shape[2] == 3\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
