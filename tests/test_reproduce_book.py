"""benchmarks/reproduce_book.py: every row it claims is written, skipped or failed visibly.

The default suite drives the report on a stub registry (no training); the slow test runs
the real ``--quick`` mode in a child process and checks RESULTS.md row by row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce_book.py"


@pytest.fixture(scope="module")
def book(load_script):
    return load_script(SCRIPT, "reproduce_book_under_test")


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
    # and the interquartile mean with its bootstrap interval (benchmarks/stats.py)
    assert good_row[5] == "2.0 ± 1.0 (min 1.0, max 3.0); IQM 2.0 [1.0, 3.0]"
    assert good_row[7:9] == ["1.2", "0.5"]
    assert table["bad"][-1] == "failed: ValueError: no luck"
    assert table["absent"][-1].startswith("skipped: benchmarks/no_such_script_here.py")


def test_chapter_scripts_rows_come_from_their_json(book, tmp_path, monkeypatch):
    """A child script's --json rows become table rows; its plot is copied beside them."""
    scripts = tmp_path / "benchmarks"
    scripts.mkdir()
    (tmp_path / "pic.png").write_bytes(b"not really a png")
    (scripts / "fake.py").write_text(
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "path = args[args.index('--json') + 1]\n"
        "print('fake summary line', ' '.join(args))\n"
        "rows = [dict(name='a', what='agent a', setting='s', number='1.0 ± 0.0', seeds=2,\n"
        "             compile_s=3.0, run_s=4.0, plot='pic.png'),\n"
        "        dict(name='b', what='agent b', setting='s', number='2.0', seeds=2,\n"
        "             compile_s=None, run_s=None, plot=None)]\n"
        "open(path + '.tmp', 'w').write(json.dumps(rows)); os.replace(path + '.tmp', path)\n")
    (scripts / "broken.py").write_text("raise SystemExit('ValueError: no json for you')\n")
    monkeypatch.setattr(book, "HERE", scripts)
    monkeypatch.setattr(book, "ROOT", tmp_path)
    monkeypatch.setattr(book, "PLOTS", scripts / "out" / "book")
    E = book.Entry
    registry = [E("fake", "7", "a chapter", "src", "src 1", "fake", book._chapter_script("fake")),
                E("broken", "8", "another", "src", "src 2", "broken",
                  book._chapter_script("broken"))]
    out = tmp_path / "R.md"
    rows = book.main(["--quick", "--out", str(out)], registry=registry)
    assert [(r.name, r.status) for r in rows][:2] == [("fake/a", "ok"), ("fake/b", "ok")]
    assert rows[2].name == "broken" and rows[2].status.startswith("failed: RuntimeError")
    table = _rows(out.read_text())
    assert table["fake/a"][4] == "s" and table["fake/a"][7:9] == ["3.0", "4.0"]
    assert table["fake/a"][9] == "[png](out/book/fake_a.png)"
    assert (scripts / "out" / "book" / "fake_a.png").read_bytes() == b"not really a png"
    assert table["fake/b"][7:10] == ["-", "-", ""]
    assert "fake summary line --quick --json" in out.read_text()


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
    assert {name.split("/")[0] for name in table} == expected
    for name, cells in table.items():
        status = cells[-1]
        script = ROOT / "benchmarks" / f"{name.split('/')[0]}.py"
        if status == "ok":
            assert cells[5], name  # a number
            if "/" not in name:  # a chapter script's row may leave its times to its summary
                assert cells[8] != "-", name  # a run time
            if cells[9]:
                plot = cells[9].split("(")[1].rstrip(")")
                assert (ROOT / "benchmarks" / plot).is_file(), plot
        else:
            raise AssertionError((name, status, script))
