"""Building blocks of the classifier: a timm backbone, feature heads, margin losses.

A config names each part with ``name`` + ``options``; the model passes what it
derives itself (a head's ``in_channels_list``, the backbone's feature channels).

Heads share one recipe, read left to right in their names::

    feature map -> [Squeeze: 1x1 conv to fewer channels] -> pool to feature_map_size
        -> flatten -> Linear -> [LN: LayerNorm | BN: BatchNorm1d] -> embedding

Keeping the pooled map's layout (instead of a global average) lets the embedding
know *where* things are on the page, which is what tells document types apart.
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Any, List, Optional, Sequence
from urllib.parse import urlparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from otter import OtterConfigError, OtterError

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

#: Seconds to wait for the weights server before saying it cannot be reached.
HUB_PROBE_TIMEOUT = 3.0


# --------------------------------------------------------------------------- #
# Backbone
# --------------------------------------------------------------------------- #


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Whether the Hugging Face Hub (or ``HF_ENDPOINT``) accepts a connection now."""
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _cached_weights(model_name: str) -> Optional[str]:
    """A local copy of timm's default pretrained weights for ``model_name``, if one was downloaded before."""
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    if getattr(cfg, "hf_hub_id", None):
        from huggingface_hub import try_to_load_from_cache

        repo_id = cfg.hf_hub_id.split("@")[0]
        for filename in (getattr(cfg, "hf_hub_filename", None), "model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if not filename:
                continue
            found = try_to_load_from_cache(repo_id, filename)
            if isinstance(found, str):
                return found
    if getattr(cfg, "url", None):
        hub_dir = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if hub_dir.is_file():
            return str(hub_dir)
    return None


class Backbone(nn.Module):
    """A timm model that returns its feature maps.

    Args:
        name: A timm model name; a leading ``timm_`` (the original configs' spelling,
            ``timm_lcnet_050``) is accepted.
        pretrained: Load timm's pretrained weights. Without network access they must be
            in the local cache, or given as a file: ``pretrained_cfg_overlay: {file: path}``
            (timm's own mechanism; ``.pth``/``.safetensors``, a classifier's head is dropped).
        features_only: Return the maps of every stage (what the heads expect). Otherwise
            the last map only, from ``forward_features``.
        **kwargs: Passed to ``timm.create_model`` (``out_indices``, ``drop_rate``,
            ``checkpoint_path``...).

    Attributes:
        channels: Channels of each returned map, shallow to deep.

    Raises:
        OtterConfigError: unknown model name, or pretrained weights that cannot be loaded.

    >>> backbone = Backbone("timm_lcnet_050", pretrained=False)
    >>> [tuple(f.shape) for f in backbone(torch.zeros(1, 3, 64, 64))][-1]
    (1, 256, 2, 2)
    """

    def __init__(self, name: str, pretrained: bool = False, features_only: bool = True, **kwargs: Any):
        super().__init__()
        import timm

        model_name = name[len("timm_") :] if name.startswith("timm_") else name
        if not timm.is_model(model_name):
            close = timm.list_models(f"*{model_name.split('_')[0]}*")[:5]
            hint = f"; similar: {', '.join(close)}" if close else "; see timm.list_models()"
            raise OtterConfigError(f"timm has no model {model_name!r}{hint}", key="model.backbone.options.name")
        local_file = (kwargs.get("pretrained_cfg_overlay") or {}).get("file")
        if pretrained and local_file and not Path(local_file).is_file():
            raise OtterConfigError(
                f"weights file {local_file} does not exist", key="model.backbone.options.pretrained_cfg_overlay.file"
            )
        if pretrained and not local_file and (_offline() or not _hub_reachable()):
            # Without this, huggingface_hub retries for about a minute before failing.
            cached = _cached_weights(model_name)
            if cached is None:
                raise OtterConfigError(
                    f"pretrained weights of {model_name} cannot be downloaded (no network) and are not cached; "
                    "use `pretrained: false` or a local weights file (pretrained_cfg_overlay: {file: path/to/weights})",
                    key="model.backbone.options.pretrained",
                )
            kwargs["pretrained_cfg_overlay"] = {**(kwargs.get("pretrained_cfg_overlay") or {}), "file": cached}
        try:
            self.model = timm.create_model(model_name, pretrained=pretrained, features_only=features_only, **kwargs)
        except (OSError, RuntimeError) as e:  # download, file and state-dict errors
            if not pretrained:
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise OtterError(
                f"model.backbone: cannot load pretrained weights of {model_name} ({first}); "
                "use `pretrained: false` or a local weights file (pretrained_cfg_overlay: {file: path/to/weights})"
            ) from None
        self.features_only = features_only
        if features_only:
            self.channels: List[int] = list(self.model.feature_info.channels())
        else:
            self.channels = [int(self.model.num_features)]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        if self.features_only:
            return list(self.model(x))
        return [self.model.forward_features(x)]


# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


class _FeatureHead(nn.Module):
    """The shared recipe; the public classes below fix ``squeeze`` and ``norm``."""

    #: Filled in by the model from the backbone, so configs need not repeat it.
    OTTER_DERIVED = ("in_channels_list",)

    def __init__(
        self,
        in_dim: Optional[int],
        embed_dim: int,
        feature_map_size: int,
        in_channels_list: Optional[Sequence[int]],
        squeeze: bool,
        squeeze_dim: Optional[int],
        norm: Optional[str],
        dropout: float,
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


class FeatureLearningHead(_FeatureHead):
    """Pool -> flatten -> Linear.

    Args:
        in_dim: Channels of the backbone's last map (default: taken from the backbone).
        embed_dim: Size of the embedding.
        feature_map_size: The map is pooled to ``feature_map_size x feature_map_size``
            before flattening (no pooling when it already has that size).
        in_channels_list: The backbone's channels per map; filled in by the model.
        dropout: Dropout before the linear layer.

    >>> head = FeatureLearningHead(embed_dim=32, feature_map_size=2, in_channels_list=[16, 64])
    >>> tuple(head([torch.zeros(2, 64, 4, 4)]).shape)
    (2, 32)
    """

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, False, None, None, dropout)


class FeatureLearningLNHead(_FeatureHead):
    """Pool -> flatten -> Linear -> LayerNorm. Args as :class:`FeatureLearningHead`."""

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, False, None, "ln", dropout)


