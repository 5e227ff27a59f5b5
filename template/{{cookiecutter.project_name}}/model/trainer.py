"""Training, export and checking: one config in, one run folder (or one ONNX file) out."""

from pathlib import Path
from typing import Tuple

import otter

from . import component, dataset, model, to_onnx

# The project folder: configs in config/, runs in runs/<cfg_name>/<run_id>/.
PROJECT_DIR = Path(__file__).resolve().parents[1]
# The task's modules: importing them registers their classes; they are also searched by
# class name, for configs and projects written the original Otter way.
MODULES: Tuple = (model, component, dataset, to_onnx)


def train(cfg_name: str, *overrides: str) -> str:
    """Train ``config/<cfg_name>.yaml`` with ``key.path=value`` overrides; returns the run folder."""
    net, cfg = otter.load_model_from_config(
        cfg_name, root=PROJECT_DIR, stem="config", network=model, overrides=overrides, modules=MODULES
    )
    train_data, valid_data = otter.build_dataset(cfg, dataset)
    trainer = otter.build_trainer(cfg, root=PROJECT_DIR)
    trainer.fit(net, train_dataloaders=train_data, val_dataloaders=valid_data)
    print(f"run folder: {cfg.root_dir}")
    return cfg.root_dir


def export(cfg_name: str, *overrides: str) -> str:
    """Export the best checkpoint of the latest run of ``cfg_name`` to a verified ONNX file.

    Prints the checkpoint used, the file and the measured onnxruntime/torch parity.
    Returns the path of ``runs/<cfg_name>/<run_id>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.
    """
    from otter.export import DEFAULT_ATOL, export_run

    report = export_run(cfg_name, root=PROJECT_DIR, stem="config", network=model, overrides=overrides, modules=MODULES)
    diffs = ", ".join(f"batch {b}: {d:.2e}" for b, d in report["max_abs_diff"].items())
    print(f"checkpoint: {report['checkpoint']}")
    print(f"onnx:       {report['path']} (opset {report['opset']}, {report['params']:,} params, {report['macs']:,} MACs)")
    print(f"parity:     max |onnxruntime - torch| {diffs} (tolerance {DEFAULT_ATOL:g})")
    return report["path"]


def check(cfg_name: str, *overrides: str) -> str:
    """Validate ``config/<cfg_name>.yaml``: keys, types, names and options, with this project's classes."""
    otter.load_project_config(cfg_name, PROJECT_DIR, "config", MODULES, overrides, mode="check")
    path = otter.find_config(cfg_name, PROJECT_DIR, "config")
    print(f"{path}: OK")
    return str(path)
