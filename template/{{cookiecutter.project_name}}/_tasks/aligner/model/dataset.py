"""Datasets of the aligner: synthetic document photos, unseen-design validation, a real labelled folder.

Every dataset returns a dict:

* ``image``: ``3 x H x W`` float in ``[0, 1]`` (the model's input size);
* ``heatmaps``: ``4 x h x w`` Gaussian targets at ``heatmap_stride`` (all zero when
  there is no document);
* ``corners``: ``4 x 2`` TL, TR, BR, BL in the *original* photo's pixels;
* ``size``: ``(width, height)`` of the original photo;
* ``has_doc``: 1.0 when a document is in the photo, else 0.0.

The synthetic photos come from :mod:`otter.photo`: pages of a *design* (its
layout, paper and shape are a pure function of the design id and the seed) on a
*background*, through a random homography, with occluders, shadows, glare, blur,
noise and JPEG. Pages and backgrounds are drawn once per process and reused
(cheap per-sample warps); validation uses design and background ids training
never draws, and the same photos every epoch.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from otter import DATASETS, OtterConfigError, OtterError
from otter.geometry import render_heatmaps, scale_points
from otter.photo import PAGE_SHAPES, photograph, random_quad, render_background, render_page

__all__ = ["SynthAlignDataset", "SynthAlignValidDataset", "RealAlignDataset", "page_design", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Validation designs and backgrounds start here, far above any training id.
VALID_FIRST_ID = 1_000_000
#: Pages and backgrounds kept per process (a page at the default size is ~60 KiB).
BANK_SIZE = 4096
#: Labels may lie this far outside the image (fraction of its size) before they count as wrong.
OUTSIDE_TOLERANCE = 0.25
#: Page kinds and how often a design is of each.
KIND_WEIGHTS = {"a4": 0.45, "letter": 0.15, "card": 0.25, "receipt": 0.05, "square": 0.10}

Size = Tuple[int, int]


def _size(image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``[height, width]`` (or an int) -> ``(height, width)``."""
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = (int(v) for v in image_size)
    return height, width


@functools.lru_cache(maxsize=BANK_SIZE)
def page_design(design: int, seed: int, long_side: int) -> np.ndarray:
    """The page of design ``design``: layout, paper and shape fixed by ``(design, seed)``.

    Returns:
        ``h x w x 3`` uint8, the longer side ``long_side``; cached, do not modify.
    """
    rng = np.random.default_rng([seed, design, 7])
    kinds = list(KIND_WEIGHTS)
    kind = kinds[int(rng.choice(len(kinds), p=list(KIND_WEIGHTS.values())))]
    aspect = PAGE_SHAPES[kind]
    if kind != "card" and rng.random() < 0.2:
        aspect = 1 / aspect  # landscape
    width, height = (long_side, max(8, round(long_side / aspect))) if aspect >= 1 else (max(8, round(long_side * aspect)), long_side)
    page = render_page(rng, (width, height), kind)
    page.setflags(write=False)
    return page


