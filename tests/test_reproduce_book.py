"""benchmarks/reproduce_book.py: every row it claims is written, skipped or failed visibly.

The default suite drives the report on a stub registry (no training); the slow test runs
the real ``--quick`` mode in a child process and checks RESULTS.md row by row.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce_book.py"


@pytest.fixture(scope="module")
def book():
    spec = importlib.util.spec_from_file_location("reproduce_book_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows by entry name: the cells of each line starting with '| '."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and "`" in line:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out[cells[1].split("`")[1]] = cells
    return out


def test_report_on_a_stub_registry(book, tmp_path):
    def good(quick):
        assert quick is True
        return {"setting": "2 steps", "number": book.spread([1.0, 3.0]), "seeds": 2,
                "compile_s": 1.25, "run_s": 0.5}

    def bad(quick):
        raise ValueError("no luck")

    E = book.Entry
    registry = [
        E("good", "1", "a good one", "src set", "src 2.0", "tabular", good),
        E("bad", "2", "a failing one", "src set", "src 1.0", "tabular", bad),
        E("absent", "3", "a missing script", "src", "src", "no_such_script_here", good),
    ]
    out = tmp_path / "R.md"
    rows = book.main(["--quick", "--out", str(out)], registry=registry)
    assert [r.status.split(":")[0] for r in rows] == ["ok", "failed", "skipped"]
    text = out.read_text()
    assert "Quick mode" in text and "jax 0." in text
    table = _rows(text)
    assert set(table) == {"good", "bad", "absent"}
    good_row = table["good"]
    # mean 2, std 1 over the two seeds; compile and run apart
    assert good_row[5] == "2.0 ± 1.0 (min 1.0, max 3.0)" and good_row[7:9] == ["1.2", "0.5"]
    assert table["bad"][-1] == "failed: ValueError: no luck"
    assert table["absent"][-1].startswith("skipped: benchmarks/no_such_script_here.py")


def test_registry_covers_every_chapter_benchmark(book):
    names = {e.script for e in book.REGISTRY}
    for script in ("bandit_testbed", "tabular", "dqn_gridworld", "dqn_mountaincar",
                   "reinforce_cartpole", "a2c_cartpole", "ppo_cartpole", "evolution",
                   "distributional", "many_agents", "curiosity", "doorkey"):
        assert script in names


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 12 min under a load of 10; the child has its own timeout
def test_quick_mode_writes_every_row(tmp_path):
    out = tmp_path / "RESULTS.md"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    r = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=3000, cwd=ROOT, env=env,
                       check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("wrote ")]
    assert lines and "rows" in lines[-1]
    check_results(out)


def check_results(out: Path) -> None:
    """Every entry has its row; an ok row has a number, a run time and its plot on disk."""
    table = _rows(out.read_text())
    expected = {"bandit_testbed", "contextual_bandit", "tabular", "dqn_gridworld",
                "dqn_mountaincar", "reinforce_cartpole", "a2c_cartpole", "ppo_cartpole",
                "evolution", "distributional", "curiosity", "many_agents", "doorkey"}
    assert set(table) == expected
    for name, cells in table.items():
        status = cells[-1]
        script = ROOT / "benchmarks" / f"{name}.py"
        if status == "ok":
            assert cells[5], name  # a number
            assert cells[8] != "-", name  # a run time
            if cells[9]:
                plot = cells[9].split("(")[1].rstrip(")")
                assert (ROOT / "benchmarks" / plot).is_file(), plot
        else:
            # only the scripts others are still writing may be absent, lack --quick or
            # fail; the row then says so
            assert name in ("curiosity", "doorkey"), (name, status, script)
            assert status.startswith(("skipped: ", "failed: ")), (name, status)
