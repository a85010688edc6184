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
