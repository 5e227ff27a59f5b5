"""The classifier's training package: ``python -m <Project>.model {train,to_onnx,check} <cfg_name>``.

``main_classifier_train`` and ``main_classifier_torch2onnx`` are the entry points the
original Otter projects call (``Fire(main_classifier_train)``).
"""

from .to_onnx import to_onnx as main_classifier_torch2onnx
from .trainer import check as main_classifier_check
from .trainer import train as main_classifier_train

__all__ = ["main_classifier_train", "main_classifier_torch2onnx", "main_classifier_check"]
