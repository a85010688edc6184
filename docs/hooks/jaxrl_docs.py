"""MkDocs hook: pages that must never drift from the code are written from it at build time.

Markers in a page's Markdown are replaced before it is converted:

* ``<!-- jaxrl:algorithms -->``: one row per registered algorithm (``jaxrl.algos``), with
  its summary, default environment, what it supports and its presets, linked to its
  API page;
* ``<!-- jaxrl:presets -->``: every preset of every algorithm, with its environment and
  its one-line description;
* ``<!-- jaxrl:algorithm NAME -->``: one algorithm in full: its config fields (default,
  static or sweepable, meaning) and its presets with what each one changes;
* ``<!-- jaxrl:members MODULE -->``: a ``::: MODULE.NAME`` directive (mkdocstrings) for
  every public name defined in the module (its ``__all__`` where it has one); names it
  only re-exports are listed with where they come from;
* ``<!-- jaxrl:results -->``: the table of ``benchmarks/RESULTS.md`` (written by
  ``benchmarks/reproduce_book.py``), its plots copied into the site.

``tests/test_docs.py`` imports this module to check the tables against the registry.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PLOTS = ROOT / "benchmarks" / "out" / "book"
PLOTS_DEST = "assets/book"  # where the plots land in the site

MARKER = re.compile(r"<!--\s*jaxrl:(\w+)(?:\s+([\w.:-]+))?\s*-->")

# Support tags as short words for the tables.
SUPPORT_WORDS = {
    "discrete": "discrete actions",
    "continuous": "continuous actions",
    "multi_agent": "many agents",
    "population_split": "population split over devices",
}


# ------------------------------------------------------------------------------ registry
def _algos():
    if str(ROOT) not in sys.path:  # a build from a checkout that is not installed
        sys.path.insert(0, str(ROOT))
    from jaxrl import algos

    return algos


def records() -> list[Any]:
    """Every registered algorithm's record, in registration order."""
    algos = _algos()
    return [algos.get(name) for name in algos.names()]


def module_of(record: Any) -> str:
    """The algorithm's module, short (``"ppo"`` for ``jaxrl.algos.ppo``)."""
    return record.make.__module__.removeprefix("jaxrl.algos.").split(".")[0]


def api_page(record: Any) -> str:
    """The API page of the record's module, relative to the docs folder."""
    return f"api/jaxrl.algos/{module_of(record)}.md"


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _sentence(text: str) -> str:
    """A summary line as a sentence: capital first letter (unless it starts with code)."""
    text = text.strip()
    if text and text[0].islower() and not re.match(r"\w+_\w", text):
        text = text[0].upper() + text[1:]
    return text


def _code(text: Any) -> str:
    text = str(text)
    return f"`{text}`" if "`" not in text else text


def _relative(page_src: str, target: str) -> str:
    """A link from page ``page_src`` to ``target`` (both relative to the docs folder)."""
    depth = page_src.count("/")
    return "../" * depth + target


def config_comments(config_class: type) -> dict[str, str]:
    """The meaning of each config field, from the comments in the class's source.

    A comment at the end of the field's line wins; otherwise the comment lines just
    above the field.
    """
    comments: dict[str, str] = {}
    for cls in reversed([c for c in config_class.__mro__ if c.__module__ != "builtins"]):
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#"):
                text = stripped.lstrip("#").strip()
                # section rules like "# --- static ----" are not comments on a field
                above = [] if set(text) <= set("-= ") or text.startswith("---") else above + [text]
                continue
            field = re.match(r"\s+(\w+)\s*:[^#=]*=[^#]*?(?:#\s*(.*))?$", line)
            if field and not stripped.startswith(("def ", "return", "@")):
                name, trailing = field.group(1), field.group(2)
                text = trailing.strip() if trailing else " ".join(above)
                if text:
                    comments[name] = text
            above = []
    return comments


def _defaults(record: Any) -> dict[str, Any]:
    default = record.config()
    return {f.name: getattr(default, f.name) for f in dataclasses.fields(record.config)}


