"""The shape of every config section, as pydantic models (``extra="forbid"``).

One mechanism for every section, the ``onnx:`` section included: unknown keys
(with a did-you-mean), missing required keys and wrong types are found by
pydantic and reported by :func:`shape_error` as one
``<file>: <key.path>: <message>`` line. Rules that tie several keys together
(an input name must have a shape, a dynamic axis must name an input or output)
run as model validators that raise :class:`~otter.errors.OtterConfigError`
with the exact key path.

What names resolve to and which options a class takes is checked later, by
:mod:`otter.validate`, against the real signatures.
"""

from __future__ import annotations

import inspect
import os
import typing
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import OtterConfigError
from .registry import did_you_mean
from .schema_help import KEY_HELP

__all__ = [
    "RootConfig",
    "CommonSection",
    "OnnxSection",
    "validate_shape",
    "validate_onnx_section",
    "shape_error",
    "dynamic_axes_of",
    "fill_defaults",
    "DTYPES",
    "RESERVED_META_KEYS",
]

PathLike = Union[str, "os.PathLike[str]"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamedEntry(_Section):
    """Anything a config builds by name: ``name`` + ``options``."""

    name: str = Field(description=KEY_HELP["NamedEntry.name"])
    options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["NamedEntry.options"])


class SchedulerEntry(NamedEntry):
    """The learning-rate scheduler: ``name`` + ``options``, and how Lightning steps it."""

    pl_options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["SchedulerEntry.pl_options"])


class CommonSection(BaseModel):
    """Settings of the whole run: batch size, input size, seed, and what to restore from."""

    # Projects keep their own flags here (the seed's use_imagenet, use_clip).
    model_config = ConfigDict(extra="allow")

    batch_size: Optional[int] = Field(None, description=KEY_HELP["CommonSection.batch_size"])
    image_size: Optional[List[int]] = Field(None, description=KEY_HELP["CommonSection.image_size"])
    is_restore: bool = Field(False, description=KEY_HELP["CommonSection.is_restore"])
    restore_ind: Union[str, int, None] = Field("", description=KEY_HELP["CommonSection.restore_ind"])
    restore_ckpt: Optional[str] = Field("", description=KEY_HELP["CommonSection.restore_ckpt"])
    restore_cfg: Optional[str] = Field("", description=KEY_HELP["CommonSection.restore_cfg"])
    restore_all_states: bool = Field(False, description=KEY_HELP["CommonSection.restore_all_states"])
    restore_strict: bool = Field(True, description=KEY_HELP["CommonSection.restore_strict"])
    preview_batch: Optional[int] = Field(None, description=KEY_HELP["CommonSection.preview_batch"])
    seed: Optional[int] = Field(None, description=KEY_HELP["CommonSection.seed"])

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v < 1:
            raise ValueError("must be a positive integer")
        return v


class ModelSection(BaseModel):
    """The project's LightningModule, built with the whole config; its parts are the project's own keys."""

    # Components (backbone, neck, head, loss, ...) are the project's own keys.
    model_config = ConfigDict(extra="allow")

    name: str = Field(description=KEY_HELP["ModelSection.name"])


class DatasetSection(_Section):
    """The datasets, each ``name`` + ``options``; ``global_settings`` is merged over their options."""

    train_options: Optional[NamedEntry] = Field(None, description=KEY_HELP["DatasetSection.train_options"])
    valid_options: Optional[NamedEntry] = Field(None, description=KEY_HELP["DatasetSection.valid_options"])
    test_options: Optional[NamedEntry] = Field(None, description=KEY_HELP["DatasetSection.test_options"])


class DataloaderSection(_Section):
    """Keyword arguments of each split's ``torch.utils.data.DataLoader``."""

    train_options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["DataloaderSection.train_options"])
    valid_options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["DataloaderSection.valid_options"])
    test_options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["DataloaderSection.test_options"])


