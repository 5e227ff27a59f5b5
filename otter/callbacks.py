"""Otter's Lightning callbacks that need nothing of otter (the run folder's is :mod:`otter.recorder`)."""

from __future__ import annotations

import sys
from typing import Any, Optional

from lightning.pytorch.callbacks import TQDMProgressBar

from .progress import ProgressLines

__all__ = ["CustomTQDMProgressBar"]


class CustomTQDMProgressBar(TQDMProgressBar):
    """A progress bar counted in images, so its rate reads images/s; plain lines in logs.

    On a terminal it is Lightning's tqdm bar. When standard output is a file or a
    pipe (CI, ``docker logs``), it prints one line every ``line_every_percent`` of an
    epoch instead (position, images/s, metrics) and one line of metrics after each
    validation, so a log holds no carriage-return updates.

    Args:
        unit_scale: Images per batch. In a config, ``-1`` means ``common.batch_size``.
        lines: ``true``: always plain lines; ``false``: always the bar; unset: lines
            when standard output is not a terminal.
        line_every_percent: Interval between plain lines, in percent of an epoch.
        **kwargs: Passed to :class:`lightning.pytorch.callbacks.TQDMProgressBar`
            (``refresh_rate``, ``process_position``, ``leave``).
    """

    def __init__(self, unit_scale: int = 1, lines: Optional[bool] = None, line_every_percent: float = 10.0, **kwargs: Any):
        super().__init__(**kwargs)
        if unit_scale < 1:
            raise ValueError(f"unit_scale must be a positive number of images per batch, got {unit_scale}")
        self.unit_scale = int(unit_scale)
        self.lines = (not _is_terminal(sys.stdout)) if lines is None else bool(lines)
        self._plain = ProgressLines(self.unit_scale, line_every_percent)
        if self.lines:
            # Every tqdm bar is then created disabled; the lines below take their place.
            self.disable()

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

    def _printing(self, trainer: Any) -> bool:
        return self.lines and trainer.is_global_zero

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        if self._printing(trainer):
            self._plain.epoch_start(trainer, self.total_train_batches)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._printing(trainer):
            self._plain.batch_end(trainer, batch_idx, self.get_metrics(trainer, pl_module))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        super().on_validation_end(trainer, pl_module)
        if self._printing(trainer) and not trainer.sanity_checking:
            self._plain.validation_end(trainer, trainer.callback_metrics)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
