"""Recognise document types with the exported ONNX model: register examples, then match.

Needs only onnxruntime, numpy and Pillow (no torch). The image size, the input
normalisation and a default match threshold are read from the ONNX file's metadata.

From Python::

    matcher = DocumentMatcher("runs/default/<run_id>/export/default_<date>_fp32.onnx")
    matcher.register("invoice", "examples/invoice.jpg")
    matcher.register("receipt", "examples/receipt.png")
    name, score = matcher.match("photo.jpg")  # name is None below the threshold

From the command line, in the folder that holds the project::

    python -m MyProj.infer model.onnx --register invoice=examples/invoice.jpg \\
        --register receipt=examples/receipt.png photo1.jpg photo2.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = ["DocumentMatcher", "read_metadata", "main"]

ImageLike = Union[str, Path, Image.Image, np.ndarray]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Used when the file carries no threshold (exported by something else).
DEFAULT_THRESHOLD = 0.5


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # plain strings are stored as they are


def read_metadata(session: Any) -> Dict[str, Any]:
    """The ONNX file's custom metadata, with JSON values decoded."""
    return {k: _decode(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


class DocumentMatcher:
    """Embed images with the exported model and match them to registered examples by cosine similarity.

    Args:
        model_path: The exported ``.onnx`` file.
        threshold: Lowest similarity that counts as a match; default: the one stored
            at export (chosen on unseen validation templates at a false-positive rate
            of 1e-2, see the metadata key ``threshold_fpr``).
        providers: onnxruntime execution providers (default: CPU).

    Raises:
        FileNotFoundError: ``model_path`` does not exist.
        ValueError: onnxruntime cannot load it.
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
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        size = self.meta.get("image_size") or model_input.shape[2:4]
        self.image_size: Tuple[int, int] = (int(size[0]), int(size[1]))
        # A named or missing batch dimension means any batch size is accepted.
        self.dynamic_batch = not isinstance(model_input.shape[0], int)
        norm = self.meta.get("normalize")
        self.mean = np.asarray(norm["mean"], np.float32).reshape(1, 3, 1, 1) if isinstance(norm, dict) else None
        self.std = np.asarray(norm["std"], np.float32).reshape(1, 3, 1, 1) if isinstance(norm, dict) else None
        self.threshold = float(threshold if threshold is not None else self.meta.get("threshold", DEFAULT_THRESHOLD))
        self.names: List[str] = []
        self._gallery = np.zeros((0, 0), np.float32)

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
        batch = array.transpose(2, 0, 1)[None]
        if self.mean is not None:
            batch = (batch - self.mean) / self.std
        return np.ascontiguousarray(batch, dtype=np.float32)

    def embed(self, images: Sequence[ImageLike]) -> np.ndarray:
        """``n x embed_dim`` unit vectors, one per image."""
        batch = np.concatenate([self.preprocess(im) for im in images])
        if self.dynamic_batch:
            out = self.session.run(None, {self.input_name: batch})[0]
        else:
            out = np.concatenate([self.session.run(None, {self.input_name: b[None]})[0] for b in batch])
        # The model normalises already; again here in case a raw-feature model is used.
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def register(self, name: str, image: ImageLike) -> None:
        """Add an example of document type ``name`` (several examples per name are fine)."""
        vector = self.embed([image])
        self._gallery = vector if not self.names else np.concatenate([self._gallery, vector])
        self.names.append(name)

    def scores(self, image: ImageLike) -> Dict[str, float]:
        """Cosine similarity of ``image`` to each registered name (its best example)."""
        if not self.names:
            raise ValueError("nothing registered yet; call register(name, image) first")
        sims = self._gallery @ self.embed([image])[0]
        best: Dict[str, float] = {}
        for name, sim in zip(self.names, sims.tolist()):
            best[name] = max(sim, best.get(name, -1.0))
        return best

    def match(self, image: ImageLike) -> Tuple[Optional[str], float]:
        """The registered name most similar to ``image`` and its score; the name is ``None`` below the threshold."""
        name, score = max(self.scores(image).items(), key=lambda item: item[1])
        return (name if score >= self.threshold else None), score


def _register_args(values: Sequence[str]) -> List[Tuple[str, Path]]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--register {value!r}: expected NAME=PATH")
        pairs.append((name, Path(path)))
    return pairs


def _gallery_args(root: Path) -> List[Tuple[str, Path]]:
    """``root/<name>/*.jpg|png`` -> (name, path) pairs."""
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
        description="Match document images to registered examples with an exported classifier ONNX model.",
    )
    parser.add_argument("model", help="the exported .onnx file")
    parser.add_argument("images", nargs="*", help="images to match")
    parser.add_argument("--register", action="append", default=[], metavar="NAME=PATH", help="an example of a document type (repeatable)")
    parser.add_argument("--gallery", type=Path, help="a folder of examples: GALLERY/<name>/*.jpg|png")
    parser.add_argument("--threshold", type=float, help="lowest similarity that matches (default: stored in the model)")
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
        matcher = DocumentMatcher(args.model, threshold=args.threshold)
        for name, path in examples:
            matcher.register(name, path)
        if not args.json:
            print(f"{len(examples)} examples of {len(set(matcher.names))} types registered; threshold {matcher.threshold:.4f}")
        for image in args.images:
            name, score = matcher.match(image)
            if args.json:
                print(json.dumps({"image": image, "match": name, "score": round(score, 6)}))
            else:
                print(f"{image}\t{name if name is not None else '(no match)'}\t{score:.4f}")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