class RootConfig(_Section):
    """A whole config: one YAML file in the project's ``config/`` folder."""

    common: CommonSection = Field(description=KEY_HELP["RootConfig.common"])
    global_settings: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["RootConfig.global_settings"])
    trainer: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["RootConfig.trainer"])
    model: ModelSection = Field(description=KEY_HELP["RootConfig.model"])
    # Checked on its own by validate_onnx_section: its problems are warnings except for export.
    onnx: Optional[Any] = Field(None, description=KEY_HELP["RootConfig.onnx"])
    dataset: DatasetSection = Field(description=KEY_HELP["RootConfig.dataset"])
    dataloader: Optional[DataloaderSection] = Field(None, description=KEY_HELP["RootConfig.dataloader"])
    optimizer: NamedEntry = Field(description=KEY_HELP["RootConfig.optimizer"])
    lr_scheduler: Optional[SchedulerEntry] = Field(None, description=KEY_HELP["RootConfig.lr_scheduler"])
    callbacks: Optional[List[NamedEntry]] = Field(None, description=KEY_HELP["RootConfig.callbacks"])
    logger: Optional[Union[NamedEntry, List[NamedEntry]]] = Field(None, description=KEY_HELP["RootConfig.logger"])


def fill_defaults(data: Dict[str, Any]) -> None:
    """Write the defaults of ``common``'s known keys into ``data`` (shown in the saved config)."""
    common = data.setdefault("common", {})
    for name, info in CommonSection.model_fields.items():
        if name not in common and name not in ("batch_size", "image_size", "preview_batch"):
            common[name] = info.get_default()


# --------------------------------------------------------------------------- #
# The onnx: section
# --------------------------------------------------------------------------- #

#: Input dtypes that torch, numpy and onnxruntime all know by the same name.
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")

#: Metadata keys Otter writes itself; ``meta`` and ``additional_meta_info`` may not reuse them.
RESERVED_META_KEYS = (
    "wrapper",
    "inputs",
    "input_names",
    "output_names",
    "dynamic_axes",
    "opset",
    "params",
    "flops",
    "macs",
    "parity_max_abs_diff",
    "otter_version",
    "torch_version",
    "export_date",
)

# torch.onnx.export parameters that Otter fills from the rest of the section.
_FILLED_BY_OTTER = {
    "model": "the wrapper named by onnx.name",
    "args": "onnx.input_shape",
    "f": "the export path",
    "kwargs": "onnx.input_shape",
    "input_names": "onnx.input_names",
    "output_names": "onnx.output_names",
    "dynamic_axes": "onnx.dynamic_axes",
}
# These take Python objects (enums, callables) that a YAML file cannot hold.
_NOT_FROM_CONFIG = ("training", "operator_export_type", "custom_translation_table")
# torch.onnx.export silently ignores each group under the other exporter, so a
# value set there would look honoured while it is not.
_DYNAMO_ONLY = (
    "external_data",
    "dynamic_shapes",
    "report",
    "optimize",
    "verify",
    "profile",
    "dump_exported_program",
    "artifacts_dir",
)
_TORCHSCRIPT_ONLY = ("do_constant_folding", "custom_opsets", "export_modules_as_functions", "autograd_inlining")


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _axis(key: Any) -> Optional[int]:
    """An axis from a YAML key: ``0`` or ``"0"``; ``None`` when it is neither."""
    if _is_int(key) and key >= 0:
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


class OnnxInput(_Section):
    """One entry of ``onnx.input_shape``: ``{shape: [1, 3, 224, 224], dtype: float32}``."""

    shape: List[Any] = Field(description=KEY_HELP["OnnxInput.shape"])
    dtype: Any = Field("float32", description=KEY_HELP["OnnxInput.dtype"])


