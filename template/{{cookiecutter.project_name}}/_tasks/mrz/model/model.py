"""The MRZ reader: CNN + per-line BiLSTM + CTC over a rectified band (MRZScanner style).

Training minimises the CTC loss of each line slot (the third slot of a two-line MRZ
learns to stay blank). Validation decodes greedily, parses each read by its format
and checks it, and logs:

- ``valid_nls``: normalised Levenshtein similarity of the whole MRZ (ANLS-style),
- ``valid_exact``: documents read exactly,
- ``valid_check_pass``: documents whose check digits all hold (after correction),
- ``valid_pass_precision``: of those, the share read exactly (a passing read that is wrong is the costly case),
- ``valid_field/<name>``: per-field accuracy,

and writes previews: sample bands with predicted and true text, and the worst reads.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from otter import MODELS, BaseMixin, OtterConfigError
from otter.preview import image_grid, pyplot, save_figure
from otter.registry import build
from otter.sections import image_size

from ..mrz_format import FORMATS, parse
from . import component, dataset

__all__ = ["MRZReaderModel", "MRZFinderModel", "greedy_decode", "levenshtein", "read_metrics"]

#: Bands shown in the preview images.
PREVIEW_COUNT = 12


def greedy_decode(logits: torch.Tensor) -> List[List[str]]:
    """Best path CTC decoding of ``B x slots x T x classes``: collapse repeats, drop blanks.

    Returns per sample the non-empty lines (a two-line MRZ gives two).

    >>> x = torch.full((1, 1, 5, 4), -9.0)
    >>> for t, k in enumerate([2, 2, 0, 2, 3]): x[0, 0, t, k] = 9.0
    >>> greedy_decode(x)
    [['001']]
    """
    best = logits.argmax(dim=-1).cpu().numpy()
    out = []
    for sample in best:
        lines = []
        for slot in sample:
            keep = np.ones(len(slot), bool)
            keep[1:] = slot[1:] != slot[:-1]
            chars = [dataset.CLASSES[k] for k in slot[keep] if k != 0]
            if chars:
                lines.append("".join(chars))
        out.append(lines)
    return out


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions).

    >>> levenshtein("KITTEN", "SITTING")
    3
    """
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def read_metrics(preds: Sequence[Sequence[str]], truths: Sequence[Sequence[str]]) -> Dict[str, Any]:
    """Document-level metrics of reads against the truth (see the module docstring).

    Returns:
        ``nls``, ``exact``, ``check_pass``, ``pass_precision``, ``field/<name>`` (means) and
        ``per_sample`` (``nls`` and ``exact`` per document, for the worst-case preview).
    """
    nls, exact, passed, passed_right = [], [], 0, 0
    field_hits: Dict[str, List[bool]] = {}
    for pred, truth in zip(preds, truths):
        p_text, t_text = "\n".join(pred), "\n".join(truth)
        nls.append(1.0 - levenshtein(p_text, t_text) / max(len(p_text), len(t_text), 1))
        parsed = parse(pred)
        right = list(parsed.lines) == list(truth)
        exact.append(right)
        if parsed.all_valid:
            passed += 1
            passed_right += right
        truth_fields = parse(truth, correct=False)
        for name, value in truth_fields.fields.items():
            field_hits.setdefault(name, []).append(parsed.format == truth_fields.format and parsed.fields.get(name) == value)
    n = max(len(exact), 1)
    result: Dict[str, Any] = {
        "nls": float(np.mean(nls)) if nls else 0.0,
        "exact": sum(exact) / n,
        "check_pass": passed / n,
        "pass_precision": passed_right / passed if passed else 0.0,
        "per_sample": {"nls": nls, "exact": exact},
    }
    for name, hits in field_hits.items():
        result[f"field/{name}"] = float(np.mean(hits))
    return result


