"""Benchmark: each task's default model as ONNX in onnxruntime vs torch eager, CPU, batch 1 and 16 (DESIGN §11).

For each task the project is baked from the template, the model built from its default config
with random weights (no training: speed does not depend on the weights), wrapped the way
``to_onnx`` wraps it and exported with ``otter.export.export_onnx`` (so it is parity-checked).
torch and onnxruntime then run the same input in alternating blocks; each block gives the mean
milliseconds per call, reported as best and median over the blocks. Prints one JSON line.

``--device cuda``: torch runs the model on the GPU (each call waits for its kernels) and
onnxruntime uses its ``CUDAExecutionProvider`` (the ``onnxruntime-gpu`` package); a task whose
session cannot use CUDA gets an error in its record rather than a CPU figure under a GPU label.
onnxruntime gets its input in host memory (as an application hands it over), torch on the GPU.
``--config gpu`` exports the task's GPU config instead of its default.

    python benchmarks/onnx_tasks.py [--tasks classifier aligner mrz] [--repeats 5] [--calls 20] [--device cpu|cuda]
                                    [--config default]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import TASKS, emit, project, stats


def block_ms(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) * 1000 / calls


def bench_task(task: str, repeats: int, calls: int, device: str = "cpu", config: str = "default") -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    from otter.build import build_model, load_project_config
    from otter.export import export_onnx
    from otter.registry import ONNX_WRAPPERS, build

    root, trainer = project(task)
    modules = list(trainer.MODULES)
    cfg = load_project_config(config, root, "config", modules, mode="to_onnx")
    tmp = Path(tempfile.mkdtemp(prefix=f"otter-bench-onnx-{task}-"))
    cfg.name_ind, cfg.root_dir = "bench", str(tmp)
    torch.manual_seed(0)
    model = build_model(cfg, *modules).eval()
    wrapper = build({"name": cfg.onnx.name}, ONNX_WRAPPERS, *modules, args=(model,), key="onnx").eval()
    path = tmp / f"{task}.onnx"
    report = export_onnx(wrapper, cfg.onnx, path)
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        return {"task": task, "device": device, "error": f"onnxruntime {ort.__version__} has no {provider} "
                f"(available: {', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu"}
    session = ort.InferenceSession(str(path), providers=[provider])
    if session.get_providers()[0] != provider:
        return {"task": task, "device": device, "error": f"the session fell back to {session.get_providers()[0]}"}
    wrapper.to(device)
    name = cfg.onnx.input_names[0]
    shape = list(cfg.onnx.input_shape[name].shape)
    out = {"task": task, "config": config, "device": device, "provider": provider, "model": cfg.model.name, "onnx_bytes": path.stat().st_size, "params": report["params"],
           "input": "x".join(str(s) for s in shape[1:]), "torch_threads": torch.get_num_threads(), "batches": {}}
    for batch in (1, 16):
        x = torch.rand(batch, *shape[1:])
        x_np = x.numpy().astype(np.float32)
        x = x.to(device)

        def torch_call(x=x):
            with torch.inference_mode():
                wrapper(x)
            if device == "cuda":
                torch.cuda.synchronize()

        def onnx_call(x_np=x_np):
            session.run(None, {name: x_np})

        n = max(2, calls // batch * 2) if batch > 1 else calls
        block_ms(torch_call, 3)
        block_ms(onnx_call, 3)
        torch_ms, onnx_ms = [], []
        for _ in range(repeats):  # alternate, so drift on a shared machine hits both alike
            torch_ms.append(block_ms(torch_call, n))
            onnx_ms.append(block_ms(onnx_call, n))
        t, o = stats(torch_ms), stats(onnx_ms)
        out["batches"][str(batch)] = {"torch_ms": t, "onnx_ms": o, "speedup_median": t["median"] / o["median"],
                                      "speedup_best": t["best"] / o["best"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--config", default="default", help="the task's config to export (default: default)")
    args = parser.parse_args()
    emit({"bench": "onnx_tasks", "device": args.device, "config": args.config,
          "tasks": [bench_task(t, args.repeats, args.calls, args.device, args.config) for t in args.tasks]})


if __name__ == "__main__":
    main()
