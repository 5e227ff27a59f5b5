"""ONNX export of the classifier: only the inference path (backbone + head)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from otter import ONNX_WRAPPERS

__all__ = ["WarpFeatureLearning"]


@ONNX_WRAPPERS.register()
class WarpFeatureLearning(nn.Module):
    """Backbone + head of a trained :class:`ClassifierModel`, returning L2-normalised embeddings.

    The class centres and the margin loss are training-only and left out; with unit
    embeddings, a dot product is the cosine similarity inference matches with.

    Args:
        model: The trained LightningModule (its ``backbone`` and ``head`` are shared, not copied).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.head = model.head

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``batch x 3 x H x W`` float in ``[0, 1]`` -> ``batch x embed_dim`` unit vectors."""
        return F.normalize(self.head(self.backbone(img)), dim=1)


def to_onnx(cfg_name: str, *overrides: str) -> str:
    """Export the best checkpoint of the latest run of ``cfg_name`` to a verified ONNX file.

    Returns the path of ``runs/<cfg_name>/<run_id>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.
    """
    # The project's export (model/trainer.py); imported here because trainer imports this module.
    from .trainer import export

    return export(cfg_name, *overrides)