@MODELS.register()
class MRZReaderModel(BaseMixin):
    """Band encoder + sequence head, trained with CTC on every line slot.

    Reads ``cfg['model']``::

        encoder: {name: BandEncoder, options: {channels: [32, 64, 96, 128], blocks: 2}}
        head:    {name: SequenceHead, options: {hidden: 96}}

    and the band size ``[height, width]`` by otter's rule (``otter.sections.image_size``:
    ``global_settings.image_size``, else the training set's, else ``common.image_size``).

    Args:
        cfg: The whole config.
    """

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg["optimizer"], cfg.get("lr_scheduler"))
        self.image_size: Tuple[int, int] = image_size(cfg) or (64, 512)
        if self.image_size[0] % 8 or self.image_size[1] % 4:
            raise OtterConfigError(f"is {list(self.image_size)}; the height must be a multiple of 8 and the width of 4", key="global_settings.image_size")
        model_cfg = cfg["model"]
        self.encoder = build(model_cfg["encoder"], MODELS, component, key="model.encoder")
        self.head = build(
            model_cfg["head"], MODELS, component, key="model.head",
            derived={"in_channels": self.encoder.out_channels, "num_classes": len(dataset.CLASSES), "rows": self.image_size[0] // 8},
        )
        steps = self.image_size[1] // 4 * int(getattr(self.head, "upsample", 1))
        if steps < 2 * dataset.MAX_LINE:
            raise OtterConfigError(
                f"is {list(self.image_size)}: {steps} CTC steps per line, fewer than the {2 * dataset.MAX_LINE} "
                "a 44-character line with repeated fillers needs; widen the band",
                key="global_settings.image_size",
            )
        self.example_input_array = torch.zeros(1, 1, *self.image_size)
        self._preds: List[List[str]] = []
        self._truths: List[List[str]] = []
        self._images: List[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``B x 1 x H x W`` bands in ``[0, 1]`` -> ``B x 3 x T x classes`` logits."""
        return self.head(self.encoder(images))

    def ctc_loss(self, logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        b, s, t, c = logits.shape
        log_probs = F.log_softmax(logits.float(), dim=-1).reshape(b * s, t, c).transpose(0, 1)
        targets = labels.reshape(b * s, -1)
        target_lengths = lengths.reshape(-1)
        flat = torch.cat([targets[i, : target_lengths[i]] for i in range(b * s)])
        input_lengths = torch.full((b * s,), t, dtype=torch.long, device=logits.device)
        # Per character of the batch: PyTorch's "mean" divides each sequence by its own length
        # (an empty third line by 1), which lets the blank-only slots outweigh the text early on.
        total = F.ctc_loss(log_probs, flat, input_lengths, target_lengths, blank=0, reduction="sum", zero_infinity=True)
        return total / target_lengths.sum().clamp_min(1)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels, lengths = batch
        loss = self.ctc_loss(self(images), labels, lengths)
        self.log("loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        data = getattr(loader, "dataset", None)
        if hasattr(data, "set_epoch"):
            # New synthetic samples every epoch, still reproducible from the seed; the
            # synthetic set also ramps its degradations up over the first epochs.
            data.set_epoch(self.current_epoch, self.trainer.max_epochs)

    def on_validation_epoch_start(self) -> None:
        self._preds, self._truths, self._images = [], [], []

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels, lengths = batch
        logits = self(images)
        self.log("valid_loss", self.ctc_loss(logits, labels, lengths), prog_bar=False)
        self._preds += greedy_decode(logits)
        self._truths += [dataset.decode_labels(lab, n) for lab, n in zip(labels.cpu(), lengths.cpu())]
        self._images += list(images.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._truths:
            return
        metrics = read_metrics(self._preds, self._truths)
        self.log("valid_nls", metrics["nls"], prog_bar=True)
        self.log("valid_exact", metrics["exact"], prog_bar=True)
        self.log("valid_check_pass", metrics["check_pass"])
        self.log("valid_pass_precision", metrics["pass_precision"])
        for key, value in metrics.items():
            if key.startswith("field/"):
                self.log(f"valid_{key}", value)
        if not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self._write_previews(metrics)
        self._images = []

    def _write_previews(self, metrics: Mapping[str, Any]) -> None:
        plt = pyplot()
        out = self.preview_dir
        nls = np.asarray(metrics["per_sample"]["nls"])
        worst = [int(i) for i in np.argsort(nls, kind="stable")[:PREVIEW_COUNT]]
        lines = [
            f"epoch {self.current_epoch}  NLS {metrics['nls']:.4f}  exact {metrics['exact']:.4f}  "
            f"check pass {metrics['check_pass']:.4f}  right when passing {metrics['pass_precision']:.4f}",
            "",
            "per field: " + ", ".join(f"{k[6:]} {v:.3f}" for k, v in metrics.items() if k.startswith("field/")),
            "",
            "worst reads (pred / true):",
        ]
        for i in worst:
            lines += [f"#{i} NLS {nls[i]:.3f}", *[f"  {p}" for p in self._preds[i]], "  --", *[f"  {t}" for t in self._truths[i]]]
        (out / "reads.txt").write_text("\n".join(lines) + "\n")
        for name, picks in (("samples", list(range(min(PREVIEW_COUNT, len(self._images))))), ("worst", worst)):
            fig, axes = plt.subplots(len(picks), 1, figsize=(9, 1.6 * len(picks)), squeeze=False)
            for ax, i in zip(axes[:, 0], picks):
                ax.imshow(self._images[i][0].numpy(), cmap="gray", vmin=0, vmax=1)
                ax.axis("off")
                verdict = "checks pass" if parse(self._preds[i]).all_valid else "checks FAIL"
                ok = "right" if self._preds[i] == self._truths[i] else "WRONG"
                ax.set_title(f"pred ({ok}, {verdict}): " + " | ".join(self._preds[i]) + "\ntrue: " + " | ".join(self._truths[i]), fontsize=6, family="monospace", loc="left")
            save_figure(fig, out / f"{name}.png", dpi=110)

    def export_meta(self) -> Dict[str, Any]:
        """What inference needs, stored in the ONNX file's metadata."""
        return {
            "task": "mrz",
            "image_size": list(self.image_size),
            "input_format": "grey, N x 1 x H x W, float32 in [0, 1]",
            "alphabet": dataset.CLASSES,
            "blank_index": 0,
            "max_lines": dataset.MAX_LINES,
            "output": "logits N x lines x steps x classes; greedy CTC per line",
            "formats": {k: list(v) for k, v in FORMATS.items()},
        }


@MODELS.register()
class MRZFinderModel(BaseMixin):
    """The band finder: page encoder + FPN neck + four corner heatmaps (TL, TR, BR, BL of the MRZ band).

    Reads ``cfg['model']``::

        encoder: {name: PageEncoder, options: {channels: [16, 24, 32, 48, 64]}}
        neck:    {name: FPNNeck, options: {channels: 32, out_stride: 4}}
        head:    {name: CornerHeatmapHead, options: {}}
        loss:    {name: HeatmapLoss, options: {kind: focal_mse, pos_weight: 10}}

    Validation decodes the heatmaps to sub-pixel corners and logs ``valid_iou`` (band
    polygon IoU, mean), ``valid_iou_p5`` (5th percentile) and ``valid_err_px``.

    Args:
        cfg: The whole config.
    """

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg["optimizer"], cfg.get("lr_scheduler"))
        self.image_size: Tuple[int, int] = image_size(cfg) or (192, 256)
        if self.image_size[0] % 32 or self.image_size[1] % 32:
            raise OtterConfigError(f"is {list(self.image_size)}; both sides must be multiples of 32", key="global_settings.image_size")
        model_cfg = cfg["model"]
        self.encoder = build(model_cfg["encoder"], MODELS, component, key="model.encoder")
        self.neck = build(model_cfg["neck"], MODELS, component, key="model.neck",
                          derived={"in_channels_list": self.encoder.channels, "reductions": self.encoder.reductions})
        self.head = build(model_cfg["head"], MODELS, component, key="model.head", derived={"in_channels": self.neck.channels})
        self.loss_fn = build(model_cfg["loss"], MODELS, component, key="model.loss")
        self.stride = int(self.neck.out_stride)
        self.example_input_array = torch.zeros(1, 1, *self.image_size)
        self._pred: List[np.ndarray] = []
        self._true: List[np.ndarray] = []
        self._images: List[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``B x 1 x H x W`` pages in ``[0, 1]`` -> ``B x 4 x H/stride x W/stride`` heatmap logits."""
        return self.head(self.neck(self.encoder(images)))

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, heatmaps, _ = batch
        loss = self.loss_fn(self(images), heatmaps)
        self.log("loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_start(self) -> None:
        data = getattr(self.trainer.train_dataloader, "dataset", None)
        if hasattr(data, "set_epoch"):
            data.set_epoch(self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        self._pred, self._true, self._images = [], [], []

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        from otter.corners import decode_heatmaps_torch

        images, heatmaps, corners = batch
        logits = self(images)
        self.log("valid_loss", self.loss_fn(logits, heatmaps))
        points, _ = decode_heatmaps_torch(torch.sigmoid(logits.float()), self.stride)
        self._pred.append(points.cpu().numpy())
        self._true.append(corners.cpu().numpy())
        if len(self._images) < PREVIEW_COUNT:
            self._images += list(images[: PREVIEW_COUNT - len(self._images)].cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._true:
            return
        from otter.geometry import corner_metrics

        pred, true = np.concatenate(self._pred), np.concatenate(self._true)
        m = corner_metrics(pred, true)
        self.log("valid_iou", m["iou_mean"], prog_bar=True)
        self.log("valid_iou_p5", float(np.percentile(m["iou"], 5)))
        self.log("valid_err_px", m["err_px_mean"], prog_bar=True)
        if not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self._write_previews(pred, true, m["iou"])

    def _write_previews(self, pred: np.ndarray, true: np.ndarray, iou: np.ndarray) -> None:
        def quads(ax: Any, i: int) -> None:
            # The band: true (green), predicted (red).
            for quad, color in ((true[i], "lime"), (pred[i], "red")):
                closed = np.vstack([quad, quad[:1]])
                ax.plot(closed[:, 0], closed[:, 1], color=color, lw=1)

        titles = [f"IoU {v:.3f}" for v in iou[: len(self._images)]]
        image_grid([im[0] for im in self._images], self.preview_dir / "bands.png", titles=titles, cols=4, overlay=quads, cell=2.5)

    def export_meta(self) -> Dict[str, Any]:
        """What inference needs, stored in the ONNX file's metadata."""
        return {
            "task": "mrz-finder",
            "image_size": list(self.image_size),
            "input_format": "grey, N x 1 x H x W, float32 in [0, 1]",
            "heatmap_stride": self.stride,
            "corners": "TL, TR, BR, BL of the MRZ band; decode each heatmap's peak (quadratic sub-cell fit)",
        }
