"""Progress as plain lines, for logs that are files or pipes (CI, ``docker logs``, ``> train.log``).

A carriage-return progress bar written to a file becomes one huge line per epoch;
:class:`ProgressLines` prints instead one short line every ``every_percent`` of an
epoch, with images/s and the logged metrics, and one line of metrics after each
validation. :class:`otter.callbacks.CustomTQDMProgressBar` uses it when standard
output is not a terminal.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Mapping, Optional, TextIO

__all__ = ["ProgressLines", "format_metrics"]


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """``name=value`` pairs, numbers to 4 significant digits, sorted by name; ``v_num`` left out."""
    parts = []
    for name in sorted(metrics):
        if name == "v_num":
            continue
        value = metrics[name]
        if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1:
            value = value.item()
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return " ".join(parts)


class ProgressLines:
    """Prints a line every ``every_percent`` of a training epoch and one after each validation.

    Args:
        images_per_batch: Images in one batch, for the images/s figure.
        every_percent: Interval between lines, in percent of an epoch's batches.
        stream: Where to write (default: standard output).
    """

    def __init__(self, images_per_batch: int = 1, every_percent: float = 10.0, stream: Optional[TextIO] = None):
        if not 0 < every_percent <= 100:
            raise ValueError(f"every_percent must be in (0, 100], got {every_percent}")
        self.images_per_batch = int(images_per_batch)
        self.every_percent = float(every_percent)
        self.stream = stream
        self._total: Optional[int] = None
        self._step = self._next = 0
        self._mark_batch, self._mark_time = 0, time.monotonic()

    def _write(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    @staticmethod
    def _epoch(trainer: Any) -> str:
        last = trainer.max_epochs
        return f"epoch {trainer.current_epoch + 1}/{last}" if last and last > 0 else f"epoch {trainer.current_epoch + 1}"

    def epoch_start(self, trainer: Any, total_batches: Any) -> None:
        self._total = int(total_batches) if isinstance(total_batches, int) or (
            isinstance(total_batches, float) and math.isfinite(total_batches)
        ) else None
        self._step = max(1, round((self._total or 1000) * self.every_percent / 100))
        self._next = self._step
        self._mark_batch, self._mark_time = 0, time.monotonic()

    def batch_end(self, trainer: Any, batch_idx: int, metrics: Mapping[str, Any]) -> None:
        done = batch_idx + 1
        if not self._step:
            # Resumed in the middle of an epoch: its start was not seen here.
            self.epoch_start(trainer, getattr(trainer, "num_training_batches", None))
            self._mark_batch = batch_idx
        if done < self._next and done != self._total:
            return
        while self._next <= done:
            self._next += self._step
        now = time.monotonic()
        rate = (done - self._mark_batch) * self.images_per_batch / max(now - self._mark_time, 1e-9)
        self._mark_batch, self._mark_time = done, now
        where = f"{done}/{self._total} ({100 * done / self._total:.0f}%)" if self._total else f"batch {done}"
        self._write(f"{self._epoch(trainer)} {where} step {trainer.global_step} {rate:.1f} img/s {format_metrics(metrics)}".rstrip())

    def validation_end(self, trainer: Any, metrics: Mapping[str, Any]) -> None:
        self._write(f"{self._epoch(trainer)} validation: {format_metrics(metrics)}".rstrip())
