"""Export a trained model to ONNX and prove the file computes what torch computes (DESIGN §6).

Three steps, each checked:

1. :func:`validate_onnx_section` checks the config's ``onnx:`` section (input
   shapes and dtypes, input/output names, dynamic axes, exporter options) and
   reports the first problem with its key path.
2. :func:`export_onnx` exports an inference wrapper with ``torch.onnx.export``,
   compares onnxruntime against torch on the same random input (batch 1, and
   batch 3 where the batch axis is dynamic), stores what inference needs in the
   file's ``metadata_props`` and runs ``onnx.checker``. The file appears only
   when every check passed.
3. :func:`read_onnx_meta` reads that metadata back with onnxruntime alone, so
   inference code needs neither torch nor the ``onnx`` package.

:func:`best_checkpoint` picks the checkpoint of a run folder that export reads;
:func:`export_run` puts it all together for ``to_onnx``.

torch, onnx and onnxruntime are imported inside the functions that use them:
``import otter.export`` stays cheap.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import OtterConfigError, OtterError
from .registry import did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = [
    "validate_onnx_section",
    "export_onnx",
    "read_onnx_meta",
    "best_checkpoint",
    "export_run",
    "DEFAULT_ATOL",
    "DTYPES",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_ATOL = 1e-4
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

# Unlike 1 and unlike common defaults, so a batch axis that the exporter baked in
# as a constant shows up as a shape or value mismatch.
_SECOND_BATCH = 3


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


def _dynamic_axes(onnx_cfg: Mapping[str, Any]) -> Dict[str, Dict[int, str]]:
    """``dynamic_axes`` with int axes, as torch.onnx.export wants them."""
    return {name: {_axis(k): v for k, v in axes.items()} for name, axes in (onnx_cfg.get("dynamic_axes") or {}).items()}


# --------------------------------------------------------------------------- #
# Metadata encoding (no torch, no onnx)
# --------------------------------------------------------------------------- #


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars, tensors
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode(value: Any) -> str:
    """A metadata value as a string: plain strings as they are, the rest as JSON.

    A string that would itself parse as JSON (``"16"``, ``"true"``) is JSON-quoted,
    so :func:`_decode` gives back a string and not a number.
    """
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_onnx_meta(source: Union[PathLike, Any]) -> Dict[str, Any]:
    """The metadata Otter stored in an ONNX file, decoded.

    Uses onnxruntime only (``get_modelmeta().custom_metadata_map``), so inference
    code needs neither torch nor the ``onnx`` package. Values written as JSON come
    back as Python objects (lists, dicts, numbers); plain strings stay strings.

    Args:
        source: Path of an ``.onnx`` file, or an open ``onnxruntime.InferenceSession``
            (saves loading the model twice).

    Returns:
        Key -> value, e.g. ``meta["inputs"]["img"]["shape"]``, ``meta["labels"]``.

    Raises:
        OtterError: the file is missing or onnxruntime cannot read it.

    >>> meta = read_onnx_meta("export/tiny_20250101_fp32.onnx")  # doctest: +SKIP
    >>> meta["input_names"]  # doctest: +SKIP
    ['img']
    """
    session = source if hasattr(source, "get_modelmeta") else _meta_session(Path(source))
    return {k: _decode(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


def _meta_session(path: Path) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise OtterError(f"{path}: no such ONNX file")
    options = ort.SessionOptions()
    # Only the metadata is wanted: skip graph optimisation.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise OtterError(f"{path}: onnxruntime cannot read this file: {_first_line(e)}") from e


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------- #
# Export
# --------------------------------------------------------------------------- #


def export_onnx(
    module: "torch.nn.Module",
    onnx_cfg: Mapping[str, Any],
    out_path: PathLike,
    *,
    meta: Optional[Mapping[str, Any]] = None,
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
) -> Dict[str, Any]:
    """Export ``module`` to ONNX, verify it against torch, and store metadata.

    The exporter is the TorchScript one (``dynamo=False``), which honours opsets
    16/17 and ``dynamic_axes`` and writes one file; ``options: {dynamo: true}``
    opts in to the torch.export-based one (opset >= 18, needs ``onnxscript``; its
    weights stay inside the file unless ``external_data: true``).

    Everything is written to a temporary folder next to ``out_path`` and moved
    into place only after the onnxruntime-vs-torch comparison and ``onnx.checker``
    passed, so a failed export leaves nothing behind (and an older file at
    ``out_path`` untouched).

    Args:
        module: The inference wrapper; it is put in eval mode for the export and
            set back afterwards. Called as ``module(*inputs)`` in ``input_names`` order.
        onnx_cfg: The config's ``onnx:`` section (see :func:`validate_onnx_section`).
        out_path: Where the ``.onnx`` file goes; its folder is created.
        meta: More metadata (cfg name, run id, labels, image size, normalisation...);
            any JSON-serialisable values.
        atol: Largest accepted absolute difference between torch and onnxruntime.
        seed: Seed of the random inputs (a private generator: the global RNG is untouched).

    Returns:
        ``{"path", "opset", "max_abs_diff": {batch: diff}, "params", "flops", "macs", "seconds"}``;
        ``path`` is a string, FLOPs/MACs are counted at batch 1 (or the configured
        batch where it is static).

    Raises:
        OtterConfigError: the section is invalid, or ``meta`` and ``additional_meta_info``
            disagree on a key.
        OtterError: the exporter, the checker or onnxruntime fails, the graph's
            inputs/outputs differ from the config, or an output differs by more than ``atol``.
        ValueError: ``meta`` uses a key Otter writes itself (a caller bug).

    >>> export_onnx(wrapper, cfg.onnx, "export/model.onnx", meta={"cfg_name": "default"})  # doctest: +SKIP
    """
    start = time.perf_counter()
    validate_onnx_section(onnx_cfg)
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = _merge_meta(onnx_cfg, meta)
    batches = _batches_to_test(onnx_cfg)

    was_training = module.training
    module.eval()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
    try:
        tmp_file = tmp_dir / out_path.name
        _torch_export(module, _random_inputs(onnx_cfg, None, seed, _device_of(module)), onnx_cfg, tmp_file)
        diffs = _compare(module, tmp_file, onnx_cfg, batches, atol, seed)
        complexity = _complexity(module, onnx_cfg, seed, batches)
        opset = _write_meta(tmp_file, onnx_cfg, {**metadata, "parity_max_abs_diff": diffs}, complexity)
        _check_model(tmp_file)
        _move_into_place(tmp_dir, out_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        module.train(was_training)
    return {
        "path": str(out_path),
        "opset": opset,
        "max_abs_diff": diffs,
        **complexity,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _merge_meta(onnx_cfg: Mapping[str, Any], meta: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The caller's ``meta`` plus the config's ``additional_meta_info``; a clash is refused, not silently resolved."""
    meta = dict(meta or {})
    reserved = sorted(set(meta) & set(RESERVED_META_KEYS))
    if reserved:
        raise ValueError(f"meta keys {reserved} are written by export_onnx itself")
    for key, value in (onnx_cfg.get("additional_meta_info") or {}).items():
        if key in meta and meta[key] != value:
            raise OtterConfigError(
                f"Otter already stores {key!r} = {meta[key]!r} from the run; remove it or choose another key",
                key=f"onnx.additional_meta_info.{key}",
            )
        meta[key] = value
    return meta


