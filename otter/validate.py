"""Validation of a whole config before anything runs.

Two passes. The shape of every section is checked with the pydantic models of
:mod:`otter.schema` (``extra="forbid"``), so a typo is reported with its full key path. Then every
``name`` is resolved in its registry (or the project's modules) and its
``options`` are checked against the signature of the class or function they
feed: unknown options, missing required ones and values of the wrong type.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from pydantic import ConfigDict, ValidationError

from .errors import OtterConfigError
from .probe import probe_constructors, resolve_or_raise
from .registry import (
    CALLBACKS,
    DATASETS,
    LOGGERS,
    LR_SCHEDULERS,
    MODELS,
    ONNX_WRAPPERS,
    OPTIMIZERS,
    Registry,
    did_you_mean,
    resolve,
)
from .schema import fill_defaults, validate_onnx_section, validate_shape

__all__ = ["Scope", "Report", "validate_config", "check_options", "check_datasets", "fill_defaults", "probe_constructors"]


# --------------------------------------------------------------------------- #
# Names and options
# --------------------------------------------------------------------------- #


@dataclass
class Scope:
    """Where project names (models, datasets, ONNX wrappers) are looked up.

    Args:
        modules: Project modules searched by class name after the registries.
        strict: Unresolvable project names are errors (inside a project), or only
            reported as not checked (``otter check`` on a bare file).
    """

    modules: Sequence[ModuleType] = ()
    strict: bool = True
    #: Dataset names not found in ``modules`` are checked later, when :func:`otter.build_dataset`
    #: receives the dataset module (the seed's calling convention); ``check`` never defers.
    defer_datasets: bool = False


@dataclass
class Report:
    """What validation found that did not stop it."""

    warnings: List[str] = field(default_factory=list)
    unchecked: List[str] = field(default_factory=list)


def _callable_of(target: Any) -> Callable[..., Any]:
    return target.__init__ if inspect.isclass(target) else target


def _type_hints(target: Any) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(_callable_of(target))
    except Exception:  # forward references a library never resolves
        return {}


def _type_ok(annotation: Any, value: Any) -> bool:
    from pydantic import TypeAdapter

    try:
        adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:
        try:
            adapter = TypeAdapter(annotation)
        except Exception:
            return True  # annotations pydantic cannot express are not checked
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    except Exception:
        return True
    return True


def _type_name(annotation: Any) -> str:
    """A short, readable name: ``float or Tensor``, ``list[int]``, ``'step' or 'epoch'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if origin is not None:
        inner = ", ".join(_type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]" if inner else getattr(origin, "__name__", str(origin))
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def check_options(
    target: Any,
    options: Mapping[str, Any],
    *,
    file: Optional[str],
    key: str,
    skip: Sequence[str] = (),
    provided: Sequence[str] = (),
    option_keys: Optional[Mapping[str, str]] = None,
) -> None:
    """Check ``options`` against the signature of ``target`` (a class or function).

    Args:
        target: What the options are passed to as keyword arguments.
        options: The keyword arguments from the config.
        file: The config file, for the error.
        key: Key path of the ``options`` mapping, e.g. ``optimizer.options``.
        skip: Parameters Otter fills itself (``params``, ``optimizer``, ``cfg``); not allowed in options.
        provided: Parameters filled elsewhere (not required in ``options``).
        option_keys: Key path per option where it does not live under ``key``
            (values merged in from ``global_settings``).

    A class whose ``**kwargs`` go on to another callable names it as ``OTTER_KWARGS_TARGET``
    (the callable, or ``"module:attribute"`` so a heavy import waits until it is needed);
    options the class does not take itself are then checked against that callable.

    Raises:
        OtterConfigError: an option the target does not take, a missing required one, or a wrong type.
    """
    name = getattr(target, "__name__", repr(target))
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # builtins without a signature are not checked
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    forward = getattr(target, "OTTER_KWARGS_TARGET", None) if accepts_any else None
    named = {
        n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"
    }
    option_keys = option_keys or {}
    where = lambda opt: option_keys.get(opt, f"{key}.{opt}")  # noqa: E731
    for opt in options:
        if opt in skip:
            raise OtterConfigError(f"{opt!r} is filled in by Otter; remove it", file, where(opt))
        if opt not in named and not accepts_any:
            accepted = [n for n in named if n not in skip]
            hint = did_you_mean(str(opt), accepted)
            if not hint:
                listing = ", ".join(accepted[:12]) + (", ..." if len(accepted) > 12 else "")
                hint = f"; it takes: {listing or 'nothing'}"
            raise OtterConfigError(f"{name} has no option {opt!r}{hint}", file, where(opt))
    if forward is not None:
        # The class passes its **kwargs on: check them against what receives them.
        receiver = _import_target(forward) if isinstance(forward, str) else forward
        rest = {k: v for k, v in options.items() if k not in named}
        try:
            filled = tuple(inspect.signature(receiver).parameters)  # what the class fills in is not required here
        except (TypeError, ValueError):
            filled = ()
        check_options(receiver, rest, file=file, key=key, provided=filled, option_keys=option_keys)
    for n, p in named.items():
        if p.default is p.empty and n not in options and n not in skip and n not in provided:
            raise OtterConfigError(f"{name} needs option {n!r}", file, key)
    hints = _type_hints(target)
    for opt, value in options.items():
        if opt in hints and value is not None and not _type_ok(hints[opt], value):
            raise OtterConfigError(f"{name} expects {_type_name(hints[opt])}, got {value!r}", file, where(opt))


