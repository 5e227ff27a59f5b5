"""Benchmark: a training step through otter vs a hand-written PyTorch loop (DESIGN §11).

Four sides train the same model, from the same initial weights, on the same batches, with
the same optimizer and scheduler: a hand-written loop, otter (config + ``build_trainer``),
plain Lightning (a LightningModule and a Trainer) and Lightning's ``LightningCLI`` (the same
LightningModule and a LightningDataModule, configured from arguments). Each side runs once
untimed (warm-up), then the sides take turns for ``--repeats`` rounds, the order rotating each
round so drift on a shared machine hits every side alike. A run's time is its mean seconds per
step after its first steps (fit's one-off start-up is not counted); each ratio is taken within a
round (side / hand-written) and reported as the median and the best over the rounds. Also the
largest difference between each side's loss curve and the hand-written one.

    python benchmarks/step_overhead.py [--steps 40] [--repeats 5] [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import otter  # noqa: E402
from otter import BaseMixin  # noqa: E402

BATCH, LENGTH, LR, WD, WARMUP = 32, 32 * 20, 0.001, 0.01, 5
SIDES = ("hand", "otter", "lightning", "cli")

CONFIG = """\
common: {{batch_size: {batch}, image_size: [64, 64], seed: 0}}
trainer: {{max_steps: {steps}, max_epochs: 1000, accelerator: {accelerator}, devices: 1, enable_progress_bar: false,
          enable_model_summary: false, num_sanity_val_steps: 0, limit_val_batches: 0, log_every_n_steps: 50}}
model: {{name: BenchModel}}
dataset: {{train_options: {{name: BenchData, options: {{length: {length}}}}}}}
dataloader: {{train_options: {{batch_size: -1, shuffle: false, num_workers: 0}}}}
optimizer: {{name: AdamW, options: {{lr: {lr}, weight_decay: {wd}}}}}
lr_scheduler: {{name: PolynomialLRWarmup, options: {{warmup_iters: {warmup}, total_iters: {steps}}}, pl_options: {{interval: step}}}}
callbacks: [{{name: ModelCheckpoint, options: {{save_last: false, save_top_k: 0}}}}]
"""


def make_net() -> nn.Module:
    """A small CNN, heavy enough that a step is real work on a CPU."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )


class Stamped:
    """The step every side shares: one time stamp per step, and the loss kept."""

    def training_step(self, batch, batch_idx):
        # The steady-state step time is measured between these stamps, so fit's one-off
        # start-up (logger, callbacks, FLOP count) is not counted; loss.item() syncs a GPU each step.
        self.stamps.append(time.perf_counter())
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.losses.append(loss.item())
        return loss


class BenchModel(Stamped, BaseMixin):
    """The otter side (and the hand-written loop's model): solver from the config."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg.optimizer, cfg.lr_scheduler)
        self.net = make_net()
        self.losses: list = []
        self.stamps: list = []


class PlainModel(Stamped, pl.LightningModule):
    """The plain Lightning and LightningCLI side: the same net, optimizer and scheduler, written out."""

    def __init__(self, lr: float = LR, weight_decay: float = WD, warmup_iters: int = WARMUP, total_iters: int = 40):
        super().__init__()
        self.net = make_net()
        self.lr, self.weight_decay, self.warmup_iters, self.total_iters = lr, weight_decay, warmup_iters, total_iters
        self.losses: list = []
        self.stamps: list = []

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = otter.PolynomialLRWarmup(optimizer, warmup_iters=self.warmup_iters, total_iters=self.total_iters)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class BenchData(torch.utils.data.Dataset):
    def __init__(self, length: int, image_size=(64, 64)):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(length, 3, *image_size, generator=g)
        self.y = torch.randint(0, 10, (length,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class BenchDataModule(pl.LightningDataModule):
    """The LightningCLI side's data: the same dataset, batches and order."""

    def __init__(self, length: int = LENGTH, batch_size: int = BATCH):
        super().__init__()
        self.length, self.batch_size = length, batch_size

    def train_dataloader(self):
        return torch.utils.data.DataLoader(BenchData(self.length), batch_size=self.batch_size, shuffle=False, num_workers=0)


WARM = 5  # steps left out of the timing on every side


def per_step(stamps: list) -> float:
    return (stamps[-1] - stamps[WARM]) / (len(stamps) - 1 - WARM)


