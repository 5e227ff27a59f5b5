"""The classifier: metric learning of document types (DocClassifier style).

Training sees one class per template and learns embeddings with a margin loss
(CosFace/ArcFace on cosine logits against one learnable centre per class).
Validation never uses those classes: it embeds several views of templates that
training never saw and asks whether two views of the same template are closer
than views of different ones, which is what registering a new document type at
inference time relies on.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_auroc, binary_roc

from otter import MODELS, BaseMixin, OtterConfigError
from otter.build import make_dataset
from otter.preview import image_grid, pyplot, save_figure
from otter.registry import build
from otter.sections import image_size, value_of

from . import component, dataset

__all__ = ["ClassifierModel", "verification_metrics", "FPR_TARGETS"]

#: Logged as ``valid_fpr@N``: the true-positive rate at a false-positive rate of ``10**-N``.
FPR_TARGETS: Dict[int, float] = {2: 1e-2, 3: 1e-3, 4: 1e-4}
#: Default false-positive rate of the match threshold stored in the ONNX file (``model.threshold_fpr``):
#: 1 in 1000 pairs of different unseen templates scores above it on validation. A photo is compared
#: with every registered type, so an unregistered one is accepted up to (types registered) x this often.
MATCH_FPR = 1e-3
#: Above this many negative pairs a fixed random subset is scored (enough for FPR 1e-4).
MAX_NEGATIVE_PAIRS = 2_000_000
#: Classes drawn in the PCA preview (more make the legend unreadable).
PCA_CLASSES = 10
DEFAULT_IMAGE_SIZE = (96, 96)


def verification_metrics(
    embeddings: torch.Tensor, labels: torch.Tensor, fpr_targets: Mapping[int, float] = FPR_TARGETS
) -> Dict[str, Any]:
    """Pair and 1-shot metrics of L2-normalised embeddings.

    Every pair of samples is scored by cosine similarity; pairs of the same class
    are positives. For the 1-shot top-1, the first sample of each class is
    registered and every other sample is classified by its nearest registered one.

    Args:
        embeddings: ``n x d``, L2-normalised.
        labels: ``n`` int class ids.
        fpr_targets: ``{key: fpr}``; reports the operating point at each FPR.

    Returns:
        For each target: ``tpr@key``, ``threshold@key`` (the lowest score that counts as the
        same class there) and ``fpr@key`` (the FPR measured at that threshold, at most the
        target); ``auc``, ``top1``, ``fpr``/``tpr`` (the ROC curve, numpy), ``positives``
        and ``negatives`` (pair counts).

    >>> e = F.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]), dim=1)
    >>> m = verification_metrics(e, torch.tensor([0, 0, 1, 1]))
    >>> round(m["auc"], 3), round(m["top1"], 3)
    (1.0, 1.0)
    """
    embeddings = embeddings.float()
    labels = labels.long()
    n = len(labels)
    sim = embeddings @ embeddings.T
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=sim.device), diagonal=1)
    same = labels[:, None] == labels[None, :]
    pos = sim[upper & same]
    neg = sim[upper & ~same]
    if len(neg) > MAX_NEGATIVE_PAIRS:
        keep = torch.randperm(len(neg), generator=torch.Generator().manual_seed(0))[:MAX_NEGATIVE_PAIRS]
        neg = neg[keep.to(neg.device)]
    result: Dict[str, Any] = {"positives": len(pos), "negatives": len(neg)}
    if len(pos) == 0 or len(neg) == 0:
        # No ROC without both kinds of pairs (e.g. one image per class).
        result.update({"auc": 0.0, "fpr": np.zeros(1), "tpr": np.zeros(1)})
        for key in fpr_targets:
            result[f"tpr@{key}"], result[f"threshold@{key}"], result[f"fpr@{key}"] = 0.0, 1.0, 0.0
    else:
        scores = torch.cat([pos, neg]).cpu()
        target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long()
        result["auc"] = float(binary_auroc(scores, target))
        # The curve only: torchmetrics passes scores outside [0, 1] through a sigmoid, so its
        # thresholds would not be cosines (the AUC and the curve do not change under it).
        fpr, tpr, _ = binary_roc(scores, target)
        for key, limit in fpr_targets.items():
            point = operating_point(pos.cpu(), neg.cpu(), limit)
            result[f"tpr@{key}"], result[f"threshold@{key}"], result[f"fpr@{key}"] = point
        result["fpr"], result["tpr"] = fpr.numpy(), tpr.numpy()

    _, first = np.unique(labels.cpu().numpy(), return_index=True)
    first_t = torch.as_tensor(first, device=labels.device)
    query = torch.ones(n, dtype=torch.bool, device=labels.device)
    query[first_t] = False
    if query.any():
        nearest = (embeddings[query] @ embeddings[first_t].T).argmax(dim=1)
        result["top1"] = float((labels[first_t][nearest] == labels[query]).float().mean())
    else:
        result["top1"] = 0.0
    return result


def operating_point(positives: torch.Tensor, negatives: torch.Tensor, fpr: float) -> Tuple[float, float, float]:
    """The threshold of the highest TPR whose FPR is at most ``fpr``: ``(tpr, threshold, measured fpr)``.

    A pair matches when its score is at or above the threshold. At most
    ``floor(fpr * len(negatives))`` negatives may match, so the threshold lies above the
    next-highest negative; it is the lowest positive score there (the most margin
    towards the negatives for the same TPR), or just above that negative when no positive is.

    >>> pos, neg = torch.tensor([0.9, 0.8, 0.3]), torch.tensor([0.85, 0.2, 0.1, 0.0])
    >>> [round(v, 3) for v in operating_point(pos, neg, 0.25)]  # one negative (0.85) may match
    [1.0, 0.3, 0.25]
    >>> [round(v, 3) for v in operating_point(pos, neg, 0.1)]  # none may: above 0.85
    [0.333, 0.9, 0.0]
    """
    allowed = int(fpr * len(negatives) + 1e-9)  # false accepts within the rate
    ranked = torch.sort(negatives, descending=True).values
    if allowed >= len(ranked):
        threshold = positives.min() if len(positives) else ranked[-1]
    else:
        above = positives[positives > ranked[allowed]]
        threshold = above.min() if len(above) else torch.nextafter(ranked[allowed], torch.tensor(2.0, dtype=ranked.dtype))
    # Not clamped to 1: rounding lets cosines pass 1 slightly, and the rate must hold at the threshold.
    tpr = float((positives >= threshold).float().mean())
    return tpr, float(threshold), float((negatives >= threshold).float().mean())


@MODELS.register()
class ClassifierModel(BaseMixin):
    """Backbone + feature head, trained with a margin loss on cosine logits.

    Reads ``cfg['model']``::

        backbone: {name: Backbone, options: {name: lcnet_050, pretrained: false}}
        head:     {name: FeatureLearningSqueezeLBNHead, options: {embed_dim: 256, feature_map_size: 3}}
        loss:     {name: CosFace, options: {s: 32, m: 0.3}, num_classes: -1, embed_dim: 256}
        threshold_fpr: 0.001   # optional: the match threshold's false-positive rate

    ``loss.num_classes: -1`` takes the number of classes of the training dataset.
    Each validation sets the match threshold: the lowest cosine similarity at which at
    most ``threshold_fpr`` of the pairs of different unseen templates match. The export
    stores it with the FPR and TPR measured there (see :meth:`export_meta`).

    Args:
        cfg: The whole config (``optimizer`` and ``lr_scheduler`` feed :class:`BaseMixin`).

    Raises:
        OtterConfigError: parts that do not fit together (channels, map size, embedding size).
    """

    def __init__(self, cfg: Mapping[str, Any]):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg["optimizer"], cfg.get("lr_scheduler"))
        model_cfg = cfg["model"]
        # The rule every task shares (otter.sections.image_size); the datasets' default otherwise.
        self.image_size = image_size(cfg) or DEFAULT_IMAGE_SIZE

        self.backbone = build(model_cfg["backbone"], MODELS, component, key="model.backbone")
        self.head = build(model_cfg["head"], MODELS, component, key="model.head", derived={"in_channels_list": self.backbone.channels})
        loss_cfg = model_cfg["loss"]
        self.margin = build(loss_cfg, MODELS, component, key="model.loss")
        embed_dim = int(value_of(loss_cfg, "embed_dim") or self.head.embed_dim)
        if embed_dim != self.head.embed_dim:
            raise OtterConfigError(
                f"is {embed_dim} but the head gives {self.head.embed_dim}-d embeddings; make them equal",
                key="model.loss.embed_dim",
            )
        num_classes = self._num_classes(cfg)
        # Recorded so the run's saved config shows the number actually used.
        loss_cfg["num_classes"] = num_classes
        self.classifier = component.CosineClassifier(embed_dim, num_classes)
        self._check_map_size()

        self.threshold_fpr = self._threshold_fpr(model_cfg)
        # Lowest score at which two images count as the same template (set by validation at
        # threshold_fpr). Buffers, so the checkpoint the export reads carries them.
        self.register_buffer("threshold", torch.tensor(0.5))
        # One row per FPR target, then the match threshold's: target FPR, measured FPR, TPR, threshold
        # (NaN until a validation has run); and the validation's positive and negative pair counts.
        self.register_buffer("operating_points", torch.full((len(FPR_TARGETS) + 1, 4), float("nan")))
        self.register_buffer("pair_counts", torch.zeros(2))
        self._register_load_state_dict_pre_hook(self._fill_missing_buffers)
        self.example_input_array = torch.zeros(1, 3, *self.image_size)
        self._valid_embeddings: List[torch.Tensor] = []
        self._valid_labels: List[torch.Tensor] = []
        self._preview: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    # ------------------------------------------------------------------ build

    @staticmethod
    def _num_classes(cfg: Mapping[str, Any]) -> int:
        value = value_of(cfg["model"]["loss"], "num_classes", -1)
        num_classes = -1 if value is None else int(value)
        if num_classes > 0:
            return num_classes
        if num_classes != -1:
            raise OtterConfigError(f"must be a positive count or -1, got {num_classes}", key="model.loss.num_classes")
        # Built as build_dataset builds it; building a dataset only indexes it.
        train_set = make_dataset(cfg, "train", dataset)
        if train_set is None:
            raise OtterConfigError("is -1 but there is no dataset.train_options to count classes in", key="model.loss.num_classes")
        return int(train_set.num_classes)

    @staticmethod
    def _threshold_fpr(model_cfg: Mapping[str, Any]) -> float:
        value = value_of(model_cfg, "threshold_fpr", MATCH_FPR)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise OtterConfigError(f"must be a false-positive rate between 0 and 1 (e.g. {MATCH_FPR}), got {value!r}", key="model.threshold_fpr")
        return float(value)

    def _fill_missing_buffers(self, state_dict: Dict[str, Any], prefix: str, *args: Any) -> None:
        # Checkpoints written before the operating points were kept load as they did: their
        # threshold stays, its measured rates read as unknown.
        for name in ("operating_points", "pair_counts"):
            state_dict.setdefault(prefix + name, getattr(self, name).clone())

    def _check_map_size(self) -> None:
        if not hasattr(self.head, "check_map_size"):
            return
        was_training = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            last = self.backbone(torch.zeros(1, 3, *self.image_size))[-1]
        self.backbone.train(was_training)
        self.head.check_map_size(*last.shape[-2:])

    # ------------------------------------------------------------------ steps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings (not normalised) of a ``batch x 3 x H x W`` batch in ``[0, 1]``."""
        return self.head(self.backbone(images))

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch[0], batch[1]
        cosine = self.classifier(self(images))
        loss = F.cross_entropy(self.margin(cosine, labels), labels)
        accuracy = (cosine.argmax(dim=1) == labels).float().mean()
        self.log("loss", loss, prog_bar=True)
        self.log("train_acc", accuracy, prog_bar=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._valid_embeddings, self._valid_labels, self._preview = [], [], None

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels = batch[0], batch[1]
        self._valid_embeddings.append(F.normalize(self(images), dim=1).float())
        self._valid_labels.append(labels)
        if self._preview is None:
            self._preview = images[:16].detach().cpu(), labels[:16].cpu()

    def on_validation_epoch_end(self) -> None:
        if not self._valid_embeddings:
            return
        embeddings = torch.cat(self._valid_embeddings)
        labels = torch.cat(self._valid_labels)
        self._valid_embeddings, self._valid_labels = [], []
        if self.trainer.world_size > 1:
            # Every rank scores all pairs, so every rank logs the same numbers.
            embeddings = self.all_gather(embeddings).flatten(0, 1)
            labels = self.all_gather(labels).flatten(0, 1)
        metrics = verification_metrics(embeddings, labels)
        self.log("valid_auc", metrics["auc"], prog_bar=True)
        for key in FPR_TARGETS:
            self.log(f"valid_fpr@{key}", metrics[f"tpr@{key}"], prog_bar=key == 4)
        self.log("valid_top1", metrics["top1"], prog_bar=True)
        if self.trainer.sanity_checking:
            return
        self._keep_operating_points(embeddings, labels, metrics)
        if self.trainer.is_global_zero:
            self._write_previews(metrics, embeddings.cpu(), labels.cpu())

    def _keep_operating_points(self, embeddings: torch.Tensor, labels: torch.Tensor, metrics: Mapping[str, Any]) -> None:
        targets = dict(FPR_TARGETS)
        if self.threshold_fpr not in targets.values():
            targets["match"] = self.threshold_fpr
            metrics = {**metrics, **verification_metrics(embeddings, labels, {"match": self.threshold_fpr})}
        match = next(k for k, v in targets.items() if v == self.threshold_fpr)
        rows = [*FPR_TARGETS, match]
        table = [[targets[k], metrics[f"fpr@{k}"], metrics[f"tpr@{k}"], metrics[f"threshold@{k}"]] for k in rows]
        self.operating_points.copy_(torch.tensor(table, dtype=self.operating_points.dtype))
        self.pair_counts.copy_(torch.tensor([metrics["positives"], metrics["negatives"]], dtype=self.pair_counts.dtype))
        self.threshold.fill_(metrics[f"threshold@{match}"])

    # ------------------------------------------------------------------ previews

    def _class_names(self, count: int) -> List[str]:
        loaders = getattr(self.trainer, "val_dataloaders", None)
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        names = getattr(getattr(loader, "dataset", None), "class_names", None)
        return list(names) if names is not None and len(names) >= count else [str(i) for i in range(count)]

    def _write_previews(self, metrics: Mapping[str, Any], embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        plt = pyplot()
        out = self.preview_dir
        names = self._class_names(int(labels.max()) + 1)

        lines = [
            f"epoch {self.current_epoch}  AUC {metrics['auc']:.4f}  1-shot top-1 {metrics['top1']:.4f}",
            f"pairs: {metrics['positives']} positive, {metrics['negatives']} negative",
            "",
            f"{'FPR':>8}  {'TPR':>8}  {'threshold':>9}",
        ]
        lines += [f"{limit:>8.0e}  {metrics[f'tpr@{k}']:>8.4f}  {metrics[f'threshold@{k}']:>9.4f}" for k, limit in FPR_TARGETS.items()]
        _, measured, tpr, threshold = self.operating_points[-1].tolist()
        lines += ["", f"match threshold (stored at export): {threshold:.4f}, chosen at FPR {self.threshold_fpr:g}: measured FPR {measured:.2e}, TPR {tpr:.4f}"]
        (out / "tpr_fpr.txt").write_text("\n".join(lines) + "\n")

        fig, ax = plt.subplots(figsize=(5, 4))
        fpr = np.clip(metrics["fpr"], 1e-6, 1.0)
        ax.plot(fpr, metrics["tpr"], lw=1.5)
        for k, limit in FPR_TARGETS.items():
            ax.plot([limit], [metrics[f"tpr@{k}"]], "o", label=f"TPR {metrics[f'tpr@{k}']:.3f} @ FPR {limit:.0e}")
        ax.set(xscale="log", xlim=(1e-5, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
        ax.set_title(f"ROC on unseen classes, AUC {metrics['auc']:.4f}")
        ax.legend(loc="lower right", fontsize=7)
        save_figure(fig, out / "roc.png")

        shown = labels < PCA_CLASSES
        if shown.sum() >= 2:
            points = embeddings[shown].numpy()
            points = points - points.mean(axis=0)
            # The first two principal axes, from the SVD of the centred embeddings.
            _, _, vt = np.linalg.svd(points, full_matrices=False)
            xy = points @ vt[:2].T
            fig, ax = plt.subplots(figsize=(6, 5))
            for c in np.unique(labels[shown].numpy()):
                sel = labels[shown].numpy() == c
                ax.scatter(xy[sel, 0], xy[sel, 1], s=18, label=names[c])
            ax.set_title(f"PCA of embeddings, first {PCA_CLASSES} validation classes")
            ax.legend(fontsize=6, loc="best", markerscale=0.8)
            save_figure(fig, out / "pca.png")

        if self._preview is not None and self.current_epoch == 0:
            images, labels = self._preview
            image_grid(list(images), out / "valid_samples.png", titles=[names[int(c)] for c in labels])

    # ------------------------------------------------------------------ export

    def export_meta(self) -> Dict[str, Any]:
        """What inference needs, stored in the ONNX file's metadata.

        ``threshold`` is the match threshold; ``threshold_fpr`` the false-positive rate it
        was chosen for; ``threshold_measured_fpr`` and ``threshold_tpr`` what the last
        validation measured there, on ``threshold_pairs`` pairs of views of unseen templates
        (``None`` when no validation ran: the threshold is then the untuned 0.5).
        ``operating_points`` lists ``{fpr, measured_fpr, tpr, threshold}`` at each of
        :data:`FPR_TARGETS`, for choosing another rate at inference.
        """
        points = self.operating_points.tolist()
        measured = not np.isnan(points[-1][3])

        def rate(value: float) -> Optional[float]:
            return float(value) if measured else None

        return {
            "task": "classifier",
            "image_size": list(self.image_size),
            "input_format": "RGB, NCHW, float32 in [0, 1]",
            "normalize": None,  # images are only scaled to [0, 1]; no mean/std
            "embed_dim": int(self.head.embed_dim),
            "similarity": "cosine",
            # Unrounded: the threshold is a score seen in validation, and the rate holds at exactly it.
            "threshold": float(self.threshold),
            "threshold_fpr": self.threshold_fpr if measured else None,
            "threshold_measured_fpr": rate(points[-1][1]),
            "threshold_tpr": rate(points[-1][2]),
            "threshold_pairs": {"positive": int(self.pair_counts[0]), "negative": int(self.pair_counts[1])} if measured else None,
            "operating_points": [
                # The targets from FPR_TARGETS: the float32 buffer holds them only to about 1e-8.
                {"fpr": target, "measured_fpr": rate(fpr), "tpr": rate(tpr), "threshold": float(t)}
                for target, (_, fpr, tpr, t) in zip(FPR_TARGETS.values(), points[:-1])
            ] if measured else [],
        }