def _static(field: dataclasses.Field) -> bool:
    return not field.metadata.get("pytree_node", True)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: compare their text
        return repr(a) == repr(b)


def preset_changes(record: Any, preset: Any) -> dict[str, Any]:
    """The config fields a preset sets away from the algorithm's defaults."""
    defaults = _defaults(record)
    return {name: getattr(preset.config, name) for name, value in defaults.items()
            if hasattr(preset.config, name) and not _same(getattr(preset.config, name), value)}


def _where(preset: Any) -> str:
    where = _code(preset.env) if preset.env else "any environment"
    if preset.env_options:
        where += " " + ", ".join(_code(f"{k}={v!r}") for k, v in preset.env_options.items())
    if getattr(preset, "obs_noise", 0):
        where += f" + observation noise {preset.obs_noise:g}"
    return where


def _supports(record: Any) -> str:
    return ", ".join(SUPPORT_WORDS.get(s, s) for s in sorted(record.supports))


# -------------------------------------------------------------------------------- tables
def algorithms_table(page_src: str) -> str:
    rows = ["| algorithm | what | default environment | supports | presets |",
            "|---|---|---|---|---|"]
    for r in records():
        link = _relative(page_src, api_page(r)) + f"#{r.name}"
        presets = ", ".join(_code(p) for p in r.presets) or "none"
        rows.append(f"| [`{r.name}`]({link}) | {_cell(_sentence(r.summary))} | {_code(r.default_env)} "
                    f"| {_cell(_supports(r))} | {presets} |")
    return "\n".join(rows)


def presets_table(page_src: str) -> str:
    rows = ["| algorithm | preset | environment | what it is |", "|---|---|---|---|"]
    for r in records():
        link = _relative(page_src, api_page(r)) + f"#{r.name}"
        for name, preset in r.presets.items():
            rows.append(f"| [`{r.name}`]({link}) | `{name}` | {_cell(_where(preset))} "
                        f"| {_cell(preset.description) or '&nbsp;'} |")
    return "\n".join(rows)


def algorithm_section(name: str) -> str:
    """One algorithm: summary, config fields and presets (for its API page)."""
    algos = _algos()
    r = algos.get(name)
    comments = config_comments(r.config)
    fields = {f.name: f for f in dataclasses.fields(r.config)}
    out = [f"## `{name}` {{ #{name} }}", ""]
    if r.summary:
        summary = _sentence(r.summary)
        out += [summary + ("" if summary.endswith(".") else "."), ""]
    out += [(f"`jaxrl train {name}` · config class "
             f"`{r.config.__module__}.{r.config.__qualname__}` · default environment "
             f"{_code(r.default_env)} · supports {_supports(r)}."), ""]
    out += [f"### Config fields of `{name}`", "",
            ("Static fields fix shapes or loop lengths (changing one recompiles); sweepable "
             "ones are pytree leaves that `jax.vmap` and `jaxrl sweep` can batch. Set any "
             "with `--set FIELD=VALUE` or as a keyword of `jaxrl.train`."), "",
            "| field | default | kind | meaning |", "|---|---|---|---|"]
    for field, default in _defaults(r).items():
        kind = "static" if _static(fields[field]) else "sweepable"
        out.append(f"| `{field}` | {_cell(_code(repr(default)))} | {kind} "
                   f"| {_cell(comments.get(field, ''))} |")
    out.append("")
    if r.presets:
        out += [f"### Presets of `{name}`", "", "`--preset NAME` (or `preset=` in `jaxrl.train`).", "",
                "| preset | environment | sets | what it is |", "|---|---|---|---|"]
        for pname, preset in r.presets.items():
            changes = preset_changes(r, preset)
            sets = ", ".join(_code(f"{k}={v!r}") for k, v in changes.items()) or "the defaults"
            out.append(f"| `{pname}` | {_cell(_where(preset))} | {_cell(sets)} "
                       f"| {_cell(preset.description) or '&nbsp;'} |")
        out.append("")
    return "\n".join(out)


# Shown by the generated algorithm sections instead.
NOT_RENDERED = {"PRESETS", "DEFAULT_ENV", "ALGORITHMS", "__version__"}