def _import_target(spec: str) -> Any:
    import importlib

    module, _, attr = spec.partition(":")
    target: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        target = getattr(target, part)
    return target


def _resolve_entry(
    name: str,
    registry: Registry,
    scope: Scope,
    report: Report,
    file: Optional[str],
    key: str,
    project_name: bool,
    defer: bool = False,
) -> Any:
    """Resolve a name; a project name outside a project is only noted as unchecked."""
    try:
        return resolve(name, registry, *scope.modules)
    except OtterConfigError as e:
        if project_name and not scope.strict:
            report.unchecked.append(f"{key}: {name!r} is not registered here (check it inside its project)")
            return None
        if defer:
            report.unchecked.append(f"{key}: {name!r} is checked when build_dataset receives its module")
            return None
        raise e.located(file, key) from None


def _options(entry: Mapping[str, Any]) -> Dict[str, Any]:
    return dict(entry.get("options") or {})


PL_SCHEDULER_KEYS = ("interval", "frequency", "monitor", "strict", "name", "reduce_on_plateau")


def _check_trainer(trainer: Mapping[str, Any], file: Optional[str]) -> None:
    from lightning.pytorch import Trainer

    for reserved, section in (("logger", "logger"), ("callbacks", "callbacks"), ("default_root_dir", "common")):
        if reserved in trainer:
            hint = f"set it in the {section!r} section" if section != "common" else "Otter puts each run in runs/<cfg_name>/<run_id>/"
            raise OtterConfigError(f"Otter sets {reserved!r}; {hint}", file, f"trainer.{reserved}")
    check_options(Trainer, trainer, file=file, key="trainer")


def _check_dataloaders(section: Mapping[str, Any], file: Optional[str]) -> None:
    from torch.utils.data import DataLoader

    for split, options in section.items():
        if options:
            check_options(DataLoader, options, file=file, key=f"dataloader.{split}", skip=("dataset",))


def _check_datasets(data: Mapping[str, Any], scope: Scope, report: Report, file: Optional[str]) -> None:
    shared = dict(data.get("global_settings") or {})
    for split, entry in (data.get("dataset") or {}).items():
        if not entry:
            continue
        key = f"dataset.{split}"
        target = _resolve_entry(entry["name"], DATASETS, scope, report, file, f"{key}.name", project_name=True, defer=scope.defer_datasets)
        if target is None:
            continue
        options = {**_options(entry), **shared}
        keys = {k: f"global_settings.{k}" for k in shared}
        check_options(target, options, file=file, key=f"{key}.options", option_keys=keys)


def check_datasets(data: Mapping[str, Any], *modules: Optional[ModuleType], file: Optional[str] = None) -> None:
    """Check the dataset entries with the module that holds them, as it arrives (``build_dataset(cfg, ds)``).

    Raises:
        OtterConfigError: a name found nowhere, or options its class does not take.
    """
    _check_datasets(data, Scope([m for m in modules if m is not None], strict=True), Report(), file)


def _check_model(model: Mapping[str, Any], scope: Scope, report: Report, file: Optional[str]) -> None:
    target = _resolve_entry(model["name"], MODELS, scope, report, file, "model.name", project_name=True)
    if target is not None:
        params = inspect.signature(target).parameters
        if "cfg" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise OtterConfigError(f"{model['name']} must take the config as `cfg`", file, "model.name")
    for part, entry in model.items():
        if not (isinstance(entry, Mapping) and isinstance(entry.get("name"), str)):
            continue
        options = entry.get("options")
        if options is not None and not isinstance(options, Mapping):
            raise OtterConfigError(f"expected a mapping of options, got {options!r}", file, f"model.{part}.options")
        component = _resolve_entry(entry["name"], MODELS, scope, report, file, f"model.{part}.name", project_name=True)
        if component is not None:
            # The model passes what it derives (e.g. in_channels_list) itself.
            check_options(component, options or {}, file=file, key=f"model.{part}.options", provided=_derived_args(component))


