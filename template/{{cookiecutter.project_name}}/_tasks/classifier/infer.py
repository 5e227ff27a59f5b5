"""Recognise document types with the exported ONNX model: register examples, then match.

Needs onnxruntime, numpy, Pillow and ``otter.onnx_meta`` (no torch). The image size,
the input normalisation and the match threshold are read from the ONNX file's metadata.

Several examples of a type may be registered (different scans, photos, versions of the
form); a type is then represented by the mean of its examples' unit embeddings,
normalised again (its prototype), and a photo's score for the type is the cosine
similarity to it. ``combine="max"`` scores by the closest single example instead.

The stored threshold was chosen at export so that, on validation views of templates
training never saw, a known small share of pairs of *different* templates scores above it
(its false-positive rate, ``threshold_fpr`` in the metadata, 1e-3 by default; the rate
measured there is ``threshold_measured_fpr``). It was measured with one example per type. A
photo is compared with every registered type, so a photo of a type that was not registered
is accepted by mistake up to (number of types) x that rate. The mean of several examples
gives each type one chance to score high by accident; best-example matching gives it one
per example, so wrong accepts can grow with the number of examples.

From Python::

    matcher = DocumentMatcher("runs/default/<run_id>/export/default_<date>_fp32.onnx")
    matcher.register("invoice", "examples/invoice_1.jpg")
    matcher.register("invoice", "examples/invoice_2.jpg")   # a second example of the same type
    matcher.register_many("receipt", ["examples/receipt_a.png", "examples/receipt_b.png"])
    name, score = matcher.match("photo.jpg")  # name is None below the threshold
    print(matcher.describe_threshold())

From the command line, in the folder that holds the project::

    python -m MyProj.infer model.onnx --register invoice=examples/invoice_1.jpg \\
        --register invoice=examples/invoice_2.jpg --register receipt=examples/receipt.png photo1.jpg photo2.jpg
    python -m MyProj.infer model.onnx --gallery examples/ --fpr 1e-4 photo1.jpg   # examples/<type>/*.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from otter.onnx_meta import OnnxModel

__all__ = ["DocumentMatcher", "main"]

ImageLike = Union[str, Path, Image.Image, np.ndarray]
Combine = Literal["mean", "max"]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Used when the file carries no threshold (exported by something else).
DEFAULT_THRESHOLD = 0.5


class DocumentMatcher:
    """Embed images with the exported model and match them to registered examples by cosine similarity.

    Args:
        model_path: The exported ``.onnx`` file.
        threshold: Lowest score that counts as a match; default: the one stored at export
            (see :attr:`threshold_fpr`).
        providers: onnxruntime execution providers (default: CPU).
        fpr: Instead of ``threshold``: use the stored operating point with this false-positive
            rate (the export keeps 1e-2, 1e-3 and 1e-4, and the match threshold's own).
        combine: How the examples of one type are scored together: ``"mean"`` (the
            similarity to their normalised mean embedding) or ``"max"`` (to the closest one).

    Attributes:
        threshold: The threshold in use.
        threshold_fpr: Its false-positive rate on pairs of different unseen templates at
            export: the rate it was chosen for (the stored threshold, or ``fpr``); for a
            threshold of your own, the rate of the strictest stored point at or below it (a
            bound); ``None`` when unknown.

    Raises:
        otter.onnx_meta.OnnxFileError: the file is missing or onnxruntime cannot load it.
        ValueError: ``fpr`` names no stored operating point, or ``combine`` is unknown.
    """

    def __init__(
        self,
        model_path: Union[str, Path],
        threshold: Optional[float] = None,
        providers: Optional[Sequence[str]] = None,
        fpr: Optional[float] = None,
        combine: Combine = "mean",
    ):
        if combine not in ("mean", "max"):
            raise ValueError(f"combine must be 'mean' or 'max', got {combine!r}")
        if threshold is not None and fpr is not None:
            raise ValueError("give a threshold or an fpr, not both")
        self.model = OnnxModel(model_path, providers)
        self.meta = self.model.meta
        self.image_size: Tuple[int, int] = self.model.image_size
        self.combine: Combine = combine
        self.operating_points = self._stored_points()
        if fpr is not None:
            self.threshold, self.threshold_fpr = self._threshold_at(float(fpr)), float(fpr)
        elif threshold is not None:
            self.threshold = float(threshold)
            self.threshold_fpr = self.fpr_at(self.threshold)
        else:
            self.threshold = float(self.meta.get("threshold", DEFAULT_THRESHOLD))
            self.threshold_fpr = self.meta.get("threshold_fpr")
        self.names: List[str] = []
        self._gallery = np.zeros((0, 0), np.float32)

    # ------------------------------------------------------------------ threshold

    def _stored_points(self) -> List[Dict[str, Any]]:
        """Measured operating points in the file (``fpr``, ``measured_fpr``, ``tpr``, ``threshold``), strictest first."""
        points = [p for p in self.meta.get("operating_points") or [] if p.get("measured_fpr") is not None]
        if self.meta.get("threshold_fpr") is not None and not any(np.isclose(p["fpr"], self.meta["threshold_fpr"]) for p in points):
            points.append({
                "fpr": self.meta["threshold_fpr"], "measured_fpr": self.meta.get("threshold_measured_fpr"),
                "tpr": self.meta.get("threshold_tpr"), "threshold": self.meta["threshold"],
            })
        return sorted(points, key=lambda p: (p["fpr"], -p["threshold"]))

    def _threshold_at(self, fpr: float) -> float:
        for point in self.operating_points:
            if np.isclose(point["fpr"], fpr, rtol=1e-6, atol=0):
                return float(point["threshold"])
        stored = ", ".join(f"{p['fpr']:g}" for p in self.operating_points) or "none (exported without a validation)"
        raise ValueError(f"{self.model.path}: no stored threshold at FPR {fpr:g}; stored: {stored}")

    def fpr_at(self, threshold: float) -> Optional[float]:
        """The false-positive rate of ``threshold`` on the export's validation pairs: exact at a
        stored operating point, else the rate of the strictest stored point at or below it (a
        bound), ``None`` if no stored point is that low."""
        within = [p for p in self.operating_points if p["threshold"] <= threshold + 1e-9]
        return float(min(p["fpr"] for p in within)) if within else None

    def describe_threshold(self) -> str:
        """One line: the threshold in use and how often it accepts a wrong type."""
        if self.threshold_fpr is None:
            return f"threshold {self.threshold:.4f}: its false-positive rate is unknown (no operating point stored at export is at or below it)"
        point = next((p for p in self.operating_points if np.isclose(p["fpr"], self.threshold_fpr) and np.isclose(p["threshold"], self.threshold)), None)
        if point is None:
            text = f"threshold {self.threshold:.4f}: false-positive rate at most {self.threshold_fpr:g}"
        else:
            text = f"threshold {self.threshold:.4f}: false-positive rate {point['fpr']:g}"
            if point.get("measured_fpr") is not None:  # files from before the rate was measured lack it
                pairs = (self.meta.get("threshold_pairs") or {}).get("negative")
                on = f" on {pairs:,} pairs of different unseen templates" if pairs else ""
                text += f" (measured {point['measured_fpr']:.2g}{on} at export)"
        types = len(set(self.names))
        if types > 1:
            text += f"; with {types} types registered, a photo of an unregistered type is accepted up to about {min(1.0, types * self.threshold_fpr):.2g} of the time"
        return text

    # ------------------------------------------------------------------ embedding

    def preprocess(self, image: ImageLike) -> np.ndarray:
        """One image (path, PIL image or ``H x W x 3`` RGB uint8 array) -> ``1 x 3 x H x W`` float32."""
        if isinstance(image, (str, Path)):
            with Image.open(image) as im:
                pil = im.convert("RGB")
        elif isinstance(image, Image.Image):
            pil = image.convert("RGB")
        else:
            pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        height, width = self.image_size
        # BOX averages like OpenCV's INTER_AREA, which training resized with.
        array = np.asarray(pil.resize((width, height), Image.Resampling.BOX), np.float32) / 255.0
        return self.model.normalise(array.transpose(2, 0, 1)[None])

    def embed(self, images: Sequence[ImageLike]) -> np.ndarray:
        """``n x embed_dim`` unit vectors, one per image."""
        out = self.model.run(np.concatenate([self.preprocess(im) for im in images]))[0]
        # The model normalises already; again here in case a raw-feature model is used.
        return _unit(out)

    # ------------------------------------------------------------------ gallery

    def register(self, name: str, image: ImageLike) -> None:
        """Add an example of document type ``name``; call again with the same name for more examples."""
        self.register_many(name, [image])

    def register_many(self, name: str, images: Sequence[ImageLike]) -> None:
        """Add several examples of document type ``name`` (embedded as one batch)."""
        if not len(images):
            raise ValueError(f"no images given for {name!r}")
        vectors = self.embed(images)
        self._gallery = vectors if not self.names else np.concatenate([self._gallery, vectors])
        self.names.extend([name] * len(vectors))

    def examples(self) -> Dict[str, int]:
        """How many examples each registered type has."""
        counts: Dict[str, int] = {}
        for name in self.names:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def prototypes(self) -> Tuple[List[str], np.ndarray]:
        """``(names, types x embed_dim)``: each type's examples averaged and normalised again."""
        types = list(self.examples())
        labels = np.array([types.index(n) for n in self.names])
        return types, _unit(np.stack([self._gallery[labels == k].mean(axis=0) for k in range(len(types))]))

    def scores(self, image: ImageLike) -> Dict[str, float]:
        """Cosine similarity of ``image`` to each registered type (its prototype, or its closest example)."""
        if not self.names:
            raise ValueError("nothing registered yet; call register(name, image) first")
        query = self.embed([image])[0]
        if self.combine == "mean":
            types, vectors = self.prototypes()
            return {name: float(s) for name, s in zip(types, vectors @ query)}
        best: Dict[str, float] = {}
        for name, sim in zip(self.names, (self._gallery @ query).tolist()):
            best[name] = max(sim, best.get(name, -1.0))
        return best

    def match(self, image: ImageLike) -> Tuple[Optional[str], float]:
        """The registered type most similar to ``image`` and its score; the type is ``None`` below the threshold."""
        name, score = max(self.scores(image).items(), key=lambda item: item[1])
        return (name if score >= self.threshold else None), score


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _register_args(values: Iterable[str]) -> List[Tuple[str, Path]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--register {value!r}: expected NAME=PATH")
        pairs.append((name, Path(path)))
    return pairs


def _gallery_args(root: Path) -> List[Tuple[str, Path]]:
    """``root/<name>/*.jpg|png`` -> (name, path) pairs: every image of every sub-folder."""
    if not root.is_dir():
        raise ValueError(f"--gallery {root}: not a folder (expected root/<name>/*.jpg|png)")
    pairs = [
        (folder.name, path)
        for folder in sorted(d for d in root.iterdir() if d.is_dir())
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not pairs:
        raise ValueError(f"--gallery {root}: no images in its sub-folders (expected root/<name>/*.jpg|png)")
    return pairs


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: register examples, then print the match of each image."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.infer" if __package__ else "infer.py",
        description=(
            "Match document images to registered examples with an exported classifier ONNX model. "
            "Several examples of a type (the same NAME repeated, or several images in its gallery folder) are all used."
        ),
    )
    parser.add_argument("model", help="the exported .onnx file")
    parser.add_argument("images", nargs="*", help="images to match")
    parser.add_argument("--register", action="append", default=[], metavar="NAME=PATH", help="an example of a document type (repeatable, also with the same NAME)")
    parser.add_argument("--gallery", type=Path, help="a folder of examples: GALLERY/<name>/*.jpg|png (every image is used)")
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float, help="lowest similarity that matches (default: stored in the model)")
    threshold.add_argument("--fpr", type=float, help="use the stored threshold of this false-positive rate (1e-2, 1e-3, 1e-4)")
    parser.add_argument("--combine", choices=("mean", "max"), default="mean", help="score a type by the mean of its examples (default) or its closest one")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    # Images may come before or after the options (`model.onnx --register a=x.jpg y.jpg`).
    args = parser.parse_intermixed_args(argv)
    try:
        examples = _register_args(args.register) + (_gallery_args(args.gallery) if args.gallery else [])
        if not examples:
            raise ValueError("register at least one example: --register NAME=PATH or --gallery FOLDER")
        for _, path in examples + [("", Path(p)) for p in args.images]:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such image")
        matcher = DocumentMatcher(args.model, threshold=args.threshold, fpr=args.fpr, combine=args.combine)
        by_name: Dict[str, List[Path]] = {}
        for name, path in examples:
            by_name.setdefault(name, []).append(path)
        for name, paths in by_name.items():
            matcher.register_many(name, paths)
        if not args.json:
            print(f"{len(examples)} examples of {len(by_name)} types registered ({args.combine} of each type's examples)")
            print(matcher.describe_threshold())
        for image in args.images:
            name, score = matcher.match(image)
            if args.json:
                print(json.dumps({
                    "image": image, "match": name, "score": round(score, 6),
                    "threshold": matcher.threshold, "threshold_fpr": matcher.threshold_fpr,
                }))
            else:
                print(f"{image}\t{name if name is not None else '(no match)'}\t{score:.4f}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
