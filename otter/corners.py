"""Corner heatmap models in torch: an FPN neck, a heatmap head, an exportable decoder, heatmap losses.

The torch side of :mod:`otter.geometry` (same conventions: TL, TR, BR, BL; pixel
centres at integers; heatmap cell ``j`` centred on input pixel ``(j + 0.5) * stride - 0.5``).
Used by the aligner (document corners) and by anything else that finds a
quadrilateral by its corners (an MRZ band).

>>> import torch
>>> neck = FPNNeck([16, 32, 64], [2, 4, 8], channels=8, out_stride=4)
>>> maps = [torch.zeros(1, 16, 32, 32), torch.zeros(1, 32, 16, 16), torch.zeros(1, 64, 8, 8)]
>>> tuple(CornerHeatmapHead(8)(neck(maps)).shape)
(1, 4, 16, 16)
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .geometry import BORDER_REACH

__all__ = ["FPNNeck", "CornerHeatmapHead", "decode_heatmaps_torch", "HeatmapLoss", "HEATMAP_LOSSES"]

#: Kinds accepted by :class:`HeatmapLoss`.
HEATMAP_LOSSES = ("focal_mse", "awing", "bce")


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class FPNNeck(nn.Module):
    """A light feature pyramid: lateral 1x1 convs, top-down sums, one 3x3 conv at the output stride.

    Args:
        in_channels_list: Channels of the backbone's maps, shallow to deep (a model
            passes its backbone's ``channels``).
        reductions: Stride of each of those maps (the backbone's ``reductions``).
        channels: Channels inside the neck and of its output.
        out_stride: Stride of the output map; must be one of ``reductions``. Maps
            shallower than it are ignored.
        depth: 3x3 conv-BN-ReLU layers after the fusion.

    Raises:
        ValueError: ``out_stride`` is not among ``reductions``, or the lists differ in length.
    """

    #: Filled in by the model from its backbone, so configs need not repeat them.
    OTTER_DERIVED = ("in_channels_list", "reductions")

    def __init__(
        self,
        in_channels_list: Optional[Sequence[int]] = None,
        reductions: Optional[Sequence[int]] = None,
        channels: int = 32,
        out_stride: int = 4,
        depth: int = 1,
    ):
        super().__init__()
        if in_channels_list is None or reductions is None:
            raise ValueError("FPNNeck needs in_channels_list and reductions (the backbone's channels and strides)")
        if len(in_channels_list) != len(reductions):
            raise ValueError(f"in_channels_list has {len(in_channels_list)} entries but reductions {len(reductions)}")
        if out_stride not in reductions:
            raise ValueError(f"out_stride {out_stride} is not one of the backbone's strides {list(reductions)}")
        self.first = list(reductions).index(out_stride)
        self.out_stride = int(out_stride)
        self.channels = int(channels)
        used = list(in_channels_list)[self.first :]
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in used)
        self.smooth = nn.Sequential(*[_conv_bn_relu(channels, channels) for _ in range(max(1, int(depth)))])

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Backbone maps (shallow to deep) -> one ``channels`` map at ``out_stride``."""
        maps = list(features)[self.first :]
        x = self.lateral[-1](maps[-1])
        for lateral, skip in zip(reversed(self.lateral[:-1]), reversed(maps[:-1])):
            x = lateral(skip) + F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.smooth(x)


class CornerHeatmapHead(nn.Module):
    """3x3 conv-BN-ReLU, then a 1x1 conv to one heatmap (logits) per corner.

    Args:
        in_channels: Channels of the neck's map.
        num_points: Heatmaps to predict (4 corners).
        hidden: Channels of the 3x3 conv (default: ``in_channels``).
        prior: Initial probability of every cell; a low value keeps the first
            steps from being spent on pushing the whole map down (RetinaNet's bias init).
    """

    #: Filled in by the model from the neck.
    OTTER_DERIVED = ("in_channels",)

    def __init__(self, in_channels: Optional[int] = None, num_points: int = 4, hidden: Optional[int] = None, prior: float = 0.01):
        super().__init__()
        if in_channels is None:
            raise ValueError("CornerHeatmapHead needs in_channels (the neck's channels)")
        hidden = hidden or in_channels
        self.num_points = int(num_points)
        self.body = _conv_bn_relu(in_channels, hidden)
        self.out = nn.Conv2d(hidden, num_points, 1)
        nn.init.constant_(self.out.bias, float(torch.logit(torch.tensor(prior))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``batch x C x h x w`` -> ``batch x num_points x h x w`` logits."""
        return self.out(self.body(x))


def decode_heatmaps_torch(heatmaps: torch.Tensor, stride: float = 1.0, eps: float = 1e-6) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel peaks of ``batch x k x h x w`` probability maps; exports to ONNX (opset >= 11).

    The arg-max cell, refined by a parabola through ``log`` of it and its neighbours
    along each axis (exact for Gaussian peaks; on a border cell the peak may lie up
    to ``BORDER_REACH`` cells outside the map); the same numbers as
    :func:`otter.geometry.decode_heatmaps` with ``method="quadratic"``.

    Returns:
        ``(points batch x k x 2 in input pixels, scores batch x k)``; a score is the
        arg-max cell's value.
    """
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w)
    scores, idx = flat.max(dim=2)
    y = torch.div(idx, w, rounding_mode="floor")
    x = idx - y * w
    logs = torch.log(flat.clamp_min(eps))

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        pos = yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)
        return torch.gather(logs, 2, pos.unsqueeze(-1)).squeeze(-1)

    dtype = heatmaps.dtype
    px, py = x.to(dtype), y.to(dtype)
    if w >= 3:
        cx = x.clamp(1, w - 2)
        px = _refine(x, cx, at(y, cx - 1), at(y, cx), at(y, cx + 1), w)
    if h >= 3:
        cy = y.clamp(1, h - 2)
        py = _refine(y, cy, at(cy - 1, x), at(cy, x), at(cy + 1, x), h)
    cells = torch.stack([px, py], dim=-1)
    return (cells + 0.5) * stride - 0.5, scores


def _refine(peak: torch.Tensor, centre: torch.Tensor, left: torch.Tensor, mid: torch.Tensor, right: torch.Tensor, length: int) -> torch.Tensor:
    """Torch twin of ``otter.geometry._refine``: the parabola's vertex, kept near the peak."""
    curvature = left - 2 * mid + right
    safe = torch.where(curvature < 0, curvature, torch.full_like(curvature, -1.0))
    peak_f = peak.to(mid.dtype)
    vertex = torch.where(curvature < 0, centre.to(mid.dtype) + 0.5 * (left - right) / safe, peak_f)
    low = torch.where(peak > 0, peak_f - 0.5, torch.full_like(peak_f, -BORDER_REACH))
    high = torch.where(peak < length - 1, peak_f + 0.5, torch.full_like(peak_f, length - 1 + BORDER_REACH))
    return torch.maximum(torch.minimum(vertex, high), low)


class HeatmapLoss(nn.Module):
    """Losses of heatmap logits against Gaussian targets (peak 1), averaged over cells.

    Almost every cell of a corner heatmap is background, so each kind weights the
    few cells near a peak up:

    * ``focal_mse``: squared error of the sigmoid, weighted ``1 + pos_weight * target``
      (and by ``|error| ** gamma`` when ``gamma > 0``, the focal part);
    * ``awing``: Adaptive Wing (Wang et al., ICCV 2019) on the sigmoid, with its
      foreground weighting (``pos_weight`` on the dilated peak region);
    * ``bce``: binary cross-entropy against the soft target, weighted like ``focal_mse``.

    With ``coord_weight > 0`` a coordinate term is added (integral regression, as in
    DSNT): the soft-argmax of each map's spatial softmax against the centre of its
    target, L1 in cells, for maps that have a target. It pulls the peak to the right
    place directly, where the heatmap terms only shape it.

    Args:
        kind: One of :data:`HEATMAP_LOSSES`.
        pos_weight: Extra weight of cells by target value.
        gamma: Focal exponent of ``focal_mse``.
        omega, theta, epsilon, alpha: Adaptive Wing's parameters (the paper's defaults).
        coord_weight: Weight of the coordinate term (0: off).

    Raises:
        ValueError: unknown ``kind``.
    """

    def __init__(
        self,
        kind: str = "focal_mse",
        pos_weight: float = 10.0,
        gamma: float = 0.0,
        omega: float = 14.0,
        theta: float = 0.5,
        epsilon: float = 1.0,
        alpha: float = 2.1,
        coord_weight: float = 0.0,
    ):
        super().__init__()
        if kind not in HEATMAP_LOSSES:
            raise ValueError(f"kind must be one of {', '.join(HEATMAP_LOSSES)}, got {kind!r}")
        self.kind = kind
        self.pos_weight = float(pos_weight)
        self.gamma = float(gamma)
        self.omega, self.theta, self.epsilon, self.alpha = float(omega), float(theta), float(epsilon), float(alpha)
        self.coord_weight = float(coord_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = logits.float(), target.float()
        loss = self._heatmap(logits, target)
        if self.coord_weight > 0:
            loss = loss + self.coord_weight * self._coordinates(logits, target)
        return loss

    @staticmethod
    def _coordinates(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b, k, h, w = logits.shape
        ys = torch.arange(h, dtype=logits.dtype, device=logits.device).repeat_interleave(w)
        xs = torch.arange(w, dtype=logits.dtype, device=logits.device).repeat(h)
        grid = torch.stack([xs, ys], dim=1)  # hw x 2
        prob = torch.softmax(logits.reshape(b, k, h * w), dim=-1)
        mass = target.reshape(b, k, h * w)
        total = mass.sum(dim=-1, keepdim=True)
        valid = total.squeeze(-1) > 1e-3  # maps without a corner (no document) have no position to learn
        if not valid.any():
            return logits.sum() * 0.0
        pred = prob @ grid
        true = (mass / total.clamp_min(1e-6)) @ grid
        return (pred - true).abs().sum(dim=-1)[valid].mean()

    def _heatmap(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "bce":
            weight = 1.0 + self.pos_weight * target
            return (weight * F.binary_cross_entropy_with_logits(logits, target, reduction="none")).mean()
        prob = torch.sigmoid(logits)
        if self.kind == "focal_mse":
            err = prob - target
            weight = 1.0 + self.pos_weight * target
            if self.gamma > 0:
                weight = weight * err.detach().abs().pow(self.gamma)
            return (weight * err.pow(2)).mean()
        return self._awing(prob, target)

    def _awing(self, prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        omega, theta, epsilon, alpha = self.omega, self.theta, self.epsilon, self.alpha
        delta = (target - prob).abs()
        power = alpha - target
        a = omega * (1 / (1 + (theta / epsilon) ** power)) * power * ((theta / epsilon) ** (power - 1)) / epsilon
        c = theta * a - omega * torch.log1p((theta / epsilon) ** power)
        loss = torch.where(delta < theta, omega * torch.log1p((delta / epsilon) ** power), a * delta - c)
        # The paper's weight map: cells near a peak (a 3x3 dilation of target > 0.2) count more.
        region = F.max_pool2d((target > 0.2).float(), 3, stride=1, padding=1)
        return (loss * (1.0 + self.pos_weight * region)).mean()

