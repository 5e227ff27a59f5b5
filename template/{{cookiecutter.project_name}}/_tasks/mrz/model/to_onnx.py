"""ONNX export of the MRZ reader: the band in, per-step character logits of each line out."""

from __future__ import annotations

import torch
import torch.nn as nn

from otter import ONNX_WRAPPERS

__all__ = ["WarpMRZReader", "WarpMRZFinder"]


@ONNX_WRAPPERS.register()
class WarpMRZReader(nn.Module):
    """Encoder + sequence head of a trained :class:`MRZReaderModel`.

    The output stays logits (greedy CTC needs only their argmax, a score the softmax of
    the best class); the alphabet, blank index and input size travel in the metadata.

    Args:
        model: The trained LightningModule (its parts are shared, not copied).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder
        self.head = model.head

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``batch x 1 x H x W`` float in ``[0, 1]`` -> ``batch x 3 x T x classes`` logits."""
        return self.head(self.encoder(img))


def to_onnx(cfg_name: str, *overrides: str) -> str:
    """Export the best checkpoint of the latest run of ``cfg_name`` to a verified ONNX file.

    Returns the path of ``runs/<cfg_name>/<run_id>/export/<cfg_name>_<YYYYMMDD>_fp32.onnx``.
    """
    # The project's export (model/trainer.py); imported here because trainer imports this module.
    from .trainer import export

    return export(cfg_name, *overrides)


@ONNX_WRAPPERS.register()
class WarpMRZFinder(nn.Module):
    """Encoder + neck + head of a trained :class:`MRZFinderModel`, returning corner heatmaps in ``[0, 1]``.

    The peaks are decoded in inference (numpy), so the graph's outputs stay continuous
    and the export's parity check compares like with like.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder
        self.neck = model.neck
        self.head = model.head

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``batch x 1 x H x W`` -> ``batch x 4 x H/stride x W/stride`` probabilities."""
        return torch.sigmoid(self.head(self.neck(self.encoder(img))))
