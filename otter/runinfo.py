"""Run records: the run folder, finding runs and their checkpoints, and what a run records.

``runs/<cfg_name>/<run_id>/`` holds the resolved config, machine records
(versions, system, GPU), ``model_meta_data.json`` and the ``checkpoint/``,
``logs/``, ``preview/`` and ``export/`` folders. :func:`create_run_folder` writes
it (called by :class:`otter.recorder.RunRecorder` when fitting starts);
:func:`find_checkpoint` answers "which checkpoint of which run" for resume and
export alike.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

from .checkpoint import best_checkpoint
from .config import dump_config
from .errors import OtterConfigError, OtterError
from .sections import image_size


def model_complexity(model: Any, inputs: Sequence[Any]) -> Dict[str, int]:
    """Count parameters, FLOPs and MACs of one forward pass.

    Args:
        model: A ``torch.nn.Module``.
        inputs: Positional example inputs for ``model(*inputs)``.

    Returns:
        ``{"params": ..., "flops": ..., "macs": ...}``; ``macs`` is half of ``flops``
        as counted by :class:`torch.utils.flop_counter.FlopCounterMode`.

    >>> import torch
    >>> model_complexity(torch.nn.Linear(4, 2), (torch.zeros(1, 4),))["macs"]
    8
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(*inputs)
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    return {"params": int(params), "flops": flops, "macs": flops // 2}


# --------------------------------------------------------------------------- #
# The run folder
# --------------------------------------------------------------------------- #

RUN_ID_FORMAT = "%Y-%m-%d-%H-%M-%S"
#: Set by the launching process so DDP children started by Lightning share its run folder.
RUN_ID_ENV = "OTTER_RUN_ID"
RUN_PID_ENV = "OTTER_RUN_PID"
RUN_SUBFOLDERS = ("checkpoint", "logs", "preview", "export")


def runs_root(root: Union[str, Path], cfg_name: str) -> Path:
    return Path(root) / "runs" / cfg_name


def new_run_id(root: Union[str, Path], cfg_name: str) -> str:
    """Choose a timestamp run id and reserve it by creating its folder, shared by all ranks.

    The folder is created when the id is chosen (``mkdir`` fails if it exists), so two
    runs started in the same second get ``<time>`` and ``<time>-1`` (then ``-2``...).
    A process that Lightning launched for DDP (its parent set ``OTTER_RUN_ID`` and
    ``OTTER_RUN_PID``) reuses its parent's id; a torchrun or SLURM job can set
    ``OTTER_RUN_ID`` alone for every rank. A reserved folder is removed again when the
    process ends before the run's first optimizer step (see :func:`mark_started`).
    """
    inherited = os.environ.get(RUN_ID_ENV)
    parent = os.environ.get(RUN_PID_ENV)
    if inherited and (parent is None or parent == str(os.getppid())):
        return inherited
    folder = runs_root(root, cfg_name)
    # runs/ and runs/<cfg>/ made here go again with an unstarted run, when they are left empty.
    made = [p for p in (folder, folder.parent) if not p.is_dir()]
    folder.mkdir(parents=True, exist_ok=True)
    base = datetime.now().strftime(RUN_ID_FORMAT)
    run_id, n = base, 0
    while True:
        try:
            (folder / run_id).mkdir()
            break
        except FileExistsError:
            n += 1
            run_id = f"{base}-{n}"
    _reserve(folder / run_id, made)
    os.environ[RUN_ID_ENV] = run_id
    os.environ[RUN_PID_ENV] = str(os.getpid())
    return run_id


#: Run folders this process reserved that have not seen an optimizer step yet.
_UNSTARTED: Dict[str, int] = {}
#: Parent folders (``runs/<cfg>/``, ``runs/``) the reservation of a run folder created, innermost first.
_MADE_FOR: Dict[str, List[Path]] = {}


def _reserve(run_dir: Path, made: Sequence[Path] = ()) -> None:
    if not _UNSTARTED:
        atexit.register(_drop_unstarted)
    _UNSTARTED[str(run_dir)] = os.getpid()
    _MADE_FOR[str(run_dir)] = list(made)


def mark_started(run_dir: Union[str, Path]) -> None:
    """The run in ``run_dir`` has made an optimizer step: keep its folder whatever happens next."""
    _UNSTARTED.pop(str(run_dir), None)
    _MADE_FOR.pop(str(run_dir), None)


def _drop_unstarted() -> None:
    # A run that failed before its first optimizer step leaves nothing to be taken as the latest run.
    import shutil

    for path, pid in list(_UNSTARTED.items()):
        if pid == os.getpid() and not any(Path(path).glob("checkpoint/*.ckpt")):
            shutil.rmtree(path, ignore_errors=True)
            for parent in _MADE_FOR.get(path, ()):
                try:
                    parent.rmdir()  # only when empty: another run may have started there since
                except OSError:
                    break
    _UNSTARTED.clear()
    _MADE_FOR.clear()


def list_runs(root: Union[str, Path], cfg_name: str) -> List[Path]:
    """Run folders of ``cfg_name``, oldest first (by last change, then name)."""
    folder = runs_root(root, cfg_name)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name))


