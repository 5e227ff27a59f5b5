"""Find a document's corners in a photo with the exported ONNX model, and flatten it.

Needs onnxruntime, numpy, Pillow, OpenCV and Otter's torch-free parts
(``otter.onnx_meta`` opens the file, ``otter.geometry`` decodes and warps; no torch).
The input size, the normalisation, the heatmap stride and the score threshold are
read from the ONNX file's metadata; the model outputs one heatmap per corner,
decoded with sub-pixel precision; corners come back in the original photo's pixels,
in the order top-left, top-right, bottom-right, bottom-left.

From Python::

    aligner = DocAligner("runs/default/<run_id>/export/default_<date>_fp32.onnx")
    corners, score = aligner.predict("photo.jpg")   # corners is None: no document found
    page = aligner.flatten("photo.jpg", corners)     # H x W x 3 uint8, the page's aspect ratio

From the command line, in the folder that holds the project::

    python -m MyProj.infer model.onnx photo.jpg [--out flat.png] [--json]

Exit code 0 when a document was found, 1 when none was (score below the
threshold), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from otter import geometry
from otter.geometry import decode_heatmaps
from otter.onnx_meta import OnnxModel

__all__ = ["DocAligner", "decode_heatmaps", "flatten", "main"]

ImageLike = Union[str, Path, Image.Image, np.ndarray]
#: Used when the file carries no threshold (exported by something else).
DEFAULT_THRESHOLD = 0.3
#: The flattened page's longer side is capped at this many pixels by default.
DEFAULT_MAX_SIDE = 2048


def load_rgb(image: ImageLike) -> np.ndarray:
    """A path, PIL image or ``H x W x 3`` array -> ``H x W x 3`` uint8 RGB (EXIF rotation applied)."""
    if isinstance(image, (str, Path)):
        from PIL import ImageOps

        with Image.open(image) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3], dtype=np.uint8)


def flatten(image: ImageLike, corners: Any, max_side: Optional[int] = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (TL, TR, BR, BL) of ``image`` to an upright page.

    The page gets the document's aspect ratio: the mean lengths of its opposite
    sides, so the perspective's foreshortening cancels out (``otter.geometry.flatten``).

    Args:
        image: The photo.
        corners: ``4 x 2`` in the photo's pixels.
        max_side: Cap on the page's longer side (None: no cap).

    Returns:
        ``height x width x 3`` uint8 RGB.
    """
    return geometry.flatten(load_rgb(image), np.asarray(corners, dtype=np.float64).reshape(4, 2), max_side=max_side)


class DocAligner:
    """Document corner detection with an exported aligner model.

    Args:
        model_path: The exported ``.onnx`` file.
        threshold: Lowest mean corner score that counts as a document; default: the
            one stored at export (metadata key ``score_threshold``).
        providers: onnxruntime execution providers (default: CPU).

    Raises:
        otter.onnx_meta.OnnxFileError: the file is missing, onnxruntime cannot load it, or
            it has no ``heatmaps`` output (a ``ValueError``).
    """

    def __init__(self, model_path: Union[str, Path], threshold: Optional[float] = None, providers: Optional[Sequence[str]] = None):
        self.model = OnnxModel(model_path, providers, outputs=["heatmaps"])
        self.meta = self.model.meta
        self.image_size: Tuple[int, int] = self.model.image_size
        self.stride = int(self.meta.get("heatmap_stride", 4))
        self.threshold = float(threshold if threshold is not None else self.meta.get("score_threshold", DEFAULT_THRESHOLD))

    def preprocess(self, photo: np.ndarray) -> np.ndarray:
        """``H x W x 3`` uint8 RGB -> ``1 x 3 x h x w`` float32 at the model's input size."""
        import cv2

        height, width = self.image_size
        # INTER_AREA, as training resized its photos.
        array = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return self.model.normalise(array.transpose(2, 0, 1)[None])

    def detect(self, image: ImageLike) -> Tuple[np.ndarray, float, np.ndarray]:
        """Corners whatever the score: ``(corners 4 x 2 in original pixels, score, per-corner scores)``."""
        photo = load_rgb(image)
        heatmaps = self.model.run(self.preprocess(photo), ["heatmaps"])[0][0]
        points, scores = decode_heatmaps(heatmaps, self.stride)
        height, width = self.image_size
        orig_h, orig_w = photo.shape[:2]
        # Input pixels -> original pixels (pixel centres at integers on both sides).
        corners = (points + 0.5) * np.array([orig_w / width, orig_h / height]) - 0.5
        return corners, float(scores.mean()), scores

    def predict(self, image: ImageLike) -> Tuple[Optional[np.ndarray], float]:
        """``(corners, score)``: ``4 x 2`` TL, TR, BR, BL in the photo's pixels, or None below the threshold."""
        corners, score, _ = self.detect(image)
        return (corners if score >= self.threshold else None), score

    def flatten(self, image: ImageLike, corners: Any, max_side: Optional[int] = DEFAULT_MAX_SIDE) -> np.ndarray:
        """The page inside ``corners``, warped upright at its aspect ratio (see :func:`flatten`)."""
        return flatten(image, corners, max_side)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: find the document in a photo, print its corners, optionally save the flattened page."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.infer" if __package__ else "infer.py",
        description="Find a document's four corners in a photo with an exported aligner ONNX model, and flatten it.",
    )
    parser.add_argument("model", help="the exported .onnx file")
    parser.add_argument("image", help="the photo")
    parser.add_argument("--out", type=Path, help="save the flattened page here (.png, .jpg)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--threshold", type=float, help="lowest mean corner score that counts as a document (default: stored in the model)")
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, help="cap on the flattened page's longer side (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        if not Path(args.image).is_file():
            raise FileNotFoundError(f"{args.image}: no such image")
        aligner = DocAligner(args.model, threshold=args.threshold)
        try:
            photo = load_rgb(args.image)
        except OSError as e:
            raise ValueError(f"{args.image}: cannot read this image ({e})") from None
        corners, score, per_corner = aligner.detect(photo)
        found = score >= aligner.threshold
        if found and args.out:
            page = aligner.flatten(photo, corners, args.max_side)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(page).save(args.out)
        if args.json:
            print(json.dumps({
                "image": args.image,
                "found": bool(found),
                "score": round(score, 6),
                "threshold": aligner.threshold,
                "corners": np.round(corners, 2).tolist() if found else None,
                "corner_scores": np.round(per_corner, 6).tolist(),
                "out": str(args.out) if found and args.out else None,
            }))
        elif found:
            names = ("top-left", "top-right", "bottom-right", "bottom-left")
            print(f"{args.image}: document found, score {score:.3f}")
            for name, (x, y) in zip(names, corners):
                print(f"  {name:<12} {x:9.2f} {y:9.2f}")
            if args.out:
                print(f"flattened page: {args.out}")
        else:
            print(f"{args.image}: no document found (score {score:.3f} < threshold {aligner.threshold:.3f})")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