class FeatureLearningLBNHead(_FeatureHead):
    """Pool -> flatten -> Linear -> BatchNorm1d. Args as :class:`FeatureLearningHead`."""

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, False, None, "bn", dropout)


class FeatureLearningSqueezeHead(_FeatureHead):
    """1x1 conv to ``squeeze_dim`` channels -> pool -> flatten -> Linear.

    Squeezing first keeps the linear layer small (its input is
    ``squeeze_dim * feature_map_size**2``).

    Args:
        in_dim: Channels of the backbone's last map (default: taken from the backbone).
        embed_dim: Size of the embedding.
        feature_map_size: Pooled map size before flattening.
        in_channels_list: The backbone's channels per map; filled in by the model.
        squeeze_dim: Channels after the 1x1 conv (default: ``in_dim // 4``, at least 16).
        dropout: Dropout before the linear layer.
    """

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        squeeze_dim: Optional[int] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, True, squeeze_dim, None, dropout)


class FeatureLearningSqueezeLNHead(_FeatureHead):
    """Squeeze -> pool -> flatten -> Linear -> LayerNorm. Args as :class:`FeatureLearningSqueezeHead`."""

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        squeeze_dim: Optional[int] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, True, squeeze_dim, "ln", dropout)


class FeatureLearningSqueezeLBNHead(_FeatureHead):
    """Squeeze -> pool -> flatten -> Linear -> BatchNorm1d (DocClassifier's head).

    Args as :class:`FeatureLearningSqueezeHead`.

    >>> head = FeatureLearningSqueezeLBNHead(in_dim=256, embed_dim=256, feature_map_size=4)
    >>> head = head.eval()
    >>> tuple(head([torch.zeros(1, 256, 4, 4)]).shape)
    (1, 256)
    """

    def __init__(
        self,
        in_dim: Optional[int] = None,
        embed_dim: int = 256,
        feature_map_size: int = 4,
        in_channels_list: Optional[Sequence[int]] = None,
        squeeze_dim: Optional[int] = None,
        dropout: float = 0.0,
    ):
        super().__init__(in_dim, embed_dim, feature_map_size, in_channels_list, True, squeeze_dim, "bn", dropout)


# --------------------------------------------------------------------------- #
# Margin losses
# --------------------------------------------------------------------------- #


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
