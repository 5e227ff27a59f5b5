"""Metadata stored in an exported ONNX file: encoding, reading it back, opening the file for inference.

Values are strings in the file's ``metadata_props``; anything that is not a plain
string is stored as JSON. :func:`read_onnx_meta` and :class:`OnnxModel` need
onnxruntime and numpy only, so inference code needs neither torch nor the ``onnx``
package (``import otter.onnx_meta`` imports neither).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import OtterError

__all__ = ["read_onnx_meta", "encode_meta", "decode_meta", "OnnxModel", "OnnxFileError"]

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


class OnnxFileError(OtterError, ValueError):
    """An ONNX file that cannot be used: missing, unreadable by onnxruntime, or not the model expected.

    A ``ValueError`` too, so command lines that answer bad input with ``except
    (OSError, ValueError)`` print it as their one line.
    """


def _meta_session(path: Path) -> Any:
    # Only the metadata is wanted: skip graph optimisation.
    return _session(path, optimize=False)


def _session(path: Path, providers: Optional[Sequence[str]] = None, optimize: bool = True) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        raise OnnxFileError(f"{path}: no such ONNX file")
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as e:  # onnxruntime raises its own exception types
        raise OnnxFileError(f"{path}: onnxruntime cannot read this file: {_first_line(e)}") from e


class OnnxModel:
    """An exported model opened for inference: its onnxruntime session and what its metadata says.

    What every task's inference module needs from the file, read once: the first
    input's name and size, whether its batch axis is dynamic, the output names and
    the input normalisation stored at export.

    Args:
        path: The ``.onnx`` file.
        providers: onnxruntime execution providers (default: CPU).
        task: When given, the metadata's ``task`` must equal it (a file of another task is refused).
        require: Metadata keys the caller needs; a file without them is refused.
        outputs: Output names the caller reads; a file without them is refused.

    Attributes:
        session: The ``onnxruntime.InferenceSession``.
        meta: The decoded metadata (:func:`read_onnx_meta`).
        input_name: The first input's name.
        image_size: ``(height, width)``: the metadata's ``image_size``, else the input's shape.
        dynamic_batch: Whether the input accepts any batch size.
        output_names: The graph's outputs, in order.

    Raises:
        OnnxFileError: the file is missing, onnxruntime cannot load it, or it is not the
            model asked for (``task``, ``require``, ``outputs``).

    >>> model = OnnxModel("export/default_20250101_fp32.onnx", task="classifier")  # doctest: +SKIP
    >>> model.run(model.normalise(batch))[0].shape  # doctest: +SKIP
    (1, 128)
    """

    def __init__(
        self, path: PathLike, providers: Optional[Sequence[str]] = None, *,
        task: Optional[str] = None, require: Sequence[str] = (), outputs: Sequence[str] = (),
    ):
        self.path = Path(path)
        self.session = _session(self.path, providers)
        self.meta = read_onnx_meta(self.session)
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.output_names: List[str] = [o.name for o in self.session.get_outputs()]
        if task is not None and self.meta.get("task") != task:
            raise OnnxFileError(f"{self.path}: not a {task} model (its metadata's task is {self.meta.get('task')!r})")
        missing = [k for k in require if k not in self.meta]
        if missing:
            raise OnnxFileError(f"{self.path}: its metadata lacks {', '.join(missing)}; export it with `python -m <Project>.model to_onnx`")
        absent = [name for name in outputs if name not in self.output_names]
        if absent:
            raise OnnxFileError(f"{self.path}: no output {', '.join(absent)} (its outputs: {', '.join(self.output_names)})")
        # A named or missing batch dimension means any batch size is accepted.
        self.dynamic_batch = not isinstance(model_input.shape[0], int)
        self.image_size: Tuple[int, int] = _image_size(self.meta.get("image_size"), model_input.shape, self.path)
        norm = self.meta.get("normalize")
        self._norm = (norm["mean"], norm["std"]) if isinstance(norm, dict) else None

    def normalise(self, batch: Any) -> Any:
        """``batch x C x H x W`` float32 in ``[0, 1]`` -> what the model takes (the stored mean/std applied, if any)."""
        import numpy as np

        batch = np.asarray(batch, dtype=np.float32)
        if self._norm is not None:
            mean, std = (np.asarray(v, np.float32).reshape(1, -1, 1, 1) for v in self._norm)
            batch = (batch - mean) / std
        return np.ascontiguousarray(batch, dtype=np.float32)

    def run(self, batch: Any, outputs: Optional[Sequence[str]] = None) -> List[Any]:
        """The model's outputs for one input batch (all outputs, or those named).

        A model exported with a fixed batch of 1 is run image by image and the results stacked.
        """
        import numpy as np

        names = list(outputs) if outputs else None
        if self.dynamic_batch or len(batch) == 1:
            return self.session.run(names, {self.input_name: batch})
        parts = [self.session.run(names, {self.input_name: item[None]}) for item in batch]
        return [np.concatenate(column) for column in zip(*parts)]


def _image_size(stored: Any, shape: Sequence[Any], path: Path) -> Tuple[int, int]:
    size = stored if stored else list(shape[2:4])
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise OnnxFileError(f"{path}: no image size in its metadata and a dynamic input shape {list(shape)}") from None
    return height, width


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

