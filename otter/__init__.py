"""Otter: build a Lightning training run from one YAML config, record it, export it to verified ONNX.

``import otter`` is cheap: torch and Lightning are imported when a name that
needs them is first used (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any, List

from .errors import OtterConfigError, OtterError
from .registry import CALLBACKS, DATASETS, LOGGERS, LR_SCHEDULERS, MODELS, ONNX_WRAPPERS, OPTIMIZERS, Registry, build
from .version import __version__

_LAZY = {
    "Config": "config",
    "load_config": "config",
    "find_config": "config",
    "OtterConfigWarning": "config",
    "load_model_from_config": "build",
    "load_project_config": "build",
    "build_dataset": "build",
    "build_callback": "build",
    "build_logger": "build",
    "build_trainer": "build",
    "build_model": "build",
    "make_dataset": "build",
    "load_weights": "checkpoint",
    "read_checkpoint": "checkpoint",
    "find_checkpoint": "runinfo",
    "Backbone": "backbone",
    "image_size": "sections",
    "dataset_options": "sections",
    "BaseMixin": "module",
    "BorderValueMixin": "module",
    "FillValueMixin": "module",
    "CustomTQDMProgressBar": "callbacks",
    "PolynomialLRWarmup": "optim",
    "model_complexity": "runinfo",
    "latest_run": "runinfo",
}

__all__ = [
    "__version__", "OtterError", "OtterConfigError", "Registry", "build",
    "MODELS", "DATASETS", "OPTIMIZERS", "LR_SCHEDULERS", "CALLBACKS", "LOGGERS", "ONNX_WRAPPERS",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'otter' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