def public_names(module_name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The module's own public names, and the ``(name, origin)`` of those it re-exports."""
    import importlib

    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    own, reexported = [], []
    for name in names:
        obj = getattr(module, name)
        origin = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isfunction(obj)) else None
        if inspect.ismodule(obj):
            origin = obj.__name__
        if origin is not None and origin != module_name:
            if names is getattr(module, "__all__", None) or inspect.ismodule(obj):
                reexported.append((name, origin if inspect.ismodule(obj) else f"{origin}.{name}"))
            continue  # an import, not part of this module
        if name in NOT_RENDERED:
            continue
        if getattr(module, "__all__", None) is None and not (
                inspect.isclass(obj) or inspect.isfunction(obj) or name.isupper()):
            continue  # a module without __all__: its classes, functions and constants
        own.append(name)
    return own, reexported


def members(module_name: str, level: int = 3) -> str:
    own, reexported = public_names(module_name)
    out = []
    for name in own:
        out += [f"::: {module_name}.{name}", "    options:", f"      heading_level: {level}", ""]
    if reexported:
        out.append("Also importable from here: " + ", ".join(
            f"`{name}` (`{origin}`)" for name, origin in reexported) + ".")
    return "\n".join(out)


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def results_table(page_src: str) -> str:
    """The head and the table of benchmarks/RESULTS.md, plot links pointing into the site.

    The file's eleven columns are folded into seven for a page's width: the source's
    and jaxrl's setting go under their results, compile and run time share a cell.
    """
    if not RESULTS.exists():
        return "*benchmarks/RESULTS.md is missing: run `python benchmarks/reproduce_book.py`.*"
    lines = RESULTS.read_text().splitlines()
    prefix = _relative(page_src, PLOTS_DEST)
    head: list[str] = []
    rows: list[dict[str, str]] = []
    columns: list[str] = []
    for line in lines[1:]:  # past the file's own title
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = _split_row(line)
            if not columns:
                columns = cells
            elif not set("".join(cells)) <= set("-: "):
                rows.append(dict(zip(columns, cells)))
            continue
        if line.startswith("Generated by"):
            line = line.replace("; do not edit by hand.", ".")
        head.append(line)
    out = ["\n".join(head).strip(), ""]
    if not rows:
        return out[0]
    out += ["| ch. | reproduction | source | jaxrl | seeds | compile + run s | plot |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        get = r.get
        plot = re.sub(r"\]\(out/book/([\w.-]+\.png)\)", lambda m: f"]({prefix}/{m.group(1)})",
                      get("plot", ""))
        time = f"{get('compile s', '')} + {get('run s', '')}"
        if get("status", "ok") != "ok":
            time += f" ({get('status')})"
        out.append(f"| {get('ch.', '')} | {get('reproduction', '')} "
                   f"| **{get('source result', '')}**<br>{get('source setting', '')} "
                   f"| **{get('jaxrl result', '')}**<br>{get('jaxrl setting', '')} "
                   f"| {get('seeds', '')} | {time} | {plot} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- mkdocs hooks
def on_files(files: Any, config: Any) -> Any:
    """Copy the benchmark plots that RESULTS.md links to into the site."""
    from mkdocs.structure.files import File

    if PLOTS.is_dir():
        for png in sorted(PLOTS.glob("*.png")):
            files.append(File.generated(config, f"{PLOTS_DEST}/{png.name}", abs_src_path=str(png)))
    return files


def expand(markdown: str, page_src: str) -> str:
    """``markdown`` with every marker replaced (what ``on_page_markdown`` does)."""

    def replace(m: re.Match) -> str:
        what, arg = m.group(1), m.group(2)
        if what == "algorithms":
            return algorithms_table(page_src)
        if what == "presets":
            return presets_table(page_src)
        if what == "algorithm" and arg:
            return algorithm_section(arg)
        if what == "members" and arg:
            return members(arg)
        if what == "results":
            return results_table(page_src)
        raise ValueError(f"{page_src}: unknown docs marker {m.group(0)!r}")

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown, page.file.src_uri)