class Bench:
    """The four sides, set up once; each ``run_<side>`` trains ``steps`` steps from the same weights."""

    def __init__(self, steps: int, device: str):
        self.steps, self.device = steps, device
        self.accelerator = "gpu" if device == "cuda" else "cpu"
        self.root = Path(tempfile.mkdtemp(prefix="otter-bench-"))
        (self.root / "config").mkdir()
        (self.root / "config" / "bench.yaml").write_text(CONFIG.format(
            steps=steps, length=LENGTH, batch=BATCH, lr=LR, wd=WD, warmup=WARMUP, accelerator=self.accelerator))
        module = sys.modules[__name__]
        self.ref, cfg = otter.load_model_from_config("bench", root=self.root, network=module)
        self.init_state = copy.deepcopy(self.ref.state_dict())
        self.loader, _ = otter.build_dataset(cfg, module)

    def run_hand(self) -> tuple:
        model = self.ref
        model.load_state_dict(self.init_state)
        model.to(self.device).train()
        model.losses.clear()
        model.stamps.clear()
        optimizer = torch.optim.AdamW(model.get_optimizer_params(), **model.optimizer_opts)
        scheduler = otter.PolynomialLRWarmup(optimizer, **model.sche_opts)
        step = 0
        while step < self.steps:
            for x, y in self.loader:
                optimizer.zero_grad()
                loss = model.training_step((x.to(self.device), y.to(self.device)), step)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                if step == self.steps:
                    break
        return per_step(model.stamps), list(model.losses)

    def run_otter(self) -> tuple:
        module = sys.modules[__name__]
        model, cfg = otter.load_model_from_config("bench", root=self.root, network=module)
        model.load_state_dict(self.init_state)
        train_data, _ = otter.build_dataset(cfg, module)
        trainer = otter.build_trainer(cfg, root=self.root)
        trainer.fit(model, train_data)
        os.environ.pop("OTTER_RUN_ID", None)
        return per_step(model.stamps), model.losses

    def _trainer_options(self) -> dict:
        return dict(max_steps=self.steps, max_epochs=1000, accelerator=self.accelerator, devices=1, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0, limit_val_batches=0)

    def run_lightning(self) -> tuple:
        model = PlainModel(total_iters=self.steps)
        model.load_state_dict(self.init_state)  # the same keys as BenchModel's (net.*)
        loader = torch.utils.data.DataLoader(BenchData(LENGTH), batch_size=BATCH, shuffle=False, num_workers=0)
        pl.Trainer(**self._trainer_options()).fit(model, loader)
        return per_step(model.stamps), model.losses

    def run_cli(self) -> tuple:
        from lightning.pytorch.cli import LightningCLI

        args = [f"--model.total_iters={self.steps}"]
        args += [f"--trainer.{k}={v}" for k, v in self._trainer_options().items()]
        args.append(f"--trainer.default_root_dir={self.root}")
        cli = LightningCLI(PlainModel, BenchDataModule, args=args, run=False, save_config_callback=None)
        cli.model.load_state_dict(self.init_state)  # the same initial weights as every other side
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        return per_step(cli.model.stamps), cli.model.losses


def measure(steps: int, repeats: int, device: str) -> dict:
    bench = Bench(steps, device)
    for side in SIDES:  # warm-up: allocator, kernels, lazy imports, once per side
        getattr(bench, f"run_{side}")()
    times = {side: [] for side in SIDES}
    diffs = {side: [] for side in SIDES[1:]}
    for r in range(repeats):
        order = SIDES[r % len(SIDES):] + SIDES[:r % len(SIDES)]  # rotate, so no side always runs first
        losses = {}
        for side in order:
            seconds, losses[side] = getattr(bench, f"run_{side}")()
            times[side].append(seconds)
        for side in SIDES[1:]:
            diffs[side].append(max(abs(a - b) for a, b in zip(losses["hand"], losses[side])))

    def st(values):
        return {"best": min(values), "median": statistics.median(values), "n": len(values)}

    def ratio(a, b):
        per_round = [x / y for x, y in zip(times[a], times[b])]
        return {"median": statistics.median(per_round), "best": min(per_round), "worst": max(per_round), "rounds": per_round}

    return {
        "bench": "step_overhead", "device": device, "steps": steps, "repeats": repeats, "batch": BATCH, "image": "3x64x64",
        "torch_threads": torch.get_num_threads(),
        "seconds": {side: st(times[side]) for side in SIDES},
        "ratio": {"otter/hand": ratio("otter", "hand"), "lightning/hand": ratio("lightning", "hand"),
                  "cli/hand": ratio("cli", "hand"), "otter/lightning": ratio("otter", "lightning")},
        "max_loss_diff": {side: max(diffs[side]) for side in SIDES[1:]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", action="store_true", help="print one JSON line (for benchmarks/run_all.py)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (torch.cuda.is_available() is False)")
    out = measure(args.steps, args.repeats, args.device)
    if args.json:
        print(json.dumps(out), flush=True)
        return
    s, r = out["seconds"], out["ratio"]
    print(f"steps per run: {args.steps} (batch {BATCH}, 64x64, {args.device}, {args.repeats} rounds, first {WARM} steps untimed)")
    for side in SIDES:
        print(f"{side:<10} {s[side]['median'] * 1000:8.2f} ms/step median, {s[side]['best'] * 1000:8.2f} best")
    for name, v in r.items():
        print(f"{name:<16} {v['median']:.3f} median, {v['best']:.3f} best of the rounds")
    print(f"budget: otter/hand <= 1.03 (median of the rounds); max |loss diff| {out['max_loss_diff']} (budget 1e-5 for otter)")


if __name__ == "__main__":
    main()