@functools.lru_cache(maxsize=BANK_SIZE)
def _background(index: int, seed: int, width: int, height: int) -> np.ndarray:
    background = render_background(np.random.default_rng([seed, index, 11]), (width, height))
    background.setflags(write=False)
    return background


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` uint8 -> ``3 x H x W`` float in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


class _AlignSamples:
    """What every aligner dataset shares: resizing to the input, heatmap targets, the sample dict."""

    #: The config section the dataset usually comes from, for the key path in errors.
    SPLIT = "train"

    def __init__(self, image_size: Union[int, Sequence[int]], heatmap_stride: int, sigma: float):
        self.image_size = _size(image_size)
        height, width = self.image_size
        if heatmap_stride < 1 or height % heatmap_stride or width % heatmap_stride:
            raise OtterConfigError(
                f"must divide the image size {height}x{width}, got {heatmap_stride}", key=self._key("heatmap_stride")
            )
        if sigma <= 0:
            raise OtterConfigError(f"must be > 0, got {sigma}", key=self._key("sigma"))
        self.heatmap_stride = int(heatmap_stride)
        self.sigma = float(sigma)
        self.heatmap_size = (height // heatmap_stride, width // heatmap_stride)

    @classmethod
    def _key(cls, option: str) -> str:
        return f"dataset.{cls.SPLIT}_options.options.{option}"

    def _sample(self, photo: np.ndarray, corners: Optional[np.ndarray]) -> Dict[str, Any]:
        """The dict of one photo (any size) and its corners in its own pixels (None: no document)."""
        orig_h, orig_w = photo.shape[:2]
        height, width = self.image_size
        image = photo if (orig_h, orig_w) == (height, width) else cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
        if corners is None:
            heatmaps = np.zeros((4, *self.heatmap_size), np.float32)
            corners = np.zeros((4, 2))
        else:
            inside = scale_points(corners, (orig_w, orig_h), (width, height))
            heatmaps = render_heatmaps(inside, self.heatmap_size, self.heatmap_stride, self.sigma)
        return {
            "image": to_tensor(image),
            "heatmaps": torch.from_numpy(heatmaps),
            "corners": torch.as_tensor(corners, dtype=torch.float32),
            "size": torch.tensor([orig_w, orig_h], dtype=torch.float32),
            "has_doc": torch.tensor(1.0 if corners.any() else 0.0),
        }


@DATASETS.register()
class SynthAlignDataset(_AlignSamples, Dataset):
    """Synthetic photos of documents for training, generated offline.

    Each sample draws a design from ``num_designs``, a background from
    ``num_backgrounds``, a page placement (scale, rotation, perspective, corners
    partly outside with probability ``outside_ratio``) and the photo effects. The
    randomness comes from Python's ``random``, which Lightning's seeding and each
    DataLoader worker set, so a seeded run repeats.

    Args:
        image_size: Model input ``[height, width]``; training photos are made at this size.
        length_of_dataset: Samples per epoch.
        num_designs: Page designs to draw from (ids ``first_id ...``).
        num_backgrounds: Backgrounds to draw from.
        seed: The family of designs and backgrounds.
        heatmap_stride: Input pixels per heatmap cell.
        sigma: Gaussian target's standard deviation, in heatmap cells.
        scale: Range of the page's size relative to the photo (its longer side).
        max_rotation: Largest in-plane rotation, degrees (below 45: corner order stays geometric).
        perspective: Largest corner displacement, fraction of the page size.
        outside_ratio: Fraction of photos with corners allowed outside, up to ``outside`` of the photo size.
        outside: See ``outside_ratio``.
        empty_ratio: Fraction of photos without a document (teaches a low score).
        effects: Probability of each photometric effect.
        occlusion: Probability of an object over part of the page's edge.
        squash: Largest anisotropic stretch (a 4:3 photo resized to a square input).
        page_long_side: Pages are drawn this large before warping.
        first_id: The first design and background id.
    """

    def __init__(
        self,
        image_size: Union[int, Sequence[int]] = (128, 128),
        length_of_dataset: int = 8192,
        num_designs: int = 2000,
        num_backgrounds: int = 1000,
        seed: int = 0,
        heatmap_stride: int = 4,
        sigma: float = 1.5,
        scale: Sequence[float] = (0.35, 0.98),
        max_rotation: float = 25.0,
        perspective: float = 0.12,
        outside_ratio: float = 0.1,
        outside: float = 0.06,
        empty_ratio: float = 0.02,
        effects: float = 0.8,
        occlusion: float = 0.3,
        squash: float = 1.35,
        page_long_side: int = 192,
        first_id: int = 0,
    ):
        super().__init__(image_size, heatmap_stride, sigma)
        for name, value in (("outside_ratio", outside_ratio), ("empty_ratio", empty_ratio), ("effects", effects), ("occlusion", occlusion)):
            if not 0.0 <= value <= 1.0:
                raise OtterConfigError(f"must be in [0, 1], got {value}", key=self._key(name))
        if num_designs < 1 or num_backgrounds < 1:
            raise OtterConfigError("needs at least one design and one background", key=self._key("num_designs"))
        lo, hi = (float(v) for v in scale)
        if not 0 < lo <= hi <= 1.5:
            raise OtterConfigError(f"must be [low, high] with 0 < low <= high <= 1.5, got {list(scale)}", key=self._key("scale"))
        self.length_of_dataset = int(length_of_dataset)
        self.num_designs, self.num_backgrounds = int(num_designs), int(num_backgrounds)
        self.seed, self.first_id = int(seed), int(first_id)
        self.scale = (lo, hi)
        self.max_rotation, self.perspective = float(max_rotation), float(perspective)
        self.outside_ratio, self.outside = float(outside_ratio), float(outside)
        self.empty_ratio, self.effects, self.occlusion = float(empty_ratio), float(effects), float(occlusion)
        self.squash = max(1.0, float(squash))
        self.page_long_side = int(page_long_side)

    def __len__(self) -> int:
        return self.length_of_dataset

    def photo(self, rng: np.random.Generator, size: Size, design: int, background: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """One photo of ``size`` ``(width, height)`` and its corners (None without a document)."""
        width, height = size
        bg = _background(self.first_id + background, self.seed, width, height)
        # Flips and a colour shift make more backgrounds out of each drawn one.
        bg = bg[:: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
        bg = np.clip(bg.astype(np.int16) + rng.integers(-25, 26, 3).astype(np.int16), 0, 255).astype(np.uint8)
        if rng.random() < self.empty_ratio:
            return photograph(rng, None, bg, None, self.effects, self.occlusion), None
        page = page_design(self.first_id + design, self.seed, self.page_long_side)
        if rng.random() < 0.5:  # the same design in another paper tint
            page = np.clip(page * rng.uniform(0.85, 1.05, 3), 0, 255).astype(np.uint8)
        aspect = page.shape[1] / page.shape[0] * float(np.exp(rng.uniform(-np.log(self.squash), np.log(self.squash))))
        outside = self.outside if rng.random() < self.outside_ratio else 0.0
        quad = random_quad(rng, size, aspect, self.scale, self.max_rotation, self.perspective, outside)
        return photograph(rng, page, bg, quad, self.effects, self.occlusion), quad

    def __getitem__(self, index: int) -> Dict[str, Any]:
        # A private stream per sample, drawn from the worker-seeded global RNG.
        rng = np.random.default_rng(random.getrandbits(64))
        height, width = self.image_size
        photo, quad = self.photo(rng, (width, height), int(rng.integers(self.num_designs)), int(rng.integers(self.num_backgrounds)))
        return self._sample(photo, quad)


#: The options that shape a photo, shared by the training and the validation set (same defaults).
PHOTO_OPTIONS = (
    "heatmap_stride", "sigma", "scale", "max_rotation", "perspective", "outside_ratio", "outside", "effects", "occlusion",
    "page_long_side",
)


@DATASETS.register()
class SynthAlignValidDataset(SynthAlignDataset):
    """Validation photos of page designs and backgrounds training never draws; the same every epoch.

    Photos are made at ``photo_size`` (the "original" photo, e.g. 4:3 or 3:4 at random)
    and resized to the input, so the metrics in original pixels include that resize.
    Samples are generated once and kept (a few MiB).

    Args:
        image_size: Model input ``[height, width]``.
        num_samples: Photos in the set.
        photo_size: ``[width, height]`` of the landscape original; portrait ones are its transpose.
        seed: Design family (use the training set's).
        first_id: First design/background id; far above training's by default.
        **photo: The photo options of :class:`SynthAlignDataset` (:data:`PHOTO_OPTIONS`: ``scale``, ``outside_ratio``, ...).
    """

    SPLIT = "valid"

    def __init__(
        self,
        image_size: Union[int, Sequence[int]] = (128, 128),
        num_samples: int = 512,
        photo_size: Sequence[int] = (256, 192),
        seed: int = 0,
        first_id: int = VALID_FIRST_ID,
        **photo: Any,
    ):
        unknown = sorted(set(photo) - set(PHOTO_OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        # Every photo once, each with its own design and background; always a document, never squashed.
        super().__init__(
            image_size=image_size, length_of_dataset=num_samples, num_designs=max(1, num_samples), num_backgrounds=max(1, num_samples),
            seed=seed, first_id=first_id, empty_ratio=0.0, squash=1.0, **photo,
        )
        self.photo_size = (int(photo_size[0]), int(photo_size[1]))
        self._cache: Dict[int, Dict[str, Any]] = {}

    def raw(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """The original photo (``H x W x 3`` uint8) and its corners, before resizing."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index, 97])
        size = self.photo_size if rng.random() < 0.5 else self.photo_size[::-1]
        photo, quad = self.photo(rng, size, index, index)
        return photo, quad

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if index not in self._cache:
            self._cache[index] = self._sample(*self.raw(index))
        return self._cache[index]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = {}  # workers rebuild their own
        return state


def _photo_signature() -> inspect.Signature:
    """The validation set's own parameters, then the photo options it passes on: what ``otter check``
    and ``help()`` read, so a misspelt option is reported before anything runs."""
    own = [p for p in inspect.signature(SynthAlignValidDataset.__init__).parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = inspect.signature(SynthAlignDataset.__init__).parameters
    return inspect.Signature([*own, *(shared[name].replace(kind=inspect.Parameter.KEYWORD_ONLY) for name in PHOTO_OPTIONS)])


SynthAlignValidDataset.__init__.__signature__ = _photo_signature()


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OtterError(f"{path}: cannot read this image (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _points(value: Any, where: str) -> np.ndarray:
    """Four ``[x, y]`` pairs (or eight numbers) -> ``4 x 2``; a one-line error otherwise."""
    try:
        pts = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise OtterError(f"{where}: corners must be numbers, got {value!r}") from None
    if pts.size % 2 or pts.ndim > 2 or (pts.ndim == 2 and pts.shape[1] != 2):
        raise OtterError(f"{where}: expected 4 points [[x, y], ...] (TL, TR, BR, BL), got shape {list(pts.shape)}")
    pts = pts.reshape(-1, 2)
    if len(pts) != 4:
        raise OtterError(f"{where}: expected 4 points (TL, TR, BR, BL), got {len(pts)}")
    if not np.isfinite(pts).all():
        raise OtterError(f"{where}: corners must be finite numbers")
    return pts


@DATASETS.register()
class RealAlignDataset(_AlignSamples, Dataset):
    """Photos with their four corners, from a folder.

    Layout (``root``)::

        images/<name>.jpg|png ...
        labels/<name>.json      {"corners": [[x, y], [x, y], [x, y], [x, y]]}   TL, TR, BR, BL

    or, instead of ``labels/``, one ``labels.csv`` with the header
    ``image,x1,y1,x2,y2,x3,y3,x4,y4`` (``image`` relative to ``images/``). Points are
    in the image's own pixels. Every label is checked when the dataset is built:
    a photo without a label, a label with another number of points, or points more
    than a quarter of the image outside it stop training with one line naming the file.

    Args:
        root: The folder.
        image_size: Model input ``[height, width]``.
        heatmap_stride: Input pixels per heatmap cell.
        sigma: Gaussian target's standard deviation, in heatmap cells.
        aug_ratio: Fraction of samples augmented (random perspective, colour, blur); 0 for validation.
        length_of_dataset: Samples per epoch, cycling through the photos (None: one pass
            over them); for small sets, a longer epoch means fewer validation runs.
        num_samples: Use only the first this many photos, sorted by path (None: all).

    Raises:
        OtterConfigError: ``root`` is unset, missing, or has no images.
        OtterError: a label problem, naming the label file (or CSV row) and the image.
    """

    SPLIT = "valid"

    def __init__(
        self,
        root: Optional[str] = None,
        image_size: Union[int, Sequence[int]] = (128, 128),
        heatmap_stride: int = 4,
        sigma: float = 1.5,
        aug_ratio: float = 0.0,
        length_of_dataset: Optional[int] = None,
        num_samples: Optional[int] = None,
    ):
        super().__init__(image_size, heatmap_stride, sigma)
        expected = "images/ with one labels/<name>.json per image or one labels.csv (see the README)"
        if not root:
            raise OtterConfigError(f"not set; expected a folder with {expected}", key=self._key("root"))
        self.root = Path(root).expanduser()
        images_dir = self.root / "images"
        if not images_dir.is_dir():
            raise OtterConfigError(f"{self.root} has no images/ folder; expected {expected}", key=self._key("root"))
        images = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not images:
            raise OtterConfigError(f"{images_dir} has no images; expected {expected}", key=self._key("root"))
        if not 0.0 <= aug_ratio <= 1.0:
            raise OtterConfigError(f"must be in [0, 1], got {aug_ratio}", key=self._key("aug_ratio"))
        self.aug_ratio = float(aug_ratio)
        if num_samples is not None:
            images = images[: int(num_samples)]
        self.length_of_dataset = int(length_of_dataset) if length_of_dataset else None
        labels = self._read_csv(self.root / "labels.csv") if (self.root / "labels.csv").is_file() else None
        self.samples: List[Tuple[Path, np.ndarray]] = []
        for path in images:
            rel = path.relative_to(images_dir).as_posix()
            if labels is not None:
                if rel not in labels:
                    raise OtterError(f"{self.root / 'labels.csv'}: no row for image {rel}")
                where, corners = labels[rel]
            else:
                label = self.root / "labels" / Path(rel).with_suffix(".json")
                if not label.is_file():
                    raise OtterError(f"{label}: missing label for {path} (expected {{\"corners\": [[x, y], x4]}})")
                where = str(label)
                try:
                    data = json.loads(label.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError) as e:
                    raise OtterError(f"{label}: not valid JSON ({e})") from None
                if not isinstance(data, dict) or "corners" not in data:
                    raise OtterError(f"{label}: expected an object with a \"corners\" key")
                corners = _points(data["corners"], f"{label}: corners")
            self._check_inside(corners, path, where)
            self.samples.append((path, corners))

    @staticmethod
    def _read_csv(path: Path) -> Dict[str, Tuple[str, np.ndarray]]:
        rows: Dict[str, Tuple[str, np.ndarray]] = {}
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = ["image"] + [f"{a}{i}" for i in range(1, 5) for a in "xy"]
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise OtterError(f"{path}: header must be {','.join(columns)}; missing {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                values = [row[c] for c in columns[1:]]
                if any(v in (None, "") for v in values):
                    raise OtterError(f"{path}:{line}: expected 4 points (8 numbers), some are empty")
                rows[row["image"]] = (f"{path}:{line}", _points([float(v) for v in values], f"{path}:{line}"))
        return rows

    @staticmethod
    def _check_inside(corners: np.ndarray, image: Path, where: str) -> None:
        from PIL import Image

        try:
            with Image.open(image) as im:  # reads the header only
                w, h = im.size
        except OSError:
            raise OtterError(f"{image}: cannot read this image (corrupt or not an image)") from None
        margin = OUTSIDE_TOLERANCE * np.array([w, h])
        if (corners < -margin).any() or (corners > np.array([w, h]) + margin).any():
            raise OtterError(
                f"{where}: points {np.round(corners, 1).tolist()} lie far outside the {w}x{h} image {image.name} "
                "(expected pixels of that image, TL, TR, BR, BL)"
            )

    def __len__(self) -> int:
        return self.length_of_dataset or len(self.samples)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        path, corners = self.samples[index % len(self.samples)]
        image = _read_image(path)
        if self.aug_ratio and random.random() < self.aug_ratio:
            image, corners = self._augment(image, corners)
        return self._sample(image, corners)

    @staticmethod
    def _augment(image: np.ndarray, corners: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """A random homography of the whole photo (corners follow), then colour and blur."""
        from otter.geometry import apply_homography, homography

        h, w = image.shape[:2]
        rng = np.random.default_rng(random.getrandbits(64))
        frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
        moved = frame + rng.uniform(-0.06, 0.06, (4, 2)) * [w, h]
        matrix = homography(frame, moved)
        image = cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)
        corners = apply_homography(matrix, corners)
        image = np.clip(image * rng.uniform(0.75, 1.2, 3) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            image = cv2.GaussianBlur(image, (3, 3), 0)
        return image, corners
