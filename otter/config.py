"""Load, merge, override and validate one YAML config.

A config is read with ``yaml.safe_load`` only; nothing in it is executed.
``_base_: other.yaml`` (or a list) deep-merges configs from the same folder
first; ``key.path=value`` overrides come last. The whole result is validated
before anything is built, so a bad config never creates a run folder.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Union

from .errors import OtterConfigError
from .yamlfile import OVERRIDES_SOURCE, read_yaml, safe_load

__all__ = [
    "Config",
    "OtterConfigWarning",
    "load_config",
    "read_config",
    "apply_overrides",
    "find_config",
    "config_name",
    "check_config",
    "CheckReport",
    "SECTIONS",
]

PathLike = Union[str, Path]

#: Top-level sections of a config, in the order they are written back.
SECTIONS = (
    "common",
    "global_settings",
    "trainer",
    "model",
    "onnx",
    "dataset",
    "dataloader",
    "optimizer",
    "lr_scheduler",
    "callbacks",
    "logger",
)

#: Keys Otter adds at run time; they are not part of a config file.
RUNTIME_KEYS = ("name", "name_ind", "root_dir")



class OtterConfigWarning(UserWarning):
    """A config problem that does not stop this command (e.g. the ``onnx:`` section while training)."""


class Config(dict):
    """A ``dict`` whose keys are also attributes, recursively.

    >>> cfg = Config({"common": {"batch_size": 8}})
    >>> cfg.common.batch_size, cfg["common"]["batch_size"]
    (8, 8)
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self.update(*args, **kwargs)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Config":
        return Config(copy.deepcopy(dict(self), memo))

    def __reduce__(self) -> Any:
        return (Config, (self.to_dict(),))

    def to_dict(self) -> Dict[str, Any]:
        """A plain ``dict``/``list`` copy, e.g. for ``yaml.safe_dump``."""
        return _unwrap(self)


