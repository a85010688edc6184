"""The README's promises: its example runs, and its two commands are the ones CI runs."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


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
    assert (tmp_path / "corridor-run" / "policy.msgpack").stat().st_size < ckpt_size / 20


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
