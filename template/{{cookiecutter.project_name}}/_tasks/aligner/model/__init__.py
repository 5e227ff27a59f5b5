"""The aligner's training package: ``python -m <Project>.model {train,to_onnx,check} <cfg_name>``.

``main_aligner_train`` and ``main_aligner_torch2onnx`` are the entry points the
original Otter projects call (``Fire(main_aligner_train)``).
"""

from .to_onnx import to_onnx as main_aligner_torch2onnx
from .trainer import check as main_aligner_check
from .trainer import train as main_aligner_train

__all__ = ["main_aligner_train", "main_aligner_torch2onnx", "main_aligner_check"]
