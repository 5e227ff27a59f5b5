"""One registry mechanism for everything a config names, and the one function that builds from it.

A :class:`Registry` maps names to classes or functions. Projects add their own
with a decorator; the built-in registries fill themselves from torch, Lightning
and otter's own components the first time they are looked into, so ``import
otter`` stays cheap. :func:`build` turns a ``name`` + ``options`` entry into an
object; otter and the generated projects build everything through it.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from .errors import OtterConfigError
from .names import close_matches, did_you_mean

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
    "build",
    "close_matches",
    "did_you_mean",
]


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
            # A name the project registered before the first lookup keeps the project's entry.
            own = dict(self._entries)
            loader(self)
            self._entries.update(own)

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

    def alias(self, name: str, target: Any, *, force: bool = False, **preset: Any) -> Any:
        """Register ``target`` under another ``name``, with some of its arguments fixed.

        For classes that differ only in flags: one class, and the old names as aliases
        (``HEADS.alias("SqueezeHead", Head, squeeze=True)``). The alias keeps the
        target's signature (the preset arguments become defaults) and its ``OTTER_DERIVED``.

        Returns:
            The registered callable (a :func:`functools.partial` of ``target``).
        """
        import functools

        made = functools.partial(target, **preset)
        made.__name__ = made.__qualname__ = name  # type: ignore[attr-defined]
        made.__doc__ = f"{getattr(target, '__name__', target)} with {', '.join(f'{k}={v!r}' for k, v in preset.items())}."
        made.__module__ = getattr(target, "__module__", None)  # type: ignore[attr-defined]
        if hasattr(target, "OTTER_DERIVED"):
            made.OTTER_DERIVED = target.OTTER_DERIVED  # type: ignore[attr-defined]
        return self.register(made, name=name, force=force)

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


def build(
    entry: Mapping[str, Any],
    registry: Registry,
    *modules: Optional[ModuleType],
    args: Sequence[Any] = (),
    derived: Optional[Mapping[str, Any]] = None,
    key: Optional[str] = None,
    **kwargs: Any,
) -> Any:
    """Build a ``name`` + ``options`` entry: the one place a config entry becomes an object.

    The name is looked up in ``registry``, then in ``modules`` by attribute (the
    original Otter projects' way). The target is called as
    ``target(*args, **options, **kwargs, **derived_it_takes)``.

    Args:
        entry: A mapping with ``name`` and optional ``options``.
        registry: Where the name is registered.
        *modules: Project modules searched after the registry.
        args: Positional arguments Otter passes (an optimizer's parameters, a wrapped model).
        derived: Values the caller derives (a head's ``in_channels_list``); each is passed only
            when the target lists it in its ``OTTER_DERIVED`` attribute.
        key: Key path of the entry (``model.head``), so an unknown name is reported at ``<key>.name``.
        **kwargs: Keyword arguments Otter passes whatever the target (``cfg=cfg``).

    Raises:
        OtterConfigError: the name is unknown (with close matches), or a keyword is given twice.

    >>> REG = Registry("demo")
    >>> _ = REG.register(dict, name="Dict")
    >>> build({"name": "Dict", "options": {"a": 1}}, REG, b=2)
    {'a': 1, 'b': 2}
    """
    name = entry.get("name")
    try:
        target = resolve(str(name), registry, *modules)
    except OtterConfigError as e:
        raise e.located(key_prefix=f"{key}.name" if key else None) from None
    options = dict(entry.get("options") or {})
    wanted = getattr(target, "OTTER_DERIVED", ())
    extra = {**kwargs, **{k: v for k, v in (derived or {}).items() if k in wanted}}
    twice = sorted(set(options) & set(extra))
    if twice:
        where = f"{key}.options.{twice[0]}" if key else None
        raise OtterConfigError(f"{twice[0]!r} is filled in by Otter for {name}; remove it", key=where)
    return target(*args, **options, **extra)


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
    from .ckpt_save import LastCheckpoint

    reg.register(CustomTQDMProgressBar, force=True)
    reg.register(LastCheckpoint, force=True)


def _add_loggers(reg: Registry) -> None:
    import lightning.pytorch.loggers as lgs

    for n, cls in _public_classes(lgs, lgs.Logger).items():
        reg.register(cls, name=n)


def _add_models(reg: Registry) -> None:
    from .backbone import Backbone
    from .corners import CornerHeatmapHead, FPNNeck, HeatmapLoss

    for cls in (Backbone, FPNNeck, CornerHeatmapHead, HeatmapLoss):
        reg.register(cls, force=True)


MODELS = Registry("models", _add_models)
DATASETS = Registry("datasets")
OPTIMIZERS = Registry("optimizers", _add_optimizers)
LR_SCHEDULERS = Registry("lr_schedulers", _add_lr_schedulers)
CALLBACKS = Registry("callbacks", _add_callbacks)
LOGGERS = Registry("loggers", _add_loggers)
ONNX_WRAPPERS = Registry("onnx wrappers")
