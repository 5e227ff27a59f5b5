"""The aligner: find a document's four corners in a photo (DocAligner style).

A timm backbone's feature maps go through a light FPN neck to one map at the
heatmap stride; a head turns it into four heatmaps, one per corner (TL, TR, BR,
BL). Training fits them to Gaussians at the true corners; inference takes each
map's peak with sub-pixel precision (arg-max, then a parabola through the log of
its neighbours). Validation measures the found quadrilaterals in the original
photos' pixels: polygon IoU (SmartDoc's Jaccard index), corner error and PCK.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import torch

from otter import MODELS, BaseMixin, OtterConfigError
from otter.corners import decode_heatmaps_torch
from otter.geometry import PCK_LEVELS, corner_metrics
from otter.preview import image_grid
from otter.registry import build
from otter.sections import image_size, value_of

from . import component

__all__ = ["AlignerModel", "DEFAULT_IMAGE_SIZE", "DEFAULT_SCORE_THRESHOLD"]

DEFAULT_IMAGE_SIZE = (128, 128)
#: Mean corner peak below which inference says "no document found".
DEFAULT_SCORE_THRESHOLD = 0.3
#: Validation images shown in the preview grids.
PREVIEW_COUNT = 16
WORST_COUNT = 8


@MODELS.register()
class AlignerModel(BaseMixin):
    """Backbone + FPN neck + corner heatmap head, trained with a heatmap loss.

    Reads ``cfg['model']``::

        backbone: {name: Backbone, options: {name: lcnet_050, pretrained: false}}
        neck:     {name: FPNNeck, options: {channels: 32}}
        head:     {name: CornerHeatmapHead, options: {}}
        loss:     {name: HeatmapLoss, options: {kind: focal_mse, pos_weight: 10}}
        score_threshold: 0.3     # mean corner peak below which inference finds no document
        channels_last: true      # NHWC memory layout (faster depthwise convolutions on CPU)

    The heatmap stride is ``global_settings.heatmap_stride`` (default 4): the neck's
    output stride and the datasets' target stride, so the two always agree.

    Args:
        cfg: The whole config (``optimizer`` and ``lr_scheduler`` feed :class:`BaseMixin`).

    Raises:
        OtterConfigError: parts that do not fit together (stride, image size).
    """

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg["optimizer"], cfg.get("lr_scheduler"))
        model_cfg = cfg["model"]
        # The rule every task shares (otter.sections.image_size); the datasets' default otherwise.
        self.image_size = image_size(cfg) or DEFAULT_IMAGE_SIZE
        self.heatmap_stride = int(value_of(value_of(cfg, "global_settings"), "heatmap_stride", 4))
        height, width = self.image_size
        if height % self.heatmap_stride or width % self.heatmap_stride:
            raise OtterConfigError(
                f"{self.heatmap_stride} does not divide the image size {height}x{width}", key="global_settings.heatmap_stride"
            )
        neck_stride = value_of(value_of(model_cfg["neck"], "options"), "out_stride")
        if neck_stride is not None and int(neck_stride) != self.heatmap_stride:
            raise OtterConfigError(
                f"is {neck_stride} but global_settings.heatmap_stride is {self.heatmap_stride}; leave it out (it follows heatmap_stride)",
                key="model.neck.options.out_stride",
            )
        self.backbone = build(model_cfg["backbone"], MODELS, component, key="model.backbone")
        if self.heatmap_stride not in self.backbone.reductions:
            raise OtterConfigError(
                f"{self.heatmap_stride} is not one of the backbone's strides {self.backbone.reductions}",
                key="global_settings.heatmap_stride",
            )
        self.neck = build(
            model_cfg["neck"], MODELS, component, key="model.neck",
            derived={"in_channels_list": self.backbone.channels, "reductions": self.backbone.reductions},
            **({} if neck_stride is not None else {"out_stride": self.heatmap_stride}),
        )
        self.head = build(model_cfg["head"], MODELS, component, key="model.head", derived={"in_channels": self.neck.channels})
        self.loss = build(model_cfg["loss"], MODELS, component, key="model.loss")
        self.score_threshold = float(value_of(model_cfg, "score_threshold", DEFAULT_SCORE_THRESHOLD))
        # NHWC runs the backbone's depthwise convolutions about 1.5x faster on CPU (and suits mixed
        # precision on GPU); the exported graph is the same.
        self.channels_last = bool(value_of(model_cfg, "channels_last", True))
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

        self.example_input_array = torch.zeros(1, 3, *self.image_size)
        self._valid: Dict[str, List[torch.Tensor]] = {}

    # ------------------------------------------------------------------ steps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Heatmap logits ``batch x 4 x H/s x W/s`` of a ``batch x 3 x H x W`` batch in ``[0, 1]``."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.head(self.neck(self.backbone(images))).contiguous()

    def _check_shapes(self, logits: torch.Tensor, heatmaps: torch.Tensor) -> None:
        if logits.shape != heatmaps.shape:
            raise OtterConfigError(
                f"the model predicts heatmaps of {list(logits.shape[-2:])} but the dataset's targets are {list(heatmaps.shape[-2:])}; "
                "set the datasets' heatmap_stride through global_settings.heatmap_stride",
                key="global_settings.heatmap_stride",
            )

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        self._check_shapes(logits, batch["heatmaps"])
        loss = self.loss(logits, batch["heatmaps"])
        self.log("loss", loss, prog_bar=True)
        return loss

    def predict_points(self, images: torch.Tensor) -> tuple:
        """``(points batch x 4 x 2 in input pixels, scores batch x 4)``."""
        return decode_heatmaps_torch(torch.sigmoid(self(images).float()), self.heatmap_stride)

    def on_validation_epoch_start(self) -> None:
        self._valid = {"pred": [], "true": [], "score": [], "has_doc": [], "size": [], "images": []}

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        logits = self(batch["image"])
        self._check_shapes(logits, batch["heatmaps"])
        self.log("valid_loss", self.loss(logits, batch["heatmaps"]), prog_bar=False, batch_size=len(logits))
        points, scores = decode_heatmaps_torch(torch.sigmoid(logits.float()), self.heatmap_stride)
        height, width = self.image_size
        # Input pixels -> the original photo's pixels (pixel-centre convention, per-sample size).
        ratio = batch["size"].float() / torch.tensor([width, height], dtype=torch.float32, device=points.device)
        original = (points + 0.5) * ratio[:, None, :] - 0.5
        self._valid["pred"].append(original.detach().float().cpu())
        self._valid["true"].append(batch["corners"].float().cpu())
        self._valid["score"].append(scores.mean(dim=1).detach().float().cpu())
        self._valid["has_doc"].append(batch["has_doc"].cpu())
        self._valid["size"].append(batch["size"].float().cpu())
        self._valid["images"].append((batch["image"].detach().cpu().clamp(0, 1) * 255).to(torch.uint8))

    def on_validation_epoch_end(self) -> None:
        if not self._valid.get("pred"):
            return
        data = {k: torch.cat(v) for k, v in self._valid.items()}
        self._valid = {}
        if self.trainer.world_size > 1:
            # Every rank scores all samples, so every rank logs the same numbers.
            data = {k: self.all_gather(v).flatten(0, 1) for k, v in data.items() if k != "images"} | {"images": data["images"]}
        has = data["has_doc"] > 0.5
        if not has.any():
            return
        metrics = corner_metrics(data["pred"][has].numpy(), data["true"][has].numpy())
        self.log("valid_iou", metrics["iou_mean"], prog_bar=True)
        self.log("valid_iou_p5", metrics["iou_p5"])
        self.log("valid_err_px", metrics["err_px_mean"])
        self.log("valid_err_pct", 100.0 * metrics["err_diag_mean"], prog_bar=True)
        for level in PCK_LEVELS:
            self.log(f"valid_pck@{level * 100:g}", metrics[f"pck@{level:g}_mean"])
        self.log("valid_score", float(data["score"][has].mean()))
        if self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        self._write_previews(metrics, data, has)

    # ------------------------------------------------------------------ previews

    def _write_previews(self, metrics: Mapping[str, Any], data: Mapping[str, torch.Tensor], has: torch.Tensor) -> None:
        out = self.preview_dir
        height, width = self.image_size
        index = torch.nonzero(has).flatten().numpy()
        ious = metrics["iou"]

        def grid(picks: Sequence[int], name: str) -> None:
            samples = [int(index[k]) for k in picks]

            def quads(ax: Any, j: int) -> None:
                # True (green) and predicted (red) corners, original pixels -> input pixels; a dot on the top-left.
                i = samples[j]
                ratio = np.array([width, height]) / data["size"][i].numpy()
                for quad, color in ((data["true"][i].numpy(), "lime"), (data["pred"][i].numpy(), "red")):
                    inside = (quad + 0.5) * ratio - 0.5
                    closed = np.vstack([inside, inside[:1]])
                    ax.plot(closed[:, 0], closed[:, 1], color=color, lw=1)
                    ax.plot(inside[0, 0], inside[0, 1], "o", color=color, ms=2)

            path = image_grid(
                [data["images"][i].permute(1, 2, 0).numpy() for i in samples], out / f"{name}.png",
                titles=[f"IoU {ious[k]:.3f}" for k in picks], overlay=quads, cell=2.0,
            )
            experiment = getattr(self.logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                import cv2

                picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
                experiment.add_image(f"preview/{name}", picture, self.current_epoch, dataformats="HWC")

        grid(range(min(PREVIEW_COUNT, len(index))), "valid_polygons")
        grid(np.argsort(ious)[:WORST_COUNT], "worst_cases")
        lines = [
            f"epoch {self.current_epoch}  ({len(index)} validation photos with a document)",
            f"polygon IoU      mean {metrics['iou_mean']:.4f}   5th percentile {metrics['iou_p5']:.4f}",
            f"corner error     {metrics['err_px_mean']:.2f} px   {100 * metrics['err_diag_mean']:.3f} % of the diagonal",
            "PCK              " + "   ".join(f"@{lv * 100:g}%: {metrics[f'pck@{lv:g}_mean']:.4f}" for lv in PCK_LEVELS),
            "green: true corners, red: predicted; the dot marks the top-left corner",
        ]
        (out / "metrics.txt").write_text("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ export

    def export_meta(self) -> Dict[str, Any]:
        """What inference needs, stored in the ONNX file's metadata."""
        return {
            "task": "aligner",
            "image_size": list(self.image_size),
            "input_format": "RGB, NCHW, float32 in [0, 1]",
            "normalize": None,  # images are only scaled to [0, 1]; no mean/std
            "heatmap_stride": self.heatmap_stride,
            "decode": "quadratic: arg-max cell, then a parabola through log(heatmap) at it and its neighbours, per axis",
            "points": "cell c -> input pixel (c + 0.5) * heatmap_stride - 0.5; input p -> original (p + 0.5) * original_size / input_size - 0.5",
            "corner_order": ["top_left", "top_right", "bottom_right", "bottom_left"],
            "score": "mean over the 4 corners of the heatmap peak (sigmoid)",
            "score_threshold": self.score_threshold,
        }
