"""Datasets of the classifier: synthetic document templates, unseen-template validation, a real folder.

Every dataset returns ``(image, label)``: a float tensor ``3 x H x W`` in ``[0, 1]``
(or the ``H x W x 3`` uint8 array with ``return_tensor: false``) and an int class id;
``dataset.class_names[label]`` names the class.

The synthetic data is a family of document *templates* (a light page with coloured
bars, boxes, a logo, labelled text fields...). A template id and a seed decide the
layout, so the same id gives the same template in every process; each sample is one
filled-in, photographed-looking instance of it (new field values, then a random
perspective, shift/scale/rotation, colour, blur and noise). The model learns to tell
templates apart; validation uses template ids training never sees.
"""

from __future__ import annotations

import colorsys
import contextlib
import functools
import random
import string
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

from otter import DATASETS, BorderValueMixin, FillValueMixin, OtterConfigError
from otter.imagecheck import check_images

__all__ = [
    "SynthDataset",
    "SynthValidDataset",
    "RealDataset",
    "render_template",
    "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Validation templates start here, far above any training id, so the two never share a template.
VALID_FIRST_TEMPLATE = 1_000_000
#: Rendered templates kept per process; each is a few tens of KiB at the default sizes.
TEMPLATE_CACHE_SIZE = 2048

Color = Tuple[int, int, int]
Box = Tuple[int, int, int, int]


class Field(NamedTuple):
    """A part of a template whose content changes from one document to the next."""

    kind: str  # "text", "photo", "barcode" or "signature"
    box: Box
    color: Color
    size: int  # font size (text) or stroke width


# --------------------------------------------------------------------------- #
# Template rendering
# --------------------------------------------------------------------------- #


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's built-in scalable font: no font file to ship or download.
    return ImageFont.load_default(size=max(4, size))


#: Lines of random text pre-rendered per font size; field values are cut from them.
TEXT_BANK_LINES = 8


@functools.lru_cache(maxsize=64)
def _text_bank(size: int) -> Tuple[Image.Image, ...]:
    """Masks of long random text lines at one font size.

    Filling a field pastes a random stretch of one of them: the same look as drawing
    new text, at a tenth of the cost of rendering glyphs for every sample.
    """
    rng = random.Random(f"otter-text-bank/{size}")
    font = _font(size)
    lines = []
    for _ in range(TEXT_BANK_LINES):
        text = _words(rng, 80)
        left, top, right, bottom = font.getbbox(text)
        mask = Image.new("L", (right, bottom))
        ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
        lines.append(mask)
    return tuple(lines)


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _words(rng: random.Random, n_chars: int) -> str:
    alphabet = string.ascii_uppercase + string.digits + "    "
    return "".join(rng.choice(alphabet) for _ in range(n_chars)).strip() or "A"


def _draw_pattern(draw: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int, color: Color) -> None:
    """A faint security-print style background (stripes, rings, waves or dots)."""
    kind = rng.choice(["none", "stripes", "rings", "waves", "dots", "grid"])
    step = max(3, int(min(w, h) * rng.uniform(0.04, 0.1)))
    if kind == "stripes":
        for x in range(-h, w, step):
            draw.line([(x, 0), (x + h, h)], fill=color, width=1)
    elif kind == "rings":
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        for r in range(step, 2 * max(w, h), step):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=1)
    elif kind == "waves":
        amp, period = rng.uniform(0.02, 0.06) * h, rng.uniform(0.2, 0.5) * w
        for y0 in range(0, h, step):
            pts = [(x, y0 + amp * np.sin(2 * np.pi * x / period)) for x in range(0, w + 4, 4)]
            draw.line(pts, fill=color, width=1)
    elif kind == "dots":
        for y in range(step // 2, h, step):
            for x in range(step // 2, w, step):
                draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=color)
    elif kind == "grid":
        for x in range(0, w, step):
            draw.line([(x, 0), (x, h)], fill=color, width=1)
        for y in range(0, h, step):
            draw.line([(0, y), (w, y)], fill=color, width=1)


def _draw_logo(draw: ImageDraw.ImageDraw, rng: random.Random, cx: float, cy: float, r: float, color: Color) -> None:
    kind = rng.choice(["circle", "square", "triangle", "star", "diamond", "ring", "hexagon", "shield"])
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif kind == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(1, int(r / 3)))
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif kind == "shield":
        draw.polygon([(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=color)
    else:
        corners = {"triangle": 3, "diamond": 4, "hexagon": 6, "star": 10}[kind]
        angles = np.linspace(0, 2 * np.pi, corners, endpoint=False) + rng.uniform(0, np.pi)
        radii = [r if kind != "star" or i % 2 == 0 else r * 0.45 for i in range(corners)]
        draw.polygon([(cx + q * np.cos(a), cy + q * np.sin(a)) for q, a in zip(radii, angles)], fill=color)


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def render_template(template_id: int, seed: int, width: int, height: int) -> Tuple[Image.Image, Tuple[Field, ...]]:
    """Draw the fixed part of a document template, and list its variable fields.

    The layout is a pure function of ``(template_id, seed)``: positions are drawn in
    page-relative units, so one template looks the same at every size.

    Args:
        template_id: Which template; any int.
        seed: Selects a family of templates (the dataset's ``seed``).
        width: Page width in pixels.
        height: Page height in pixels.

    Returns:
        ``(page, fields)``: the page without field contents (do not draw on it: it is
        cached; copy it first), and the fields to fill per document.

    >>> page, fields = render_template(3, seed=0, width=192, height=192)
    >>> page.size
    (192, 192)
    """
    # A string seed is hashed the same way in every process (unlike hash() of a tuple).
    rng = random.Random(f"otter-template/{seed}/{template_id}")
    w, h = width, height
    hue = rng.random()
    accent_hue = (hue + rng.uniform(0.25, 0.75)) % 1.0
    paper = _hsv(hue, rng.uniform(0.0, 0.3), rng.uniform(0.86, 1.0))
    page = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(page)
    _draw_pattern(draw, rng, w, h, _hsv(hue, rng.uniform(0.1, 0.4), rng.uniform(0.7, 0.88)))
    main = _hsv(hue, rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.85))
    accent = _hsv(accent_hue, rng.uniform(0.5, 1.0), rng.uniform(0.35, 0.9))
    ink = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.3))
    fields: List[Field] = []

    # Header and footer bars: the largest, most visible marks of a document type.
    top, bottom, left, right = 0.04 * h, 0.96 * h, 0.05 * w, 0.95 * w
    if rng.random() < 0.8:
        bar_h = rng.uniform(0.08, 0.26) * h
        draw.rectangle([0, 0, w, bar_h], fill=main)
        if rng.random() < 0.5:
            draw.rectangle([0, bar_h, w, bar_h + rng.uniform(0.01, 0.03) * h], fill=accent)
        if rng.random() < 0.8:
            size = max(5, int(bar_h * rng.uniform(0.3, 0.55)))
            x = rng.uniform(0.05, 0.4) * w
            draw.text((x, bar_h * 0.2), _words(rng, rng.randint(5, 14)), fill=paper, font=_font(size))
        top = bar_h + 0.05 * h
    if rng.random() < 0.45:
        foot_h = rng.uniform(0.05, 0.15) * h
        draw.rectangle([0, h - foot_h, w, h], fill=rng.choice([main, accent]))
        bottom = h - foot_h - 0.04 * h
    if rng.random() < 0.25:
        side_w = rng.uniform(0.05, 0.14) * w
        if rng.random() < 0.5:
            draw.rectangle([0, 0, side_w, h], fill=accent)
            left = side_w + 0.04 * w
        else:
            draw.rectangle([w - side_w, 0, w, h], fill=accent)
            right = w - side_w - 0.04 * w

    # A photo on one side; its content differs per document.
    if rng.random() < 0.6 and right - left > 0.5 * w and bottom - top > 0.3 * h:
        pw = rng.uniform(0.22, 0.34) * w
        ph = min(bottom - top, pw * rng.uniform(1.0, 1.4) * h / w)
        on_left = rng.random() < 0.6
        x0 = left if on_left else right - pw
        y0 = top + rng.uniform(0.0, max(0.0, bottom - top - ph))
        box = (int(x0), int(y0), int(x0 + pw), int(y0 + ph))
        draw.rectangle(box, outline=main, width=max(1, w // 96))
        fields.append(Field("photo", box, _hsv(rng.random(), 0.15, 0.8), 0))
        if on_left:
            left = x0 + pw + 0.04 * w
        else:
            right = x0 - 0.04 * w

    # Label / value rows: labels are printed on the form, values are filled in.
    rows = rng.randint(2, 7)
    row_h = (bottom - top) / (rows + rng.uniform(0.5, 2.0))
    font_size = max(5, int(row_h * rng.uniform(0.35, 0.6)))
    label_w = rng.uniform(0.2, 0.4) * (right - left)
    two_lines = rng.random() < 0.35  # label above value instead of beside it
    y = top + rng.uniform(0.0, 0.5) * row_h
    for _ in range(rows):
        if y + row_h > bottom + 1:
            break
        draw.text((left, y), _words(rng, rng.randint(3, 9)), fill=accent if rng.random() < 0.4 else ink, font=_font(font_size))
        if two_lines:
            vbox = (int(left), int(y + row_h * 0.45), int(right), int(y + row_h))
        else:
            vbox = (int(left + label_w), int(y), int(right), int(y + row_h * 0.8))
        if rng.random() < 0.3:
            draw.line([(vbox[0], vbox[3]), (vbox[2], vbox[3])], fill=main, width=1)
        fields.append(Field("text", vbox, ink, font_size))
        y += row_h

    # Extras that make templates differ in a coarse way: boxes, a table, a stamp, a code strip.
    for _ in range(rng.randint(0, 3)):
        bw, bh = rng.uniform(0.1, 0.45) * w, rng.uniform(0.06, 0.25) * h
        x0, y0 = rng.uniform(0.0, w - bw), rng.uniform(top, max(top, h - bh))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=_hsv(rng.choice([hue, accent_hue]), rng.uniform(0.15, 0.5), rng.uniform(0.75, 0.95)))
        else:
            draw.rectangle([x0, y0, x0 + bw, y0 + bh], outline=rng.choice([main, accent, ink]), width=max(1, w // 128))
    if rng.random() < 0.25:
        x0, y0 = rng.uniform(0.05, 0.5) * w, rng.uniform(0.45, 0.7) * h
        tw, th = rng.uniform(0.35, 0.5) * w, rng.uniform(0.15, 0.28) * h
        cols, trs = rng.randint(2, 4), rng.randint(2, 4)
        for i in range(cols + 1):
            draw.line([(x0 + tw * i / cols, y0), (x0 + tw * i / cols, y0 + th)], fill=main, width=1)
        for j in range(trs + 1):
            draw.line([(x0, y0 + th * j / trs), (x0 + tw, y0 + th * j / trs)], fill=main, width=1)
    if rng.random() < 0.3:
        r = rng.uniform(0.07, 0.13) * min(w, h)
        cx, cy = rng.uniform(0.55, 0.9) * w, rng.uniform(0.55, 0.9) * h
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=accent, width=max(1, int(r / 6)))
    if rng.random() < 0.3:
        strip_h = rng.uniform(0.08, 0.16) * h
        y0 = h - strip_h - rng.uniform(0.01, 0.05) * h
        kind = rng.choice(["barcode", "text"])
        fields.append(Field(kind, (int(0.05 * w), int(y0), int(0.95 * w), int(y0 + strip_h)), ink, max(5, int(strip_h * 0.4))))
    if rng.random() < 0.3:
        fields.append(Field("signature", (int(0.55 * w), int(0.75 * h), int(0.92 * w), int(0.9 * h)), ink, max(1, w // 100)))

    # The logo goes last so it sits on top of the header like a printed emblem.
    if rng.random() < 0.85:
        r = rng.uniform(0.05, 0.12) * min(w, h)
        cx = rng.choice([rng.uniform(0.08, 0.25), rng.uniform(0.75, 0.92), rng.uniform(0.3, 0.7)]) * w
        cy = rng.uniform(0.06, 0.2) * h if rng.random() < 0.7 else rng.uniform(0.3, 0.85) * h
        _draw_logo(draw, rng, cx, cy, r, rng.choice([accent, main, _hsv(rng.random(), 0.9, 0.8)]))
    return page, tuple(fields)


def fill_fields(page: Image.Image, fields: Sequence[Field], rng: random.Random) -> Image.Image:
    """One filled-in document: ``page`` (copied) with new values in its fields."""
    page = page.copy()
    draw = ImageDraw.Draw(page)
    for field in fields:
        x0, y0, x1, y1 = field.box
        if field.kind == "text":
            line = rng.choice(_text_bank(field.size))
            length = max(2, min(line.width, int((x1 - x0) * rng.uniform(0.3, 0.95))))
            start = rng.randrange(0, max(1, line.width - length))
            page.paste(field.color, (x0, y0), line.crop((start, 0, start + length, line.height)))
        elif field.kind == "photo":
            # A head and shoulders in front of a plain backdrop.
            bw, bh = x1 - x0, y1 - y0
            draw.rectangle(field.box, fill=_hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.6, 0.95)))
            skin = _hsv(rng.uniform(0.02, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.95))
            cloth = _hsv(rng.random(), rng.uniform(0.0, 0.8), rng.uniform(0.1, 0.8))
            draw.ellipse([x0 + 0.1 * bw, y0 + 0.7 * bh, x1 - 0.1 * bw, y1 + 0.5 * bh], fill=cloth)
            draw.ellipse([x0 + 0.3 * bw, y0 + 0.15 * bh, x1 - 0.3 * bw, y0 + 0.7 * bh], fill=skin)
            draw.rectangle(field.box, outline=field.color, width=1)
        elif field.kind == "barcode":
            x = x0
            while x < x1:
                bar = rng.randint(1, 3)
                if rng.random() < 0.55:
                    draw.rectangle([x, y0, min(x1, x + bar - 1), y1], fill=field.color)
                x += bar
        elif field.kind == "signature":
            pts = [(x0 + (x1 - x0) * t, rng.uniform(y0, y1)) for t in np.linspace(0, 1, rng.randint(5, 10))]
            draw.line(pts, fill=field.color, width=field.size)
    return page


# --------------------------------------------------------------------------- #
# Augmentation
# --------------------------------------------------------------------------- #


def photo_transform(height: int, width: int) -> A.Compose:
    """A document crop as a phone would take it: slight perspective, offset, blur, colour, noise.

    Geometry and blur run at the rendering size; colour, noise and JPEG after the
    resize, where they cost a quarter as much and look the same.
    """
    return A.Compose(
        [
            A.Perspective(scale=(0.02, 0.07), p=0.7),
            A.Affine(scale=(0.88, 1.08), translate_percent=(-0.06, 0.06), rotate=(-8, 8), shear=(-4, 4), p=0.8),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 5))], p=0.3),
            A.Resize(height, width, interpolation=cv2.INTER_AREA),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
            A.ImageCompression(quality_range=(40, 90), p=0.2),
        ]
    )


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` uint8 -> ``3 x H x W`` float in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


@contextlib.contextmanager
def _python_random_seeded(seed: int) -> Iterator[None]:
    """Seed the global ``random`` (which the border/fill mixins read) for a block, then restore it."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _size(image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = (int(v) for v in image_size)
    return height, width


class _Augmenter(BorderValueMixin, FillValueMixin):
    """Shared sample pipeline: augment (random border handling), resize, to tensor."""

    #: The config section the dataset usually comes from, for the key path in errors.
    SPLIT = "train"

    def __init__(self, image_size: Union[int, Sequence[int]], aug_ratio: float, return_tensor: bool):
        if not 0.0 <= aug_ratio <= 1.0:
            raise OtterConfigError(f"must be in [0, 1], got {aug_ratio}", key=self._key("aug_ratio"))
        self.image_size = _size(image_size)
        self.aug_ratio = float(aug_ratio)
        self.return_tensor = return_tensor
        self._transform: Optional[A.Compose] = None
        self._resize: Optional[A.Compose] = None

    @classmethod
    def _key(cls, option: str) -> str:
        return f"dataset.{cls.SPLIT}_options.options.{option}"

    def __getstate__(self) -> dict:
        # Transforms are rebuilt in each DataLoader worker; only plain settings travel.
        state = dict(self.__dict__)
        state["_transform"] = state["_resize"] = None
        return state

    def _augment(self, image: np.ndarray, rng: random.Random) -> np.ndarray:
        """Resize ``image``, and with probability ``aug_ratio`` augment it first.

        Args:
            image: ``H x W x 3`` uint8.
            rng: This sample's random stream; the augmentation is seeded from it, so a
                sample's view depends on the sample alone (a resumed run repeats it).
        """
        height, width = self.image_size
        if rng.random() >= self.aug_ratio:
            if self._resize is None:
                self._resize = A.Compose([A.Resize(height, width, interpolation=cv2.INTER_AREA)])
            return self._resize(image=image)["image"]
        if self._transform is None:
            self._transform = photo_transform(height, width)
            # Two generators shared by every step of the pipeline, re-seeded per sample below
            # (about 0.2 ms; Compose.set_random_seed builds new ones per step, about 1 ms).
            self._np_random, self._py_random = np.random.Generator(np.random.PCG64(0)), random.Random(0)
            self._transform.set_random_state(self._np_random, self._py_random)
        seed = rng.getrandbits(64)
        self._py_random.seed(seed)
        self._np_random.bit_generator.state = np.random.PCG64(seed).state
        # One pipeline per worker, re-pointed at this sample's border values
        # (rebuilding it per sample costs as much as running it).
        border_mode, fill = self.border_mode, tuple(self.value)
        for t in self._transform.transforms:
            if hasattr(t, "border_mode"):
                t.border_mode, t.fill = border_mode, fill
        return self._transform(image=image)["image"]

    def _output(self, image: np.ndarray) -> Union[torch.Tensor, np.ndarray]:
        return to_tensor(image) if self.return_tensor else image


def _scan_images(root: Path) -> List[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _load_rgb(path: Path, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None:
            im = im.resize(size, Image.BILINEAR)
        return np.asarray(im)


# --------------------------------------------------------------------------- #
# Datasets
# --------------------------------------------------------------------------- #


@DATASETS.register()
class SynthDataset(_Augmenter, Dataset):
    """Synthetic document templates for training, one class per template, generated offline.

    Sample ``i`` shows template ``first_template + i % num_classes``: a new filled-in
    instance each time, augmented with probability ``aug_ratio``. Randomness comes from
    Python's ``random``, which Lightning's seeding and each DataLoader worker set, so a
    seeded run repeats.

    Args:
        image_size: Output ``[height, width]`` (an int for a square).
        length_of_dataset: Samples per epoch.
        aug_ratio: Fraction of samples that get the photo-like augmentation.
        num_classes: Number of templates (classes).
        seed: Chooses the family of templates; training and validation must share it.
        use_imagenet: Add every image under ``imagenet_root`` as one more class of its
            own (more, harder negatives, as in DocClassifier).
        imagenet_root: Folder searched recursively for images, used by ``use_imagenet``.
        imagenet_max_images: Use at most this many of them (sorted by path).
        use_clip: CLIP teacher targets; not supported by this template (must be false).
        return_tensor: Return a float tensor (else the uint8 ``H x W x 3`` array).
        first_template: Template id of class 0.
        render_scale: Pages are drawn this many times larger than ``image_size``, then
            shrunk after augmentation (sharper text and edges).

    Raises:
        OtterConfigError: ``use_imagenet`` without a usable folder, or ``use_clip``.

    >>> ds = SynthDataset(image_size=[64, 64], length_of_dataset=100, num_classes=10)
    >>> image, label = ds[3]
    >>> tuple(image.shape), label, ds.class_names[label]
    ((3, 64, 64), 3, 'template_00003')
    """

    def __init__(
        self,
        image_size: Union[int, Sequence[int]] = (96, 96),
        length_of_dataset: int = 20000,
        aug_ratio: float = 1.0,
        num_classes: int = 2000,
        seed: int = 0,
        use_imagenet: bool = False,
        imagenet_root: Optional[str] = None,
        imagenet_max_images: Optional[int] = None,
        use_clip: bool = False,
        return_tensor: bool = True,
        first_template: int = 0,
        render_scale: float = 2.0,
    ):
        super().__init__(image_size, aug_ratio, return_tensor)
        if use_clip:
            raise OtterConfigError(
                "use_clip: true needs CLIP teacher features, which this template does not provide; set it to false",
                key=self._key("use_clip"),
            )
        if num_classes < 2:
            raise OtterConfigError(f"needs at least 2 templates, got {num_classes}", key=self._key("num_classes"))
        self.length_of_dataset = int(length_of_dataset)
        self.num_templates = int(num_classes)
        self.seed = int(seed)
        self.first_template = int(first_template)
        height, width = self.image_size
        self.page_size = (max(width, round(width * render_scale)), max(height, round(height * render_scale)))
        self.imagenet_images: List[Path] = self._imagenet(imagenet_root, imagenet_max_images) if use_imagenet else []

    @staticmethod
    def _imagenet(root: Optional[str], limit: Optional[int]) -> List[Path]:
        expected = "a folder of natural images searched recursively (*.JPEG, *.jpg, *.png), e.g. ILSVRC/Data/CLS-LOC/train"
        if not root:
            raise OtterConfigError(
                f"use_imagenet: true needs imagenet_root: {expected}; or set use_imagenet: false",
                key=SynthDataset._key("imagenet_root"),
            )
        images = _scan_images(Path(root)) if Path(root).is_dir() else []
        if not images:
            state = "has no images" if Path(root).is_dir() else "does not exist"
            raise OtterConfigError(
                f"use_imagenet: true but {root} {state}; expected {expected}; or set use_imagenet: false",
                key=SynthDataset._key("imagenet_root"),
            )
        return images[:limit] if limit else images

    @property
    def num_classes(self) -> int:
        return self.num_templates + len(self.imagenet_images)

    @property
    def class_names(self) -> List[str]:
        names = [f"template_{self.first_template + i:05d}" for i in range(self.num_templates)]
        return names + [f"imagenet_{p.stem}" for p in self.imagenet_images]

    def __len__(self) -> int:
        return self.length_of_dataset

    def page(self, label: int, rng: random.Random) -> np.ndarray:
        """One un-augmented document of class ``label``, at the rendering size."""
        if label < self.num_templates:
            page, fields = render_template(self.first_template + label, self.seed, *self.page_size)
            return np.asarray(fill_fields(page, fields, rng))
        return _load_rgb(self.imagenet_images[label - self.num_templates], self.page_size)

    def __getitem__(self, index: int) -> Tuple[Union[torch.Tensor, np.ndarray], int]:
        label = index % self.num_classes
        # A private stream per sample, drawn from the worker-seeded global RNG.
        rng = random.Random(random.getrandbits(64))
        return self._output(self._augment(self.page(label, rng), rng)), label


@DATASETS.register()
class SynthValidDataset(SynthDataset):
    """Unseen templates for validation: ``views_per_class`` fixed views of each.

    Template ids start at ``first_template`` (default one million), so none is a
    training template; the metrics measure how well the model separates document
    types it has never seen, which is what registering a new type relies on. The
    views are the same at every epoch (seeded by index). Samples are ordered class by
    class, so the first sample of a class is its first view.

    Args:
        image_size: Output ``[height, width]``.
        num_classes: Number of unseen templates.
        views_per_class: Augmented instances of each.
        seed: Template family; use the training set's.
        aug_ratio: Fraction of views that are augmented.
        return_tensor: Return a float tensor (else the uint8 array).
        first_template: Template id of class 0.
        render_scale: See :class:`SynthDataset`.
    """

    SPLIT = "valid"

    def __init__(
        self,
        image_size: Union[int, Sequence[int]] = (96, 96),
        num_classes: int = 64,
        views_per_class: int = 5,
        seed: int = 0,
        aug_ratio: float = 1.0,
        return_tensor: bool = True,
        first_template: int = VALID_FIRST_TEMPLATE,
        render_scale: float = 2.0,
    ):
        if views_per_class < 2:
            raise OtterConfigError(
                f"needs at least 2 views per class to form matching pairs, got {views_per_class}",
                key=self._key("views_per_class"),
            )
        super().__init__(
            image_size=image_size,
            length_of_dataset=num_classes * views_per_class,
            aug_ratio=aug_ratio,
            num_classes=num_classes,
            seed=seed,
            return_tensor=return_tensor,
            first_template=first_template,
            render_scale=render_scale,
        )
        self.views_per_class = int(views_per_class)

    def __getitem__(self, index: int) -> Tuple[Union[torch.Tensor, np.ndarray], int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        label = index // self.views_per_class
        rng = random.Random(f"otter-valid/{self.seed}/{index}")
        with _python_random_seeded(rng.getrandbits(64)):
            image = self._augment(self.page(label, rng), rng)
        return self._output(image), label


@DATASETS.register()
class RealDataset(_Augmenter, Dataset):
    """Images in a folder per class: ``root/<class_name>/*.jpg|png``.

    Classes are the sub-folder names, sorted; samples are sorted by path, so the first
    file of a class is the one the 1-shot metric registers.

    Args:
        root: The folder holding one sub-folder per class.
        image_size: Output ``[height, width]``.
        return_tensor: Return a float tensor (else the uint8 array).
        aug_ratio: Fraction of samples augmented (0 for validation, e.g. 1 to train on it).
        on_bad_image: Every image is decoded once before training; ``error``: files that
            fail (empty, truncated, not an image) are named in one line and nothing
            trains; ``skip``: they are left out, with a warning that counts them.

    Raises:
        OtterConfigError: ``root`` is unset, missing, holds fewer than two class folders
            with images, or holds images that cannot be read (``on_bad_image: error``).
    """

    SPLIT = "valid"

    def __init__(
        self,
        root: Optional[str] = None,
        image_size: Union[int, Sequence[int]] = (96, 96),
        return_tensor: bool = True,
        aug_ratio: float = 0.0,
        on_bad_image: str = "error",
    ):
        super().__init__(image_size, aug_ratio, return_tensor)
        expected = "one sub-folder per class holding its images (root/<class_name>/*.jpg|png)"
        if not root:
            raise OtterConfigError(f"not set; expected a folder with {expected}", key=self._key("root"))
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise OtterConfigError(f"{self.root} does not exist; expected a folder with {expected}", key=self._key("root"))
        classes = sorted(d for d in self.root.iterdir() if d.is_dir())
        found = {folder: _scan_images(folder) for folder in classes}
        readable = set(check_images([f for files in found.values() for f in files], on_bad_image, key=self._key("root")))
        self.samples: List[Tuple[Path, int]] = []
        self.class_names: List[str] = []
        for folder in classes:
            files = [f for f in found[folder] if f in readable]
            if files:
                self.samples += [(f, len(self.class_names)) for f in files]
                self.class_names.append(folder.name)
        if not self.samples:
            raise OtterConfigError(f"{self.root} has no images; expected {expected}", key=self._key("root"))
        if len(self.class_names) < 2:
            raise OtterConfigError(
                f"{self.root} has images of one class only ({self.class_names[0]}); a classifier needs at least 2 class folders",
                key=self._key("root"),
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Tuple[Union[torch.Tensor, np.ndarray], int]:
        path, label = self.samples[index]
        # With aug_ratio 0 (validation) nothing random happens; training views vary per draw.
        rng = random.Random(random.getrandbits(64))
        return self._output(self._augment(_load_rgb(path), rng)), label
