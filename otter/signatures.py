"""What checks learn from the installed packages, cached on disk by package versions.

Reading a signature of torch or Lightning means importing them (seconds); the
answer does not change until a package changes. Two things are kept in
``$OTTER_CACHE_DIR`` (default ``~/.cache/otter``), keyed by Python, every
installed distribution's name and version, and otter's own code:

- facts such as ``torch.onnx.export``'s parameters (:func:`cached`);
- configs that passed every check of ``otter check``, with what it printed
  (:func:`passed_before`), so checking an unchanged config again needs neither
  torch nor Lightning. Only passes are kept: a failing config is checked in full.

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
from typing import Any, Callable, Dict, List, Optional

__all__ = ["cached", "cache_file", "export_parameters", "versions_key", "passed_before", "remember_passed"]

_memory: Dict[str, Any] = {}


def versions_key() -> str:
    """What cached facts depend on: Python, every installed distribution and version, otter's own code.

    Distributions are read from the ``*.dist-info`` names on ``sys.path`` (one listing per
    folder, no imports), so installing, upgrading or removing any package starts a new cache;
    an editable otter adds the size and time of each of its modules.
    """
    if "versions_key" not in _memory:
        parts = [sys.version, sys.executable]
        for entry in sys.path:
            try:
                names = os.listdir(entry or ".")
            except OSError:
                continue
            parts += sorted(n for n in names if n.endswith((".dist-info", ".egg-info", ".egg-link")))
        for module in sorted(Path(__file__).parent.glob("*.py")):
            st = module.stat()
            parts.append(f"{module.name}:{st.st_size}:{st.st_mtime_ns}")
        _memory["versions_key"] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
    return _memory["versions_key"]


def _cache_dir() -> Path:
    return Path(os.environ.get("OTTER_CACHE_DIR") or Path.home() / ".cache" / "otter")


def _enabled() -> bool:
    return os.environ.get("OTTER_NO_CACHE", "") in ("", "0")


def cache_file() -> Path:
    return _cache_dir() / f"signatures-{versions_key()}.json"


def _write_atomic(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".otter-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed


def _load() -> Dict[str, Any]:
    if "file" not in _memory:
        data: Dict[str, Any] = {}
        if _enabled():
            try:
                data = json.loads(cache_file().read_text())
                if not isinstance(data, dict):
                    data = {}
            except (OSError, ValueError):
                data = {}
        _memory["file"] = data
    return _memory["file"]


def cached(key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (JSON-serialisable), remembered on disk under ``key`` for these package versions."""
    data = _load()
    if key not in data:
        data[key] = compute()
        if _enabled():
            _write_atomic(cache_file(), data)
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


# --------------------------------------------------------------------------- #
# Configs that passed every check
# --------------------------------------------------------------------------- #

# Environment that changes what the Trainer accepts (devices, cluster launchers).
_ENV_PREFIXES = ("CUDA_", "HIP_", "ROCR_", "SLURM_", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK", "MASTER_", "PL_", "LT_", "TORCHELASTIC")


def _machine() -> List[str]:
    import glob
    import platform

    env = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))
    return [platform.node(), platform.machine(), str(os.cpu_count()), *sorted(glob.glob("/dev/nvidia[0-9]*")), *env]


def _registered() -> List[str]:
    """Names a program registered itself (otter's and the installed packages' are in versions_key)."""
    from . import registry

    found = []
    for reg in vars(registry).values():
        if isinstance(reg, registry.Registry):
            for name, obj in list(reg._entries.items()):
                module = getattr(obj, "__module__", "") or ""
                if not module.startswith(("torch", "lightning", "otter")):
                    found.append(f"{reg.name}:{name}={module}.{getattr(obj, '__qualname__', '')}")
    return sorted(found)


def _canonical(value: Any) -> Any:
    """``value`` as JSON that tells ``1`` from ``"1"`` and sorts mixed keys (YAML allows both)."""
    if isinstance(value, dict):
        items = [[f"{type(k).__name__}:{k}", _canonical(v)] for k, v in value.items()]
        return sorted(items, key=lambda kv: kv[0])
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return f"{type(value).__name__}:{value!r}"  # floats too: nan and -0.0 stay distinct


def _check_key(data: Any, file: str) -> str:
    text = json.dumps([versions_key(), _machine(), _registered(), file, _canonical(data)])
    return hashlib.sha256(text.encode()).hexdigest()


def passed_before(data: Any, file: str) -> Optional[Dict[str, List[str]]]:
    """The report of an identical check that passed before, or ``None``.

    Identical means: the same merged config and file name, every installed package
    and otter's code unchanged, on the same machine (GPUs, cluster variables). Only
    passes are remembered; a config that failed is checked again in full.
    """
    if not _enabled():
        return None
    try:
        report = json.loads((_cache_dir() / "checks" / f"{_check_key(data, file)}.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(report, dict) and all(isinstance(report.get(k), list) for k in ("warnings", "unchecked")):
        return report
    return None


def remember_passed(data: Any, file: str, warnings: List[str], unchecked: List[str]) -> None:
    """Remember that ``data`` passed every check, with what the check printed."""
    if _enabled():
        _write_atomic(_cache_dir() / "checks" / f"{_check_key(data, file)}.json", {"warnings": warnings, "unchecked": unchecked})
