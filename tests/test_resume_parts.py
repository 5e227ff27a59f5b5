"""The parts of exact resume one at a time: seeds, the seeded dataset, the sampler, the loader's
saved position, the generator states a checkpoint keeps, and the guards every run gets.

Fast (no training); the end-to-end promise (a killed run resumes to the same weights) is
tests/test_resume_exact.py's.
"""

import io
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, IterableDataset

from otter import resume
from otter.ckpt_save import AtomicCheckpointIO, LastCheckpoint
from otter.config import Config
from otter.resume import (
    GUARANTEES,
    ResumableDataLoader,
    ResumableSampler,
    ResumeState,
    SeededDataset,
    derive_seed,
    make_loader,
    run_guards,
    seeded_rng,
)
from otter.stop import StopOnSignal


def draws():
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_derive_seed_is_a_stable_63_bit_number():
    # The same in every process and Python version: these values are part of what a run records.
    assert derive_seed(7, "order", 0) == 5806554439271297204
    assert derive_seed(0) == 4246866556266386882
    seeds = {derive_seed(7, "order", e) for e in range(50)} | {derive_seed(8, "order", 0), derive_seed(7, "step", 0)}
    assert len(seeds) == 52 and all(0 <= s < 2**63 for s in seeds)


def test_seeded_rng_draws_the_same_and_puts_the_callers_streams_back():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected_after = draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with seeded_rng(42):
        first = draws()
    with seeded_rng(42):
        again = draws()
    with seeded_rng(43):
        other = draws()
    assert first == again and all(a != b for a, b in zip(first, other))
    # The three generators of the caller continue as if nothing had happened.
    assert draws() == expected_after


class Noisy(torch.utils.data.Dataset):
    class_names = ["a", "b"]

    def __len__(self):
        return 5

    def __getitem__(self, index):
        return index, draws()


def test_a_sample_draws_the_same_numbers_whenever_it_is_read():
    data = SeededDataset(Noisy(), seed=3)
    assert len(data) == 5 and data.class_names == ["a", "b"] and data.seed == 3
    first = data[(0, 2)]
    assert first[0] == 2 and data[(0, 2)] == first
    assert data[(1, 2)][1] != first[1] and data[(0, 3)][1] != first[1]
    assert SeededDataset(Noisy(), seed=4)[(0, 2)][1] != first[1]
    # A plain index reads the wrapped dataset as it is: unseeded.
    assert data[2][0] == 2 and data[2][1] != data[2][1]
    with pytest.raises(AttributeError):
        data.no_such_attribute  # noqa: B018


def test_the_sampler_order_depends_on_seed_and_epoch_only():
    sampler = ResumableSampler(10, shuffle=True, seed=5)
    assert len(sampler) == 10
    epoch0 = [index for _, index in sampler]
    assert sorted(epoch0) == list(range(10)) and epoch0 != list(range(10))
    assert [index for _, index in ResumableSampler(10, shuffle=True, seed=5)] == epoch0
    assert [index for _, index in ResumableSampler(10, shuffle=True, seed=6)] != epoch0
    sampler.set_epoch(1)
    keys = list(sampler)
    assert {epoch for epoch, _ in keys} == {1} and [i for _, i in keys] != epoch0
    assert [index for _, index in ResumableSampler(4, shuffle=False, seed=5)] == [0, 1, 2, 3]


def test_a_skip_applies_once_and_only_to_its_epoch():
    sampler = ResumableSampler(6, shuffle=False)
    sampler.set_epoch(2)
    sampler.skip(2, 4)
    assert [index for _, index in sampler] == [4, 5]
    assert [index for _, index in sampler] == [0, 1, 2, 3, 4, 5]
    sampler.skip(1, 4)
    assert [index for _, index in sampler] == [0, 1, 2, 3, 4, 5]