def latest_run(root: Union[str, Path], cfg_name: str) -> Optional[Path]:
    """The newest run folder of ``cfg_name`` that holds a checkpoint, or ``None``.

    A folder without one (a run starting now, or one killed before its first
    checkpoint) is never taken as the latest run.
    """
    runs = [p for p in list_runs(root, cfg_name) if any(p.glob("checkpoint/*.ckpt"))]
    return runs[-1] if runs else None


def find_run(root: Union[str, Path], cfg_name: str, run_id: str = "") -> Path:
    """The run folder ``run_id`` of ``cfg_name`` (empty: the latest one).

    Raises:
        OtterConfigError: no such run (key ``common.restore_ind``), or no run at all (key ``common.is_restore``).
    """
    if run_id:
        run_dir = runs_root(root, cfg_name) / run_id
        if not run_dir.is_dir():
            known = ", ".join(p.name for p in list_runs(root, cfg_name)) or "none"
            raise OtterConfigError(f"no run {run_id!r} in {run_dir.parent} (runs: {known})", key="common.restore_ind")
        return run_dir
    latest = latest_run(root, cfg_name)
    if latest is None:
        raise OtterConfigError(f"{runs_root(root, cfg_name)} has no run yet; train it first", key="common.is_restore")
    return latest


def find_checkpoint(
    root: Union[str, Path],
    cfg_name: str,
    run_id: str = "",
    ckpt_name: str = "",
    prefer: Literal["last", "best"] = "last",
) -> Tuple[Path, Path]:
    """Which checkpoint of which run: the one rule for resume and export.

    The run is ``run_id`` of ``cfg_name`` (empty: the latest run). The checkpoint is
    ``ckpt_name`` in its ``checkpoint/`` folder; when that is empty, ``last.ckpt``
    (``prefer="last"``, resuming) or the best checkpoint, else ``last.ckpt``
    (``prefer="best"``, exporting; see :func:`otter.checkpoint.best_checkpoint`).

    Args:
        root: The project folder (``runs/`` is inside it).
        cfg_name: Whose runs: the config name (``common.restore_cfg`` for a finetune config).
        run_id: ``common.restore_ind``.
        ckpt_name: ``common.restore_ckpt``, a file name in the run's ``checkpoint/``.
        prefer: What an empty ``ckpt_name`` means.

    Returns:
        ``(run_dir, checkpoint_file)``.

    Raises:
        OtterConfigError: no run yet (``common.is_restore``), no such run (``common.restore_ind``)
            or no such checkpoint (``common.restore_ckpt``).
        OtterError: the run has no checkpoint at all, or its checkpoint cannot be read.
    """
    run_dir = find_run(root, cfg_name, run_id)
    folder = run_dir / "checkpoint"
    if not ckpt_name and prefer == "best":
        return run_dir, best_checkpoint(run_dir)
    name = ckpt_name or "last.ckpt"
    ckpt = folder / name
    if not ckpt.is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("*.ckpt"))) or "none"
        raise OtterConfigError(f"no checkpoint {name!r} in {folder} (there: {found})", key="common.restore_ckpt")
    return run_dir, ckpt


