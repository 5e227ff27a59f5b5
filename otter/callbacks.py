"""Otter's Lightning callbacks."""

from __future__ import annotations

from typing import Any

import os
from pathlib import Path

from lightning.pytorch.callbacks import Callback, TQDMProgressBar

__all__ = ["CustomTQDMProgressBar", "RunRecorder", "LastOnInterrupt"]


class CustomTQDMProgressBar(TQDMProgressBar):
    """A progress bar counted in images, so its rate reads images/s.

    Args:
        unit_scale: Images per batch. In a config, ``-1`` means ``common.batch_size``.
        **kwargs: Passed to :class:`lightning.pytorch.callbacks.TQDMProgressBar`
            (``refresh_rate``, ``process_position``, ``leave``).
    """

    def __init__(self, unit_scale: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        if unit_scale < 1:
            raise ValueError(f"unit_scale must be a positive number of images per batch, got {unit_scale}")
        self.unit_scale = int(unit_scale)

    def _in_images(self, bar: Any) -> Any:
        bar.unit = "img"
        bar.unit_scale = self.unit_scale
        return bar

    def init_train_tqdm(self) -> Any:
        return self._in_images(super().init_train_tqdm())

    def init_validation_tqdm(self) -> Any:
        return self._in_images(super().init_validation_tqdm())

    def init_predict_tqdm(self) -> Any:
        return self._in_images(super().init_predict_tqdm())

    def init_test_tqdm(self) -> Any:
        return self._in_images(super().init_test_tqdm())


class RunRecorder(Callback):
    """Writes what is only known once fitting starts: model size and the config with derived values.

    Added by :func:`otter.build_trainer`; only rank 0 writes.
    """

    def __init__(self, cfg: Any, run_dir: Any, rewrite_config: bool = True):
        self.cfg = cfg
        self.run_dir = run_dir
        self.rewrite_config = rewrite_config

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        from .config import dump_config
        from .runinfo import model_meta_data, write_json

        write_json(model_meta_data(pl_module, self.cfg), self.run_dir / "model_meta_data.json")
        if self.rewrite_config:
            dump_config(self.cfg, self.run_dir / "config.yaml", header=_config_header(self.cfg))


def _config_header(cfg: Any) -> str:
    return f"# Resolved config of run {cfg.get('name')}/{cfg.get('name_ind')}; load it again with `otter check`.\n"


class LastOnInterrupt(Callback):
    """Saves ``last.ckpt`` when fitting stops on Ctrl-C, SIGTERM or an error, so the run can resume.

    Lightning turns SIGTERM into an exception after the current batch; both it and
    ``KeyboardInterrupt`` reach ``on_exception``. Unlike Lightning's ``OnExceptionCheckpoint``
    the file is kept when a later run ends normally.
    """

    def __init__(self, dirpath: Any):
        self.path = Path(dirpath) / "last.ckpt"

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if trainer.is_global_zero and self.path.is_symlink():
            # ModelCheckpoint(save_last="link") points last.ckpt at a best checkpoint; keep that file intact.
            os.unlink(self.path)
        trainer.save_checkpoint(self.path)
