"""Griffe extension: two reStructuredText habits of jaxrl's docstrings, as Markdown.

jaxrl's docstrings are Google style with two reST habits that Markdown would garble, so
before mkdocstrings renders a docstring they are rewritten (nothing else changes):

* a paragraph ending in ``::`` followed by an indented block of code: ``Text::`` becomes
  ``Text:`` (a lone ``::`` line is dropped) and the block becomes a fenced block,
  ``bash`` when it reads like a shell command, else ``python``;
* a definition list, a line holding only ````term```` (or several, comma-separated)
  after a blank line, with its definition indented below it: it becomes a bullet,
  ``- ``term``: definition``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

SHELL = re.compile(r"^\s*(\$ |jaxrl |python |pip |srun |sbatch |PYTHONPATH=|tensorboard )")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rst_literal_blocks_to_fences(text: str) -> str:
    """``text`` with every ``::`` literal block written as a fenced code block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or stripped.endswith(":::"):
            out.append(line)
            i += 1
            continue
        base = _indent(line)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or _indent(lines[j]) <= base:
            out.append(line)  # "::" with no indented block after it: leave it alone
            i += 1
            continue
        block: list[str] = []
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
            block.append(lines[j])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        depth = min(_indent(b) for b in block if b.strip())
        code = [b[depth:] if b.strip() else "" for b in block]
        language = "bash" if any(SHELL.match(c) for c in code if c.strip()) else "python"
        text_part = stripped[:-2].rstrip()
        if text_part.strip():
            out.append(text_part + ":")
            out.append("")
        pad = " " * base
        out.append(f"{pad}```{language}")
        out.extend(pad + c if c else "" for c in code)
        out.append(f"{pad}```")
        out.append("")
        i = j
    return "\n".join(out)


TERM = re.compile(r"^\s*``[^`]+``(\s*,\s*``[^`]+``)*\s*$")


def rst_definitions_to_bullets(text: str) -> str:
    """``text`` with every reST definition list of code terms written as bullets."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_fence = after_item = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        starts_block = i == 0 or not lines[i - 1].strip() or after_item
        if (in_fence or not TERM.match(line) or not starts_block or i + 1 >= len(lines)
                or not lines[i + 1].strip() or _indent(lines[i + 1]) <= _indent(line)):
            out.append(line)
            after_item = False
            i += 1
            continue
        base = _indent(line)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() and _indent(lines[j]) > base:
            body.append(lines[j].strip())
            j += 1
        pad = " " * base
        out.append(f"{pad}- {line.strip()}: {body[0]}")
        out.extend(f"{pad}  {b}" for b in body[1:])
        after_item = True
        i = j
    return "\n".join(out)


class RstLiteralBlocks(griffe.Extension):
    """Rewrites the ``::`` literal blocks and code-term definition lists of every
    docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is None:
            return
        value = docstring.value
        if "::" in value:
            value = rst_literal_blocks_to_fences(value)
        if "``" in value:
            value = rst_definitions_to_bullets(value)
        docstring.value = value
