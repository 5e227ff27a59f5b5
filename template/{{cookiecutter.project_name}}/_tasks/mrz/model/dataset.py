"""Datasets of the MRZ reader: synthetic photographed MRZ bands, and a real folder.

Every dataset returns ``(image, labels, lengths)``: ``image`` a float tensor
``1 x H x W`` in ``[0, 1]`` (the band, grey, rectified to the model's input size),
``labels`` a ``MAX_LINES x MAX_LINE`` int tensor of character indices (index 0 is
the CTC blank; see :data:`CLASSES`) and ``lengths`` the number of characters per
line (0 for the missing third line of a two-line MRZ).

The synthetic band is rendered in OCR-B with character jitter and ink spread on a
piece of a security-printed page (guilloche lines, tints, printed text above the
zone), cropped by slightly wrong corners (as a band finder would), then photographed:
perspective, lighting, glare, blur, noise, JPEG. Page designs come from a seeded bank;
validation uses its own seeds, so its designs and field values are unseen.
"""

from __future__ import annotations

import functools
import json
import math
import random
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

from otter import DATASETS, OtterConfigError, OtterError

from ..mrz_format import ALPHABET, FORMATS, MRZError, detect_format, validate_lines
from .text import random_mrz

__all__ = [
    "SynthMRZDataset",
    "SynthMRZValidDataset",
    "RealMRZDataset",
    "CLASSES",
    "MAX_LINES",
    "MAX_LINE",
    "encode_lines",
    "decode_labels",
    "find_font",
    "render_band",
    "render_page",
    "SynthPageDataset",
    "SynthPageValidDataset",
    "IMAGE_EXTENSIONS",
]

