"""Building blocks of the classifier: feature heads and margin losses.

The backbone is otter's (``otter.backbone.Backbone``, registered as ``Backbone``).
A config names each part with ``name`` + ``options``; the model passes what it
derives itself (a head's ``in_channels_list``, the backbone's feature channels).

One head class, :class:`FeatureLearningHead`; the original configs' six names are
registered as aliases that fix its two flags, read left to right in their names::

    feature map -> [Squeeze: 1x1 conv to fewer channels] -> pool to feature_map_size
        -> flatten -> Linear -> [LN: LayerNorm | BN: BatchNorm1d] -> embedding

Keeping the pooled map's layout (instead of a global average) lets the embedding
know *where* things are on the page, which is what tells document types apart.
"""

from __future__ import annotations

import math
from typing import Literal, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from otter import MODELS, OtterConfigError
from otter.backbone import Backbone

__all__ = [
    "Backbone",
    "FeatureLearningHead",
    "FeatureLearningLNHead",
    "FeatureLearningLBNHead",
    "FeatureLearningSqueezeHead",
    "FeatureLearningSqueezeLNHead",
    "FeatureLearningSqueezeLBNHead",
    "CosineClassifier",
    "CosFace",
    "ArcFace",
]

# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


@MODELS.register()
class FeatureLearningHead(nn.Module):
    """Feature map -> [1x1 squeeze] -> pool -> flatten -> Linear -> [LayerNorm | BatchNorm1d] -> embedding.

    Args:
        in_dim: Channels of the backbone's last map (default: taken from the backbone).
        embed_dim: Size of the embedding.
        feature_map_size: The map is pooled to ``feature_map_size x feature_map_size``
            before flattening (no pooling when it already has that size).
        in_channels_list: The backbone's channels per map; filled in by the model.
        squeeze: A 1x1 conv to ``squeeze_dim`` channels first, which keeps the linear
            layer small (its input is ``channels * feature_map_size**2``).
        squeeze_dim: Channels after the squeeze (default: ``in_dim // 4``, at least 16).
        norm: ``"ln"`` (LayerNorm), ``"bn"`` (BatchNorm1d) or none after the linear layer.
        dropout: Dropout before the linear layer.

    >>> head = FeatureLearningHead(embed_dim=32, feature_map_size=2, in_channels_list=[16, 64])
    >>> tuple(head([torch.zeros(2, 64, 4, 4)]).shape)
    (2, 32)
    """

    #: Filled in by the model from the backbone, so configs need not repeat it.
    OTTER_DERIVED = ("in_channels_list",)

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        squeeze: bool = False,
        squeeze_dim: Optional[int] = None,
        norm: Optional[Literal["ln", "bn"]] = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        available = int(in_channels_list[-1]) if in_channels_list else None
        if in_dim is None:
            if available is None:
                raise OtterConfigError("needs in_dim (or the backbone's in_channels_list)", key="model.head.options.in_dim")
            in_dim = available
        elif available is not None and in_dim != available:
            raise OtterConfigError(
                f"is {in_dim} but the backbone's last feature map has {available} channels; set {available} (or leave it out)",
                key="model.head.options.in_dim",
            )
        if feature_map_size < 1:
            raise OtterConfigError(f"must be >= 1, got {feature_map_size}", key="model.head.options.feature_map_size")
        if norm not in (None, "ln", "bn"):
            raise OtterConfigError(f"expected 'ln', 'bn' or null, got {norm!r}", key="model.head.options.norm")
        self.in_dim = in_dim
        self.embed_dim = embed_dim
        self.feature_map_size = feature_map_size
        channels = in_dim
        if squeeze:
            channels = squeeze_dim or max(16, in_dim // 4)
            self.squeeze = nn.Sequential(
                nn.Conv2d(in_dim, channels, kernel_size=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
            )
        else:
            self.squeeze = nn.Identity()
        # Replaced by an identity once check_map_size sees maps of the right size already.
        self.pool: nn.Module = nn.AdaptiveAvgPool2d(feature_map_size)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # The norm layer follows the linear one, so a bias there would be redundant.
        self.fc = nn.Linear(channels * feature_map_size**2, embed_dim, bias=norm is None)
        if norm == "ln":
            self.norm: nn.Module = nn.LayerNorm(embed_dim)
        elif norm == "bn":
            self.norm = nn.BatchNorm1d(embed_dim)
        else:
            self.norm = nn.Identity()

    def check_map_size(self, height: int, width: int) -> None:
        """Fit the head to the backbone's last map size (the model calls this once).

        Refuses a map that cannot be pooled to ``feature_map_size`` in whole windows
        (ONNX has no fractional adaptive pooling); skips pooling when none is needed.
        """
        size = self.feature_map_size
        if height % size or width % size:
            raise OtterConfigError(
                f"is {size} but the backbone's last feature map is {height}x{width} at this image size; "
                f"use a divisor of it (e.g. {math.gcd(height, width)})",
                key="model.head.options.feature_map_size",
            )
        self.pool = nn.Identity() if (height, width) == (size, size) else nn.AdaptiveAvgPool2d(size)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Embed the deepest map of ``xs``; returns ``batch x embed_dim`` (not normalised)."""
        x = self.pool(self.squeeze(xs[-1]))
        return self.norm(self.fc(self.dropout(torch.flatten(x, 1))))


# The original configs' names: one class, two flags. FeatureLearningSqueezeLBNHead is DocClassifier's head.
FeatureLearningLNHead = MODELS.alias("FeatureLearningLNHead", FeatureLearningHead, squeeze=False, norm="ln")
FeatureLearningLBNHead = MODELS.alias("FeatureLearningLBNHead", FeatureLearningHead, squeeze=False, norm="bn")
FeatureLearningSqueezeHead = MODELS.alias("FeatureLearningSqueezeHead", FeatureLearningHead, squeeze=True, norm=None)
FeatureLearningSqueezeLNHead = MODELS.alias("FeatureLearningSqueezeLNHead", FeatureLearningHead, squeeze=True, norm="ln")
FeatureLearningSqueezeLBNHead = MODELS.alias("FeatureLearningSqueezeLBNHead", FeatureLearningHead, squeeze=True, norm="bn")


# --------------------------------------------------------------------------- #
# Margin losses
# --------------------------------------------------------------------------- #


@MODELS.register()
class CosineClassifier(nn.Module):
    """Cosine similarity of each embedding to one learnable centre per class.

    Args:
        embed_dim: Size of the embeddings.
        num_classes: Number of training classes.
    """

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``batch x embed_dim`` -> ``batch x num_classes`` cosines in ``[-1, 1]``."""
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=1))


