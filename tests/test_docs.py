"""The documentation site (docs/, mkdocs.yml) keeps its promises.

* Every ```python block of docs/**/*.md runs: the blocks of a page in order, in one
  namespace, in a fresh temporary working directory (which is on ``sys.path``). All pages
  run in one child process, so JAX starts once. A block right under
  ``<!-- no-test -->`` is skipped (only for what cannot run in a test: many hosts, long
  training); one right under ``<!-- file: NAME -->`` is written to NAME in the working
  directory instead of run (a module the page's later blocks import).
* Every public name of ``jaxrl`` and ``jaxrl.envs`` is rendered by a ``:::`` directive
  (mkdocstrings) of some page, and every directive names something that exists. With
  ``JAXRL_DOCS_SITE`` set to a built site (``.ci/docs`` sets it), the rendered pages are
  checked for each of those objects too.
* The generated tables (docs/hooks/jaxrl_docs.py) cover the algorithm registry, every
  subcommand and option of the ``jaxrl`` command appears on the command-line page, the
  environment table names every registered environment, and every page is in the nav.

Nothing here builds the site (``.ci/docs`` does, strictly); the file stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
MEMBERS_MARKER = re.compile(r"<!--\s*jaxrl:members\s+([\w.]+)\s*-->")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
PRAGMA = re.compile(r"<!--\s*(no-test|file:\s*([\w./-]+))\s*-->\s*$")


def rel(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def python_blocks(page: Path) -> list[dict]:
    """The page's ```python blocks: ``{"line", "code", "file"}``, no-test ones left out."""
    text = page.read_text()
    blocks = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").splitlines()
        pragma = PRAGMA.search(before[-1]) if before else None
        if pragma and pragma.group(1) == "no-test":
            continue
        blocks.append({"line": text.count("\n", 0, m.start()) + 2, "code": m.group(1),
                       "file": pragma.group(2) if pragma and pragma.group(2) else None})
    return blocks


def hook():
    spec = importlib.util.spec_from_file_location("jaxrl_docs_hook",
                                                  DOCS / "hooks" / "jaxrl_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- the examples
RUNNER = textwrap.dedent(r'''
    import json, os, sys, tempfile, time, traceback
    pages = json.load(open(sys.argv[1]))
    results = {}
    import jax
    # Identical programs on different pages (and tests) compile once: the test run's cache.
    jax.config.update("jax_compilation_cache_dir", sys.argv[3])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    base_path, base_modules = list(sys.path), set(sys.modules)
    for page, blocks in pages.items():
        work = tempfile.mkdtemp(prefix="jaxrl-docs-")
        os.chdir(work)
        sys.path[:] = [work] + base_path
        namespace = {"__name__": "__main__"}
        start, error = time.perf_counter(), None
        print(f"=== {page}", flush=True)
        for block in blocks:
            if block["file"]:
                with open(os.path.join(work, block["file"]), "w") as f:
                    f.write(block["code"])
                continue
            try:
                code = compile(block["code"], f"docs/{page}:{block['line']}", "exec")
                exec(code, namespace)
            except BaseException:
                error = f"block at docs/{page}:{block['line']}\n" + traceback.format_exc()
                break
        for name in set(sys.modules) - base_modules:   # the page's own modules (corridor...)
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(work):
                del sys.modules[name]
        results[page] = {"error": error, "seconds": round(time.perf_counter() - start, 1)}
        print(f"=== {page}: {'FAILED' if error else 'ok'} in {results[page]['seconds']} s",
              flush=True)
    json.dump(results, open(sys.argv[2], "w"))
''')

EXAMPLE_PAGES = {rel(p): python_blocks(p) for p in PAGES}
EXAMPLE_PAGES = {page: blocks for page, blocks in EXAMPLE_PAGES.items()
                 if any(not b["file"] for b in blocks)}


@pytest.fixture(scope="module")
def example_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs-examples")
    (tmp / "pages.json").write_text(json.dumps(EXAMPLE_PAGES))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp / "pages.json"), str(tmp / "results.json"),
         os.path.join(os.environ["JAXRL_TEST_CACHE"], "xla")],
        check=False, capture_output=True, text=True, timeout=600, env=env, cwd=tmp)
    results = json.loads((tmp / "results.json").read_text()) if proc.returncode == 0 else {}
    return results, proc


