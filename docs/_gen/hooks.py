"""MkDocs hook: write the generated pages before MkDocs collects the files.

``docs/reference/*.md`` (config reference, CLI, API, in both languages) and the
demo-figure snippets in ``docs/_gen/out/`` come from ``reference.py``; both are
ignored by git. A file is rewritten only when its text changes, so ``mkdocs serve``
does not rebuild in a loop.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference  # noqa: E402


def on_pre_build(config, **kwargs):  # noqa: ARG001 (MkDocs passes the config)
    """Write every generated file (see the module docstring)."""
    reference.write_generated(Path(config["docs_dir"]))


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001
    """Japanese pages: join the lines of a paragraph without the space a line break leaves."""
    if page.file.src_uri.endswith(".ja.md"):
        return reference.join_cjk_lines(markdown)
    return markdown
