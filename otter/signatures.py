"""Facts about installed packages that checks need, cached on disk by package versions.

Reading a signature of torch or Lightning means importing them (seconds); the
facts do not change until a package is upgraded. They are kept in
``$OTTER_CACHE_DIR`` (default ``~/.cache/otter``) in a file named by the
versions of Python, otter, torch and lightning, so an upgrade starts a new file.
A missing, unreadable or foreign cache file is rebuilt; ``OTTER_NO_CACHE=1``
bypasses the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

__all__ = ["cached", "cache_file", "export_parameters", "versions_key"]

_PACKAGES = ("otter", "torch", "lightning", "pydantic")
_memory: Dict[str, Any] = {}


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "none"


def versions_key() -> str:
    """What the cached facts depend on: Python and the package versions (and otter's own source)."""
    parts = [sys.version.split()[0], *(f"{p}={_version(p)}" for p in _PACKAGES)]
    # An editable install keeps its version across edits: the code's own mtime joins the key.
    parts.append(str(int(Path(__file__).stat().st_mtime)))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cache_file() -> Path:
    folder = Path(os.environ.get("OTTER_CACHE_DIR") or Path.home() / ".cache" / "otter")
    return folder / f"signatures-{versions_key()}.json"


def _load() -> Dict[str, Any]:
    if "file" not in _memory:
        data: Dict[str, Any] = {}
        if os.environ.get("OTTER_NO_CACHE", "") in ("", "0"):
            try:
                data = json.loads(cache_file().read_text())
                if not isinstance(data, dict):
                    data = {}
            except (OSError, ValueError):
                data = {}
        _memory["file"] = data
    return _memory["file"]


def _save(data: Dict[str, Any]) -> None:
    if os.environ.get("OTTER_NO_CACHE", "") not in ("", "0"):
        return
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signatures-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (JSON-serialisable), remembered on disk under ``key`` for these package versions."""
    data = _load()
    if key not in data:
        data[key] = compute()
        _save(data)
    return data[key]


def _takes_bool(param: Any) -> bool:
    # torch annotates as strings (``"bool | None"``) and some flags default to None.
    return isinstance(param.default, bool) or str(param.annotation).replace(" ", "") in ("bool", "bool|None", "Optional[bool]")


def export_parameters() -> Dict[str, bool]:
    """``torch.onnx.export``'s parameter names -> whether the parameter takes a bool."""

    def compute() -> Dict[str, bool]:
        import inspect

        import torch.onnx

        return {n: _takes_bool(p) for n, p in inspect.signature(torch.onnx.export).parameters.items()}

    return cached("torch.onnx.export", compute)
