"""Griffe extension: docstrings written for Sphinx readers, shown right in Markdown.

A ``>>>`` example outside an ``Examples:`` section is plain text to Markdown, where
``cfg["common"]`` reads as a link: each such run of lines (the prompts and the output
after them) is wrapped in a fenced ``python`` block. Sphinx cross-reference roles
(``:class:`Foo```, ``:data:`~otter.MODELS```) become inline code.
"""

from __future__ import annotations

import re
from typing import Any, List

import griffe

_SECTION = re.compile(r"^\s*Examples?:\s*$")
_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")
_ROLE = re.compile(r":(?:py:)?(?:data|class|func|meth|mod|attr|obj|exc|const|ref):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """``:class:`~otter.Foo``` -> ```otter.Foo```."""
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", text)


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
        if obj.docstring is None:
            return
        text = plain_roles(obj.docstring.value)
        if ">>>" in text:
            text = fence_doctests(text)
        obj.docstring.value = text
