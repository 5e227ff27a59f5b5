"""Writing checkpoints: atomically, with ``last.ckpt`` always the latest state, and a clear full-disk error.

- :class:`AtomicCheckpointIO` (a Lightning checkpoint plugin) serialises the whole
  checkpoint in memory, writes it to a temporary file beside the target, fsyncs it
  and renames it over the target. A save that fails (full disk, kill -9) leaves the
  previous file as it was; a full disk raises :class:`DiskFullError`.
- :class:`LastCheckpoint` owns ``last.ckpt``: written at every epoch end, every
  ``every_n_train_steps`` optimizer steps if set, and when the run is stopped by
  SIGTERM or Ctrl-C, whatever the top-k settings of the other checkpoints.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .errors import OtterError

__all__ = ["AtomicCheckpointIO", "LastCheckpoint", "DiskFullError", "atomic_write_bytes"]

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB"


class DiskFullError(OtterError):
    """No space left to write a checkpoint; the previous checkpoint is intact. Exit code 1."""

    exit_code = 1

    def __init__(self, path: Path, needed: int):
        folder = path.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        super().__init__(
            f"{folder}: disk full writing {path.name} (needs {_mb(needed)}, {_mb(free)} free); "
            "free space there and resume from last.ckpt, which still holds the previous state"
        )
        self.path, self.needed, self.free = path, needed, free


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported here (e.g. Windows); the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: Any, path: Path) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it: fsync, then rename.

    Raises:
        DiskFullError: no space (or quota) left; ``path`` is untouched.
        OSError: any other write error; ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in _DISK_FULL:
            raise DiskFullError(path, len(data)) from None
        raise
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoint IO, made atomic on local file systems.

    Remote paths (``s3://`` and the like) go through Lightning's own writer.
    """

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(buffer.getbuffer(), Path(path))


class LastCheckpoint(ModelCheckpoint):
    """Keeps ``<run>/checkpoint/last.ckpt`` at the latest state.

    Written at every epoch end (after validation when it runs), every
    ``every_n_train_steps`` optimizer steps when that is above 0 (so a kill -9
    loses at most that many steps), and on SIGTERM or Ctrl-C. After a crash it is
    left as it was: the state at a crash may be half-updated. Otter adds one to
    every run; list it under ``callbacks`` to set ``every_n_train_steps``.

    Args:
        every_n_train_steps: Also write it every this many optimizer steps (0: epoch ends only).
        dirpath: The folder; Otter sets ``<run>/checkpoint``.
    """

    def __init__(self, every_n_train_steps: int = 0, dirpath: Optional[str] = None):
        if every_n_train_steps < 0:
            raise ValueError(f"every_n_train_steps must be 0 (epoch ends only) or a number of steps, got {every_n_train_steps}")
        super().__init__(
            dirpath=dirpath,
            monitor=None,
            save_top_k=0,
            save_last=True,
            every_n_epochs=1,
            enable_version_counter=False,
        )
        self.every_n_steps = int(every_n_train_steps)

    @property
    def state_key(self) -> str:
        return "OtterLastCheckpoint"

    @property
    def path(self) -> Path:
        return Path(self.dirpath or ".") / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_now(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_now(trainer)

    def _save_last_now(self, trainer: Any) -> None:
        # Unlike ModelCheckpoint's own save_last, which only follows a top-k save and so
        # left last.ckpt at an old epoch whenever the metric did not improve.
        if trainer.fast_dev_run or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.every_n_steps or trainer.global_step % self.every_n_steps != 0:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # the epoch-end save follows, after validation
        if self._should_skip_saving_checkpoint(trainer):
            return  # saved at this step already (gradient accumulation), or not fitting
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # SIGTERM and the first Ctrl-C stop at a batch boundary, a state that resumes exactly.
        if not isinstance(exception, SIGTERMException) or self.dirpath is None:
            return
        trainer.save_checkpoint(self.path)
        if trainer.is_global_zero:
            print(
                f"stopped in epoch {trainer.current_epoch + 1} at step {trainer.global_step}; {self.path} holds that state "
                "(resume: common.is_restore=true common.restore_all_states=true)",
                file=sys.stderr,
                flush=True,
            )
