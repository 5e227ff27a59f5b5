"""A tiny project written the way the seed's projects are: a BaseMixin model and a dataset module.

Used as ``network=tinyproj`` and as the dataset module in the tests, and by the
subprocess scripts (SIGTERM, DDP).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from otter import BaseMixin


class TinyHead(nn.Module):
    """Linear classifier head; the model fills in ``in_dim``."""

    OTTER_DERIVED = ("in_dim",)

    def __init__(self, in_dim: int, hidden: int = 8, num_classes: int = 2, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
        self.dropout = dropout  # applied between the layers, so the state dict keys stay the same

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.dropout(self.net[1](self.net[0](x)), self.dropout, self.training)
        return self.net[2](hidden)


class TinyModel(BaseMixin):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg.optimizer, cfg.get("lr_scheduler"))
        h, w = cfg.common.image_size
        head = cfg.model.head
        self.flatten = nn.Flatten()
        self.head = TinyHead(in_dim=3 * h * w, **(head.get("options") or {}))
        self.loss_fn = nn.CrossEntropyLoss()
        # Test hooks: slow steps and a marker file, so a test can signal mid-training.
        self.step_sleep = float(os.environ.get("TINY_STEP_SLEEP", "0"))
        self.marker = os.environ.get("TINY_MARKER")
        # TINY_SIGNAL_AT=STEP:SIGNAL sends this process a real signal (KILL, TERM, INT) at that global step;
        # TINY_CRASH_AT=STEP raises there.
        at, _, sig = os.environ.get("TINY_SIGNAL_AT", "").partition(":")
        self.signal_at = (int(at), getattr(signal, f"SIG{sig}")) if at else None
        self.crash_at = int(os.environ.get("TINY_CRASH_AT", "-1"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("loss", loss)
        if self.marker and self.global_step >= 2:
            Path(self.marker).touch()
        if self.signal_at and self.global_step == self.signal_at[0]:
            self.signal_at, (_, signum) = None, self.signal_at
            os.kill(os.getpid(), signum)
        if self.global_step == self.crash_at:
            raise RuntimeError(f"planned crash at step {self.crash_at}")
        if self.step_sleep:
            time.sleep(self.step_sleep)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("valid_loss", self.loss_fn(logits, y))
        self.log("valid_acc", (logits.argmax(1) == y).float().mean())

    def on_validation_epoch_end(self):
        (self.preview_dir / "valid_summary.txt").write_text(f"epoch {self.current_epoch}\n")


class TinyDataset(Dataset):
    """Random images whose label is whether the red channel is brighter than the green one."""

    def __init__(self, length: int, image_size: Sequence[int], seed: int = 0, noise: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        h, w = image_size
        self.x = torch.rand(length, 3, h, w, generator=g)
        self.y = (self.x[:, 0].mean((1, 2)) > self.x[:, 1].mean((1, 2))).long()
        # Random augmentation drawn from the global generators (torch, NumPy, Python), as datasets do.
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if not self.noise:
            return self.x[i], self.y[i]
        shift = random.random() * self.noise + float(np.random.rand()) * self.noise
        return self.x[i] + self.noise * torch.randn_like(self.x[i]) + shift, self.y[i]


class TinyWrapper(nn.Module):
    """Inference path only: logits to probabilities."""

    def __init__(self, model: TinyModel):
        super().__init__()
        self.model = model

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(img).softmax(-1)


TINY_CONFIG = """\
common:
  batch_size: 4
  image_size: [8, 8]
  seed: 7
trainer:
  max_epochs: 2
  accelerator: cpu
  devices: 1
  log_every_n_steps: 1
  enable_model_summary: false
model:
  name: TinyModel
  head:
    name: TinyHead
    options:
      hidden: 8
dataset:
  train_options:
    name: TinyDataset
    options:
      length: 32
  valid_options:
    name: TinyDataset
    options:
      length: 16
      seed: 1
global_settings:
  image_size: [8, 8]
dataloader:
  train_options:
    batch_size: -1
    shuffle: true
    num_workers: 0
  valid_options:
    batch_size: -1
    num_workers: 0
optimizer:
  name: AdamW
  options:
    lr: 0.01
    weight_decay: 0.01
lr_scheduler:
  name: PolynomialLRWarmup
  options:
    warmup_iters: -1
    total_iters: -1
  pl_options:
    interval: step
callbacks:
  - name: ModelCheckpoint
    options:
      monitor: valid_loss
      mode: min
      save_top_k: 1
  - name: CustomTQDMProgressBar
    options:
      unit_scale: -1
logger:
  name: TensorBoardLogger
onnx:
  name: TinyWrapper
  input_shape:
    img:
      shape: [1, 3, 8, 8]
      dtype: float32
  input_names: [img]
  output_names: [probs]
  dynamic_axes:
    img:
      "0": batch_size
    probs:
      "0": batch_size
  options:
    opset_version: 17
"""


def make_project(root: Path, name: str = "tiny", text: str = TINY_CONFIG) -> Path:
    """Write ``<root>/config/<name>.yaml`` and return ``root``."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / f"{name}.yaml").write_text(text)
    return root


def train(root: Path, cfg_name: str = "tiny", overrides: List[str] = ()):
    """What a seed-style project's trainer does: load, build, fit. Returns (trainer, model, cfg)."""
    import otter
    import tinyproj

    model, cfg = otter.load_model_from_config(cfg_name, root=root, stem="config", network=tinyproj, overrides=list(overrides))
    train_data, valid_data = otter.build_dataset(cfg, tinyproj)
    trainer = otter.build_trainer(cfg, root=root)
    trainer.fit(model, train_dataloaders=train_data, val_dataloaders=valid_data)
    return trainer, model, cfg


if __name__ == "__main__":
    # `python tinyproj.py ROOT [overrides...]`: used by the SIGTERM and DDP tests.
    # Through otter's CLI guard, as a project's command: exit codes and one-line errors.
    import sys

    from otter.cli import run_guarded

    def main() -> int:
        trainer, model, cfg = train(Path(sys.argv[1]), overrides=sys.argv[2:])
        print(f"RUN_DIR={cfg.root_dir} GLOBAL_STEP={trainer.global_step} EPOCH={trainer.current_epoch}")
        return 0

    sys.exit(run_guarded(main, sys.argv[1:]))