def _batches_to_test(onnx_cfg: Mapping[str, Any]) -> List[Optional[int]]:
    """Batch sizes to compare at; ``None`` means the shapes as configured (static batch axis)."""
    axes = _dynamic_axes(onnx_cfg)
    batch_is_dynamic = all(0 in axes.get(n, {}) for n in onnx_cfg["input_names"])
    return [1, _SECOND_BATCH] if batch_is_dynamic else [None]


def _device_of(module: "torch.nn.Module") -> "torch.device":
    import torch

    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def _random_inputs(onnx_cfg: Mapping[str, Any], batch: Optional[int], seed: int, device: Any) -> Tuple["torch.Tensor", ...]:
    """One random tensor per input, in ``input_names`` order; ``batch`` replaces axis 0."""
    import torch

    # A private generator: reproducible inputs without touching the caller's RNG state.
    gen = torch.Generator().manual_seed(seed + (batch or 0))
    tensors = []
    for name in onnx_cfg["input_names"]:
        spec = onnx_cfg["input_shape"][name]
        shape = list(spec["shape"])
        if batch is not None:
            shape[0] = batch
        dtype = getattr(torch, spec.get("dtype", "float32"))
        if dtype.is_floating_point:
            t = torch.randn(shape, generator=gen).to(dtype)
        elif dtype == torch.bool:
            t = torch.randint(0, 2, shape, generator=gen).bool()
        elif dtype == torch.uint8:
            t = torch.randint(0, 256, shape, generator=gen, dtype=dtype)
        else:
            # Small non-negative ints stay valid as indices into small tables (embeddings, vocabularies).
            t = torch.randint(0, 10, shape, generator=gen, dtype=dtype)
        tensors.append(t.to(device))
    return tuple(tensors)