#: CTC classes: index 0 is the blank, then the MRZ alphabet.
CLASSES = "-" + ALPHABET
MAX_LINES = 3
MAX_LINE = 44
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Validation page designs and documents come from seeds from here on, which training never uses.
VALID_SEED_OFFSET = 1_000_003
#: The OCR-B font shipped with the project (Matthew Skala's OCR-B, public domain; see fonts/README).
PROJECT_FONT = Path(__file__).resolve().parents[1] / "fonts" / "OCRB.otf"
#: Where Debian's fonts-ocr-b puts the same font (the Docker image may install it).
SYSTEM_FONTS = (Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf"), Path("/usr/share/fonts/truetype/ocr-b/OCRB.ttf"))
#: Glyphs are drawn at this size and scaled per sample; big enough for clean downscaling.
GLYPH_SIZE = 48


def encode_lines(lines: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
    """MRZ lines -> (``MAX_LINES x MAX_LINE`` class indices, per-line lengths)."""
    labels = torch.zeros(MAX_LINES, MAX_LINE, dtype=torch.long)
    lengths = torch.zeros(MAX_LINES, dtype=torch.long)
    for i, line in enumerate(lines):
        labels[i, : len(line)] = torch.tensor([CLASSES.index(c) for c in line])
        lengths[i] = len(line)
    return labels, lengths


def decode_labels(labels: torch.Tensor, lengths: torch.Tensor) -> List[str]:
    """The inverse of :func:`encode_lines` for one sample (empty lines dropped)."""
    return ["".join(CLASSES[int(k)] for k in labels[i, : int(n)]) for i, n in enumerate(lengths) if int(n) > 0]


# --------------------------------------------------------------------------- #
# Font and glyphs
# --------------------------------------------------------------------------- #


@functools.lru_cache(maxsize=8)
def find_font(path: Optional[str] = None) -> Tuple[str, bool]:
    """The OCR-B font file to render with: ``(path, found)``.

    Looks at ``path`` (from the config), the project's ``fonts/OCRB.otf`` and Debian's
    ``fonts-ocr-b``. Without any, warns once and returns ``("", False)``: rendering then
    falls back to Pillow's built-in font, which is not OCR-B (a model trained on it
    reads real MRZs worse).

    Raises:
        OtterConfigError: ``path`` is given but is not a file.
    """
    if path:
        if not Path(path).is_file():
            raise OtterConfigError(f"{path} is not a font file; leave it empty to use the project's OCR-B", key="dataset.train_options.options.font")
        return str(path), True
    for candidate in (PROJECT_FONT, *SYSTEM_FONTS):
        if candidate.is_file():
            return str(candidate), True
    warnings.warn(
        f"OCR-B font not found ({PROJECT_FONT} is missing and Debian's fonts-ocr-b is not installed); "
        "rendering MRZs with Pillow's built-in font instead, which reads real documents worse",
        stacklevel=2,
    )
    return "", False


@functools.lru_cache(maxsize=8)
def _glyphs(font_path: str) -> Tuple[Dict[str, np.ndarray], int, int]:
    """Ink masks (uint8) of every MRZ character, all the same box: ``(masks, advance, cap_height)``."""
    font = ImageFont.truetype(font_path, GLYPH_SIZE) if font_path else ImageFont.load_default(size=GLYPH_SIZE)
    boxes = {c: font.getbbox(c) for c in ALPHABET}
    top = min(b[1] for b in boxes.values())
    bottom = max(b[3] for b in boxes.values())
    advance = int(round(font.getlength("M")))
    masks = {}
    for c in ALPHABET:
        img = Image.new("L", (advance + 8, bottom - top + 4), 0)
        ImageDraw.Draw(img).text((4, 2 - top), c, fill=255, font=font)
        masks[c] = np.asarray(img, dtype=np.uint8)
    cap = boxes["H"][3] - boxes["H"][1]
    return masks, advance, cap


# --------------------------------------------------------------------------- #
# Page designs (security print behind the zone)
# --------------------------------------------------------------------------- #

BANK_SIZE = (192, 1024)  # height, width of one background design


def _design(seed: int) -> np.ndarray:
    """A security-printed background: tint gradient, guilloche curves, fine lines; grey uint8."""
    rng = np.random.default_rng(seed)
    h, w = BANK_SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(175, 245)
    angle = rng.uniform(0, 2 * math.pi)
    img = base + rng.uniform(-25, 25) * (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    canvas = img.astype(np.float32)
    layer = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(0, 5)):
        # Guilloche: a family of phase-shifted sinusoids, as on banknotes and passports.
        amp, period, y0 = rng.uniform(4, 30), rng.uniform(40, 300), rng.uniform(0, h)
        count, gap = int(rng.integers(3, 12)), rng.uniform(2, 8)
        freq2, amp2 = rng.uniform(1.5, 4), rng.uniform(0, 10)
        xs = np.arange(0, w + 8, 4, dtype=np.float32)
        for k in range(count):
            ys = y0 + k * gap + amp * np.sin(2 * math.pi * xs / period + k * 0.3) + amp2 * np.sin(freq2 * 2 * math.pi * xs / period)
            pts = np.stack([xs, ys], axis=1).astype(np.int32)
            cv2.polylines(layer, [pts], False, 255, 1, cv2.LINE_AA)
    if rng.random() < 0.4:
        step = int(rng.integers(4, 12))
        for x in range(-h, w, step):
            cv2.line(layer, (x, 0), (x + h, h), 255, 1, cv2.LINE_AA)
    strength = rng.uniform(15, 70)
    canvas -= layer.astype(np.float32) / 255.0 * strength
    if rng.random() < 0.5:
        # A faint rosette or emblem patch.
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 90)
        cv2.circle(layer := np.zeros((h, w), np.uint8), (int(cx), int(cy)), int(r), 255, -1, cv2.LINE_AA)
        canvas -= cv2.GaussianBlur(layer, (0, 0), r / 3).astype(np.float32) / 255.0 * rng.uniform(10, 40)
    return np.clip(canvas, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _design_bank(first_seed: int, count: int) -> Tuple[np.ndarray, ...]:
    return tuple(_design(first_seed + i) for i in range(count))


def _printed_text(rng: random.Random, canvas: np.ndarray, y_bottom: int, x0: int, x1: int) -> None:
    """Lines of the page's printed fields above the zone (a non-MRZ font), in place."""
    font = _small_font(rng.choice((12, 14, 16, 18)))
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    y = y_bottom
    for _ in range(rng.randint(0, 3)):
        y -= rng.randint(18, 30)
        if y < 0:
            break
        words = " ".join("".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789/.") for _ in range(rng.randint(2, 10))) for _ in range(rng.randint(1, 5)))
        draw.text((rng.randint(x0, max(x0, x1 - 200)), y), words, fill=rng.randint(10, 90), font=font)
    canvas[:] = np.asarray(img)


@functools.lru_cache(maxsize=8)
def _small_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


# --------------------------------------------------------------------------- #
# Rendering and photographing one band
# --------------------------------------------------------------------------- #


def render_band(
    lines: Sequence[str],
    rng: random.Random,
    out_size: Tuple[int, int] = (64, 512),
    designs: Sequence[np.ndarray] = (),
    font_path: str = "",
    strength: float = 1.0,
) -> np.ndarray:
    """Render MRZ lines in OCR-B on a page background and photograph the band; grey uint8 ``out_size``.

    Args:
        lines: The MRZ lines.
        rng: Decides everything random.
        out_size: ``(height, width)`` of the rectified band.
        designs: Background designs to cut the page from (grey uint8); plain paper if empty.
        font_path: An OCR-B font file ("" uses Pillow's built-in font).
        strength: Scales the photographic degradations (0: a clean scan).
    """
    masks, advance, cap = _glyphs(font_path)
    pitch = rng.uniform(13.0, 17.0)  # render-scale pixels per character
    scale = pitch / advance
    line_pitch = cap * scale * rng.uniform(1.65, 2.0)
    n, length = len(lines), len(lines[0])
    text_w, text_h = length * pitch, (n - 1) * line_pitch + cap * scale
    pad = 48
    h_c, w_c = int(text_h + 2 * pad), int(text_w + 2 * pad)

    # Page: a window of a design, or paper.
    if designs:
        design = designs[rng.randrange(len(designs))]
        dh, dw = design.shape
        y0, x0 = rng.randrange(max(1, dh - h_c)), rng.randrange(max(1, dw - w_c))
        page = cv2.resize(design[y0 : y0 + h_c, x0 : x0 + w_c], (w_c, h_c)) if (dh < h_c or dw < w_c) else design[y0 : y0 + h_c, x0 : x0 + w_c].copy()
    else:
        page = np.full((h_c, w_c), rng.randint(180, 250), np.uint8)
    if rng.random() < 0.6:
        _printed_text(rng, page, int(pad - cap * scale), 0, w_c)

    # Ink: each glyph placed with a little jitter (uneven print), drawn on a 1-bit-ish mask.
    ink = np.zeros((h_c, w_c), np.float32)
    jitter = rng.uniform(0.0, 0.9) * strength
    gh, gw = masks["<"].shape
    sw, sh = max(1, int(round(gw * scale))), max(1, int(round(gh * scale)))
    small = {c: cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0 for c, m in masks.items()}
    slope = rng.uniform(-0.004, 0.004)
    for i, line in enumerate(lines):
        base_y = pad + i * line_pitch - 2 * scale
        for j, c in enumerate(line):
            x = pad + j * pitch + rng.gauss(0, jitter) - 4 * scale
            y = base_y + j * pitch * slope + rng.gauss(0, jitter * 0.6)
            xi, yi = int(round(x)), int(round(y))
            if 0 <= yi and yi + sh <= h_c and 0 <= xi and xi + sw <= w_c:
                np.maximum(ink[yi : yi + sh, xi : xi + sw], small[c], out=ink[yi : yi + sh, xi : xi + sw])
    spread = rng.random() * strength
    if spread > 0.7:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    elif spread < 0.15 * strength:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8)) * 0.5 + ink * 0.5
    darkness = rng.uniform(0.75, 1.0)
    ink_level = rng.uniform(0, 60)
    img = page.astype(np.float32) * (1 - ink * darkness) + ink_level * ink * darkness

    # Crop by slightly wrong corners (what a band finder gives), then rectify to out_size.
    out_h, out_w = out_size
    mx, my = rng.uniform(0.3, 1.6) * pitch, rng.uniform(0.25, 0.9) * line_pitch
    x_a, x_b = pad - mx, pad + text_w + mx
    y_a, y_b = pad - my, pad + text_h + my
    err = 0.35 * pitch * strength
    src = np.float32([[x_a, y_a], [x_b, y_a], [x_b, y_b], [x_a, y_b]]) + np.float32([[rng.gauss(0, err), rng.gauss(0, err)] for _ in range(4)])
    dst = np.float32([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]])
    band = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (out_w, out_h), borderMode=cv2.BORDER_REPLICATE)
    return photograph(band, rng, strength)