class OnnxSection(_Section):
    """The ``onnx:`` section: what ``to_onnx`` exports and how.

    ``input_shape`` maps each input name to its shape (positive ints) and dtype (one
    of :data:`DTYPES`); ``dynamic_axes`` maps an input or output name to
    ``{axis: label}`` (YAML's string keys ``"0"`` are accepted); ``options`` go to
    ``torch.onnx.export``; ``additional_meta_info`` is stored in the file.
    """

    name: str = Field(description=KEY_HELP["OnnxSection.name"])
    input_shape: Dict[str, OnnxInput] = Field(description=KEY_HELP["OnnxSection.input_shape"])
    input_names: List[str] = Field(description=KEY_HELP["OnnxSection.input_names"])
    output_names: List[str] = Field(description=KEY_HELP["OnnxSection.output_names"])
    dynamic_axes: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["OnnxSection.dynamic_axes"])
    options: Optional[Dict[str, Any]] = Field(None, description=KEY_HELP["OnnxSection.options"])
    additional_meta_info: Optional[Dict[Any, Any]] = Field(None, description=KEY_HELP["OnnxSection.additional_meta_info"])

    @model_validator(mode="after")
    def _consistent(self) -> "OnnxSection":
        if not self.name:
            raise OtterConfigError("expected the registered name of an ONNX wrapper, got ''", key="onnx.name")
        _check_names(self.input_names, "onnx.input_names")
        _check_names(self.output_names, "onnx.output_names")
        _check_input_shape(self.input_shape, self.input_names)
        for i, out in enumerate(self.output_names):
            if out in self.input_names:
                # ONNX value names are global to the graph.
                raise OtterConfigError(f"{out!r} is also an input name; ONNX needs distinct names", key=f"onnx.output_names.{i}")
        if self.dynamic_axes is not None:
            _check_dynamic_axes(self.dynamic_axes, self.input_shape, self.input_names, self.output_names)
        if self.options:
            _check_export_options(self.options)
        if self.additional_meta_info is not None:
            _check_meta_info(self.additional_meta_info)
        return self


def _check_names(names: List[str], where: str) -> None:
    if not names:
        raise OtterConfigError("expected a non-empty list of names, got []", key=where)
    for i, n in enumerate(names):
        if not n:
            raise OtterConfigError("expected a name, got ''", key=f"{where}.{i}")
        if n in names[:i]:
            raise OtterConfigError(f"{n!r} is listed twice", key=f"{where}.{i}")


def _check_input_shape(input_shape: Mapping[str, OnnxInput], input_names: List[str]) -> None:
    if not input_shape:
        raise OtterConfigError("expected a mapping of input name -> {shape: [...], dtype: ...}, got {}", key="onnx.input_shape")
    for i, n in enumerate(input_names):
        if n not in input_shape:
            raise OtterConfigError(f"{n!r} has no entry in onnx.input_shape{did_you_mean(n, list(input_shape))}", key=f"onnx.input_names.{i}")
    for n, spec in input_shape.items():
        where = f"onnx.input_shape.{n}"
        if n not in input_names:
            raise OtterConfigError(f"not listed in onnx.input_names{did_you_mean(n, input_names)}", key=where)
        shape = spec.shape
        if not shape or not all(_is_int(d) and d >= 1 for d in shape):
            raise OtterConfigError(f"expected a list of positive ints, e.g. [1, 3, 224, 224], got {shape!r}", key=f"{where}.shape")
        if spec.dtype not in DTYPES:
            hint = did_you_mean(str(spec.dtype), list(DTYPES))
            raise OtterConfigError(f"unknown dtype {spec.dtype!r}{hint}; accepted: {', '.join(DTYPES)}", key=f"{where}.dtype")


