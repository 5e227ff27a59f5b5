"""otter.onnx_meta.OnnxModel: one way for every task's inference to open an exported file.

Real exports (torch -> ONNX -> onnxruntime) of a tiny convolution.
"""

import subprocess
import sys

import numpy as np
import pytest
from test_export import tiny_conv, tiny_section

from otter.errors import OtterError
from otter.export import export_onnx
from otter.onnx_meta import OnnxFileError, OnnxModel

NORM = {"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A dynamic-batch file with a task, an image size and a normalisation; and a fixed-batch one without."""
    import torch

    torch.manual_seed(0)
    model = tiny_conv()
    folder = tmp_path_factory.mktemp("onnx")
    dynamic = folder / "dynamic.onnx"
    export_onnx(model, tiny_section(), dynamic, meta={"task": "tiny", "image_size": [16, 16], "normalize": NORM})
    fixed = folder / "fixed.onnx"
    export_onnx(model, tiny_section(dynamic_axes={}), fixed)
    return model, dynamic, fixed


def test_opening_reads_what_inference_needs(exported):
    _, dynamic, fixed = exported
    model = OnnxModel(dynamic, task="tiny", require=["image_size"], outputs=["feats"])
    assert model.input_name == "img" and model.output_names == ["feats"]
    assert model.image_size == (16, 16) and model.dynamic_batch and model.meta["task"] == "tiny"
    plain = OnnxModel(fixed)
    # No image size stored: the input's shape gives it; batch fixed at 1.
    assert plain.image_size == (16, 16) and not plain.dynamic_batch and "task" not in plain.meta


def test_normalise_applies_the_stored_mean_and_std(exported):
    _, dynamic, fixed = exported
    batch = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    got = OnnxModel(dynamic).normalise(batch)
    mean = np.array(NORM["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.array(NORM["std"], np.float32).reshape(1, 3, 1, 1)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert np.allclose(got, (batch - mean) / std)
    assert np.array_equal(OnnxModel(fixed).normalise(batch), batch)  # nothing stored: unchanged


def test_run_matches_torch_at_any_batch_size(exported):
    import torch

    model, dynamic, fixed = exported
    batch = np.random.default_rng(1).random((3, 3, 16, 16), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(batch)).numpy()
    for path in (dynamic, fixed):
        # The fixed-batch file is run one image at a time, and the results stacked.
        (got,) = OnnxModel(path).run(batch)
        assert got.shape == (3, 4) and np.abs(got - want).max() < 1e-4, path.name
    assert OnnxModel(dynamic).run(batch, outputs=["feats"])[0].shape == (3, 4)


def test_files_that_cannot_serve_are_one_line_errors(exported, tmp_path):
    _, dynamic, fixed = exported
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    cases = [
        ((tmp_path / "missing.onnx",), {}, "missing.onnx: no such ONNX file"),
        ((junk,), {}, "junk.onnx: onnxruntime cannot read this file: "),
        ((fixed,), {"task": "tiny"}, "fixed.onnx: not a tiny model (its metadata's task is None)"),
        ((dynamic,), {"task": "aligner"}, "dynamic.onnx: not a aligner model (its metadata's task is 'tiny')"),
        ((dynamic,), {"require": ["alphabet", "task"]}, "dynamic.onnx: its metadata lacks alphabet; export it with"),
        ((dynamic,), {"outputs": ["heatmaps"]}, "dynamic.onnx: no output heatmaps (its outputs: feats)"),
    ]
    for args, options, message in cases:
        with pytest.raises(OnnxFileError) as caught:
            OnnxModel(*args, **options)
        text = str(caught.value)
        assert message in text and "\n" not in text, text
        # Both kinds a command line answers as bad input.
        assert isinstance(caught.value, OtterError) and isinstance(caught.value, ValueError)


def test_importing_it_imports_neither_torch_nor_onnx():
    code = "import sys, otter.onnx_meta; print(any(m in sys.modules for m in ('torch', 'onnx', 'lightning')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