def photograph(band: np.ndarray, rng: random.Random, strength: float = 1.0) -> np.ndarray:
    """Lighting, glare, blur, noise and JPEG on a grey float/uint8 image; returns uint8."""
    img = band.astype(np.float32)
    h, w = img.shape
    if strength <= 0:
        return np.clip(img, 0, 255).astype(np.uint8)
    # Uneven light and low light.
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-0.25, 0.25) * strength
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] * rng.uniform(-0.15, 0.15) * strength
    gain = rng.uniform(0.35, 1.1) if rng.random() < 0.3 * strength else rng.uniform(0.8, 1.1)
    img = img * (gain + gx + gy)
    if rng.random() < 0.3 * strength:
        # Laminate glare: a bright soft ellipse washing out part of the zone.
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = rng.uniform(20, 120), rng.uniform(10, 60)
        yy, xx = np.ogrid[0:h, 0:w]
        blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2)).astype(np.float32)
        img = img + blob * rng.uniform(40, 140) * (1 - img / 320)
    if rng.random() < 0.6 * strength:
        img = np.clip(255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.7, 1.5), 0, 255)
    # Blur: focus or motion.
    r = rng.random()
    if r < 0.45 * strength:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.1))
    elif r < 0.6 * strength:
        k = rng.choice((3, 5))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < 0.7 * strength:
        img = img + np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(2, 12), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6 * strength:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 95)])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


