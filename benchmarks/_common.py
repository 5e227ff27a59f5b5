"""Shared helpers of the benchmarks: bake a task's project, load its default config, emit one JSON line."""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
TASKS = ("classifier", "aligner", "mrz")
# Baked projects live here, one per task; run_all.py bakes them again at each run, a lone benchmark reuses them.
WORK = Path(os.environ.get("OTTER_BENCH_DIR", REPO / "build" / "bench"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def project_name(task: str) -> str:
    return f"Bench{task.capitalize()}"


def bake(task: str, fresh: bool = False) -> Path:
    """The folder holding ``Bench<Task>/``, baked from the template with cookiecutter (kept between runs)."""
    out = WORK / task
    if fresh or not (out / project_name(task)).is_dir():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "cookiecutter", str(REPO), "--directory", "template", "--no-input", "--overwrite-if-exists",
             "--output-dir", str(out), f"project_name={project_name(task)}", f"task={task}"],
            check=True, capture_output=True,
        )
    return out


def project(task: str) -> Tuple[Path, Any]:
    """Bake (when needed) and import the task's project; returns ``(project_dir, trainer_module)``."""
    out = bake(task)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    trainer = importlib.import_module(f"{project_name(task)}.model.trainer")
    return trainer.PROJECT_DIR, trainer


def emit(record: Dict[str, Any]) -> None:
    """The one JSON line the driver reads (the last line of stdout starting with ``{``)."""
    print(json.dumps(record), flush=True)


def stats(values: Sequence[float]) -> Dict[str, float]:
    import statistics

    return {"best": min(values), "median": statistics.median(values), "n": len(values)}


def versions(names: List[str] = ("torch", "lightning", "timm", "onnx", "onnxruntime", "albumentations", "numpy")) -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ["otter", *names]:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out