def _check_dynamic_axes(
    dynamic_axes: Mapping[str, Any],
    input_shape: Mapping[str, OnnxInput],
    input_names: List[str],
    output_names: List[str],
) -> None:
    known = input_names + output_names
    for name, axes in dynamic_axes.items():
        where = f"onnx.dynamic_axes.{name}"
        if name not in known:
            raise OtterConfigError(
                f"{name!r} names no input or output{did_you_mean(str(name), known)}; "
                f"inputs: {', '.join(input_names)}; outputs: {', '.join(output_names)}",
                key=where,
            )
        if not isinstance(axes, Mapping) or not axes:
            raise OtterConfigError(f"expected a mapping of axis -> label, e.g. {{0: batch_size}}, got {_kind(axes)}", key=where)
        rank = len(input_shape[name].shape) if name in input_shape else None
        seen = set()
        for key, label in axes.items():
            axis = _axis(key)
            if axis is None:
                raise OtterConfigError(f"expected an axis number (0, 1, ...), got {key!r}", key=f"{where}.{key}")
            if rank is not None and axis >= rank:
                raise OtterConfigError(f"axis {axis} is out of range for input {name!r} of rank {rank}", key=f"{where}.{key}")
            if axis in seen:
                raise OtterConfigError(f"axis {axis} is given twice", key=f"{where}.{key}")
            seen.add(axis)
            if not isinstance(label, str) or not label:
                raise OtterConfigError(f"expected a label such as 'batch_size', got {_kind(label)}", key=f"{where}.{key}")


def _export_parameters() -> Dict[str, bool]:
    """``torch.onnx.export``'s parameters -> whether each takes a bool (cached by torch version)."""
    from .signatures import export_parameters

    return export_parameters()


def _check_export_options(options: Mapping[str, Any]) -> None:
    params = _export_parameters()
    accepted = [n for n in params if n not in _FILLED_BY_OTTER and n not in _NOT_FROM_CONFIG]
    dynamo = options.get("dynamo", False)
    for key, value in options.items():
        where = f"onnx.options.{key}"
        if key in _FILLED_BY_OTTER:
            raise OtterConfigError(f"set by Otter from {_FILLED_BY_OTTER[key]}; remove it here", key=where)
        if key in _NOT_FROM_CONFIG:
            raise OtterConfigError("takes a Python object, which a config cannot hold; remove it", key=where)
        if key not in params:
            hint = did_you_mean(str(key), accepted)
            raise OtterConfigError(f"torch.onnx.export takes no option {key!r}{hint}; accepted: {', '.join(accepted)}", key=where)
        if params[key] and not isinstance(value, bool):
            raise OtterConfigError(f"expected true or false, got {_kind(value)}", key=where)
        if key == "opset_version" and not (_is_int(value) and value >= 7):
            raise OtterConfigError(f"expected an ONNX opset number such as 17, got {_kind(value)}", key=where)
        if key in _DYNAMO_ONLY and dynamo is not True:
            raise OtterConfigError("only used by the dynamo exporter; add `dynamo: true` or remove it", key=where)
        if key in _TORCHSCRIPT_ONLY and dynamo is True:
            raise OtterConfigError("ignored by the dynamo exporter (`dynamo: true`); remove it", key=where)


