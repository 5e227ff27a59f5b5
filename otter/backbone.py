"""A timm backbone that returns feature maps, with offline weight handling.

Every task builds on one: the classifier pools its last map, the aligner and
the MRZ reader read several. Registered in :data:`otter.MODELS` as ``Backbone``.

Pretrained weights come from timm (Hugging Face Hub or its cache) or from a
local file. Without network access and without a cached copy,
``pretrained: true`` fails at once with one line naming the fix, instead of
letting ``huggingface_hub`` retry for a minute.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, List, Optional
from urllib.parse import urlparse

import torch
import torch.nn as nn

from .errors import OtterConfigError, OtterError

__all__ = ["Backbone", "HUB_PROBE_TIMEOUT"]

#: Seconds to wait for the weights server before saying it cannot be reached.
HUB_PROBE_TIMEOUT = 3.0

_FIX = "use `pretrained: false` or a local weights file (`weights: path/to/weights.pth`)"


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
        hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if hub_file.is_file():
            return str(hub_file)
    return None


def timm_name(name: str) -> str:
    """The timm model name; a leading ``timm_`` (the original configs' spelling) is dropped."""
    return name[len("timm_") :] if name.startswith("timm_") else name


class Backbone(nn.Module):
    """A timm model that returns its feature maps.

    Args:
        name: A timm model name; a leading ``timm_`` (``timm_lcnet_050``) is accepted.
        pretrained: Load timm's pretrained weights. Without network access they must be
            in the local cache, or given as ``weights``.
        features_only: Return the maps of every stage (``out_indices`` picks some).
            Otherwise the last map only, from ``forward_features``.
        weights: A local ``.pth``/``.safetensors`` file of the timm model's weights
            (implies ``pretrained``). timm reads it with ``torch.load(weights_only=True)``;
            a classifier head that does not fit is dropped.
        config_key: Key path of this entry's options, for error messages.
        **kwargs: Passed to ``timm.create_model`` (``out_indices``, ``drop_rate``,
            ``in_chans``, ``pretrained_cfg_overlay``...).

    Attributes:
        channels: Channels of each returned map, shallow to deep.
        reductions: Stride of each returned map relative to the input.

    Raises:
        OtterConfigError: unknown model name, or pretrained weights that cannot be had.
        OtterError: a weights file that does not load into the model.

    >>> backbone = Backbone("timm_lcnet_050", pretrained=False)
    >>> [tuple(f.shape) for f in backbone(torch.zeros(1, 3, 64, 64))][-1]
    (1, 256, 2, 2)
    """

    def __init__(
        self,
        name: str,
        pretrained: bool = False,
        features_only: bool = True,
        weights: Optional[str] = None,
        config_key: str = "model.backbone.options",
        **kwargs: Any,
    ):
        super().__init__()
        import timm

        model_name = timm_name(name)
        if not timm.is_model(model_name):
            close = timm.list_models(f"*{model_name.split('_')[0]}*")[:5]
            hint = f"; similar: {', '.join(close)}" if close else "; see timm.list_models()"
            raise OtterConfigError(f"timm has no model {model_name!r}{hint}", key=f"{config_key}.name")
        overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
        if weights:
            overlay["file"] = str(weights)
            pretrained = True
        local_file = overlay.get("file")
        if pretrained and local_file and not Path(local_file).is_file():
            key = f"{config_key}.weights" if weights else f"{config_key}.pretrained_cfg_overlay.file"
            raise OtterConfigError(f"weights file {local_file} does not exist", key=key)
        if pretrained and not local_file and (_offline() or not _hub_reachable()):
            cached = _cached_weights(model_name)
            if cached is None:
                raise OtterConfigError(
                    f"pretrained weights of {model_name} cannot be downloaded (no network) and are not cached; {_FIX}",
                    key=f"{config_key}.pretrained",
                )
            overlay["file"] = cached
        if overlay:
            kwargs["pretrained_cfg_overlay"] = overlay
        try:
            self.model = timm.create_model(model_name, pretrained=pretrained, features_only=features_only, **kwargs)
        except (OSError, RuntimeError, ValueError) as e:  # download, file and state-dict errors
            if not pretrained:
                raise
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise OtterError(f"{config_key}: cannot load pretrained weights of {model_name} ({first}); {_FIX}") from None
        self.features_only = features_only
        if features_only:
            self.channels: List[int] = list(self.model.feature_info.channels())
            self.reductions: List[int] = list(self.model.feature_info.reduction())
        else:
            self.channels = [int(self.model.num_features)]
            info = getattr(self.model, "feature_info", None) or [{}]
            self.reductions = [int(info[-1].get("reduction", 32))]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``batch x C x H x W`` -> the feature maps, shallow to deep."""
        if self.features_only:
            return list(self.model(x))
        return [self.model.forward_features(x)]
