"""Find a document's corners in a photo with the exported ONNX model, and flatten it.

Needs only onnxruntime, numpy, Pillow and OpenCV (no torch, no Otter). The input
size, the normalisation, the heatmap stride and the score threshold are read from
the ONNX file's metadata; the model outputs one heatmap per corner, decoded here
with sub-pixel precision; corners come back in the original photo's pixels, in
the order top-left, top-right, bottom-right, bottom-left.

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
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = ["DocAligner", "read_metadata", "decode_heatmaps", "flatten", "main"]

ImageLike = Union[str, Path, Image.Image, np.ndarray]
#: Used when the file carries no threshold (exported by something else).
DEFAULT_THRESHOLD = 0.3
#: The flattened page's longer side is capped at this many pixels by default.
DEFAULT_MAX_SIDE = 2048
#: How far beyond a heatmap's border (in cells) a peak may be placed (a corner just outside the photo).
BORDER_REACH = 1.0


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # plain strings are stored as they are


def read_metadata(session: Any) -> Dict[str, Any]:
    """The ONNX file's custom metadata, with JSON values decoded."""
    return {k: _decode(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


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


def decode_heatmaps(heatmaps: np.ndarray, stride: float) -> Tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peaks of ``k x h x w`` probability maps: ``(points k x 2 in input pixels, scores k)``.

    The arg-max cell, refined per axis by the vertex of the parabola through
    ``log(heatmap)`` there and at its neighbours (exact for a Gaussian peak). On a
    border cell the fit uses the border and the next two cells and may reach up to
    ``BORDER_REACH`` cells outside. The same numbers as ``otter.geometry.decode_heatmaps``,
    written out here so inference needs no Otter.
    """
    maps = np.asarray(heatmaps, dtype=np.float64)
    k, height, width = maps.shape
    flat = maps.reshape(k, -1)
    idx = flat.argmax(axis=1)
    scores = flat[np.arange(k), idx]
    y, x = np.divmod(idx, width)
    rows = np.arange(k)
    logs = np.log(np.maximum(maps, 1e-6))

    def refine(peak: np.ndarray, length: int, sample: Any) -> np.ndarray:
        if length < 3:
            return peak.astype(np.float64)
        centre = np.clip(peak, 1, length - 2)
        left, mid, right = sample(centre - 1), sample(centre), sample(centre + 1)
        curvature = left - 2 * mid + right
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(curvature < 0, centre + 0.5 * (left - right) / curvature, peak.astype(np.float64))
        low = np.where(peak > 0, peak - 0.5, -BORDER_REACH)
        high = np.where(peak < length - 1, peak + 0.5, length - 1 + BORDER_REACH)
        return np.clip(vertex, low, high)

    px = refine(x, width, lambda xx: logs[rows, y, xx])
    py = refine(y, height, lambda yy: logs[rows, yy, x])
    points = (np.stack([px, py], axis=1) + 0.5) * stride - 0.5
    return points, scores


def flatten(image: ImageLike, corners: Any, max_side: Optional[int] = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (TL, TR, BR, BL) of ``image`` to an upright page.

    The page gets the document's aspect ratio: the mean lengths of its opposite
    sides, so the perspective's foreshortening cancels out.

    Args:
        image: The photo.
        corners: ``4 x 2`` in the photo's pixels.
        max_side: Cap on the page's longer side (None: no cap).

    Returns:
        ``height x width x 3`` uint8 RGB.
    """
    import cv2

    photo = load_rgb(image)
    c = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    if max_side and max(width, height) > max_side:
        width, height = width * max_side / max(width, height), height * max_side / max(width, height)
    width, height = max(1, int(round(width))), max(1, int(round(height)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(c, target)
    return cv2.warpPerspective(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class DocAligner:
    """Document corner detection with an exported aligner model.

    Args:
        model_path: The exported ``.onnx`` file.
        threshold: Lowest mean corner score that counts as a document; default: the
            one stored at export (metadata key ``score_threshold``).
        providers: onnxruntime execution providers (default: CPU).

    Raises:
        FileNotFoundError: ``model_path`` does not exist.
        ValueError: onnxruntime cannot load it, or it is not an aligner model.
    """

    def __init__(self, model_path: Union[str, Path], threshold: Optional[float] = None, providers: Optional[Sequence[str]] = None):
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        try:
            self.session = ort.InferenceSession(str(path), providers=list(providers or ["CPUExecutionProvider"]))
        except Exception as e:  # onnxruntime's own exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"{path}: onnxruntime cannot load this model: {first}") from e
        self.meta = read_metadata(self.session)
        outputs = [o.name for o in self.session.get_outputs()]
        if "heatmaps" not in outputs:
            raise ValueError(f"{path}: not an aligner model (outputs {outputs}; expected heatmaps)")
        self.stride = int(self.meta.get("heatmap_stride", 4))
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        size = self.meta.get("image_size") or model_input.shape[2:4]
        self.image_size: Tuple[int, int] = (int(size[0]), int(size[1]))
        norm = self.meta.get("normalize")
        self.mean = np.asarray(norm["mean"], np.float32).reshape(1, 3, 1, 1) if isinstance(norm, dict) else None
        self.std = np.asarray(norm["std"], np.float32).reshape(1, 3, 1, 1) if isinstance(norm, dict) else None
        self.threshold = float(threshold if threshold is not None else self.meta.get("score_threshold", DEFAULT_THRESHOLD))

    def preprocess(self, photo: np.ndarray) -> np.ndarray:
        """``H x W x 3`` uint8 RGB -> ``1 x 3 x h x w`` float32 at the model's input size."""
        import cv2

        height, width = self.image_size
        # INTER_AREA, as training resized its photos.
        array = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        batch = array.transpose(2, 0, 1)[None]
        if self.mean is not None:
            batch = (batch - self.mean) / self.std
        return np.ascontiguousarray(batch, dtype=np.float32)

    def detect(self, image: ImageLike) -> Tuple[np.ndarray, float, np.ndarray]:
        """Corners whatever the score: ``(corners 4 x 2 in original pixels, score, per-corner scores)``."""
        photo = load_rgb(image)
        heatmaps = self.session.run(["heatmaps"], {self.input_name: self.preprocess(photo)})[0][0]
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
