"""Read the machine-readable zone of a passport, visa or ID card with the exported ONNX model.

Needs onnxruntime, numpy, OpenCV and Otter's torch-free parts (``otter.onnx_meta``
opens the files, ``otter.geometry`` decodes the finder's heatmaps; no torch). The band
size, the alphabet and the CTC blank index are read from the ONNX file's metadata.

From Python::

    reader = MRZReader("runs/default/<run_id>/export/default_<date>_fp32.onnx",
                       finder="runs/finder/<run_id>/export/finder_<date>_fp32.onnx")  # finder optional
    result = reader.read("passport.jpg")          # a page photo: the band is found first
    result = reader.read("band.png", band=True)   # an already-cropped band
    result.lines, result.fields, result.valid, result.score, result.corrections

From the command line, in the folder that holds the project::

    python -m MyProj.infer model.onnx page.jpg [more.jpg ...] [--finder finder.onnx] [--band] [--json]

The band on a page is found by the finder model (``config/finder.yaml``: four corner
heatmaps) when one is given; otherwise by its texture (a block of dense dark characters
in rows, wider than tall, towards the bottom) with OpenCV morphology. An image already
about as wide as an MRZ band (aspect ratio 4 or more) is read as a band directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np

from otter.geometry import decode_heatmaps
from otter.onnx_meta import OnnxModel

from .mrz_format import parse

__all__ = ["MRZReader", "MRZResult", "BandFinder", "find_band", "ctc_greedy", "decode_peaks", "main"]

ImageLike = Union[str, Path, np.ndarray]
#: An image at least this many times wider than tall is taken to be a cropped band.
BAND_ASPECT = 4.0


@dataclass
class MRZResult:
    """One read.

    Attributes:
        lines: The MRZ lines (after correction).
        format: ``TD1``, ``TD2``, ``TD3``, ``MRVA``, ``MRVB``; ``None`` if the read fits no format.
        fields: Parsed fields (fillers stripped; ``surname`` and ``given_names`` split).
        valid: Per check digit, whether it holds.
        all_valid: A format was recognised and every check digit holds.
        score: Mean confidence (softmax probability) of the characters read, in ``[0, 1]``.
        corrections: Characters changed by the correction rule, with the reason.
        raw_lines: The lines as the model read them.
        corners: The band's corners in the image (TL, TR, BR, BL), ``None`` for a cropped band.
    """

    lines: List[str]
    format: Optional[str]
    fields: Dict[str, str]
    valid: Dict[str, bool]
    all_valid: bool
    score: float
    corrections: List[Dict[str, Any]] = field(default_factory=list)
    raw_lines: List[str] = field(default_factory=list)
    corners: Optional[List[List[float]]] = None

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def ctc_greedy(logits: np.ndarray, alphabet: str, blank: int = 0) -> List[List[Any]]:
    """Greedy CTC of ``lines x steps x classes`` logits: per non-empty line, ``(text, char probabilities)``."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    best = probs.argmax(axis=-1)
    out = []
    for slot, p in zip(best, probs):
        keep = np.ones(len(slot), bool)
        keep[1:] = slot[1:] != slot[:-1]
        keep &= slot != blank
        if keep.any():
            idx = np.nonzero(keep)[0]
            out.append(["".join(alphabet[k] for k in slot[idx]), p[idx, slot[idx]]])
    return out


def _order(points: np.ndarray) -> np.ndarray:
    """Four points as TL, TR, BR, BL."""
    s, d = points.sum(axis=1), np.diff(points, axis=1)[:, 0]
    return np.float32([points[np.argmin(s)], points[np.argmin(d)], points[np.argmax(s)], points[np.argmax(d)]])