def test_under_ddp_each_rank_takes_every_world_size_th_index_padded(monkeypatch):
    full = [index for _, index in ResumableSampler(5, shuffle=True, seed=1)]
    ranks = []
    for rank in (0, 1):
        monkeypatch.setattr(resume, "_world", lambda rank=rank: (rank, 2))
        sampler = ResumableSampler(5, shuffle=True, seed=1)
        assert len(sampler) == 3
        ranks.append([index for _, index in sampler])
    # The same permutation, padded to 6 with its first index, dealt out in turn.
    assert ranks == [full[0::2], full[1::2] + [full[0]]]


def batches(loader):
    return [batch[0].tolist() for batch in loader]


def test_the_loader_resumes_in_the_middle_of_an_epoch():
    loader = make_loader(Noisy(), {"batch_size": 2, "shuffle": True}, seed=9)
    assert isinstance(loader, ResumableDataLoader) and isinstance(loader.dataset, SeededDataset)
    assert isinstance(loader.sampler, ResumableSampler) and loader.sampler.shuffle
    full = list(loader)
    it = iter(loader)
    next(it)
    assert loader.state_dict() == {"epoch": 0, "batches": 1}
    # A new loader (a new process) given that state yields only the rest, same samples, same draws.
    fresh = make_loader(Noisy(), {"batch_size": 2, "shuffle": True}, seed=9)
    fresh.load_state_dict({"epoch": 0, "batches": 1})
    rest = list(fresh)
    assert len(rest) == 2
    for want, have in zip(full[1:], rest):
        assert torch.equal(want[0], have[0]) and all(torch.equal(a, b) for a, b in zip(want[1], have[1]))
    assert fresh.state_dict() == {"epoch": 0, "batches": 3}
    # The position is used once: the next epoch pass is whole again.
    assert len(list(fresh)) == 3


def test_a_saved_position_applies_to_its_own_epoch_only():
    loader = make_loader(Noisy(), {"batch_size": 2}, seed=0)
    loader.load_state_dict({"epoch": 4, "batches": 2})
    assert loader.sampler.epoch == 4
    assert batches(loader) == [[4]] and loader.state_dict() == {"epoch": 4, "batches": 3}
    # Lightning moved on to the next epoch before the first batch: that epoch is whole.
    loader.load_state_dict({"epoch": 4, "batches": 2})
    loader.sampler.set_epoch(5)
    assert batches(loader) == [[0, 1], [2, 3], [4]] and loader.state_dict() == {"epoch": 5, "batches": 3}


def test_without_shuffle_the_order_is_the_index_order_and_workers_get_their_own_generator():
    loader = make_loader(Noisy(), {"batch_size": 2}, seed=0)
    assert torch.equal(loader.generator.get_state(), torch.Generator().manual_seed(derive_seed(0, "loader")).get_state())
    assert not loader.sampler.shuffle and batches(loader) == [[0, 1], [2, 3], [4]]
    mine = torch.Generator()
    assert make_loader(Noisy(), {"batch_size": 2, "generator": mine}, seed=0).generator is mine


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(3))


def test_loaders_that_cannot_be_resumed_mid_epoch_are_plain_dataloaders():
    assert type(make_loader(Stream(), {"batch_size": 2}, seed=0)) is DataLoader
    sampler = torch.utils.data.SequentialSampler(range(5))
    plain = make_loader(Noisy(), {"batch_size": 2, "sampler": sampler}, seed=0)
    assert type(plain) is DataLoader and plain.sampler is sampler
    batch_sampler = torch.utils.data.BatchSampler(sampler, 2, False)
    assert type(make_loader(Noisy(), {"batch_sampler": batch_sampler}, seed=0)) is DataLoader


def test_resume_state_keeps_and_restores_every_generator():
    state_cb = ResumeState(seed=11)
    assert state_cb.state_key == "OtterResumeState"
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's state
    saved = state_cb.state_dict()
    assert saved["seed"] == 11
    expected = draws() + (float(np.random.standard_normal()),)
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    ResumeState(seed=11).load_state_dict(saved)
    assert draws() + (float(np.random.standard_normal()),) == expected
    # What the checkpoint holds loads with weights_only=True.
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


def trainer(rank=0, epoch=0, step=0):
    return SimpleNamespace(global_rank=rank, current_epoch=epoch, global_step=step)


