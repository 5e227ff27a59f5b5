"""One registry mechanism for everything a config names.

A :class:`Registry` maps names to classes or functions. Projects add their own
with a decorator; the built-in registries fill themselves from torch and
Lightning the first time they are looked into, so ``import otter`` stays cheap.
"""

from __future__ import annotations

import difflib
import inspect
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional

from .errors import OtterConfigError

__all__ = [
    "Registry",
    "MODELS",
    "DATASETS",
    "OPTIMIZERS",
    "LR_SCHEDULERS",
    "CALLBACKS",
    "LOGGERS",
    "ONNX_WRAPPERS",
    "resolve",
    "close_matches",
]


def close_matches(name: str, candidates: List[str], n: int = 3) -> List[str]:
    """Names in ``candidates`` that look like ``name`` (case-insensitive)."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not hits and len(name) >= 3:
        # A shortened name (opset -> opset_version) is close too.
        hits = [c for c in lowered if c.startswith(name.lower()) or name.lower().startswith(c)][:n]
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: List[str]) -> str:
    """`` (did you mean 'X'?)`` or an empty string."""
    hits = close_matches(name, candidates)
    if not hits:
        return ""
    return " (did you mean " + " or ".join(repr(h) for h in hits) + "?)"


class Registry:
    """A named table of classes or functions.

    Args:
        name: Shown in errors, e.g. ``"optimizers"``.
        builtins: Called once with the registry before its first lookup, to add
            the built-in entries (imports heavy modules lazily).

    >>> MODELS = Registry("models")
    >>> @MODELS.register()
    ... class Tiny: ...
    >>> MODELS.get("Tiny") is Tiny
    True
    """

    def __init__(self, name: str, builtins: Optional[Callable[["Registry"], None]] = None):
        self.name = name
        self._entries: Dict[str, Any] = {}
        self._builtins = builtins

    def _load_builtins(self) -> None:
        if self._builtins is not None:
            loader, self._builtins = self._builtins, None
            loader(self)

    def register(self, obj: Any = None, *, name: Optional[str] = None, force: bool = False) -> Any:
        """Add ``obj`` under ``name`` (default: its ``__name__``).

        Works as ``@REG.register()``, ``@REG.register(name="X")`` and ``REG.register(obj)``.

        Raises:
            KeyError: the name is taken and ``force`` is false.
        """

        def add(target: Any) -> Any:
            key = name or target.__name__
            if not force and key in self._entries and self._entries[key] is not target:
                raise KeyError(f"{key!r} is already registered in {self.name}; pass force=True to replace it")
            self._entries[key] = target
            return target

        return add if obj is None else add(obj)

    def get(self, name: str) -> Any:
        """Look ``name`` up.

        Raises:
            OtterConfigError: the name is unknown; the message lists close matches.
        """
        self._load_builtins()
        try:
            return self._entries[name]
        except KeyError:
            raise OtterConfigError(f"unknown name {name!r} in {self.name}{did_you_mean(str(name), self.names())}") from None

    def names(self) -> List[str]:
        self._load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_builtins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} entries)"


def resolve(name: str, registry: Registry, *modules: Optional[ModuleType]) -> Any:
    """Find ``name`` in ``registry``, then as an attribute of each project module.

    A module passed as ``network=`` (models) or as the dataset module is searched
    by class name, the way the original Otter projects call it.

    Raises:
        OtterConfigError: found nowhere; the message lists close matches from all places.
    """
    if name in registry:
        return registry.get(name)
    candidates = registry.names()
    for module in modules:
        if module is None:
            continue
        found = getattr(module, name, None)
        if found is not None and not isinstance(found, ModuleType) and not name.startswith("_"):
            return found
        candidates += [n for n, v in vars(module).items() if inspect.isclass(v) or inspect.isfunction(v)]
    where = " or ".join([registry.name] + [m.__name__ for m in modules if m is not None])
    raise OtterConfigError(f"unknown name {name!r} in {where}{did_you_mean(str(name), sorted(set(candidates)))}")


# Built-ins that cannot be written in a YAML file: they take Python callables,
# other scheduler/callback objects, or are abstract bases.
NOT_FROM_CONFIG = {
    "LambdaLR",
    "MultiplicativeLR",
    "SequentialLR",
    "ChainedScheduler",
    "LambdaCallback",
    "ThroughputMonitor",
    "BasePredictionWriter",
    "BaseFinetuning",
    "Checkpoint",
    "ProgressBar",
    # Muon takes only matrices and needs a second optimizer for the rest.
    "Muon",
}


def _public_classes(module: ModuleType, base: type) -> Dict[str, type]:
    return {
        n: v
        for n, v in vars(module).items()
        if inspect.isclass(v)
        and issubclass(v, base)
        and v is not base
        and not n.startswith("_")
        and n not in NOT_FROM_CONFIG
    }


def _add_optimizers(reg: Registry) -> None:
    import torch.optim

    for n, cls in _public_classes(torch.optim, torch.optim.Optimizer).items():
        reg.register(cls, name=n)


def _add_lr_schedulers(reg: Registry) -> None:
    import torch.optim.lr_scheduler as sched

    base = getattr(sched, "LRScheduler", None) or sched._LRScheduler
    for n, cls in _public_classes(sched, base).items():
        reg.register(cls, name=n)
    reg.register(sched.ReduceLROnPlateau, name="ReduceLROnPlateau", force=True)
    from .optim import PolynomialLRWarmup

    reg.register(PolynomialLRWarmup, force=True)


def _add_callbacks(reg: Registry) -> None:
    import lightning.pytorch.callbacks as cbs

    for n, cls in _public_classes(cbs, cbs.Callback).items():
        reg.register(cls, name=n)
    from .callbacks import CustomTQDMProgressBar

    reg.register(CustomTQDMProgressBar, force=True)


def _add_loggers(reg: Registry) -> None:
    import lightning.pytorch.loggers as lgs

    for n, cls in _public_classes(lgs, lgs.Logger).items():
        reg.register(cls, name=n)


MODELS = Registry("models")
DATASETS = Registry("datasets")
OPTIMIZERS = Registry("optimizers", _add_optimizers)
LR_SCHEDULERS = Registry("lr_schedulers", _add_lr_schedulers)
CALLBACKS = Registry("callbacks", _add_callbacks)
LOGGERS = Registry("loggers", _add_loggers)
ONNX_WRAPPERS = Registry("onnx wrappers")
