"""Reading checkpoints: the one reader, loading weights, and a run's best checkpoint.

Resume, finetuning and export all read checkpoints through :func:`read_checkpoint`,
so a file is accepted or refused the same way everywhere. torch is imported
inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

from .errors import OtterError

__all__ = ["read_checkpoint", "load_weights", "best_checkpoint", "state_dict_of"]

PathLike = Union[str, Path]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_checkpoint(path: PathLike, *, mmap: bool = False) -> Dict[str, Any]:
    """Read a checkpoint file into a dict on the CPU.

    ``torch.load(weights_only=True)`` first. Lightning checkpoints may hold
    hyper-parameters that are not plain tensors, which that refuses; only then is
    the file read with ``weights_only=False`` (a run's own checkpoint).

    Args:
        path: A Lightning checkpoint or a plain state dict.
        mmap: Map the file instead of reading it (when only a small part is needed).

    Raises:
        OtterError: the file is missing, truncated or not a dict, naming the file.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise OtterError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
        except Exception as e:
            raise OtterError(f"{path}: cannot read this checkpoint ({type(e).__name__}: {_first_line(e)}); is it complete?") from None
    except Exception as e:
        raise OtterError(f"{path}: cannot read this checkpoint ({type(e).__name__}: {_first_line(e)}); is it complete?") from None
    if not isinstance(ckpt, Mapping):
        raise OtterError(f"{path}: not a checkpoint (a {type(ckpt).__name__}, not a dict)")
    return dict(ckpt)


def state_dict_of(ckpt: Mapping[str, Any], path: PathLike) -> Dict[str, Any]:
    """The weights in a checkpoint: its ``state_dict``, or the mapping itself for a plain state dict."""
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, Mapping):
        raise OtterError(f"{path}: not a checkpoint (no state_dict inside)")
    return dict(state)


def _listed(keys: List[str]) -> str:
    return ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "")


def load_weights(model: Any, path: PathLike, strict: bool = True) -> None:
    """Load a checkpoint's weights into ``model``, reporting exactly what does not match.

    Args:
        model: The module to load into.
        path: A Lightning checkpoint (``state_dict`` inside) or a plain state dict.
        strict: Missing or unexpected keys are errors; shape mismatches always are.

    Raises:
        OtterError: unreadable file, or keys/shapes that do not match, naming the file.
    """
    state = state_dict_of(read_checkpoint(path), path)
    own = model.state_dict()
    shapes = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    problems = []
    if shapes:
        problems.append(f"shape mismatch: {_listed(shapes)}")
    if strict and missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if problems:
        hint = "" if not missing and not unexpected else "; set common.restore_strict: false to load what matches"
        raise OtterError(f"{path}: does not match {type(model).__name__}: {'; '.join(problems)}{hint}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=strict)


def best_checkpoint(run_dir: PathLike) -> Path:
    """The best checkpoint of a run folder, else its ``last.ckpt``.

    Reads the ``ModelCheckpoint`` state saved in ``checkpoint/last.ckpt`` (or, with
    no ``last.ckpt``, in the newest ``*.ckpt``) and returns its ``best_model_path``
    when that file is in ``checkpoint/``. The file is looked up by name inside this
    run folder, so a run folder that was moved or copied still works. With no
    monitored best on disk, returns ``last.ckpt`` (else the newest checkpoint).

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
    # mmap: only the callback state is needed, not the weights read into memory.
    callbacks = read_checkpoint(state_file, mmap=True).get("callbacks") or {}
    for key, state in callbacks.items():
        if str(key).startswith("ModelCheckpoint") and isinstance(state, Mapping) and state.get("best_model_path"):
            # By file name: the run folder may have moved since the path was recorded.
            candidate = folder / Path(str(state["best_model_path"])).name
            if candidate.is_file():
                return candidate
    return state_file