def test_each_training_batch_draws_from_seed_rank_epoch_and_batch():
    callback = ResumeState(seed=3)

    def at(seed_cb, **where):
        batch = where.pop("batch", 0)
        seed_cb.on_train_batch_start(trainer(**where), None, None, batch)
        return draws()

    first = at(callback, rank=0, epoch=1, batch=2)
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    assert at(callback, rank=0, epoch=1, batch=2) == first
    for other in ({"rank": 1, "epoch": 1, "batch": 2}, {"rank": 0, "epoch": 2, "batch": 2}, {"rank": 0, "epoch": 1, "batch": 3}):
        assert at(callback, **other) != first
    assert at(ResumeState(seed=4), rank=0, epoch=1, batch=2) != first


def test_the_run_folder_is_kept_after_the_first_optimizer_step(tmp_path, monkeypatch):
    from otter import runinfo

    run_dir = tmp_path / "run"
    monkeypatch.setattr(runinfo, "_UNSTARTED", {str(run_dir): 1})
    callback = ResumeState(seed=0, run_dir=run_dir)
    callback.on_train_batch_end(trainer(step=0), None, None, None, 0)
    assert str(run_dir) in runinfo._UNSTARTED
    callback.on_train_batch_end(trainer(step=1), None, None, None, 1)
    assert runinfo._UNSTARTED == {}
    runinfo._UNSTARTED[str(run_dir)] = 1
    callback.on_train_batch_end(trainer(step=2), None, None, None, 2)  # marked once
    assert str(run_dir) in runinfo._UNSTARTED
    ResumeState(seed=0).on_train_batch_end(trainer(step=1), None, None, None, 0)  # no folder: nothing to keep


@pytest.mark.parametrize(
    "trainer_cfg, expected",
    [
        ({"accelerator": "cpu"}, "cpu: " + GUARANTEES["cpu"]),
        ({}, None),
        ({"accelerator": "gpu"}, "gpu (deterministic: False): " + GUARANTEES["gpu"]),
        ({"accelerator": "cuda", "deterministic": True}, "gpu (deterministic: True): " + GUARANTEES["gpu"]),
        ({"accelerator": "mps"}, "gpu (deterministic: False): " + GUARANTEES["gpu"]),
    ],
)
def test_the_recorded_resume_guarantee(tmp_path, trainer_cfg, expected):
    cfg = Config({"common": {"seed": 7}, "trainer": trainer_cfg})
    callbacks, plugins = run_guards(cfg, [], tmp_path)
    if expected is None:  # auto: whatever this machine has
        expected = ("gpu (deterministic: False): " + GUARANTEES["gpu"]) if torch.cuda.is_available() else ("cpu: " + GUARANTEES["cpu"])
    assert cfg.common.resume_guarantee == expected


def test_every_run_gets_one_last_checkpoint_writer_signals_exact_resume_and_atomic_saves(tmp_path):
    best = ModelCheckpoint(monitor="val/loss", save_last=True)
    cfg = Config({"common": {"seed": 7}, "trainer": {"accelerator": "cpu"}})
    callbacks, plugins = run_guards(cfg, [best], tmp_path / "run")
    assert best.save_last is False
    last = [c for c in callbacks if isinstance(c, LastCheckpoint)]
    assert len(last) == 1 and last[0].dirpath == str(tmp_path / "run" / "checkpoint")
    assert [type(c) for c in callbacks[-2:]] == [StopOnSignal, ResumeState]
    assert callbacks[-1].seed == 7 and callbacks[-1].run_dir == tmp_path / "run"
    assert len(plugins) == 1 and isinstance(plugins[0], AtomicCheckpointIO)
    # A LastCheckpoint of the config is kept, with its own folder if it names one.
    own = LastCheckpoint(dirpath=str(tmp_path / "elsewhere"))
    callbacks, _ = run_guards(Config({"common": {}, "trainer": {}}), [own], tmp_path / "run")
    assert [c for c in callbacks if isinstance(c, LastCheckpoint)] == [own] and own.dirpath == str(tmp_path / "elsewhere")
    assert callbacks[-1].seed == 0
