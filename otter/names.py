"""Names and suggestions: the did-you-mean every error message uses.

Part of the ground floor with :mod:`otter.errors`: it imports nothing of otter.
"""

from __future__ import annotations

import difflib
from typing import List, Sequence

__all__ = ["close_matches", "did_you_mean"]


def close_matches(name: str, candidates: Sequence[str], n: int = 3) -> List[str]:
    """Names in ``candidates`` that look like ``name`` (case-insensitive).

    >>> close_matches("AdamWW", ["Adam", "AdamW", "SGD"])
    ['AdamW', 'Adam']
    """
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not hits and len(name) >= 3:
        # A shortened name (opset -> opset_version) is close too.
        hits = [c for c in lowered if c.startswith(name.lower()) or name.lower().startswith(c)][:n]
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """`` (did you mean 'X'?)`` or an empty string.

    >>> did_you_mean("lrr", ["lr", "momentum"])
    " (did you mean 'lr'?)"
    """
    hits = close_matches(name, candidates)
    if not hits:
        return ""
    return " (did you mean " + " or ".join(repr(h) for h in hits) + "?)"