@MODELS.register()
class CosFace(nn.Module):
    """Large-margin cosine logits (CosFace, Wang et al. 2018): ``s * (cos - m)`` for the true class.

    Args:
        s: Scale of the logits (an inverse temperature).
        m: Margin subtracted from the true class's cosine.

    >>> logits = CosFace(s=10, m=0.5)(torch.tensor([[0.9, 0.1]]), torch.tensor([0]))
    >>> [round(v, 3) for v in logits[0].tolist()]
    [4.0, 1.0]
    """

    def __init__(self, s: float = 64.0, m: float = 0.35):
        super().__init__()
        self.s = s
        self.m = m

    def forward(self, cosine: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits for cross-entropy from ``batch x classes`` cosines and int labels."""
        margin = F.one_hot(labels, cosine.size(1)).to(cosine.dtype) * self.m
        return self.s * (cosine - margin)


@MODELS.register()
class ArcFace(nn.Module):
    """Additive angular margin logits (ArcFace, Deng et al. 2019): ``s * cos(theta + m)`` for the true class.

    Args:
        s: Scale of the logits.
        m: Angular margin in radians.
        easy_margin: Apply the margin only where ``cos > 0``; otherwise past
            ``theta + m > pi`` the penalty continues linearly (keeps the logit monotonic).
    """

    def __init__(self, s: float = 64.0, m: float = 0.5, easy_margin: bool = False):
        super().__init__()
        self.s = s
        self.m = m
        self.easy_margin = easy_margin

    def forward(self, cosine: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits for cross-entropy from ``batch x classes`` cosines and int labels."""
        cos_m, sin_m = math.cos(self.m), math.sin(self.m)
        # The clamp keeps sqrt's gradient finite at cos = +-1.
        sine = torch.sqrt((1.0 - cosine.pow(2)).clamp(min=1e-7))
        phi = cosine * cos_m - sine * sin_m  # cos(theta + m)
        if self.easy_margin:
            phi = torch.where(cosine > 0, phi, cosine)
        else:
            phi = torch.where(cosine > math.cos(math.pi - self.m), phi, cosine - math.sin(math.pi - self.m) * self.m)
        target = F.one_hot(labels, cosine.size(1)).bool()
        return self.s * torch.where(target, phi, cosine)
