"""Metadata stored in an exported ONNX file: encoding, and reading it back without torch.

Values are strings in the file's ``metadata_props``; anything that is not a plain
string is stored as JSON. :func:`read_onnx_meta` needs onnxruntime only, so
inference code needs neither torch nor the ``onnx`` package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Union

from .errors import OtterError

__all__ = ["read_onnx_meta", "encode_meta", "decode_meta"]

PathLike = Union[str, "os.PathLike[str]"]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars, tensors
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_meta(value: Any) -> str:
    """A metadata value as a string: plain strings as they are, the rest as JSON.

    A string that would itself parse as JSON (``"16"``, ``"true"``) is JSON-quoted,
    so :func:`decode_meta` gives back a string and not a number.
    """
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def decode_meta(text: str) -> Any:
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
    return {k: decode_meta(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


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

