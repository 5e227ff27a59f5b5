"""LightningModule mixins: solver from config, and random borders/fills for augmentation."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import lightning as L

from .registry import LR_SCHEDULERS, OPTIMIZERS, build

__all__ = ["BaseMixin", "BorderValueMixin", "FillValueMixin"]

#: Scheduler options that ``-1`` derives from the run: total steps, and warmup (10% of it).
TOTAL_STEP_KEYS = ("total_iters", "total_steps", "T_max")
WARMUP_STEP_KEYS = ("warmup_iters", "warmup_steps")
WARMUP_FRACTION = 0.1
#: Scheduler options that ``-1`` sets to the trainer's ``max_time`` in seconds (0 without one).
TIME_BUDGET_KEYS = ("max_seconds",)
#: Optimizers that refuse parameter groups; they get all parameters in one.
SINGLE_GROUP_OPTIMIZERS = ("LBFGS",)


class BaseMixin(L.LightningModule):
    """A LightningModule that builds its optimizer and LR scheduler from the config.

    Call :meth:`apply_solver_config` in ``__init__`` with the ``optimizer`` and
    ``lr_scheduler`` sections; :meth:`configure_optimizers` does the rest.

    >>> class Model(BaseMixin):  # doctest: +SKIP
    ...     def __init__(self, cfg):
    ...         super().__init__()
    ...         self.cfg = cfg
    ...         self.apply_solver_config(cfg.optimizer, cfg.lr_scheduler)
    """

    def apply_solver_config(self, optimizer: Mapping[str, Any], lr_scheduler: Optional[Mapping[str, Any]] = None) -> None:
        """Keep the ``optimizer`` and ``lr_scheduler`` sections (``name``, ``options``, ``pl_options``)."""
        self.optimizer_name = optimizer["name"]
        self.optimizer_opts = dict(optimizer.get("options") or {})
        lr_scheduler = lr_scheduler or {}
        self.sche_name = lr_scheduler.get("name")
        self.sche_opts = dict(lr_scheduler.get("options") or {})
        self.sche_pl_opts = dict(lr_scheduler.get("pl_options") or {})

    def get_optimizer_params(self) -> List[Dict[str, Any]]:
        """Two parameter groups: weight decay for matrices and kernels, none for biases and norms."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        return [
            {"params": decay, "weight_decay": self.optimizer_opts.get("weight_decay", 0.0)},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def _derived_scheduler_options(self) -> Dict[str, Any]:
        options = dict(self.sche_opts)
        if any(options.get(k) == -1 for k in TOTAL_STEP_KEYS + WARMUP_STEP_KEYS):
            # Lightning knows epochs, dataset length, batch size, accumulation and device count.
            total = int(self.trainer.estimated_stepping_batches)
            for k in TOTAL_STEP_KEYS:
                if options.get(k) == -1:
                    options[k] = total
            for k in WARMUP_STEP_KEYS:
                if options.get(k) == -1:
                    options[k] = int(total * WARMUP_FRACTION)
        if any(options.get(k) == -1 for k in TIME_BUDGET_KEYS):
            budget = self._max_time_seconds()
            for k in TIME_BUDGET_KEYS:
                if options.get(k) == -1:
                    options[k] = budget
        if options != self.sche_opts:
            cfg = getattr(self, "cfg", None)
            if cfg is not None and cfg.get("lr_scheduler"):
                # Recorded so the run's saved config shows the numbers actually used.
                cfg["lr_scheduler"]["options"] = options
        return options

    def _max_time_seconds(self) -> float:
        """``trainer.max_time`` in seconds, or 0 when the run has none."""
        from lightning.pytorch.callbacks import Timer

        for callback in self.trainer.callbacks:
            if isinstance(callback, Timer) and callback.time_remaining() is not None:
                # Remaining + elapsed: the whole budget, also when a resumed run restored the elapsed part.
                return float(callback.time_remaining() + callback.time_elapsed())
        return 0.0

    def configure_optimizers(self) -> Any:
        if self.optimizer_name in SINGLE_GROUP_OPTIMIZERS:
            params: Any = [p for p in self.parameters() if p.requires_grad]
        else:
            params = self.get_optimizer_params()
        optimizer = build({"name": self.optimizer_name, "options": self.optimizer_opts}, OPTIMIZERS, args=(params,), key="optimizer")
        if not getattr(self, "sche_name", None):
            return optimizer
        entry = {"name": self.sche_name, "options": self._derived_scheduler_options()}
        scheduler = build(entry, LR_SCHEDULERS, args=(optimizer,), key="lr_scheduler")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **self.sche_pl_opts}}

    def get_lr(self) -> float:
        """The learning rate of the first parameter group now."""
        return self.trainer.optimizers[0].param_groups[0]["lr"]

    @property
    def preview_dir(self) -> Path:
        """``<run>/preview/epoch_<N>/`` for this epoch's plots and sample images (made on first use).

        Ranks other than 0 get a scratch folder, so only rank 0 writes to the run folder.
        """
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and not trainer.is_global_zero:
            path = Path(tempfile.gettempdir()) / "otter-preview-scratch" / f"epoch_{self.current_epoch}"
        else:
            path = Path(self.cfg["root_dir"]) / "preview" / f"epoch_{self.current_epoch}"
        path.mkdir(parents=True, exist_ok=True)
        return path


class BorderValueMixin:
    """Random border handling for geometric augmentations.

    Each read draws again, so one transform built with these values still varies
    when it is rebuilt per sample. Read-only: assigning raises ``AttributeError``.
    """

    @property
    def pad_mode(self) -> int:
        import cv2

        return random.choice([cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE])

    @property
    def border_mode(self) -> int:
        import cv2

        return random.choice([cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE])

    @property
    def value(self) -> List[int]:
        return [random.randint(0, 255) for _ in range(3)]


class FillValueMixin:
    """A random RGB fill value per read, for cut-outs and padding."""

    @property
    def fill_value(self) -> List[int]:
        return [random.randint(0, 255) for _ in range(3)]
