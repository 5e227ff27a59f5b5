"""Griffe extension: show bare doctest lines of a docstring as Python code.

A ``>>>`` example outside an ``Examples:`` section is plain text to Markdown, where
``cfg["common"]`` reads as a link. This wraps each such run of lines (the prompts and
the output after them) in a fenced ``python`` block.
"""

from __future__ import annotations

import re
from typing import Any, List

import griffe

_SECTION = re.compile(r"^\s*Examples?:\s*$")
_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")


def fence_doctests(text: str) -> str:
    """Wrap bare ``>>>`` runs of ``text`` in fences; ``Examples:`` sections are left to griffe."""
    lines = text.splitlines()
    out: List[str] = []
    in_examples = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SECTION.match(line):
            in_examples = True
        elif _HEADER.match(line) or (line and not line[0].isspace() and not line.lstrip().startswith(">>>")):
            in_examples = False if not _SECTION.match(line) else in_examples
        if not in_examples and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```python")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence bare doctests in every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
