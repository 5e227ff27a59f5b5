"""Benchmark: does the default data pipeline starve the model? And peak memory of a default training (DESIGN §11).

For each task the project is baked from the template and its default config trained for a few
steps (validation off) exactly as ``python -m <Project>.model train default`` does, with the
config's own ``num_workers``. A callback stamps the start and end of every training step: the gap
between one step's end and the next one's start is the wait for data. Reported after the first
steps: data wait as a share of step time, the model's consumption (images/s of the step itself),
and, separately, the images/s the train DataLoader delivers alone. Peak memory is the process's
max RSS (``getrusage``) after the training, and that of its DataLoader workers. Prints one JSON line.

``--config gpu --precision 16-mixed`` measures a task's GPU config the same way (images/s of the
whole step in 16-mixed vs 32 are the GPU rows of the report); ``--workers N`` overrides the
config's ``num_workers`` (a comparison beside the default, never the default's figure).

    python benchmarks/data_pipeline.py [--tasks classifier aligner mrz] [--steps 25]
                                       [--config default] [--precision P] [--workers N]
"""

from __future__ import annotations

import argparse
import resource
import time

from _common import TASKS, emit, project, stats

WARM = 4  # steps left out: first batches, allocator and kernel warm-up


def bench_task(task: str, steps: int, config: str = "default", precision: str = "", workers: int = -1) -> dict:
    import lightning.pytorch as pl
    import torch

    import otter

    class Stamps(pl.Callback):
        def __init__(self):
            self.start, self.end, self.sizes = [], [], []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.start.append(time.perf_counter())
            first = batch[0] if isinstance(batch, (list, tuple)) else next(iter(batch.values())) if isinstance(batch, dict) else batch
            self.sizes.append(len(first))

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if module.device.type == "cuda":  # the step's kernels are done: its compute time is real
                torch.cuda.synchronize()
            self.end.append(time.perf_counter())

    root, trainer_mod = project(task)
    overrides = [f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0"]
    if precision:
        overrides.append(f"trainer.precision={precision}")
    if workers >= 0:
        overrides.append(f"dataloader.train_options.num_workers={workers}")
    net, cfg = otter.load_model_from_config(config, root=root, stem="config", network=trainer_mod.model,
                                            overrides=overrides, modules=trainer_mod.MODULES)
    train_data, _ = otter.build_dataset(cfg, trainer_mod.dataset)
    trainer = otter.build_trainer(cfg, root=root)
    stamps = Stamps()
    trainer.callbacks.append(stamps)
    trainer.fit(net, train_dataloaders=train_data)
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    n = min(len(stamps.start), len(stamps.end))
    waits = [stamps.start[i + 1] - stamps.end[i] for i in range(WARM, n - 1)]
    totals = [stamps.start[i + 1] - stamps.start[i] for i in range(WARM, n - 1)]
    computes = [stamps.end[i] - stamps.start[i] for i in range(WARM, n - 1)]
    batch = stamps.sizes[WARM] if len(stamps.sizes) > WARM else 0

    # The loader alone: the same DataLoader (same num_workers), as fast as it can deliver.
    loader_times = []
    it = iter(train_data)
    next(it)
    for _ in range(min(steps, len(train_data) - 1)):
        t0 = time.perf_counter()
        next(it)
        loader_times.append(time.perf_counter() - t0)
    del it
    options = (cfg.get("dataloader") or {}).get("train_options") or {}
    return {
        "task": task, "config": config, "precision": str(trainer.precision), "device": str(trainer.strategy.root_device),
        "workers_overridden": workers >= 0, "batch_size": batch, "num_workers": int(options.get("num_workers", 0)),
        "dataset": cfg.dataset.train_options.name, "steps_timed": len(totals),
        "data_wait_share": sum(waits) / sum(totals),
        "step_s": stats(totals), "compute_s": stats(computes), "wait_s": stats(waits),
        "model_images_per_s": batch / stats(computes)["median"],
        "step_images_per_s": batch * len(totals) / sum(totals),
        "loader_images_per_s": batch / stats(loader_times)["median"],
        "max_rss_bytes": rss_self, "max_rss_children_bytes": rss_children,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--config", default="default", help="the task's config to train (default: default)")
    parser.add_argument("--precision", default="", help="override trainer.precision (e.g. 32, 16-mixed)")
    parser.add_argument("--workers", type=int, default=-1, help="override the train loader's num_workers")
    args = parser.parse_args()
    # One task per process when run by the driver: RSS is per process.
    emit({"bench": "data_pipeline", "tasks": [bench_task(t, args.steps, args.config, args.precision, args.workers) for t in args.tasks]})


if __name__ == "__main__":
    main()