@pytest.mark.heavy
@pytest.mark.parametrize("page", sorted(EXAMPLE_PAGES))
def test_page_examples_run(page, example_results):
    results, proc = example_results
    assert proc.returncode == 0, f"the example runner failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert results[page]["error"] is None, results[page]["error"] + "\n" + proc.stdout[-3000:]


def test_block_pragmas_are_known():
    """A misspelt pragma would silently run (or skip) a block."""
    for page in PAGES:
        for line in page.read_text().splitlines():
            m = re.match(r"\s*<!--\s*(no-test|file:|test)\b", line)
            if m:
                assert PRAGMA.search(line), f"{rel(page)}: malformed pragma {line!r}"


def test_docs_have_examples():
    assert {"index.md", "guide/getting-started.md", "guide/environments.md",
            "guide/library.md"} <= set(EXAMPLE_PAGES)


# ------------------------------------------------------------------- the API reference
def directives() -> dict[str, list[str]]:
    """``{target: [pages]}`` of every ``:::`` directive, those the hook writes included."""
    found: dict[str, list[str]] = {}
    h = None
    for page in PAGES:
        text = page.read_text()
        targets = DIRECTIVE.findall(text)
        for module in MEMBERS_MARKER.findall(text):
            h = h or hook()
            targets += DIRECTIVE.findall(h.members(module))
        for target in targets:
            found.setdefault(target, []).append(rel(page))
    return found