def _torch_export(module: "torch.nn.Module", example: Tuple[Any, ...], onnx_cfg: Mapping[str, Any], path: Path) -> None:
    import torch

    options = dict(onnx_cfg.get("options") or {})
    dynamo = options.pop("dynamo", False) is True
    if dynamo:
        # One self-contained file unless the config asks for external data.
        options.setdefault("external_data", False)
    try:
        with torch.no_grad():
            torch.onnx.export(
                module,
                example,
                str(path),
                input_names=list(onnx_cfg["input_names"]),
                output_names=list(onnx_cfg["output_names"]),
                dynamic_axes=_dynamic_axes(onnx_cfg) or None,
                dynamo=dynamo,
                **options,
            )
    except ModuleNotFoundError as e:
        if dynamo and e.name == "onnxscript":
            raise OtterError("onnx.options.dynamo: true needs the onnxscript package (pip install onnxscript); or remove it") from e
        raise OtterError(f"torch.onnx.export failed for {onnx_cfg['name']}: {_first_line(e)}") from e
    except Exception as e:  # the exporters raise many types; the user needs the first line
        raise OtterError(f"torch.onnx.export failed for {onnx_cfg['name']}: {_first_line(e)}") from e
    if not path.is_file():
        raise OtterError(f"torch.onnx.export wrote no file for {onnx_cfg['name']}")


def _flatten(output: Any) -> List[Any]:
    """Torch outputs in the order the ONNX exporter flattens them."""
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flatten(item)]
    if isinstance(output, Mapping):
        return [t for item in output.values() for t in _flatten(item)]
    return [output]


def _compare(
    module: "torch.nn.Module",
    path: Path,
    onnx_cfg: Mapping[str, Any],
    batches: List[Optional[int]],
    atol: float,
    seed: int,
) -> Dict[int, float]:
    """Max abs difference per batch size between torch and onnxruntime; raise above ``atol``."""
    import onnxruntime as ort
    import torch

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise OtterError(f"onnxruntime cannot load the exported model: {_first_line(e)}") from e
    input_names = list(onnx_cfg["input_names"])
    output_names = list(onnx_cfg["output_names"])
    _check_graph_names(session, input_names, output_names)
    device = _device_of(module)
    diffs: Dict[int, float] = {}
    for batch in batches:
        inputs = _random_inputs(onnx_cfg, batch, seed, device)
        size = batch if batch is not None else int(inputs[0].shape[0])
        with torch.no_grad():
            expected = _flatten(module(*inputs))
        if len(expected) != len(output_names):
            raise OtterError(
                f"{onnx_cfg['name']} returns {len(expected)} outputs but onnx.output_names lists {len(output_names)}: {output_names}"
            )
        got = session.run(output_names, {n: t.detach().cpu().numpy() for n, t in zip(input_names, inputs)})
        worst = 0.0
        for name, want, have in zip(output_names, expected, got):
            diff = _max_abs_diff(torch.as_tensor(want).detach().cpu().numpy(), have, name, size)
            if not diff <= atol:  # written this way round so NaN fails too
                raise OtterError(
                    f"ONNX output {name!r} differs from torch at batch {size}: max abs diff {diff:.3g} > tolerance {atol:g}; "
                    "does the wrapper's forward depend on Python state or on data-dependent branches that tracing fixes?"
                )
            worst = max(worst, diff)
        diffs[size] = worst
    return diffs


def _check_graph_names(session: Any, input_names: List[str], output_names: List[str]) -> None:
    graph_inputs = [i.name for i in session.get_inputs()]
    graph_outputs = [o.name for o in session.get_outputs()]
    if graph_inputs != input_names:
        raise OtterError(
            f"the exported graph takes inputs {graph_inputs}, not onnx.input_names {input_names} "
            "(the exporter drops inputs that the wrapper's forward does not use)"
        )
    if graph_outputs != output_names:
        raise OtterError(
            f"the exported graph returns outputs {graph_outputs}, not onnx.output_names {output_names}; "
            "list one name per output of the wrapper's forward"
        )