#: Page size in mm per format (ICAO 9303: ID-1, ID-2, ID-3; visas: MRV-A on ID-3 stock, MRV-B on ID-2).
PAGE_MM = {"TD1": (85.6, 54.0), "TD2": (105.0, 74.0), "TD3": (125.0, 88.0), "MRVA": (125.0, 88.0), "MRVB": (105.0, 74.0)}


def render_page(
    lines: Sequence[str],
    rng: random.Random,
    out_size: Tuple[int, int] = (480, 640),
    designs: Sequence[np.ndarray] = (),
    font_path: str = "",
    strength: float = 1.0,
    px_mm: Optional[float] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """A whole document page with its MRZ, photographed: ``(grey uint8 out_size image, band corners 4 x 2)``.

    The page has a security background, a photo box, printed fields and the MRZ at the
    bottom, at ICAO's 2.54 mm character pitch; it is then placed in perspective on a
    cluttered background and photographed (lighting, glare, blur, noise, JPEG). The
    corners (TL, TR, BR, BL) frame the MRZ text with a margin of about one character.
    ``px_mm`` sets the page's rendering resolution (default: 4.2-5.4 pixels per mm;
    lower is faster, enough for the small images a band finder looks at).
    """
    fmt_w, fmt_h = PAGE_MM[_format_of(lines)]
    px_mm = px_mm or rng.uniform(4.2, 5.4)
    pw, ph = int(fmt_w * px_mm), int(fmt_h * px_mm)
    if designs:
        design = designs[rng.randrange(len(designs))]
        page = cv2.resize(design, (pw, ph), interpolation=cv2.INTER_LINEAR)
    else:
        page = np.full((ph, pw), rng.randint(190, 245), np.uint8)
    # Photo box and printed fields of the visual zone.
    bx0, by0 = int(4 * px_mm), int(rng.uniform(9, 14) * px_mm)
    bw, bh = int(fmt_w * 0.27 * px_mm), int(fmt_h * 0.45 * px_mm)
    tone = rng.randint(90, 200)
    cv2.rectangle(page, (bx0, by0), (bx0 + bw, by0 + bh), tone, -1)
    cv2.ellipse(page, (bx0 + bw // 2, by0 + int(bh * 0.42)), (bw // 4, int(bh * 0.28)), 0, 0, 360, max(0, tone - 60), -1)
    cv2.ellipse(page, (bx0 + bw // 2, by0 + bh), (int(bw * 0.45), int(bh * 0.3)), 0, 180, 360, max(0, tone - 50), -1)
    font = _small_font(max(8, int(2.2 * px_mm)))
    img = Image.fromarray(page)
    draw = ImageDraw.Draw(img)
    draw.text((int(4 * px_mm), int(2.5 * px_mm)), rng.choice(["PASSPORT", "IDENTITY CARD", "VISA", "RESIDENCE PERMIT", "TRAVEL DOCUMENT"]), fill=rng.randint(0, 80), font=_small_font(max(9, int(3.2 * px_mm))))
    y = by0
    while y < by0 + bh - 3 * px_mm:
        draw.text((bx0 + bw + int(3 * px_mm), y), "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ /") for _ in range(rng.randint(4, 12))), fill=rng.randint(60, 130), font=_small_font(max(7, int(1.6 * px_mm))))
        draw.text((bx0 + bw + int(3 * px_mm), y + int(2 * px_mm)), "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ0123456789 .") for _ in range(rng.randint(3, 16))), fill=rng.randint(0, 60), font=font)
        y += int(rng.uniform(5.5, 7.5) * px_mm)
    page = np.asarray(img).copy()
    # The MRZ: 2.54 mm pitch, bottom of the page.
    masks, advance, cap = _glyphs(font_path)
    pitch = 2.54 * px_mm
    scale = pitch / advance
    line_pitch = rng.uniform(3.8, 4.4) * px_mm
    gh, gw = masks["<"].shape
    sw, sh = max(1, int(round(gw * scale))), max(1, int(round(gh * scale)))
    small = {c: cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0 for c, m in masks.items()}
    n, length = len(lines), len(lines[0])
    x0 = (pw - length * pitch) / 2
    y_last = ph - rng.uniform(3.0, 4.5) * px_mm - cap * scale
    y0 = y_last - (n - 1) * line_pitch
    ink = np.zeros((ph, pw), np.float32)
    jitter = rng.uniform(0.0, 0.5) * strength
    for i, line in enumerate(lines):
        for j, c in enumerate(line):
            xi = int(round(x0 + j * pitch + rng.gauss(0, jitter) - 4 * scale))
            yi = int(round(y0 + i * line_pitch + rng.gauss(0, jitter * 0.6) - 2 * scale))
            if 0 <= yi and yi + sh <= ph and 0 <= xi and xi + sw <= pw:
                np.maximum(ink[yi : yi + sh, xi : xi + sw], small[c], out=ink[yi : yi + sh, xi : xi + sw])
    page = page.astype(np.float32) * (1 - ink * 0.95) + rng.uniform(0, 50) * ink * 0.95
    band = np.float32([[x0 - pitch, y0 - 0.5 * line_pitch], [x0 + (length + 1) * pitch, y0 - 0.5 * line_pitch],
                       [x0 + (length + 1) * pitch, y_last + cap * scale + 0.5 * line_pitch], [x0 - pitch, y_last + cap * scale + 0.5 * line_pitch]])
    # Photograph: the page in perspective on a cluttered background.
    out_h, out_w = out_size
    fill = rng.uniform(0.6, 0.9)
    page_w = out_w * fill
    page_h = page_w * ph / pw
    if page_h > out_h * 0.92:
        page_h, page_w = out_h * 0.92, out_h * 0.92 * pw / ph
    cx, cy = out_w / 2 + rng.uniform(-0.08, 0.08) * out_w, out_h / 2 + rng.uniform(-0.08, 0.08) * out_h
    wobble = 0.06 * strength
    dst = np.float32([[cx - page_w / 2, cy - page_h / 2], [cx + page_w / 2, cy - page_h / 2], [cx + page_w / 2, cy + page_h / 2], [cx - page_w / 2, cy + page_h / 2]])
    dst += np.float32([[rng.uniform(-wobble, wobble) * page_w, rng.uniform(-wobble, wobble) * page_h] for _ in range(4)])
    angle = math.radians(rng.uniform(-12, 12) * strength)
    rot = np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = (dst - [cx, cy]) @ rot.T + [cx, cy]
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]), dst.astype(np.float32))
    background = _clutter(rng, out_h, out_w)
    warped = cv2.warpPerspective(page, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    photo = background * (1 - mask) + warped * mask
    corners = cv2.perspectiveTransform(band[None], matrix)[0]
    return photograph(photo, rng, strength), corners.astype(np.float32)


def _format_of(lines: Sequence[str]) -> str:
    return detect_format(lines) or "TD3"


def _clutter(rng: random.Random, h: int, w: int) -> np.ndarray:
    """A table-top background: a tone, a gradient and a few random shapes."""
    img = np.full((h, w), rng.uniform(30, 200), np.float32)
    img += np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-40, 40)
    for _ in range(rng.randint(0, 6)):
        p1 = (rng.randrange(w), rng.randrange(h))
        p2 = (rng.randrange(w), rng.randrange(h))
        cv2.rectangle(img, p1, p2, rng.uniform(0, 255), -1 if rng.random() < 0.5 else rng.randint(1, 6))
    return img


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).float().div_(255.0)[None]