def resolve(target: str):
    """The object a directive's dotted path names (its longest importable module, then
    attributes)."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(target)


def test_every_directive_names_something():
    for target, pages in directives().items():
        try:
            resolve(target)
        except (ImportError, AttributeError) as e:
            pytest.fail(f"::: {target} ({', '.join(pages)}) names nothing: {e}")


def public_objects() -> list[tuple[str, object]]:
    import jaxrl
    from jaxrl import envs

    names = [(f"jaxrl.{n}", getattr(jaxrl, n)) for n in jaxrl.__all__]
    return names + [(f"jaxrl.envs.{n}", getattr(envs, n)) for n in envs.__all__]


def documented_by() -> dict[str, str]:
    """``{public name: the directive target that renders it}``."""
    targets = {}
    for target in directives():
        try:
            targets[target] = resolve(target)
        except (ImportError, AttributeError):
            continue
    out = {}
    for name, obj in public_objects():
        hits = [t for t, o in targets.items() if t == name or o is obj]
        if hits:
            out[name] = min(hits, key=len)
    return out


def test_every_public_name_is_documented():
    documented = documented_by()
    missing = [name for name, _ in public_objects() if name not in documented]
    assert not missing, f"public names without a ::: directive in docs/: {missing}"


@pytest.mark.skipif(not os.environ.get("JAXRL_DOCS_SITE"),
                    reason="set JAXRL_DOCS_SITE to a built site (.ci/docs does)")
def test_every_public_name_is_rendered():
    site = Path(os.environ["JAXRL_DOCS_SITE"])
    html = "\n".join(p.read_text(errors="replace") for p in site.rglob("*.html"))
    missing = [f"{name} (as {target})" for name, target in documented_by().items()
               if f'id="{target}"' not in html]
    assert not missing, f"not rendered in {site}: {missing}"


# ----------------------------------------------------------- pages generated from code
def test_algorithm_tables_cover_the_registry():
    from jaxrl import algos

    h = hook()
    table, presets = h.algorithms_table("guide/algorithms.md"), h.presets_table("guide/algorithms.md")
    guide = (DOCS / "guide" / "algorithms.md").read_text()
    assert "<!-- jaxrl:algorithms -->" in guide and "<!-- jaxrl:presets -->" in guide
    for name in algos.names():
        record = algos.get(name)
        assert f"[`{name}`]" in table
        page = DOCS / h.api_page(record)
        assert f"<!-- jaxrl:algorithm {name} -->" in page.read_text(), \
            f"{rel(page)} has no section for {name}"
        section = h.algorithm_section(name)
        for field in h._defaults(record):
            assert f"| `{field}` |" in section
        for preset in record.presets:
            assert f"| `{preset}` |" in presets and f"| `{preset}` |" in section
    nav = (ROOT / "mkdocs.yml").read_text()
    for module in {h.module_of(algos.get(n)) for n in algos.names()}:
        assert f"api/jaxrl.algos/{module}.md" in nav


def test_config_comments_are_read():
    from jaxrl.algos import ppo

    comments = hook().config_comments(ppo.Config)
    assert comments["num_envs"] == "environment copies stepped together"
    assert "icm" in comments["curiosity"]  # a comment on the line above the field


def test_command_line_page_covers_every_subcommand_and_option():
    from jaxrl.cli import build_parser

    page = (DOCS / "guide" / "command-line.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == {"train", "eval", "play", "export", "sweep", "compare", "list",
                                "launch"}
    for command, p in sub.choices.items():
        assert f"## `jaxrl {command}`" in page, f"no section for jaxrl {command}"
        for action in p._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert f"`{flag}" in page, f"jaxrl {command} {flag} is not on the page"


def test_environment_table_names_every_registered_environment():
    from jaxrl import envs

    page = (DOCS / "guide" / "environments.md").read_text()
    table = "\n".join(line for line in page.splitlines() if line.startswith("| `"))
    for name in envs.registered(include_gymnax=False):
        short = re.sub(r"^DoorKey(-\d+x\d+-)v0$", r"\1", name)
        assert f"`{name}`" in table or f"`{short}`" in table, f"{name} is not in the table"


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert rel(page) in nav, f"{rel(page)} is not in mkdocs.yml's nav"


def test_code_lines_fit_the_page():
    """A python line longer than this scrolls sideways on a page of the site."""
    for page in PAGES:
        for block in python_blocks(page):
            for i, line in enumerate(block["code"].splitlines()):
                assert len(line) <= 84, f"docs/{rel(page)}:{block['line'] + i}: {len(line)} chars"


def test_rst_habits_become_markdown():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "hooks" / "griffe_rst.py")
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    doc = "Use it::\n\n    import jaxrl\n    jaxrl.train('ppo')\n\nAfter.\n\n::\n\n    jaxrl list\n"
    assert g.rst_literal_blocks_to_fences(doc) == (
        "Use it:\n\n```python\nimport jaxrl\njaxrl.train('ppo')\n```\n\nAfter.\n\n"
        "```bash\njaxrl list\n```\n")
    terms = "The checks:\n\n``jit``\n    compiles\n    twice.\n``a``, ``b``\n    both.\n\nEnd."
    assert g.rst_definitions_to_bullets(terms) == (
        "The checks:\n\n- ``jit``: compiles\n  twice.\n- ``a``, ``b``: both.\n\nEnd.")
    google = "Args:\n    env: an environment.\n        More.\n"
    assert g.rst_definitions_to_bullets(google) == google


def test_no_docs_file_is_git_ignored():
    """A page .gitignore hides (``runs/`` matches any folder named runs) would be missing
    from every clone, and the strict build there would fail."""
    import shutil

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [p for p in DOCS.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [ROOT / "mkdocs.yml", ROOT / ".ci" / "docs", Path(__file__)]
    names = "\n".join(str(p.relative_to(ROOT)) for p in files)
    proc = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], input=names,
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    assert not proc.stdout.strip(), f"git ignores these documentation files:\n{proc.stdout}"