def config_header(cfg: Any) -> str:
    """The comment at the top of a run's ``config.yaml``."""
    return f"# Resolved config of run {cfg.get('name')}/{cfg.get('name_ind')}; load it again with `otter check`.\n"


def create_run_folder(run_dir: Union[str, Path], cfg: Any) -> Path:
    """Make a new run folder and write the records that need no model.

    Raises:
        OtterError: the folder exists already (a run folder is never overwritten).
    """
    run_dir = Path(run_dir)
    if not run_folder_free(run_dir):
        raise OtterError(f"{run_dir} exists already; a run folder is never overwritten")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(run_dir, cfg, header=config_header(cfg))
    return run_dir


def run_folder_free(run_dir: Union[str, Path]) -> bool:
    """Whether a new run may take ``run_dir``: it does not exist, or :func:`new_run_id` reserved it (empty) in this process."""
    run_dir = Path(run_dir)
    # Anything else is another run's folder.
    return not run_dir.exists() or (str(run_dir) in _UNSTARTED and not (run_dir / "config.yaml").exists())


def write_json(data: Any, path: Union[str, Path]) -> None:
    """Write JSON atomically (a temp file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def package_versions() -> Dict[str, str]:
    """Every installed distribution and its version."""
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def gpu_cuda_versions() -> Dict[str, Any]:
    """Torch's CUDA/cuDNN build and the visible GPUs (no subprocess, no network)."""
    import torch

    info: Dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "devices": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["devices"].append(
                {
                    "index": i,
                    "name": props.name,
                    "capability": f"{props.major}.{props.minor}",
                    "memory_gib": round(props.total_memory / 2**30, 2),
                }
            )
    return info


def system_info() -> Dict[str, Any]:
    """OS, Python, CPU and memory of this machine."""
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory,
        "hostname": platform.node(),
        "argv": sys.argv,
        "time": datetime.now().isoformat(timespec="seconds"),
    }


def example_input(model: Any, cfg: Any) -> tuple:
    """A batch-1 input for counting FLOPs: the model's ``example_input_array``, else an image of the config's image size."""
    import torch

    example = getattr(model, "example_input_array", None)
    if example is not None:
        return tuple(example) if isinstance(example, (list, tuple)) else (example,)
    size = image_size(cfg)
    if size is None:
        raise ValueError("set an image_size (see otter.sections.image_size) or the model's example_input_array to count FLOPs")
    h, w = size
    device = next(model.parameters()).device
    return (torch.zeros(1, 3, h, w, device=device),)


def model_meta_data(model: Any, cfg: Any) -> Dict[str, Any]:
    """Parameters, FLOPs and MACs of the model at batch 1 (``model_meta_data.json``)."""
    try:
        inputs = example_input(model, cfg)
        stats = model_complexity(model, inputs)
        stats["input_shapes"] = [list(t.shape) for t in inputs]
    except Exception as e:  # a model that cannot run a dummy input still trains
        stats = {"params": int(sum(p.numel() for p in model.parameters())), "flops": None, "macs": None, "note": str(e)}
    stats["trainable_params"] = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return stats


def write_run_files(run_dir: Path, cfg: Any, header: str = "") -> None:
    """The files of a new run folder that need no model: config and machine records."""
    for sub in RUN_SUBFOLDERS:
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml", header=header)
    write_json(package_versions(), run_dir / "PackageVersions.json")
    write_json(gpu_cuda_versions(), run_dir / "GPU-Cuda-Versions.json")
    write_json(system_info(), run_dir / "SystemInfos.json")
