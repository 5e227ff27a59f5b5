"""Export a trained model to ONNX and prove the file computes what torch computes (DESIGN §6).

:func:`export_onnx` exports an inference wrapper with ``torch.onnx.export``,
compares onnxruntime against torch on the same random input (batch 1, and batch
3 where the batch axis is dynamic), stores what inference needs in the file's
``metadata_props`` (:mod:`otter.onnx_meta`) and runs ``onnx.checker``. The file
appears only when every check passed. :func:`export_run` does it for a trained
run: it builds the model from the run's config, loads the run's best checkpoint
(:func:`otter.runinfo.find_checkpoint`) and wraps it.

torch, onnx and onnxruntime are imported inside the functions that use them:
``import otter.export`` stays cheap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .build import build_model, load_project_config
from .checkpoint import load_weights
from .errors import OtterConfigError, OtterError
from .onnx_meta import encode_meta, read_onnx_meta
from .registry import ONNX_WRAPPERS, build
from .runinfo import find_checkpoint, model_complexity
from .schema import DTYPES, RESERVED_META_KEYS, dynamic_axes_of, validate_onnx_section
from .version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = [
    "export_onnx",
    "export_run",
    "read_onnx_meta",
    "validate_onnx_section",
    "DEFAULT_ATOL",
    "DTYPES",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_ATOL = 1e-4
# Unlike 1 and unlike common defaults, so a batch axis that the exporter baked in
# as a constant shows up as a shape or value mismatch.
_SECOND_BATCH = 3


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
            each submodule is set back to its own mode afterwards. Called as ``module(*inputs)`` in ``input_names`` order.
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

    # Module by module: a wrapper around a model with frozen (eval) parts gets them back as they were.
    modes = [(m, m.training) for m in module.modules()]
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
        for part, training in modes:
            part.training = training
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
    axes = dynamic_axes_of(onnx_cfg)
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
                dynamic_axes=dynamic_axes_of(onnx_cfg) or None,
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
    return model_complexity(module, _random_inputs(onnx_cfg, batches[0], seed, _device_of(module)))


def _write_meta(path: Path, onnx_cfg: Mapping[str, Any], metadata: Mapping[str, Any], complexity: Mapping[str, int]) -> int:
    """Add Otter's metadata to the exported file; return its opset."""
    import onnx
    import torch

    # Weights in an external file (dynamo + external_data) stay where they are.
    model = onnx.load(str(path), load_external_data=False)
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), -1)
    axes = {n: {str(k): v for k, v in a.items()} for n, a in dynamic_axes_of(onnx_cfg).items()}
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
        "otter_version": __version__,
        "torch_version": torch.__version__,
        "export_date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    try:
        encoded = {str(k): encode_meta(v) for k, v in {**metadata, **own}.items()}
    except TypeError as e:
        raise OtterError(f"cannot store export metadata: {e}") from e
    del model.metadata_props[:]
    for key, value in encoded.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return opset


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



def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------- #
# From a run folder
# --------------------------------------------------------------------------- #


def export_run(
    cfg_name: PathLike, root: Optional[PathLike] = None, stem: PathLike = "config", network: Optional[ModuleType] = None,
    overrides: Sequence[str] = (), modules: Sequence[ModuleType] = (), *, atol: float = DEFAULT_ATOL,
) -> Dict[str, Any]:
    """Export a trained run of ``cfg_name`` to ``<run>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.

    Takes the project the way :func:`otter.load_model_from_config` does.

    The run is the latest one of this config, or ``common.restore_ind``; the checkpoint
    its best one (else ``last.ckpt``), or ``common.restore_ckpt``. The model's
    ``export_meta()`` (labels, vocabulary, image size, normalisation...) goes into the
    file's metadata.

    Raises:
        OtterConfigError: the config (its ``onnx:`` section included) is invalid.
        OtterError: no trained run, or the export is not faithful.
    """
    root = Path(root) if root is not None else Path.cwd()
    project = [network, *modules]
    cfg = load_project_config(cfg_name, root, stem, project, overrides, mode="to_onnx")
    file = getattr(cfg, "__file__", None)
    try:
        run_dir, ckpt = find_checkpoint(
            root, cfg.name, str(cfg.common.get("restore_ind") or ""), str(cfg.common.get("restore_ckpt") or ""), prefer="best"
        )
    except OtterConfigError as e:
        if cfg.common.get("restore_ind") or cfg.common.get("restore_ckpt"):
            raise e.located(file) from None
        raise OtterError(f"no trained run of {cfg.name!r}: {e.message}") from None

    cfg.name_ind = run_dir.name
    cfg.root_dir = str(run_dir)
    model = build_model(cfg, *project)
    load_weights(model, ckpt, strict=True)
    model.eval()
    try:
        wrapper = build({"name": cfg.onnx.name}, ONNX_WRAPPERS, *project, args=(model,), key="onnx")
    except OtterConfigError as e:
        raise e.located(file) from None
    meta = {"cfg_name": cfg.name, "run_id": run_dir.name, "checkpoint": ckpt.name}
    if hasattr(model, "export_meta"):
        meta.update(model.export_meta())
    out = run_dir / "export" / f"{cfg.name}_{date.today():%Y%m%d}_fp32.onnx"
    report = export_onnx(wrapper, cfg.onnx, out, meta=meta, atol=atol)
    report["checkpoint"] = str(ckpt)
    return report