# --------------------------------------------------------------------------- #
# Datasets
# --------------------------------------------------------------------------- #


@DATASETS.register()
class SynthMRZDataset(Dataset):
    """Synthetic photographed MRZ bands of every format; sample ``i`` of seed ``s`` is always the same image.

    Args:
        length_of_dataset: Samples per epoch.
        image_size: ``[height, width]`` of the band the model reads.
        formats: Which of TD1, TD2, TD3, MRVA, MRVB to draw from.
        designs: Background designs in the bank (page designs).
        strength: Scales the photographic degradations (0: clean scans).
        font: An OCR-B font file; empty uses the project's ``fonts/OCRB.otf``.
        seed: Seeds designs and samples; each epoch draws new samples from ``seed`` and the epoch.
        ramp: Fraction of the epochs over which the degradations grow from ``ramp_start``
            to ``strength`` (clean samples first get the reader past CTC's all-blank phase sooner).
        ramp_start: The strength of the first epoch when ramping.
    """

    design_seed_offset = 0

    def __init__(
        self,
        length_of_dataset: int = 8192,
        image_size: Sequence[int] = (64, 512),
        formats: Sequence[str] = tuple(FORMATS),
        designs: int = 48,
        strength: float = 1.0,
        font: str = "",
        seed: int = 0,
        ramp: float = 0.0,
        ramp_start: float = 0.3,
    ):
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise OtterConfigError(f"unknown MRZ format {bad[0]!r}; choose from {', '.join(FORMATS)}", key="dataset.train_options.options.formats")
        self.length = int(length_of_dataset)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.formats = tuple(formats)
        self.strength = self.final_strength = float(strength)
        self.ramp, self.ramp_start = float(ramp), float(ramp_start)
        self.font_path, self.font_found = find_font(font or None)
        self.seed = int(seed)
        self.n_designs = int(designs)
        self.epoch = 0

    @property
    def designs(self) -> Tuple[np.ndarray, ...]:
        return _design_bank(self.seed * 7919 + self.design_seed_offset, self.n_designs)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int, max_epochs: Optional[int] = None) -> None:
        self.epoch = epoch
        if self.ramp > 0 and max_epochs:
            done = min(1.0, epoch / max(1.0, self.ramp * max_epochs))
            self.strength = self.ramp_start + (self.final_strength - self.ramp_start) * done

    def sample(self, rng: random.Random) -> Tuple[np.ndarray, List[str]]:
        lines = random_mrz(rng, formats=self.formats)
        return render_band(lines, rng, self.image_size, self.designs, self.font_path, self.strength), lines

    def __getitem__(self, index: int):
        rng = random.Random(f"{self.seed}/{self.design_seed_offset}/{self.epoch}/{index}")
        img, lines = self.sample(rng)
        labels, lengths = encode_lines(lines)
        return _to_tensor(img), labels, lengths