def _check_meta_info(info: Mapping[Any, Any]) -> None:
    where = "onnx.additional_meta_info"
    for key, value in info.items():
        if not isinstance(key, str):
            raise OtterConfigError(f"keys must be strings, got {_kind(key)}", key=f"{where}.{key}")
        if key in RESERVED_META_KEYS:
            raise OtterConfigError(f"Otter writes {key!r} itself; choose another key", key=f"{where}.{key}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise OtterConfigError(f"expected a string, number or boolean, got {_kind(value)}", key=f"{where}.{key}")


def dynamic_axes_of(onnx_cfg: Mapping[str, Any]) -> Dict[str, Dict[int, str]]:
    """``dynamic_axes`` with int axes, as ``torch.onnx.export`` wants them."""
    return {name: {_axis(k): v for k, v in axes.items()} for name, axes in (onnx_cfg.get("dynamic_axes") or {}).items()}


# --------------------------------------------------------------------------- #
# Validation and its one error shape
# --------------------------------------------------------------------------- #


def _unwrap_annotation(ann: Any) -> List[Any]:
    """The model classes an annotation may hold (through Optional, Union, List, Dict values)."""
    origin = typing.get_origin(ann)
    if origin is None:
        return [ann]
    args = typing.get_args(ann)
    if origin in (dict, Dict):
        # A dict's keys are the user's names; the models are in its values.
        return [("dict", a) for a in _unwrap_annotation(args[1])] if len(args) == 2 else []
    found: List[Any] = []
    for arg in args:
        found += _unwrap_annotation(arg)
    return found


def _fields_at(model: Any, loc: Sequence[Any]) -> List[str]:
    """Known keys of the section at ``loc`` below ``model`` (for did-you-mean on an unknown key)."""
    models: List[Any] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: List[Any] = []
        for m in models:
            if isinstance(m, tuple):  # inside a dict: this part is the user's key
                nxt.append(m[1])
            elif inspect.isclass(m) and issubclass(m, BaseModel) and part in m.model_fields:
                nxt += _unwrap_annotation(m.model_fields[part].annotation)
        models = nxt
    names: List[str] = []
    for m in models:
        if inspect.isclass(m) and issubclass(m, BaseModel):
            names += list(m.model_fields)
    return names


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shape_error(err: ValidationError, file: Optional[str], model: Any = None, prefix: str = "") -> OtterConfigError:
    """The first problem pydantic found, as one :class:`OtterConfigError` line with its key path.

    Args:
        err: pydantic's error.
        file: The config file.
        model: The model that was validated (for did-you-mean on unknown keys); default the whole config.
        prefix: Key path of that model in the config, e.g. ``"onnx"``.
    """
    model = model or RootConfig
    errors = err.errors()

    # A union (logger: one entry or a list) reports each branch; keep the one that
    # went deepest into the user's data, it names the real problem.
    def depth(e: Mapping[str, Any]) -> int:
        return sum(1 for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p[:1].isupper())))

    e = max(errors, key=depth) if len(errors) > 1 and errors[0]["loc"][:1] == ("logger",) else errors[0]
    # Pydantic puts union branch names ("NamedEntry", "list[NamedEntry]") into loc.
    loc = [p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in ("NamedEntry", "SchedulerEntry")))]
    key = ".".join(str(p) for p in [*([prefix] if prefix else []), *loc])
    kind = e["type"]
    if kind == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))
        return OtterConfigError(f"unknown key{hint}", file, key)
    if kind == "missing":
        return OtterConfigError("missing required key", file, key)
    return OtterConfigError(f"{e['msg'][0].lower()}{e['msg'][1:]}, got {_short(e.get('input'))}", file, key or None)


def validate_shape(data: Mapping[str, Any], file: Optional[str] = None) -> None:
    """Check the shape of a whole config (every section but ``onnx``, see :func:`validate_onnx_section`).

    Raises:
        OtterConfigError: the first problem, with its key path.
    """
    try:
        RootConfig.model_validate(dict(data))
    except ValidationError as e:
        raise shape_error(e, file) from None
    except OtterConfigError as e:
        raise e.located(file) from None


def validate_onnx_section(onnx_cfg: Any, file: Optional[PathLike] = None) -> None:
    """Check the ``onnx:`` section of a config; key paths in errors start at ``onnx``.

    ``options`` are checked against ``torch.onnx.export``'s parameters (read once
    per torch version, see :mod:`otter.signatures`).

    Args:
        onnx_cfg: The section as loaded from YAML.
        file: The config file, for the error message.

    Raises:
        OtterConfigError: the first problem found, with its key path.
    """
    file = None if file is None else str(file)
    if not isinstance(onnx_cfg, Mapping):
        raise OtterConfigError(f"expected a mapping, got {_kind(onnx_cfg)}", file, "onnx")
    try:
        OnnxSection.model_validate(dict(onnx_cfg))
    except ValidationError as e:
        raise shape_error(e, file, OnnxSection, "onnx") from None
    except OtterConfigError as e:
        raise e.located(file) from None
