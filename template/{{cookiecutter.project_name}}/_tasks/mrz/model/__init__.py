"""The MRZ reader's training package: ``python -m <Project>.model {train,to_onnx,check} <cfg_name>``.

``main_mrz_train`` and ``main_mrz_torch2onnx`` are the entry points the original
Otter projects call (``Fire(main_mrz_train)``).
"""

from .to_onnx import to_onnx as main_mrz_torch2onnx
from .trainer import check as main_mrz_check
from .trainer import train as main_mrz_train

__all__ = ["main_mrz_train", "main_mrz_torch2onnx", "main_mrz_check"]
