"""The same promises on a CUDA device: training through Otter and a verified export from a GPU model.

Marked ``gpu``: a skip with its reason on machines without CUDA (see conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import otter
import tinyproj

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def test_training_runs_on_the_gpu_and_resumes_its_weights(project):
    trainer, model, cfg = tinyproj.train(project, overrides=["trainer.accelerator=gpu", "trainer.devices=1", "trainer.max_epochs=1"])
    assert trainer.strategy.root_device.type == "cuda"
    assert trainer.global_step == 8
    saved = torch.load(Path(cfg.root_dir) / "checkpoint" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    restored, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
    for key, value in restored.state_dict().items():
        assert torch.equal(value.cpu(), saved[key]), key


def test_export_of_a_cuda_module_is_compared_on_its_device(tmp_path):
    import onnxruntime as ort

    from otter.export import export_onnx

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten()).cuda().eval()
    section = {
        "name": "Conv",
        "input_shape": {"img": {"shape": [1, 3, 8, 8], "dtype": "float32"}},
        "input_names": ["img"],
        "output_names": ["out"],
        "dynamic_axes": {"img": {0: "batch"}, "out": {0: "batch"}},
    }
    report = export_onnx(module, section, tmp_path / "m.onnx")
    assert set(report["max_abs_diff"]) == {1, 3} and max(report["max_abs_diff"].values()) <= 1e-4
    assert next(module.parameters()).is_cuda  # left on its device
    x = torch.rand(2, 3, 8, 8)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"img": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(module(x.cuda()).cpu().numpy() - got).max() < 1e-3
