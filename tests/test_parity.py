"""The ONNX-vs-torch parity check fails when it should (DESIGN §6).

Each wrapper here computes something slightly different while it is being exported
(``torch.onnx.is_in_onnx_export()``) than when torch runs it eagerly, so the ONNX
file and torch disagree in a known way: NaN on one side only, an output of a
broadcastable but different shape, or a known offset that one tolerance accepts
and a smaller one refuses.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from otter.errors import OtterError
from otter.export import DEFAULT_ATOL, export_onnx


def section(**changes):
    cfg = {
        "name": "Probe",
        "input_shape": {"img": {"shape": [1, 3, 4, 4], "dtype": "float32"}},
        "input_names": ["img"],
        "output_names": ["out"],
        "dynamic_axes": {"img": {0: "batch_size"}, "out": {0: "batch_size"}},
        "options": {"opset_version": 17},
    }
    cfg.update(changes)
    return cfg


class Probe(nn.Module):
    """``conv(x)`` pooled to (N, 4), then ``eager(y)`` when torch runs it and ``exported(y)`` in the ONNX graph."""

    def __init__(self, eager=None, exported=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.eager = eager or (lambda y: y)
        self.exported = exported or (lambda y: y)

    def forward(self, x):
        y = self.norm(self.conv(x)).mean((2, 3))
        return self.exported(y) if torch.onnx.is_in_onnx_export() else self.eager(y)


def first_nan(y):
    y = y.clone()
    y[:, 0] = float("nan")
    return y


def export(tmp_path, module, **kwargs):
    return export_onnx(module, section(), tmp_path / "m.onnx", **kwargs)


def test_identical_graphs_pass(tmp_path):
    report = export(tmp_path, Probe().eval())
    assert set(report["max_abs_diff"]) == {1, 3} and max(report["max_abs_diff"].values()) <= DEFAULT_ATOL


@pytest.mark.parametrize("side", ["torch", "onnx"])
def test_nan_on_one_side_fails(tmp_path, side):
    module = Probe(eager=first_nan) if side == "torch" else Probe(exported=first_nan)
    with pytest.raises(OtterError, match=r"output 'out' differs from torch at batch 1: max abs diff nan"):
        export(tmp_path, module.eval(), atol=1e6)
    assert not (tmp_path / "m.onnx").exists()


def test_nan_in_the_same_places_on_both_sides_passes(tmp_path):
    # A model that gives NaN for some inputs (sqrt of a negative) agrees with its export there.
    report = export(tmp_path, Probe(eager=torch.sqrt, exported=torch.sqrt).eval())
    assert max(report["max_abs_diff"].values()) <= DEFAULT_ATOL


@pytest.mark.parametrize(
    "eager, exported",
    [
        (lambda y: y[:, :1].expand(-1, 4), lambda y: y[:, :1]),  # torch (N, 4), ONNX (N, 1)
        (lambda y: y[:, :1], lambda y: y[:, :1].expand(-1, 4)),  # torch (N, 1), ONNX (N, 4)
        (lambda y: y.unsqueeze(0), lambda y: y),  # torch (1, N, 4), ONNX (N, 4)
    ],
    ids=["onnx-narrower", "torch-narrower", "extra-leading-axis"],
)
def test_broadcastable_but_different_shapes_fail(tmp_path, eager, exported):
    # The values agree wherever the shapes broadcast: only a shape check catches this.
    with pytest.raises(OtterError, match=r"output 'out' has shape \[.*\] at batch 1 but torch gives \["):
        export(tmp_path, Probe(eager=eager, exported=exported).eval(), atol=1e6)


@pytest.mark.parametrize("offset", [1e-3, 5e-5])
def test_tolerance_is_honoured_both_ways(tmp_path, offset):
    """An offset of ``offset`` between torch and ONNX passes a tolerance above it and fails one below it."""
    module = Probe(eager=lambda y: y + offset).eval()
    report = export(tmp_path, module, atol=offset * 10)
    for diff in report["max_abs_diff"].values():
        assert offset * 0.9 <= diff <= offset * 1.1
    with pytest.raises(OtterError, match=rf"max abs diff .* > tolerance {offset / 10:g}"):
        export(tmp_path, module, atol=offset / 10)


def test_default_tolerance_is_1e_4(tmp_path):
    export(tmp_path, Probe(eager=lambda y: y + 5e-5).eval())
    with pytest.raises(OtterError, match=r"> tolerance 0\.0001"):
        export(tmp_path, Probe(eager=lambda y: y + 5e-4).eval())


def all_modes(module):
    return {name: m.training for name, m in module.named_modules()}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_module_mode_is_put_back_after_export(tmp_path, mode):
    module = Probe()
    module.train(mode == "train")
    module.norm.train(True)  # a mixed state is put back as it was, module by module
    before = all_modes(module)
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    export(tmp_path, module)
    assert all_modes(module) == before
    # ... and the export itself ran in eval mode (BatchNorm with running stats).
    assert seen and not any(seen)


def test_module_mode_is_put_back_after_a_failed_export(tmp_path):
    module = Probe(eager=lambda y: y + 1.0).train()
    with pytest.raises(OtterError):
        export(tmp_path, module)
    assert all(all_modes(module).values())