def find_band(gray: np.ndarray) -> Optional[np.ndarray]:
    """The MRZ band's corners (TL, TR, BR, BL, in pixels) on a page image, or ``None``.

    Dark text on a light page is brought out with a black-hat filter, horizontal
    gradients join characters into lines and lines into a block; the widest block
    that is much wider than tall, preferring the lowest, is the zone.
    """
    h, w = gray.shape
    scale = 800.0 / max(w, 1)
    small = cv2.resize(gray, (800, max(8, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    blackhat = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 7)))
    grad = np.abs(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    grad = (255 * (grad - grad.min()) / max(float(grad.max() - grad.min()), 1e-6)).astype(np.uint8)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 5)))
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 21)))
    mask = cv2.erode(mask, None, iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best, best_score = None, 0.0
    for contour in contours:
        rect = cv2.minAreaRect(contour)
        (cx, cy), (rw, rh), _ = rect
        long, short = max(rw, rh), max(min(rw, rh), 1.0)
        if long < 0.4 * small.shape[1] or long / short < 3.0:
            continue
        score = long * (1.0 + cy / small.shape[0])
        if score > best_score:
            best, best_score = rect, score
    if best is None:
        return None
    (cx, cy), (rw, rh), angle = best
    # Undo the erosion and leave a margin like the one the reader was trained with.
    grown = ((cx, cy), (rw + 0.04 * max(rw, rh) + 8, rh + 0.35 * min(rw, rh) + 8), angle)
    corners = _order(cv2.boxPoints(grown).astype(np.float32))
    return np.clip(corners / scale, [0, 0], [w - 1, h - 1]).astype(np.float32)


def decode_peaks(heatmaps: np.ndarray, stride: float) -> np.ndarray:
    """Sub-cell peaks of ``k x h x w`` heatmaps in image pixels (``k x 2``), the rule training decodes with
    (``otter.geometry.decode_heatmaps``: the arg-max cell, refined along each axis by the vertex of a
    parabola through the log of three neighbouring cells; exact for Gaussian peaks)."""
    return decode_heatmaps(heatmaps, stride)[0]


class BandFinder:
    """The exported band finder: a page photo in, the MRZ band's corners out.

    Args:
        model_path: The finder's ``.onnx`` file (``to_onnx finder``).
        providers: onnxruntime execution providers (default: CPU).
    """

    def __init__(self, model_path: Union[str, Path], providers: Optional[Sequence[str]] = None):
        self.model = OnnxModel(model_path, providers)
        if self.model.meta.get("task") != "mrz-finder":
            raise ValueError(f"{model_path}: not a band finder (metadata task is {self.model.meta.get('task')!r}; export config/finder.yaml)")
        self.height, self.width = self.model.image_size
        self.stride = float(self.model.meta.get("heatmap_stride", 4))

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        """Corners (TL, TR, BR, BL) in ``gray``'s pixels."""
        h, w = gray.shape
        small = cv2.resize(gray, (self.width, self.height), interpolation=cv2.INTER_AREA)
        heatmaps = self.model.run(small.astype(np.float32)[None, None] / 255.0)[0][0]
        points = decode_peaks(heatmaps, self.stride)
        # Pixel centres: x_out = (x_in + 0.5) * scale - 0.5.
        scale = np.array([w / self.width, h / self.height])
        return ((points + 0.5) * scale - 0.5).astype(np.float32)


class MRZReader:
    """Read MRZs with the exported reader.

    Args:
        model_path: The exported ``.onnx`` file.
        providers: onnxruntime execution providers (default: CPU).
        correct: Apply the confusable-character correction (see ``mrz_format.parse``).
        finder: The exported band finder's ``.onnx`` file; without it, pages are searched
            with OpenCV morphology (:func:`find_band`).

    Raises:
        otter.onnx_meta.OnnxFileError: the file is missing, onnxruntime cannot load it, or
            it lacks the metadata this module needs (a ``ValueError``).
    """

    def __init__(
        self,
        model_path: Union[str, Path],
        providers: Optional[Sequence[str]] = None,
        correct: bool = True,
        finder: Optional[Union[str, Path]] = None,
    ):
        self.model = OnnxModel(model_path, providers, require=("alphabet", "image_size", "blank_index"))
        self.meta = self.model.meta
        self.alphabet = str(self.meta["alphabet"])
        self.blank = int(self.meta["blank_index"])
        self.height, self.width = self.model.image_size
        self.correct = correct
        self.finder = BandFinder(finder, providers) if finder else None

    @staticmethod
    def _gray(image: ImageLike) -> np.ndarray:
        if isinstance(image, (str, Path)):
            data = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
            if data is None:
                raise ValueError(f"{image}: cannot be read as an image")
            return data
        array = np.asarray(image)
        if array.ndim == 3:
            # numpy images from Pillow are RGB; OpenCV's BGR gives nearly the same grey.
            array = cv2.cvtColor(array[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
        return array.astype(np.uint8)

    def band_image(self, image: ImageLike, band: Optional[bool] = None) -> tuple:
        """``(the rectified band, its corners or None)``; ``band=None`` decides by the aspect ratio."""
        gray = self._gray(image)
        h, w = gray.shape
        if band is None:
            band = w >= BAND_ASPECT * h
        corners = None if band else (self.finder(gray) if self.finder is not None else find_band(gray))
        if corners is None:
            return cv2.resize(gray, (self.width, self.height), interpolation=cv2.INTER_AREA), None
        dst = np.float32([[0, 0], [self.width - 1, 0], [self.width - 1, self.height - 1], [0, self.height - 1]])
        warped = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(corners, dst), (self.width, self.height), borderMode=cv2.BORDER_REPLICATE)
        return warped, corners

    def read_batch(self, bands: Sequence[np.ndarray]) -> List[MRZResult]:
        """Read rectified bands (grey uint8, the model's size)."""
        x = np.stack([b.astype(np.float32) / 255.0 for b in bands])[:, None]
        logits = self.model.run(x)[0]
        results = []
        for sample in logits:
            decoded = ctc_greedy(sample, self.alphabet, self.blank)
            raw = [text for text, _ in decoded]
            probs = np.concatenate([p for _, p in decoded]) if decoded else np.zeros(1)
            parsed = parse(raw, correct=self.correct)
            results.append(
                MRZResult(
                    lines=parsed.lines,
                    format=parsed.format,
                    fields=parsed.fields,
                    valid=parsed.valid,
                    all_valid=parsed.all_valid,
                    score=round(float(probs.mean()), 4),
                    corrections=parsed.corrections,
                    raw_lines=raw,
                )
            )
        return results

    def read(self, image: ImageLike, band: Optional[bool] = None) -> MRZResult:
        """Read one image: a page photo (the band is found first) or a cropped band.

        Args:
            image: A path, or a grey/RGB uint8 array.
            band: ``True``: the image is the band; ``False``: a page; ``None``: decide by aspect ratio.
        """
        crop, corners = self.band_image(image, band)
        result = self.read_batch([crop])[0]
        result.corners = None if corners is None else corners.round(1).tolist()
        return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.infer" if __package__ else "infer.py",
        description="Read the MRZ of document photos (or cropped MRZ bands) with an exported ONNX reader.",
    )
    parser.add_argument("model", help="the exported .onnx file")
    parser.add_argument("images", nargs="+", help="page photos or cropped bands")
    parser.add_argument("--finder", help="the exported band finder (.onnx); default: find the band with OpenCV morphology")
    parser.add_argument("--band", action="store_true", help="the images are already-cropped bands")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--no-correct", action="store_true", help="report the raw read, without correcting confusable characters")
    args = parser.parse_args(argv)
    try:
        reader = MRZReader(args.model, correct=not args.no_correct, finder=args.finder)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    status = 0
    for image in args.images:
        try:
            result = reader.read(image, band=True if args.band else None)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps({"image": image, **result.to_dict()}))
            continue
        verdict = "all check digits hold" if result.all_valid else "check digits FAIL: " + ", ".join(k for k, v in result.valid.items() if not v) if result.valid else "no MRZ format recognised"
        print(f"{image}: {result.format or '?'}  score {result.score:.3f}  {verdict}")
        for line in result.lines:
            print(f"  {line}")
        for c in result.corrections:
            print(f"  corrected line {c['line'] + 1} column {c['position'] + 1}: {c['from']} -> {c['to']} ({c['reason']})")
    return status


if __name__ == "__main__":
    sys.exit(main())