def _max_abs_diff(want: "np.ndarray", have: "np.ndarray", name: str, batch: int) -> float:
    import numpy as np

    if want.shape != have.shape:
        raise OtterError(
            f"ONNX output {name!r} has shape {list(have.shape)} at batch {batch} but torch gives {list(want.shape)}; "
            "does an axis need an entry in onnx.dynamic_axes?"
        )
    if want.size == 0:
        return 0.0
    want64, have64 = want.astype(np.float64), have.astype(np.float64)
    diff = np.abs(want64 - have64)
    diff[np.isnan(want64) & np.isnan(have64)] = 0.0
    # NaN on one side only stays NaN, which the caller treats as a failure.
    return float(np.nan if np.isnan(diff).any() else diff.max())


def _complexity(module: "torch.nn.Module", onnx_cfg: Mapping[str, Any], seed: int, batches: List[Optional[int]]) -> Dict[str, int]:
    from .runinfo import model_complexity

    return model_complexity(module, _random_inputs(onnx_cfg, batches[0], seed, _device_of(module)))


def _write_meta(path: Path, onnx_cfg: Mapping[str, Any], metadata: Mapping[str, Any], complexity: Mapping[str, int]) -> int:
    """Add Otter's metadata to the exported file; return its opset."""
    import onnx
    import torch

    # Weights in an external file (dynamo + external_data) stay where they are.
    model = onnx.load(str(path), load_external_data=False)
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), -1)
    axes = {n: {str(k): v for k, v in a.items()} for n, a in _dynamic_axes(onnx_cfg).items()}
    inputs = {
        n: {
            "shape": list(onnx_cfg["input_shape"][n]["shape"]),
            "dtype": onnx_cfg["input_shape"][n].get("dtype", "float32"),
            "dynamic_axes": axes.get(n, {}),
        }
        for n in onnx_cfg["input_names"]
    }
    own = {
        "wrapper": onnx_cfg["name"],
        "inputs": inputs,
        "input_names": list(onnx_cfg["input_names"]),
        "output_names": list(onnx_cfg["output_names"]),
        "dynamic_axes": axes,
        "opset": opset,
        **complexity,
        "otter_version": _otter_version(),
        "torch_version": torch.__version__,
        "export_date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    try:
        encoded = {str(k): _encode(v) for k, v in {**metadata, **own}.items()}
    except TypeError as e:
        raise OtterError(f"cannot store export metadata: {e}") from e
    del model.metadata_props[:]
    for key, value in encoded.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return opset


def _otter_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("otter")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _check_model(path: Path) -> None:
    import onnx

    try:
        # By path, so models with external data (and over 2 GB) are checked too.
        onnx.checker.check_model(str(path))
    except Exception as e:
        raise OtterError(f"the exported model fails onnx.checker: {_first_line(e)}") from e


def _move_into_place(tmp_dir: Path, out_path: Path) -> None:
    """Move the verified files next to ``out_path``; the model file last, so it never points at missing data."""
    for extra in sorted(tmp_dir.iterdir()):
        if extra.name != out_path.name:
            os.replace(extra, out_path.parent / extra.name)
    os.replace(tmp_dir / out_path.name, out_path)


# --------------------------------------------------------------------------- #
# From a run folder
# --------------------------------------------------------------------------- #


def best_checkpoint(run_dir: PathLike) -> Path:
    """The checkpoint that export should read from a run folder.

    Reads the ``ModelCheckpoint`` state saved in ``checkpoint/last.ckpt`` (or, with
    no ``last.ckpt``, in the newest ``*.ckpt``) and returns its ``best_model_path``
    when that file is in ``checkpoint/``. The file is looked up by name inside this
    run folder, so a run folder that was moved or copied still works. With no
    monitored best on disk, returns ``last.ckpt`` (else the newest checkpoint).

    Args:
        run_dir: ``<root>/runs/<cfg_name>/<run_id>``.

    Returns:
        Path of the checkpoint file.

    Raises:
        OtterError: the run has no checkpoint, or its checkpoint cannot be read.
    """
    folder = Path(run_dir) / "checkpoint"
    last = folder / "last.ckpt"
    found = sorted((p for p in folder.glob("*.ckpt") if p.is_file()), key=lambda p: (p.stat().st_mtime, p.name))
    if last.is_file():
        state_file = last
    elif found:
        state_file = found[-1]
    else:
        raise OtterError(f"{run_dir}: the run has no checkpoint (nothing in {folder}); train it first or name another run")
    for best in _best_model_paths(state_file):
        # By file name: the run folder may have moved since the path was recorded.
        candidate = folder / Path(best).name
        if best and candidate.is_file():
            return candidate
    return state_file


def _best_model_paths(ckpt: Path) -> List[str]:
    """``best_model_path`` of each ModelCheckpoint whose state ``ckpt`` holds, in saved order."""
    callbacks = _load_checkpoint(ckpt).get("callbacks") or {}
    return [
        str(state.get("best_model_path") or "")
        for key, state in callbacks.items()
        if str(key).startswith("ModelCheckpoint") and isinstance(state, Mapping)
    ]


def _load_checkpoint(path: Path) -> Mapping[str, Any]:
    import torch

    # mmap: only the callback state is needed, not the weights read into memory.
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        # Lightning pickles hyper-parameters that weights_only refuses; the file is this run's own.
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        except Exception as e:
            raise OtterError(f"{path}: cannot read this checkpoint: {_first_line(e)}") from e
    if not isinstance(ckpt, Mapping):
        raise OtterError(f"{path}: not a Lightning checkpoint (a {type(ckpt).__name__}, not a dict)")
    return ckpt


def export_run(
    cfg_name: PathLike,
    root: Optional[PathLike] = None,
    stem: PathLike = "config",
    network: Optional[ModuleType] = None,
    overrides: Sequence[str] = (),
    modules: Sequence[ModuleType] = (),
    atol: float = DEFAULT_ATOL,
) -> Dict[str, Any]:
    """Export a trained run of ``cfg_name`` to ``<run>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.

    The run is the latest one of this config, or ``common.restore_ind``; the checkpoint
    its best one, or ``common.restore_ckpt``. The model's ``export_meta()`` (labels,
    vocabulary, image size, normalisation...) goes into the file's metadata.

    Raises:
        OtterConfigError: the config (its ``onnx:`` section included) is invalid.
        OtterError: no trained run, or the export is not faithful.
    """
    from .build import load_project_config, load_weights
    from .registry import MODELS, ONNX_WRAPPERS, resolve
    from .runinfo import find_run

    root = Path(root) if root is not None else Path.cwd()
    cfg = load_project_config(cfg_name, root, stem, [network, *modules], overrides, mode="to_onnx")
    file = getattr(cfg, "__file__", None)
    try:
        run_dir = find_run(root, cfg.name, str(cfg.common.get("restore_ind") or ""))
    except OtterConfigError as e:
        if cfg.common.get("restore_ind"):
            raise e.located(file) from None
        raise OtterError(f"no trained run of {cfg.name!r}: {e.message}") from None
    if cfg.common.get("restore_ckpt"):
        ckpt = run_dir / "checkpoint" / cfg.common.restore_ckpt
        if not ckpt.is_file():
            raise OtterConfigError(f"no checkpoint {cfg.common.restore_ckpt!r} in {ckpt.parent}", file, "common.restore_ckpt")
    else:
        ckpt = best_checkpoint(run_dir)

    cfg.name_ind = run_dir.name
    cfg.root_dir = str(run_dir)
    model = resolve(cfg.model.name, MODELS, network, *modules)(cfg=cfg)
    load_weights(model, ckpt, strict=True)
    model.eval()
    wrapper = resolve(cfg.onnx.name, ONNX_WRAPPERS, network, *modules)(model)
    meta = {"cfg_name": cfg.name, "run_id": run_dir.name, "checkpoint": ckpt.name}
    if hasattr(model, "export_meta"):
        meta.update(model.export_meta())
    out = run_dir / "export" / f"{cfg.name}_{date.today():%Y%m%d}_fp32.onnx"
    report = export_onnx(wrapper, cfg.onnx, out, meta=meta, atol=atol)
    report["checkpoint"] = str(ckpt)
    return report