@DATASETS.register()
class SynthMRZValidDataset(SynthMRZDataset):
    """Fixed synthetic bands for validation, with page designs and field values training never sees.

    Args as :class:`SynthMRZDataset`; ``length_of_dataset`` images are rendered once.
    """

    design_seed_offset = VALID_SEED_OFFSET

    def __init__(self, length_of_dataset: int = 512, **kwargs: object):
        super().__init__(length_of_dataset=length_of_dataset, **kwargs)  # type: ignore[arg-type]
        self._items = [SynthMRZDataset.__getitem__(self, i) for i in range(self.length)]
        self.texts = [decode_labels(lab, n) for _, lab, n in self._items]

    def __getitem__(self, index: int):
        return self._items[index]


@DATASETS.register()
class RealMRZDataset(Dataset):
    """A folder of real MRZ images with their text.

    Layout::

        <root>/
            0001.jpg            # a page photo, or an already-cropped band
            0001.txt            # the MRZ, one line per line (2 or 3 lines)
            0001.json           # optional: {"corners": [[x, y] x 4]} of the band, TL TR BR BL
            ...

    With corners the band is cut out and rectified; without, the whole image is the band.

    Args:
        root: The folder.
        image_size: ``[height, width]`` of the band the model reads.
        augment: Apply the photographic degradations (training) or not (validation).
        strength: Their strength.
        seed: Seeds the degradations.
        **synthetic_options: Options of the synthetic datasets a finetune config inherits
            from its base (``length_of_dataset``, ``designs``...); not used here.

    Raises:
        OtterConfigError: ``root`` missing or without labelled images.
        OtterError: a bad label, as ``<file>: <message>``.
    """

    def __init__(self, root: str = "", image_size: Sequence[int] = (64, 512), augment: bool = False, strength: float = 0.5, seed: int = 0, **synthetic_options: object):
        expected = "images (.jpg/.png/...) each with a .txt of its MRZ lines"
        if not root:
            raise OtterConfigError(f"not set; expected a folder of {expected}", key="dataset.train_options.options.root")
        self.root = Path(root)
        if not self.root.is_dir():
            raise OtterConfigError(f"{self.root} does not exist; expected a folder of {expected}", key="dataset.train_options.options.root")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.augment, self.strength, self.seed = bool(augment), float(strength), int(seed)
        self.items: List[Tuple[Path, List[str], Optional[np.ndarray]]] = []
        for image in sorted(p for p in self.root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS):
            label = image.with_suffix(".txt")
            if not label.is_file():
                raise OtterError(f"{image}: no label file {label.name} beside it (the MRZ lines, one per line)")
            self.items.append((image, read_label(label), read_corners(image.with_suffix(".json"))))
        if not self.items:
            raise OtterConfigError(f"{self.root} has no images; expected {expected}", key="dataset.train_options.options.root")
        self.texts = [lines for _, lines, _ in self.items]
        self.epoch = 0

    def set_epoch(self, epoch: int, max_epochs: Optional[int] = None) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, lines, corners = self.items[index]
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise OtterError(f"{path}: cannot be read as an image")
        h, w = self.image_size
        if corners is not None:
            dst = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
            img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(corners, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
        else:
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        if self.augment:
            img = photograph(img, random.Random(f"{self.seed}/{self.epoch}/{index}"), self.strength)
        labels, lengths = encode_lines(lines)
        return _to_tensor(img), labels, lengths


def read_label(path: Path) -> List[str]:
    """The MRZ lines of a label file, checked.

    Raises:
        OtterError: ``<file>: <what is wrong>`` (line count or length, a character outside ``A-Z0-9<``).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OtterError(f"{path}: cannot be read as UTF-8 text ({type(e).__name__})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        validate_lines(lines)
    except MRZError as e:
        raise OtterError(f"{path}: {e}") from None
    return lines


def read_corners(path: Path) -> Optional[np.ndarray]:
    """Band corners from an optional ``.json`` beside the image (``None`` when absent).

    Raises:
        OtterError: ``<file>: corners: <what is wrong>``.
    """
    if not path.is_file():
        return None
    try:
        corners = np.asarray(json.loads(path.read_text(encoding="utf-8"))["corners"], dtype=np.float32)
    except (ValueError, KeyError, TypeError):
        raise OtterError(f"{path}: corners: expected {{\"corners\": [[x, y], [x, y], [x, y], [x, y]]}} (TL, TR, BR, BL)") from None
    if corners.shape != (4, 2):
        raise OtterError(f"{path}: corners: expected 4 points [x, y], got shape {list(corners.shape)}")
    return corners


@DATASETS.register()
class SynthPageDataset(Dataset):
    """Synthetic photographed document pages with their MRZ band's corners, for the band finder.

    Returns ``(image 1 x H x W in [0, 1], heatmaps 4 x H/stride x W/stride, corners 4 x 2)``;
    corners are TL, TR, BR, BL in the image's pixels.

    Args:
        length_of_dataset: Samples per epoch.
        image_size: ``[height, width]`` the finder sees.
        formats: MRZ formats to draw from.
        designs: Page designs in the bank.
        strength: Scales the photographic degradations.
        heatmap_stride: Image pixels per heatmap cell.
        sigma: Heatmap Gaussians' standard deviation, in cells.
        font: An OCR-B font file; empty uses the project's.
        seed: Seeds designs and samples.
    """

    design_seed_offset = 0

    def __init__(
        self,
        length_of_dataset: int = 4096,
        image_size: Sequence[int] = (192, 256),
        formats: Sequence[str] = tuple(FORMATS),
        designs: int = 48,
        strength: float = 1.0,
        heatmap_stride: int = 4,
        sigma: float = 1.5,
        font: str = "",
        seed: int = 0,
    ):
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise OtterConfigError(f"unknown MRZ format {bad[0]!r}; choose from {', '.join(FORMATS)}", key="dataset.train_options.options.formats")
        self.length = int(length_of_dataset)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.formats, self.strength, self.seed = tuple(formats), float(strength), int(seed)
        self.stride, self.sigma = int(heatmap_stride), float(sigma)
        self.font_path, self.font_found = find_font(font or None)
        self.n_designs = int(designs)
        self.epoch = 0

    @property
    def designs(self) -> Tuple[np.ndarray, ...]:
        return _design_bank(self.seed * 7919 + self.design_seed_offset + 17, self.n_designs)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int, max_epochs: Optional[int] = None) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int):
        from otter.geometry import render_heatmaps

        rng = random.Random(f"page/{self.seed}/{self.design_seed_offset}/{self.epoch}/{index}")
        lines = random_mrz(rng, formats=self.formats)
        # About 1.2-2 pixels per mm of page keeps MRZ characters a texture, as at the finder's size.
        image, corners = render_page(lines, rng, self.image_size, self.designs, self.font_path, self.strength, px_mm=rng.uniform(1.6, 2.6))
        h, w = self.image_size
        heatmaps = render_heatmaps(corners, (h // self.stride, w // self.stride), self.stride, self.sigma)
        return _to_tensor(image), torch.from_numpy(heatmaps), torch.from_numpy(corners)


@DATASETS.register()
class SynthPageValidDataset(SynthPageDataset):
    """Fixed synthetic pages for the finder's validation, with page designs training never sees."""

    design_seed_offset = VALID_SEED_OFFSET

    def __init__(self, length_of_dataset: int = 256, **kwargs: object):
        super().__init__(length_of_dataset=length_of_dataset, **kwargs)  # type: ignore[arg-type]
        self._items = [SynthPageDataset.__getitem__(self, i) for i in range(self.length)]

    def __getitem__(self, index: int):
        return self._items[index]
