"""ONNX export of the aligner: the four corner heatmaps."""

from __future__ import annotations

import torch
import torch.nn as nn

from otter import ONNX_WRAPPERS

__all__ = ["WarpAligner"]


@ONNX_WRAPPERS.register()
class WarpAligner(nn.Module):
    """Backbone + neck + head of a trained :class:`AlignerModel`: ``heatmaps``, one per corner.

    For a ``batch x 3 x H x W`` float input in ``[0, 1]`` the output is
    ``batch x 4 x H/s x W/s`` corner probabilities (sigmoid), ``s`` the heatmap stride,
    in the order TL, TR, BR, BL. The peaks are decoded outside the graph (``infer.py``):
    an arg-max is a discrete choice, and on the flat maps of the random inputs the export
    is verified with, torch and onnxruntime may pick neighbouring cells; the heatmaps
    themselves agree to float precision.

    Args:
        model: The trained LightningModule (its parts are shared, not copied).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.neck = model.neck
        self.head = model.head
        self.stride = int(model.heatmap_stride)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``batch x 3 x H x W`` in ``[0, 1]`` -> ``batch x 4 x H/s x W/s`` probabilities."""
        return torch.sigmoid(self.head(self.neck(self.backbone(img))))


def to_onnx(cfg_name: str, *overrides: str) -> str:
    """Export the best checkpoint of the latest run of ``cfg_name`` to a verified ONNX file.

    Returns the path of ``runs/<cfg_name>/<run_id>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.
    """
    # The project's export (model/trainer.py); imported here because trainer imports this module.
    from .trainer import export

    return export(cfg_name, *overrides)
