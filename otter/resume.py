"""Exact resume: a data order and random draws that a checkpoint can restore.

Nothing random in a run is left to one stream that runs from the first step to the
last, because a resumed run cannot replay the draws it skipped. Instead:

- the sample order of epoch ``e`` is a permutation seeded by ``(seed, e)``
  (:class:`ResumableSampler`), and the loader records how many batches of the
  epoch were consumed (:class:`ResumableDataLoader`, which Lightning saves in the
  checkpoint and restores, so a mid-epoch resume continues the same epoch);
- each sample's own random draws (augmentation) come from Python's ``random``,
  NumPy's and torch's global generators seeded by ``(seed, epoch, index)`` just
  for that sample (:class:`SeededDataset`), in the loading process or in any worker;
- the model's random ops in a training step (dropout...) use the global generators
  seeded by ``(seed, rank, epoch, batch)`` at the start of each batch
  (:class:`ResumeState`), which also stores the generators' states in the
  checkpoint and restores them.

On CPU this makes a resumed run repeat the unbroken one bit for bit. On a GPU,
kernels that are nondeterministic (atomic adds, some cuDNN algorithms) still vary
unless ``trainer.deterministic: true``; see docs/runs.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset, IterableDataset
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "derive_seed",
    "seeded_rng",
    "SeededDataset",
    "ResumableSampler",
    "ResumableDataLoader",
    "make_loader",
    "ResumeState",
    "GUARANTEES",
    "run_guards",
]

#: What a run records in its config (``common.resume_guarantees``) about resuming it.
GUARANTEES = {
    "cpu": "bit-exact: a run resumed with all states from any last.ckpt ends with the same weights",
    "gpu": "same data order and random draws; nondeterministic CUDA kernels may differ unless trainer.deterministic is true",
}


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any printable parts, the same in every process and Python version.

    >>> derive_seed(7, "order", 0) == derive_seed(7, "order", 0) != derive_seed(7, "order", 1)
    True
    """
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def _seed_all(seed: int, cuda: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if cuda:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's CPU generators for a block, then put their states back.

    The caller's streams are untouched, so loading data never shifts the model's draws.
    """
    py, npy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    _seed_all(seed, cuda=False)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu)


class SeededDataset(Dataset):
    """Wraps a map-style dataset so that sample ``(epoch, index)`` always draws the same random numbers.

    :class:`ResumableSampler` yields ``(epoch, index)`` keys; a plain int index reads
    the wrapped dataset unseeded. Other attributes (``class_names``...) are the wrapped
    dataset's.

    Args:
        dataset: Any map-style dataset.
        seed: The run's seed (``common.seed``).
    """

    def __init__(self, dataset: Any, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        epoch, index = key
        with seeded_rng(derive_seed(self.seed, "sample", epoch, index)):
            return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not found on the wrapper itself.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _world() -> Tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ResumableSampler(DistributedSampler):
    """Epoch ``e`` visits a permutation seeded by ``(seed, e)``; a resumed epoch skips what was consumed.

    Yields ``(epoch, index)`` keys for :class:`SeededDataset`. Under DDP each rank
    takes every ``world_size``-th index of the same permutation (padded like
    :class:`~torch.utils.data.DistributedSampler`); rank and world size are read
    when iterating, so the sampler can be built before the process group exists.
    It subclasses ``DistributedSampler`` only so that Lightning keeps it instead of
    putting its own sampler in.

    Args:
        length: Number of samples.
        shuffle: A new order every epoch (else index order).
        seed: The run's seed.
    """

    def __init__(self, length: int, shuffle: bool = True, seed: int = 0):
        # DistributedSampler.__init__ needs a process group; none of its state is used.
        self.length = int(length)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.epoch = 0
        self.drop_last = False
        self._skip: Optional[Tuple[int, int]] = None  # (epoch, samples) to skip once

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip(self, epoch: int, samples: int) -> None:
        """Start the next pass over ``epoch`` after its first ``samples`` samples (of this rank)."""
        self._skip = (int(epoch), int(samples))

    def _order(self, epoch: int) -> List[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, "order", epoch))
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        rank, world = _world()
        if world > 1:
            total = math.ceil(self.length / world) * world
            order = (order * math.ceil(total / max(1, self.length)))[:total]
            order = order[rank:total:world]
        return order

    def __len__(self) -> int:
        _, world = _world()
        return math.ceil(self.length / world)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        epoch = self.epoch
        skip, self._skip = self._skip, None
        start = skip[1] if skip is not None and skip[0] == epoch else 0
        for index in self._order(epoch)[start:]:
            yield (epoch, index)


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` whose position in the epoch is saved in checkpoints and restored.

    Lightning calls :meth:`state_dict` when it writes a checkpoint and
    :meth:`load_state_dict` when it resumes in the middle of an epoch; the loader
    then yields only the batches that epoch had left. Build it with :func:`make_loader`.
    """

    _consumed = 0

    def __iter__(self) -> Iterator[Any]:
        # A generator: the epoch's order is fixed at the first batch, after Lightning's set_epoch.
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        sampler = self.sampler
        resume = getattr(self, "_resume", None)
        self._resume = None
        epoch = getattr(sampler, "epoch", 0)
        self._consumed = 0
        if resume is not None and resume[0] == epoch and isinstance(sampler, ResumableSampler):
            self._consumed = resume[1]
            sampler.skip(epoch, resume[1] * (self.batch_size or 1))
        for batch in super().__iter__():
            self._consumed += 1
            yield batch

    def state_dict(self) -> Dict[str, int]:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": int(self._consumed)}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self._resume = (int(state["epoch"]), int(state["batches"]))
        if isinstance(self.sampler, ResumableSampler):
            self.sampler.set_epoch(int(state["epoch"]))


def make_loader(dataset: Any, options: Mapping[str, Any], seed: int) -> DataLoader:
    """A resumable DataLoader for a map-style dataset, from the config's ``dataloader.*_options``.

    ``shuffle`` chooses the order; the other options go to ``DataLoader``. An
    iterable dataset, or options that bring their own ``sampler``/``batch_sampler``,
    get a plain ``DataLoader`` (such a run resumes at epoch ends only).

    Args:
        dataset: The dataset.
        options: ``DataLoader`` keyword arguments (``batch_size`` resolved).
        seed: The run's seed.
    """
    options = dict(options)
    # torch's IterableDataset inherits a __getitem__ (that raises) from Dataset: ask for the type first.
    iterable = isinstance(dataset, IterableDataset) or not hasattr(dataset, "__getitem__")
    if iterable or "sampler" in options or "batch_sampler" in options:
        return DataLoader(dataset, **options)
    shuffle = bool(options.pop("shuffle", False))
    sampler = ResumableSampler(len(dataset), shuffle=shuffle, seed=seed)
    # Worker base seeds come from this generator instead of the global one.
    options.setdefault("generator", torch.Generator().manual_seed(derive_seed(seed, "loader")))
    return ResumableDataLoader(SeededDataset(dataset, seed), sampler=sampler, **options)


def _numpy_state() -> Tuple[Any, ...]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return (str(kind), torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))