def _derived_args(target: Any) -> Tuple[str, ...]:
    """Parameters a model fills in for its components (declared with ``OTTER_DERIVED``)."""
    return tuple(getattr(target, "OTTER_DERIVED", ()))


def _check_onnx(onnx: Mapping[str, Any], scope: Scope, report: Report, file: Optional[str]) -> None:
    if isinstance(onnx, Mapping) and isinstance(onnx.get("name"), str):
        _resolve_entry(onnx["name"], ONNX_WRAPPERS, scope, report, file, "onnx.name", project_name=True)
    validate_onnx_section(onnx, file=file)


def _check_logger(logger: Any, file: Optional[str]) -> None:
    entries = logger if isinstance(logger, list) else [logger]
    for i, entry in enumerate(entries):
        key = f"logger.{i}" if isinstance(logger, list) else "logger"
        target = resolve_or_raise(entry["name"], LOGGERS, file, f"{key}.name")
        # Otter puts save_dir inside the run folder (relative paths) when it is not given.
        check_options(target, _options(entry), file=file, key=f"{key}.options", provided=("save_dir",))


def validate_config(
    data: Mapping[str, Any],
    *,
    file: Optional[str] = None,
    mode: str = "train",
    scope: Optional[Scope] = None,
    build: bool = True,
) -> Report:
    """Validate a merged config. See the module docstring.

    With ``build`` (the default), the objects that can be built without side effects
    are built in a throwaway folder too (:func:`probe_constructors`), so whatever
    their constructors refuse is reported before anything runs.

    Raises:
        OtterConfigError: the first problem, with its key path.
    """
    scope = scope or Scope(strict=False)
    if mode == "check" and scope.defer_datasets:
        # check is given every module of the project: nothing arrives later.
        scope = Scope(scope.modules, strict=scope.strict)
    report = Report()
    validate_shape(data, file)

    optimizer = resolve_or_raise(data["optimizer"]["name"], OPTIMIZERS, file, "optimizer.name")
    check_options(optimizer, _options(data["optimizer"]), file=file, key="optimizer.options", skip=("params",))

    scheduler = data.get("lr_scheduler")
    if scheduler:
        target = resolve_or_raise(scheduler["name"], LR_SCHEDULERS, file, "lr_scheduler.name")
        check_options(target, _options(scheduler), file=file, key="lr_scheduler.options", skip=("optimizer",))
        for k, v in (scheduler.get("pl_options") or {}).items():
            if k not in PL_SCHEDULER_KEYS:
                raise OtterConfigError(
                    f"unknown key{did_you_mean(k, list(PL_SCHEDULER_KEYS))}; Lightning takes: {', '.join(PL_SCHEDULER_KEYS)}",
                    file,
                    f"lr_scheduler.pl_options.{k}",
                )
            if k == "interval" and v not in ("step", "epoch"):
                raise OtterConfigError(f"expected 'step' or 'epoch', got {v!r}", file, "lr_scheduler.pl_options.interval")

    for i, entry in enumerate(data.get("callbacks") or []):
        target = resolve_or_raise(entry["name"], CALLBACKS, file, f"callbacks.{i}.name")
        check_options(target, _options(entry), file=file, key=f"callbacks.{i}.options")

    if data.get("logger"):
        _check_logger(data["logger"], file)
    if data.get("trainer"):
        _check_trainer(data["trainer"], file)
    if data.get("dataloader"):
        _check_dataloaders({k: v for k, v in data["dataloader"].items() if v}, file)
    _check_datasets(data, scope, report, file)
    _check_model(data["model"], scope, report, file)
    if build:
        probe_constructors(data, file, report)

    if data.get("onnx") is not None or mode == "to_onnx":
        try:
            if data.get("onnx") is None:
                raise OtterConfigError("missing the onnx section that export reads", file, "onnx")
            _check_onnx(data["onnx"], scope, report, file)
        except OtterConfigError as e:
            if mode == "to_onnx":
                raise
            report.warnings.append(f"{e} (export will refuse this; {mode} goes on)")
    return report
