"""Benchmark: a training step through otter vs a hand-written PyTorch loop (DESIGN §11).

Both train the same model, from the same initial weights, on the same batches, with
the same optimizer and scheduler. Reports seconds per step of each, their ratio, and
the largest difference between the two loss curves.

    python benchmarks/step_overhead.py [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import otter  # noqa: E402
from otter import BaseMixin  # noqa: E402

CONFIG = """\
common: {{batch_size: 32, image_size: [64, 64], seed: 0}}
trainer: {{max_steps: {steps}, max_epochs: 1000, accelerator: cpu, devices: 1, enable_progress_bar: false,
          enable_model_summary: false, num_sanity_val_steps: 0, limit_val_batches: 0, log_every_n_steps: 50}}
model: {{name: BenchModel}}
dataset: {{train_options: {{name: BenchData, options: {{length: {length}}}}}}}
dataloader: {{train_options: {{batch_size: -1, shuffle: false, num_workers: 0}}}}
optimizer: {{name: AdamW, options: {{lr: 0.001, weight_decay: 0.01}}}}
lr_scheduler: {{name: PolynomialLRWarmup, options: {{warmup_iters: 5, total_iters: {steps}}}, pl_options: {{interval: step}}}}
callbacks: [{{name: ModelCheckpoint, options: {{save_last: false, save_top_k: 0}}}}]
"""


class BenchModel(BaseMixin):
    """A small CNN, heavy enough that a step is real work on a CPU."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg.optimizer, cfg.lr_scheduler)
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        )
        self.losses: list = []
        self.stamps: list = []

    def training_step(self, batch, batch_idx):
        # One time stamp per step: the steady-state step time is measured between stamps,
        # so fit's one-off start-up (logger, callbacks, FLOP count) is not counted.
        self.stamps.append(time.perf_counter())
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.losses.append(loss.item())
        return loss


class BenchData(torch.utils.data.Dataset):
    def __init__(self, length: int, image_size=(64, 64)):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(length, 3, *image_size, generator=g)
        self.y = torch.randint(0, 10, (length,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


WARM = 5  # steps left out of the timing on both sides


def per_step(stamps: list) -> float:
    return (stamps[-1] - stamps[WARM]) / (len(stamps) - 1 - WARM)


def hand_written(model: BenchModel, loader, steps: int) -> float:
    model.train()
    model.losses.clear()
    model.stamps.clear()
    optimizer = torch.optim.AdamW(model.get_optimizer_params(), **model.optimizer_opts)
    scheduler = otter.PolynomialLRWarmup(optimizer, **model.sche_opts)
    step = 0
    while step < steps:
        for batch in loader:
            optimizer.zero_grad()
            loss = model.training_step(batch, step)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step == steps:
                break
    return per_step(model.stamps)


def through_otter(root: Path, steps: int, length: int, init_state: dict) -> tuple:
    module = sys.modules[__name__]
    model, cfg = otter.load_model_from_config("bench", root=root, network=module)
    model.load_state_dict(init_state)
    train_data, _ = otter.build_dataset(cfg, module)
    trainer = otter.build_trainer(cfg, root=root)
    trainer.fit(model, train_data)
    return per_step(model.stamps), model.losses


def plain_lightning(steps: int, length: int, init_state: dict) -> tuple:
    """The same model, optimizer, scheduler and batches in plain Lightning: a LightningModule and a Trainer."""
    import lightning.pytorch as pl

    class Plain(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
            )
            self.losses: list = []
            self.stamps: list = []

        def training_step(self, batch, batch_idx):
            self.stamps.append(time.perf_counter())
            x, y = batch
            loss = nn.functional.cross_entropy(self.net(x), y)
            self.losses.append(loss.item())
            return loss

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.parameters(), lr=0.001, weight_decay=0.01)
            scheduler = otter.PolynomialLRWarmup(optimizer, warmup_iters=5, total_iters=steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    model = Plain()
    model.load_state_dict(init_state)  # the same keys as BenchModel's (net.*)
    loader = torch.utils.data.DataLoader(BenchData(length), batch_size=32, shuffle=False, num_workers=0)
    trainer = pl.Trainer(max_steps=steps, max_epochs=1000, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(model, loader)
    return per_step(model.stamps), model.losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for benchmarks/run_all.py)")
    args = parser.parse_args()
    length = 32 * 20
    root = Path(tempfile.mkdtemp(prefix="otter-bench-"))
    (root / "config").mkdir()
    (root / "config" / "bench.yaml").write_text(CONFIG.format(steps=args.steps, length=length))

    module = sys.modules[__name__]
    ref, cfg = otter.load_model_from_config("bench", root=root, network=module)
    init_state = copy.deepcopy(ref.state_dict())
    loader, _ = otter.build_dataset(cfg, module)

    hand_written(ref, loader, WARM + 2)  # warm up allocator and kernels before timing anything
    hand_times, otter_times, plain_times, diffs, plain_diffs = [], [], [], [], []
    for _ in range(args.repeats):
        # Alternate the two so drift on a shared machine hits both alike.
        ref.load_state_dict(init_state)
        hand_times.append(hand_written(ref, loader, args.steps))
        hand_losses = list(ref.losses)
        seconds, losses = through_otter(root, args.steps, length, init_state)
        otter_times.append(seconds)
        diffs.append(max(abs(a - b) for a, b in zip(hand_losses, losses)))
        os.environ.pop("OTTER_RUN_ID", None)
        seconds, losses = plain_lightning(args.steps, length, init_state)
        plain_times.append(seconds)
        plain_diffs.append(max(abs(a - b) for a, b in zip(hand_losses, losses)))

    hand, through, plain = min(hand_times), min(otter_times), min(plain_times)
    if args.json:
        import json
        import statistics

        def st(values):
            return {"best": min(values), "median": statistics.median(values), "n": len(values)}

        ratios = [o / h for o, h in zip(otter_times, hand_times)]
        print(json.dumps({
            "bench": "step_overhead", "steps": args.steps, "batch": 32, "image": "3x64x64",
            "hand_s": st(hand_times), "otter_s": st(otter_times), "plain_lightning_s": st(plain_times),
            "ratio_best": through / hand, "ratio_median": statistics.median(ratios),
            "ratio_plain_best": plain / hand, "ratio_otter_plain_best": through / plain,
            "max_loss_diff": max(diffs), "max_loss_diff_plain": max(plain_diffs),
        }))
        return
    print(f"steps per run:        {args.steps} (batch 32, 64x64, {args.repeats} repeats, best of each, first {WARM} untimed)")
    print(f"hand-written loop:    {hand * 1000:.2f} ms/step")
    print(f"through otter:        {through * 1000:.2f} ms/step")
    print(f"ratio otter/hand:     {through / hand:.3f}  (budget: <= 1.03)")
    print(f"plain Lightning:      {plain * 1000:.2f} ms/step (ratio to hand-written {plain / hand:.3f})")
    print(f"max |loss diff|:      {max(diffs):.2e}  (budget: <= 1e-5)")


if __name__ == "__main__":
    main()
