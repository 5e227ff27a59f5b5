"""The ``onnx:`` section of a config: what export reads, checked before anything runs.

Key paths in errors start at ``onnx``, e.g. ``onnx.dynamic_axes.output``.
torch is imported only to read ``torch.onnx.export``'s signature.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .errors import OtterConfigError
from .names import did_you_mean

__all__ = ["validate_onnx_section", "dynamic_axes_of", "DTYPES", "RESERVED_META_KEYS"]

PathLike = Union[str, "os.PathLike[str]"]

SECTION_KEYS = ("name", "input_shape", "input_names", "output_names", "dynamic_axes", "options", "additional_meta_info")
REQUIRED_KEYS = ("name", "input_shape", "input_names", "output_names")
INPUT_KEYS = ("shape", "dtype")
#: Input dtypes that torch, numpy and onnxruntime all know by the same name.
DTYPES = ("float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")

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

# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #


def validate_onnx_section(onnx_cfg: Mapping[str, Any], file: Optional[PathLike] = None) -> None:
    """Check the ``onnx:`` section of a config.

    Key paths in errors start at ``onnx``, e.g. ``onnx.dynamic_axes.output``.
    ``input_shape`` entries take ``shape`` (a list of positive ints) and ``dtype``
    (one of :data:`DTYPES`, default ``float32``). ``dynamic_axes`` maps an input or
    output name to ``{axis: label}``; YAML's string keys (``"0"``) are accepted.
    ``options`` are checked against ``torch.onnx.export`` (the only place torch is
    imported). ``additional_meta_info`` maps keys to strings, numbers or booleans.

    Args:
        onnx_cfg: The section as loaded from YAML.
        file: The config file, for the error message.

    Raises:
        OtterConfigError: the first problem found, with its key path.
    """
    file = None if file is None else str(file)
    if not isinstance(onnx_cfg, Mapping):
        raise OtterConfigError(f"expected a mapping, got {_kind(onnx_cfg)}", file, "onnx")
    _check_keys(onnx_cfg, SECTION_KEYS, file, "onnx")
    for key in REQUIRED_KEYS:
        if key not in onnx_cfg:
            raise OtterConfigError(f"missing required key {key!r}", file, f"onnx.{key}")

    name = onnx_cfg["name"]
    if not isinstance(name, str) or not name:
        raise OtterConfigError(f"expected the registered name of an ONNX wrapper, got {name!r}", file, "onnx.name")

    input_names = _check_names(onnx_cfg["input_names"], file, "onnx.input_names")
    output_names = _check_names(onnx_cfg["output_names"], file, "onnx.output_names")
    _check_input_shape(onnx_cfg["input_shape"], input_names, file)
    for i, out in enumerate(output_names):
        if out in input_names:
            # ONNX value names are global to the graph.
            raise OtterConfigError(f"{out!r} is also an input name; ONNX needs distinct names", file, f"onnx.output_names.{i}")

    if onnx_cfg.get("dynamic_axes") is not None:
        _check_dynamic_axes(onnx_cfg["dynamic_axes"], onnx_cfg["input_shape"], input_names, output_names, file)
    if onnx_cfg.get("options") is not None:
        _check_export_options(onnx_cfg["options"], file)
    if onnx_cfg.get("additional_meta_info") is not None:
        _check_meta_info(onnx_cfg["additional_meta_info"], file)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_keys(mapping: Mapping[str, Any], accepted: Sequence[str], file: Optional[str], where: str) -> None:
    for key in mapping:
        if key not in accepted:
            hint = did_you_mean(str(key), list(accepted))
            raise OtterConfigError(f"unknown key{hint}; accepted: {', '.join(accepted)}", file, f"{where}.{key}")


def _check_names(names: Any, file: Optional[str], where: str) -> List[str]:
    if not isinstance(names, list) or not names:
        raise OtterConfigError(f"expected a non-empty list of names, got {_kind(names)}", file, where)
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n:
            raise OtterConfigError(f"expected a name (a string), got {_kind(n)}", file, f"{where}.{i}")
        if n in names[:i]:
            raise OtterConfigError(f"{n!r} is listed twice", file, f"{where}.{i}")
    return names


def _check_input_shape(input_shape: Any, input_names: List[str], file: Optional[str]) -> None:
    if not isinstance(input_shape, Mapping) or not input_shape:
        raise OtterConfigError(
            f"expected a mapping of input name -> {{shape: [...], dtype: ...}}, got {_kind(input_shape)}",
            file,
            "onnx.input_shape",
        )
    for i, n in enumerate(input_names):
        if n not in input_shape:
            hint = did_you_mean(n, [str(k) for k in input_shape])
            raise OtterConfigError(f"{n!r} has no entry in onnx.input_shape{hint}", file, f"onnx.input_names.{i}")
    for n, spec in input_shape.items():
        where = f"onnx.input_shape.{n}"
        if n not in input_names:
            hint = did_you_mean(str(n), input_names)
            raise OtterConfigError(f"not listed in onnx.input_names{hint}", file, where)
        if not isinstance(spec, Mapping):
            raise OtterConfigError(f"expected {{shape: [...], dtype: ...}}, got {_kind(spec)}", file, where)
        _check_keys(spec, INPUT_KEYS, file, where)
        shape = spec.get("shape")
        if shape is None:
            raise OtterConfigError("missing required key 'shape'", file, f"{where}.shape")
        if not isinstance(shape, list) or not shape or not all(_is_int(d) and d >= 1 for d in shape):
            raise OtterConfigError(f"expected a list of positive ints, e.g. [1, 3, 224, 224], got {shape!r}", file, f"{where}.shape")
        dtype = spec.get("dtype", "float32")
        if dtype not in DTYPES:
            hint = did_you_mean(str(dtype), list(DTYPES))
            raise OtterConfigError(f"unknown dtype {dtype!r}{hint}; accepted: {', '.join(DTYPES)}", file, f"{where}.dtype")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _axis(key: Any) -> Optional[int]:
    """An axis from a YAML key: ``0`` or ``"0"``; ``None`` when it is neither."""
    if _is_int(key) and key >= 0:
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    return None


def _check_dynamic_axes(
    dynamic_axes: Any,
    input_shape: Mapping[str, Any],
    input_names: List[str],
    output_names: List[str],
    file: Optional[str],
) -> None:
    if not isinstance(dynamic_axes, Mapping):
        raise OtterConfigError(f"expected a mapping of name -> {{axis: label}}, got {_kind(dynamic_axes)}", file, "onnx.dynamic_axes")
    known = input_names + output_names
    for name, axes in dynamic_axes.items():
        where = f"onnx.dynamic_axes.{name}"
        if name not in known:
            hint = did_you_mean(str(name), known)
            raise OtterConfigError(
                f"{name!r} names no input or output{hint}; inputs: {', '.join(input_names)}; outputs: {', '.join(output_names)}",
                file,
                where,
            )
        if not isinstance(axes, Mapping) or not axes:
            raise OtterConfigError(f"expected a mapping of axis -> label, e.g. {{0: batch_size}}, got {_kind(axes)}", file, where)
        rank = len(input_shape[name]["shape"]) if name in input_shape else None
        seen = set()
        for key, label in axes.items():
            axis = _axis(key)
            if axis is None:
                raise OtterConfigError(f"expected an axis number (0, 1, ...), got {key!r}", file, f"{where}.{key}")
            if rank is not None and axis >= rank:
                raise OtterConfigError(f"axis {axis} is out of range for input {name!r} of rank {rank}", file, f"{where}.{key}")
            if axis in seen:
                raise OtterConfigError(f"axis {axis} is given twice", file, f"{where}.{key}")
            seen.add(axis)
            if not isinstance(label, str) or not label:
                raise OtterConfigError(f"expected a label such as 'batch_size', got {_kind(label)}", file, f"{where}.{key}")


@functools.lru_cache(maxsize=1)
def _export_parameters() -> Dict[str, Any]:
    import inspect

    import torch.onnx

    return dict(inspect.signature(torch.onnx.export).parameters)


def _check_export_options(options: Any, file: Optional[str]) -> None:
    if not isinstance(options, Mapping):
        raise OtterConfigError(f"expected a mapping of torch.onnx.export options, got {_kind(options)}", file, "onnx.options")
    if not options:
        return  # an empty mapping needs no torch import
    params = _export_parameters()
    accepted = [n for n in params if n not in _FILLED_BY_OTTER and n not in _NOT_FROM_CONFIG]
    dynamo = options.get("dynamo", False)
    for key, value in options.items():
        where = f"onnx.options.{key}"
        if key in _FILLED_BY_OTTER:
            raise OtterConfigError(f"set by Otter from {_FILLED_BY_OTTER[key]}; remove it here", file, where)
        if key in _NOT_FROM_CONFIG:
            raise OtterConfigError("takes a Python object, which a config cannot hold; remove it", file, where)
        if key not in params:
            hint = did_you_mean(str(key), accepted)
            raise OtterConfigError(f"torch.onnx.export takes no option {key!r}{hint}; accepted: {', '.join(accepted)}", file, where)
        if _takes_bool(params[key]) and not isinstance(value, bool):
            raise OtterConfigError(f"expected true or false, got {_kind(value)}", file, where)
        if key == "opset_version" and not (_is_int(value) and value >= 7):
            raise OtterConfigError(f"expected an ONNX opset number such as 17, got {_kind(value)}", file, where)
        if key in _DYNAMO_ONLY and dynamo is not True:
            raise OtterConfigError("only used by the dynamo exporter; add `dynamo: true` or remove it", file, where)
        if key in _TORCHSCRIPT_ONLY and dynamo is True:
            raise OtterConfigError("ignored by the dynamo exporter (`dynamo: true`); remove it", file, where)


def _takes_bool(param: Any) -> bool:
    # torch annotates as strings (``"bool | None"``) and some flags default to None.
    return isinstance(param.default, bool) or str(param.annotation).replace(" ", "") in ("bool", "bool|None", "Optional[bool]")


def _check_meta_info(info: Any, file: Optional[str]) -> None:
    where = "onnx.additional_meta_info"
    if not isinstance(info, Mapping):
        raise OtterConfigError(f"expected a mapping of key -> value, got {_kind(info)}", file, where)
    for key, value in info.items():
        if not isinstance(key, str):
            raise OtterConfigError(f"keys must be strings, got {_kind(key)}", file, f"{where}.{key}")
        if key in RESERVED_META_KEYS:
            raise OtterConfigError(f"Otter writes {key!r} itself; choose another key", file, f"{where}.{key}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise OtterConfigError(f"expected a string, number or boolean, got {_kind(value)}", file, f"{where}.{key}")


def dynamic_axes_of(onnx_cfg: Mapping[str, Any]) -> Dict[str, Dict[int, str]]:
    """``dynamic_axes`` with int axes, as torch.onnx.export wants them."""
    return {name: {_axis(k): v for k, v in axes.items()} for name, axes in (onnx_cfg.get("dynamic_axes") or {}).items()}

