import cv2
import pytest
import torch

from otter import BorderValueMixin, FillValueMixin
from otter.config import Config


def make_model(optimizer="AdamW", options=None):
    from tinyproj import TinyModel

    cfg = Config({
        "common": {"image_size": [4, 4]},
        "model": {"head": {"options": {"hidden": 4}}},
        "optimizer": {"name": optimizer, "options": options or {"lr": 0.1, "weight_decay": 0.5}},
    })
    return TinyModel(cfg)


def test_weight_decay_goes_to_matrices_only():
    groups = make_model().get_optimizer_params()
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(make_model().parameters()))


def test_configure_optimizers_without_scheduler_returns_the_optimizer():
    opt = make_model().configure_optimizers()
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.5


def test_optimizers_that_refuse_groups_get_one():
    opt = make_model("LBFGS", {"lr": 0.1}).configure_optimizers()
    assert isinstance(opt, torch.optim.LBFGS) and len(opt.param_groups) == 1


def test_border_and_fill_values_are_random_and_valid():
    class Aug(BorderValueMixin, FillValueMixin):
        pass

    aug = Aug()
    modes = {aug.border_mode for _ in range(50)} | {aug.pad_mode for _ in range(50)}
    assert modes == {cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE}
    values = [aug.value for _ in range(20)] + [aug.fill_value for _ in range(20)]
    assert all(len(v) == 3 and all(0 <= c <= 255 for c in v) for v in values)
    assert len({tuple(v) for v in values}) > 1


def test_border_values_cannot_be_silently_assigned():
    with pytest.raises(AttributeError):
        BorderValueMixin().value = [0, 0, 0]
