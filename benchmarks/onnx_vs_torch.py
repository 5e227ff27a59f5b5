"""Benchmark: the exported ONNX model in onnxruntime vs torch eager, CPU, batch 1 (DESIGN §11).

Exports a timm LCNet-050 embedding model (the classifier template's default backbone
and head shape) through ``otter.export.export_onnx`` (so it is parity-checked), then
times both on the same input. Reports median milliseconds per call and the ratio.

    python benchmarks/onnx_vs_torch.py [--size 64] [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import onnxruntime as ort  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from otter.export import export_onnx  # noqa: E402


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = timm.create_model("lcnet_050", pretrained=False, features_only=True)
        channels = self.backbone.feature_info.channels()[-1]
        self.head = nn.Sequential(nn.Conv2d(channels, 64, 1), nn.Flatten(), nn.LazyLinear(128), nn.BatchNorm1d(128))

    def forward(self, img):
        return nn.functional.normalize(self.head(self.backbone(img)[-1]), dim=1)


def median_ms(fn, runs: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    model = Embedder().eval()
    model(torch.zeros(1, 3, args.size, args.size))  # materialise the lazy layer
    section = {
        "name": "Embedder",
        "input_shape": {"img": {"shape": [1, 3, args.size, args.size], "dtype": "float32"}},
        "input_names": ["img"],
        "output_names": ["feats"],
        "dynamic_axes": {"img": {"0": "batch"}, "feats": {"0": "batch"}},
        "options": {"opset_version": 17},
    }
    path = Path(tempfile.mkdtemp()) / "embedder.onnx"
    report = export_onnx(model, section, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, args.size, args.size)
    x_np = x.numpy()

    def torch_call():
        with torch.inference_mode():
            model(x)

    torch_ms = median_ms(torch_call, args.runs)
    onnx_ms = median_ms(lambda: session.run(None, {"img": x_np}), args.runs)
    print(f"input:                1x3x{args.size}x{args.size}, {report['params']:,} params, parity {report['max_abs_diff']}")
    print(f"torch eager:          {torch_ms:.3f} ms/call (threads {torch.get_num_threads()})")
    print(f"onnxruntime (CPU):    {onnx_ms:.3f} ms/call")
    print(f"speed-up onnx/torch:  {torch_ms / onnx_ms:.2f}x  (budget: > 1)")


if __name__ == "__main__":
    main()