class ResumeState(Callback):
    """Seeds the global generators at every training batch and keeps their states in checkpoints.

    Added by :func:`otter.build_trainer`. The seed of a batch depends only on the
    run's seed, the rank, the epoch and the batch index, so a resumed run draws what
    the unbroken run drew at the same batch.

    Args:
        seed: The run's seed (``common.seed``).
        run_dir: The run folder; once an optimizer step is made it is kept even if the run fails.
    """

    def __init__(self, seed: int, run_dir: Any = None):
        self.seed = int(seed)
        self.run_dir = run_dir
        self._started = False

    @property
    def state_key(self) -> str:
        return "OtterResumeState"

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        fit_loop = trainer.fit_loop
        if getattr(fit_loop, "_combined_loader_states_to_load", None):
            # Lightning hands the saved loader position over only when it sets the train data up
            # after restoring; a scheduler sized by estimated_stepping_batches sets it up before,
            # and the position would be lost. The first batch is not drawn yet: hand it over now.
            fit_loop._load_combined_loader_states()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        seed = derive_seed(self.seed, "step", trainer.global_rank, trainer.current_epoch, batch_idx)
        _seed_all(seed, cuda=torch.cuda.is_available() and torch.cuda.is_initialized())

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._started and trainer.global_step > 0 and self.run_dir is not None:
            from .runinfo import mark_started

            mark_started(self.run_dir)
            self._started = True

    def state_dict(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {
            "seed": self.seed,
            "python": random.getstate(),
            # As tensors and ints, so the checkpoint loads with torch.load(weights_only=True).
            "numpy": _numpy_state(),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        random.setstate(state["python"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


#: Added when the LR follows the clock (``lr_scheduler.options.max_seconds`` with ``trainer.max_time``).
TIMED_LR = "; except the learning rate, which follows the time spent (lr_scheduler.options.max_seconds: 0 to make it follow steps only)"


def _resume_guarantee(cfg: Any) -> str:
    trainer = cfg.get("trainer") or {}
    accelerator = str(trainer.get("accelerator", "auto"))
    gpu = accelerator in ("gpu", "cuda", "mps") or (accelerator == "auto" and torch.cuda.is_available())
    options = (cfg.get("lr_scheduler") or {}).get("options") or {}
    timed = bool(trainer.get("max_time")) and options.get("max_seconds", 0) not in (0, None)
    suffix = TIMED_LR if timed else ""
    if not gpu:
        return "cpu: " + GUARANTEES["cpu"] + suffix
    return f"gpu (deterministic: {bool(trainer.get('deterministic', False))}): " + GUARANTEES["gpu"] + suffix


def run_guards(cfg: Any, callbacks: List[Any], run_dir: Any) -> Tuple[List[Any], List[Any]]:
    """The callbacks and plugins every run gets: ``last.ckpt``, atomic saves, signals, exact resume.

    - the config's :class:`~otter.ckpt_save.LastCheckpoint` (or a new one) writes
      ``<run>/checkpoint/last.ckpt``; other ``ModelCheckpoint`` callbacks keep only
      their top-k files (their ``save_last`` is turned off: one writer per file);
    - :class:`~otter.stop.StopOnSignal` and :class:`ResumeState` are added;
    - :class:`~otter.ckpt_save.AtomicCheckpointIO` writes every checkpoint.

    Also records in ``cfg.common.resume_guarantee`` what a resume of this run repeats.

    Returns:
        ``(callbacks, plugins)`` for ``lightning.Trainer``.
    """
    from pathlib import Path

    from lightning.pytorch.callbacks import ModelCheckpoint

    from .ckpt_save import AtomicCheckpointIO, LastCheckpoint
    from .stop import StopOnSignal

    ckpt_dir = str(Path(run_dir) / "checkpoint")
    callbacks = list(callbacks)
    last = [c for c in callbacks if isinstance(c, LastCheckpoint)]
    if not last:
        last = [LastCheckpoint()]
        callbacks.append(last[0])
    for c in callbacks:
        if isinstance(c, LastCheckpoint):
            c.dirpath = c.dirpath or ckpt_dir
        elif isinstance(c, ModelCheckpoint):
            c.save_last = False
    cfg.common.resume_guarantee = _resume_guarantee(cfg)
    callbacks += [StopOnSignal(), ResumeState(int(cfg.common.get("seed") or 0), run_dir)]
    return callbacks, [AtomicCheckpointIO()]