def _wrap(value: Any) -> Any:
    if isinstance(value, Config):
        return value
    if isinstance(value, Mapping):
        return Config(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unwrap(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_config(path: PathLike, _chain: Optional[List[Path]] = None, _folder: Optional[Path] = None) -> Dict[str, Any]:
    """Read ``path`` and its ``_base_`` configs, merged, without validating.

    Bases are named relative to the file that names them and must lie inside the
    folder of the config being read (the config folder): a config cannot pull in
    files from elsewhere on the machine.

    Raises:
        OtterConfigError: unreadable, oversized or non-UTF-8 file, YAML syntax error,
            duplicate key, alias bomb, missing, circular or outside base.
    """
    path = Path(path)
    folder = _folder or path.resolve().parent
    chain = [*(_chain or []), path.resolve()]
    data = read_yaml(path)
    bases = data.pop("_base_", None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise OtterConfigError("expected a file name or a list of file names", file=str(path), key="_base_")
    merged: Dict[str, Any] = {}
    for base in bases:
        base_path = path.parent / base
        if base_path.suffix not in (".yaml", ".yml"):
            base_path = base_path.with_name(base_path.name + ".yaml")
        if not base_path.resolve().is_relative_to(folder):
            raise OtterConfigError(
                f"base config {base!r} is outside the config folder {folder}; bases must be in it",
                file=str(path),
                key="_base_",
            )
        if base_path.resolve() in chain:
            raise OtterConfigError(f"circular _base_: {base!r} includes itself", file=str(path), key="_base_")
        if not base_path.is_file():
            others = sorted(p.name for p in path.parent.glob("*.y*ml"))
            raise OtterConfigError(
                f"base config {base!r} not found in {path.parent} (there: {', '.join(others) or 'nothing'})",
                file=str(path),
                key="_base_",
            )
        merged = deep_merge(merged, read_config(base_path, chain, folder))
    return deep_merge(merged, data)


# --------------------------------------------------------------------------- #
# Overrides
# --------------------------------------------------------------------------- #


def _parse_override(text: str) -> tuple:
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OtterConfigError(f"override {text!r} is not of the form key.path=value", file=OVERRIDES_SOURCE)
    try:
        value = safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except OtterConfigError as e:
        raise e.located(OVERRIDES_SOURCE, key) from None
    return key, value


def apply_overrides(data: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML, digits index lists.

    >>> apply_overrides({"optimizer": {"options": {"lr": 0.1}}}, ["optimizer.options.lr=1e-3"])
    {'optimizer': {'options': {'lr': 0.001}}}

    Raises:
        OtterConfigError: a malformed override, or a path through something that is not a mapping or list.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        key, value = _parse_override(str(text))
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.lstrip("-").isdigit():
                    raise OtterConfigError(f"{here.rsplit('.', 1)[0]} is a list; index it with a number", OVERRIDES_SOURCE, here)
                index = int(part)
                if not -len(node) <= index < len(node):
                    raise OtterConfigError(f"index {index} is out of range (the list has {len(node)} items)", OVERRIDES_SOURCE, here)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise OtterConfigError(f"cannot set a key inside a {type(node).__name__}", OVERRIDES_SOURCE, here)
    return data


# --------------------------------------------------------------------------- #
# Finding configs
# --------------------------------------------------------------------------- #


CONFIG_SUFFIXES = (".yaml", ".yml")
_NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter, digit or '_'"


def config_name(cfg: PathLike) -> str:
    """The name of a config: its file name without ``.yaml`` (``tiny.v2.yaml`` -> ``tiny.v2``).

    The name is the run folder's name (``runs/<cfg_name>/``), so it must be one:
    letters, digits, ``_``, ``-`` and ``.``, not starting with ``.`` or ``-``.

    Raises:
        OtterConfigError: a name that cannot be a folder name.

    >>> config_name("config/tiny.v2.yaml"), config_name("tiny.v2")
    ('tiny.v2', 'tiny.v2')
    """
    import re

    name = Path(str(cfg)).name
    for suffix in CONFIG_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}", name):
        raise OtterConfigError(
            f"config name {name!r} cannot name its run folder runs/<cfg_name>/; use {_NAME_RULE} (at most 200)",
            file=str(cfg),
        )
    return name


def list_configs(folder: PathLike) -> List[str]:
    """Config names (file names without ``.yaml``) in ``folder``."""
    folder = Path(folder)
    return sorted(p.name[: -len(".yaml")] for p in folder.glob("*.yaml")) if folder.is_dir() else []


def find_config(cfg_name: PathLike, root: PathLike, stem: PathLike = "config") -> Path:
    """The file of ``cfg_name`` in ``<root>/<stem>/``; a path to a ``.yaml`` file works too.

    ``tiny.v2`` is the file ``tiny.v2.yaml``; a name is never read as a path, so
    ``../x`` cannot reach outside the config folder.

    Raises:
        OtterConfigError: no such config (the message lists the configs that exist),
            or a name that cannot be a folder name.
    """
    from .names import did_you_mean

    name = str(cfg_name)
    as_path = Path(name)
    if as_path.suffix in CONFIG_SUFFIXES and as_path.is_file():
        config_name(as_path)
        return as_path
    folder = Path(root) / stem
    if name and Path(name).name != name:
        raise OtterConfigError(
            f"config name {name!r} cannot name its run folder runs/<cfg_name>/; use {_NAME_RULE} "
            f"(a name, not a path: the file is looked up in {folder})",
            file=str(folder),
        )
    name = config_name(name) if name else name
    path = folder / f"{name}.yaml"
    if name and path.is_file():
        return path
    known = list_configs(folder)
    listing = ", ".join(known) if known else "none"
    raise OtterConfigError(
        f"unknown config {name!r}{did_you_mean(name, known)}; configs in {folder}: {listing}",
        file=str(folder),
    )


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def derive_batch_sizes(data: Dict[str, Any], file: Optional[str] = None) -> None:
    """Replace dataloader ``batch_size: -1`` by ``common.batch_size``, in place."""
    loaders = data.get("dataloader")
    if not isinstance(loaders, Mapping):
        return
    for split, options in loaders.items():
        if isinstance(options, dict) and options.get("batch_size") == -1:
            common = data.get("common") or {}
            if not isinstance(common, Mapping) or "batch_size" not in common:
                raise OtterConfigError(
                    "batch_size: -1 means 'use common.batch_size', but common.batch_size is not set",
                    file,
                    f"dataloader.{split}.batch_size",
                )
            options["batch_size"] = common["batch_size"]


def load_config(
    path: PathLike,
    overrides: Sequence[str] = (),
    *,
    mode: str = "train",
    scope: Optional[Any] = None,
) -> Config:
    """Read, merge, override and validate a config.

    Args:
        path: The YAML file.
        overrides: ``key.path=value`` strings, applied after ``_base_`` merging.
        mode: ``"train"``, ``"check"`` or ``"to_onnx"``; problems in the ``onnx:`` section
            are warnings except for ``"to_onnx"``.
        scope: A :class:`otter.validate.Scope` naming the project modules to resolve
            model and dataset names in; ``None`` checks only what the registries hold.

    Returns:
        The validated :class:`Config`.

    Raises:
        OtterConfigError: the first problem found, as ``<file>: <key.path>: <message>``.

    >>> cfg = load_config("config/default.yaml", ["trainer.max_epochs=1"])  # doctest: +SKIP
    """
    from .validate import fill_defaults, validate_config

    config_name(path)
    data = read_config(path)
    data = apply_overrides(data, overrides)
    derive_batch_sizes(data, str(path))
    report = validate_config(data, file=str(path), mode=mode, scope=scope)
    for message in report.warnings:
        warnings.warn(message, OtterConfigWarning, stacklevel=2)
    fill_defaults(data)
    cfg = Config(data)
    # Kept off the keys so the saved config stays loadable; used in later error messages.
    object.__setattr__(cfg, "__file__", str(path))
    return cfg


class CheckReport(NamedTuple):
    """What ``check`` found that did not stop it: warnings, and names it could not check here."""

    warnings: List[str]
    unchecked: List[str]


def check_config(path: PathLike, overrides: Sequence[str] = (), *, scope: Optional[Any] = None) -> CheckReport:
    """What ``otter check`` does: read, merge, override and validate, building only in a throwaway folder.

    A config that passed before, unchanged, with the same packages, otter code and machine,
    is not checked again (see :mod:`otter.signatures`): that answer needs neither torch nor
    Lightning. Anything else is checked in full.

    Raises:
        OtterConfigError: the first problem found.
    """
    from .signatures import passed_before, remember_passed

    config_name(path)
    data = apply_overrides(read_config(path), overrides)
    derive_batch_sizes(data, str(path))
    if scope is None:
        known = passed_before(data, str(path))
        if known is not None:
            return CheckReport(known["warnings"], known["unchecked"])
    from .validate import Scope, validate_config

    report = validate_config(data, file=str(path), mode="check", scope=scope or Scope(strict=False))
    if scope is None:
        remember_passed(data, str(path), report.warnings, report.unchecked)
    return CheckReport(list(report.warnings), list(report.unchecked))


def dump_config(cfg: Mapping[str, Any], path: PathLike, header: str = "") -> None:
    """Write ``cfg`` as YAML (sections in the usual order, run-time keys left out)."""
    import yaml

    plain = _unwrap(cfg)
    ordered = {k: plain[k] for k in SECTIONS if k in plain}
    ordered.update({k: v for k, v in plain.items() if k not in ordered and k not in RUNTIME_KEYS})
    text = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)
    Path(path).write_text(header + text, encoding="utf-8")
