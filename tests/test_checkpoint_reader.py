"""The one checkpoint reader in detail: what it accepts, how it refuses, what ``load_weights``
loads and reports, and which file ``best_checkpoint`` picks.

Fast (no training): small modules and checkpoint files written with ``torch.save``.
"""

import os
from pathlib import PurePosixPath

import pytest
import torch

from otter.checkpoint import best_checkpoint, load_weights, read_checkpoint, state_dict_of
from otter.errors import OtterError


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(OtterError, match=r"^.*nope\.ckpt: no such checkpoint$"):
        read_checkpoint(tmp_path / "nope.ckpt")


def test_a_truncated_file_is_named_with_the_reason(tmp_path):
    path = tmp_path / "cut.ckpt"
    torch.save({"w": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(OtterError) as e:
        read_checkpoint(path)
    text = str(e.value)
    prefix, suffix = f"{path}: cannot read this checkpoint (", "); is it complete?"
    assert text.startswith(prefix) and text.endswith(suffix) and "\n" not in text
    # The reader's own reason: its type, then the first line of its message.
    kind, _, reason = text[len(prefix) : -len(suffix)].partition(": ")
    assert kind.isidentifier() and reason and reason != kind


def test_an_error_without_a_message_is_named_by_its_type():
    from otter import checkpoint

    assert checkpoint._first_line(ValueError("  first line\nsecond")) == "first line"
    assert checkpoint._first_line(ValueError()) == "ValueError"


def test_a_file_with_objects_beyond_tensors_is_read_as_a_runs_own_checkpoint(tmp_path):
    # Lightning's hyper-parameters may hold objects that weights_only refuses.
    path = tmp_path / "hp.ckpt"
    torch.save({"hyper_parameters": {"root": PurePosixPath("/data")}, "state_dict": {"w": torch.ones(2)}}, path)
    ckpt = read_checkpoint(path)
    assert ckpt["hyper_parameters"]["root"] == PurePosixPath("/data")
    assert torch.equal(ckpt["state_dict"]["w"], torch.ones(2))
    assert type(ckpt) is dict


@pytest.mark.parametrize("mmap", [False, True])
def test_tensors_come_back_on_the_cpu_with_their_values(tmp_path, mmap):
    path = tmp_path / "w.ckpt"
    torch.save({"w": torch.arange(6.0)}, path)
    ckpt = read_checkpoint(path, mmap=mmap)
    assert ckpt["w"].device.type == "cpu" and torch.equal(ckpt["w"], torch.arange(6.0))


def test_something_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "list.ckpt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(OtterError, match=r"list\.ckpt: not a checkpoint \(a list, not a dict\)$"):
        read_checkpoint(path)


def test_state_dict_of_a_lightning_checkpoint_and_of_a_plain_state_dict():
    weights = {"w": torch.zeros(1)}
    assert state_dict_of({"state_dict": weights, "epoch": 3}, "x.ckpt") == weights
    assert state_dict_of(weights, "x.ckpt") == weights
    with pytest.raises(OtterError, match=r"^x\.ckpt: not a checkpoint \(no state_dict inside\)$"):
        state_dict_of({"state_dict": [1, 2]}, "x.ckpt")


class Two(torch.nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.a = torch.nn.Linear(2, width)
        self.b = torch.nn.Linear(width, 1)


def save_state(path, state, lightning=True):
    torch.save({"state_dict": state} if lightning else state, path)
    return path


@pytest.mark.parametrize("lightning", [True, False], ids=["lightning", "plain"])
def test_load_weights_loads_every_tensor(tmp_path, lightning):
    source = Two()
    path = save_state(tmp_path / "w.ckpt", source.state_dict(), lightning)
    target = Two()
    load_weights(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_non_strict_loading_takes_the_matching_keys_and_leaves_the_rest(tmp_path):
    source = Two()
    state = {k: v for k, v in source.state_dict().items() if k.startswith("a.")}
    state["extra.weight"] = torch.zeros(1)
    path = save_state(tmp_path / "w.ckpt", state)
    target = Two()
    before_b = target.b.weight.detach().clone()
    with pytest.raises(OtterError) as strict:
        load_weights(target, path)
    message = str(strict.value)
    assert message.startswith(f"{path}: does not match Two: missing keys: b.weight, b.bias; unexpected keys: extra.weight")
    assert message.endswith("; set common.restore_strict: false to load what matches")
    load_weights(target, path, strict=False)
    assert torch.equal(target.a.weight, source.a.weight) and torch.equal(target.a.bias, source.a.bias)
    assert torch.equal(target.b.weight, before_b)


def test_shape_mismatch_is_refused_even_when_not_strict_and_without_the_restore_hint(tmp_path):
    path = save_state(tmp_path / "w.ckpt", Two(width=4).state_dict())
    target = Two(width=3)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(OtterError) as e:
        load_weights(target, path, strict=False)
    message = str(e.value)
    assert message == (
        f"{path}: does not match Two: shape mismatch: a.weight (4, 2) vs model (3, 2), a.bias (4,) vs model (3,), "
        "b.weight (1, 4) vs model (1, 3)"
    )
    # Nothing was loaded.
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_more_than_five_keys_are_cut_short(tmp_path):
    path = save_state(tmp_path / "w.ckpt", {f"k{i}": torch.zeros(1) for i in range(7)})
    with pytest.raises(OtterError) as e:
        load_weights(Two(), path)
    assert "unexpected keys: k0, k1, k2, k3, k4 ...;" in str(e.value)
    path = save_state(tmp_path / "five.ckpt", {f"k{i}": torch.zeros(1) for i in range(5)})
    with pytest.raises(OtterError) as e:
        load_weights(Two(), path)
    assert "unexpected keys: k0, k1, k2, k3, k4;" in str(e.value)


# --------------------------------------------------------------------------- best_checkpoint


def ckpt_folder(tmp_path):
    folder = tmp_path / "run" / "checkpoint"
    folder.mkdir(parents=True)
    return folder


def callback_state(best, key="ModelCheckpoint{'monitor': 'val/loss'}"):
    return {"callbacks": {key: {"best_model_path": best}}}


def test_without_last_ckpt_the_newest_checkpoint_holds_the_state(tmp_path):
    folder = ckpt_folder(tmp_path)
    torch.save(callback_state("/moved/checkpoint/epoch=1.ckpt"), folder / "epoch=2.ckpt")
    torch.save({}, folder / "epoch=1.ckpt")
    os.utime(folder / "epoch=1.ckpt", (1e9, 1e9))
    os.utime(folder / "epoch=2.ckpt", (2e9, 2e9))
    assert best_checkpoint(folder.parent) == folder / "epoch=1.ckpt"
    # With nothing monitored the newest file itself is the answer; equal times go by name.
    torch.save({}, folder / "epoch=2.ckpt")
    os.utime(folder / "epoch=2.ckpt", (1e9, 1e9))
    assert best_checkpoint(folder.parent) == folder / "epoch=2.ckpt"


def test_only_a_model_checkpoint_state_names_the_best(tmp_path):
    folder = ckpt_folder(tmp_path)
    torch.save({}, folder / "epoch=1.ckpt")
    torch.save(callback_state("epoch=1.ckpt", key="EarlyStopping{'monitor': 'x'}"), folder / "last.ckpt")
    assert best_checkpoint(folder.parent) == folder / "last.ckpt"
    torch.save(callback_state("epoch=1.ckpt"), folder / "last.ckpt")
    assert best_checkpoint(folder.parent) == folder / "epoch=1.ckpt"


def test_a_best_that_is_gone_or_empty_falls_back_to_last(tmp_path):
    folder = ckpt_folder(tmp_path)
    torch.save(callback_state("/x/checkpoint/epoch=9.ckpt"), folder / "last.ckpt")
    assert best_checkpoint(folder.parent) == folder / "last.ckpt"
    torch.save(callback_state(""), folder / "last.ckpt")
    assert best_checkpoint(folder.parent) == folder / "last.ckpt"


def test_a_run_without_checkpoints_is_named(tmp_path):
    folder = ckpt_folder(tmp_path)
    (folder / "notes.ckpt").mkdir()  # a folder with the suffix is not a checkpoint
    with pytest.raises(OtterError, match=r"the run has no checkpoint \(nothing in .*checkpoint\); train it first"):
        best_checkpoint(folder.parent)
