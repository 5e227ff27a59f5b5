"""Synthetic photos of documents: pages, cluttered backgrounds, a random camera, and what a phone adds.

The building blocks of the tasks' offline data: :func:`render_page` draws a page
(text lines, tables, photos, stamps; A4, letter, card or receipt shapes),
:func:`render_background` a surface to put it on (wood, fabric, desk, clutter,
cables, other sheets), :func:`random_quad` where its corners land in the photo,
and :func:`photograph` puts one on the other through that homography, then adds
occluders, shadows, glare, blur, noise and JPEG. Every function draws from the
``numpy.random.Generator`` it is given, so a seed fixes the photo.

Numpy and OpenCV only, imported when first used.

>>> rng = np.random.default_rng(0)
>>> page = render_page(rng, (96, 128))
>>> background = render_background(rng, (160, 120))
>>> quad = random_quad(rng, (160, 120), page_aspect=96 / 128)
>>> photo = photograph(rng, page, background, quad)
>>> photo.shape, photo.dtype
((120, 160, 3), dtype('uint8'))
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .geometry import homography

__all__ = [
    "PAGE_SHAPES",
    "render_page",
    "render_background",
    "random_quad",
    "photograph",
    "page_corners",
]

#: Page aspect ratios (width / height) by kind; portrait, and turned landscape at random.
PAGE_SHAPES = {"a4": 1 / 1.4142, "letter": 8.5 / 11, "card": 85.6 / 53.98, "receipt": 0.42, "square": 1.0}

Size = Tuple[int, int]  # (width, height)


def _cv2():
    import cv2

    return cv2


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 255) -> Tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi + 1, 3))


def _paper(rng: np.random.Generator) -> Tuple[int, int, int]:
    if rng.random() < 0.6:  # white-ish, slightly warm or cool
        base = int(rng.integers(215, 256))
        return tuple(int(np.clip(base + rng.integers(-12, 8), 0, 255)) for _ in range(3))
    return _color(rng, 150, 250)  # coloured paper


def page_corners(size: Size) -> np.ndarray:
    """The corners of a ``(width, height)`` image, TL, TR, BR, BL, at the outer edges of its pixels.

    Used as the homography's source: the page's edge, not its first pixel centre, is
    what lands on the photo's corner.
    """
    w, h = size
    return np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float64)


def render_page(rng: np.random.Generator, size: Size, kind: Optional[str] = None) -> np.ndarray:
    """A document page: paper, header, text lines, perhaps a table, a photo, a stamp, a logo.

    Args:
        rng: The random stream (decides the design).
        size: ``(width, height)`` in pixels.
        kind: ``"card"`` draws an ID-card-like layout (photo, fields, coloured band);
            anything else a page of text.

    Returns:
        ``height x width x 3`` uint8 RGB.
    """
    cv2 = _cv2()
    w, h = size
    page = np.empty((h, w, 3), np.uint8)
    page[:] = _paper(rng)
    ink = _color(rng, 0, 70)
    accent = _color(rng, 30, 220)
    unit = max(1.0, min(w, h) / 100.0)
    if rng.random() < 0.3:  # faint security/guilloche-like pattern
        step = max(3, int(rng.uniform(3, 8) * unit))
        tint = tuple(int(c * 0.93) for c in page[0, 0])
        for x in range(-h, w, step):
            cv2.line(page, (x, 0), (x + h, h), tint, 1)
    margin = rng.uniform(0.05, 0.1)
    x0, x1 = int(margin * w), int((1 - margin) * w)
    y = int(rng.uniform(0.04, 0.08) * h)
    if kind == "card" or rng.random() < 0.4:  # a coloured band or header bar
        bar = int(rng.uniform(0.08, 0.2) * h)
        cv2.rectangle(page, (0, 0), (w, bar), accent, -1)
        y = bar + int(0.04 * h)
    if rng.random() < 0.7:  # a heading
        scale = rng.uniform(0.3, 0.6) * unit / 2.5
        text = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ  "), int(rng.integers(5, 14))))
        cv2.putText(page, text, (x0, y + int(12 * scale * 2)), cv2.FONT_HERSHEY_SIMPLEX, max(0.2, scale), ink, max(1, int(unit / 2)), cv2.LINE_AA)
        y += int(14 * scale * 2) + int(0.03 * h)
    if kind == "card" or rng.random() < 0.3:  # a portrait photo
        pw = int(rng.uniform(0.22, 0.32) * w)
        ph = min(int(pw * 1.3), h - y - int(0.05 * h))
        if ph > 4:
            px = x0 if rng.random() < 0.7 else x1 - pw
            cv2.rectangle(page, (px, y), (px + pw, y + ph), _color(rng, 120, 230), -1)
            cv2.ellipse(page, (px + pw // 2, y + int(ph * 0.42)), (max(1, pw // 4), max(1, ph // 4)), 0, 0, 360, _color(rng, 90, 230), -1)
            cv2.ellipse(page, (px + pw // 2, y + ph), (max(1, int(pw * 0.45)), max(1, ph // 3)), 0, 0, 360, _color(rng, 0, 200), -1)
            if px == x0:
                x0 = px + pw + int(0.04 * w)
            else:
                x1 = px - int(0.04 * w)
    # Text lines: runs of word-sized blocks at the line height, the look of print at photo scale.
    line_h = max(1, int(rng.uniform(1.2, 3.0) * unit))
    gap = int(line_h * rng.uniform(1.6, 2.8))
    table_at = rng.uniform(0.35, 0.7) if rng.random() < 0.35 else 2.0
    while y + line_h < h * 0.93 and x1 - x0 > 8:
        if y > table_at * h:  # a table: ruled grid with short entries
            rows, cols = int(rng.integers(3, 7)), int(rng.integers(2, 5))
            cell_h = line_h * 3
            tw = x1 - x0
            for r in range(rows + 1):
                cv2.line(page, (x0, y + r * cell_h), (x1, y + r * cell_h), ink, 1)
            for c in range(cols + 1):
                cx = x0 + c * tw // cols
                cv2.line(page, (cx, y), (cx, y + rows * cell_h), ink, 1)
            for r in range(rows):
                for c in range(cols):
                    cx = x0 + c * tw // cols + line_h
                    ww = int(rng.uniform(0.2, 0.7) * tw / cols)
                    cv2.rectangle(page, (cx, y + r * cell_h + line_h), (cx + ww, y + r * cell_h + 2 * line_h - 1), ink, -1)
            y += rows * cell_h + gap
            table_at = 2.0
            continue
        x = x0 + (int(rng.uniform(0.0, 0.1) * (x1 - x0)) if rng.random() < 0.2 else 0)
        end = x1 - (int(rng.uniform(0.0, 0.6) * (x1 - x0)) if rng.random() < 0.25 else 0)
        while x < end:
            word = int(rng.uniform(2, 9) * line_h)
            cv2.rectangle(page, (x, y), (min(end, x + word), y + line_h - 1), ink, -1)
            x += word + max(1, line_h)
        y += gap
    if rng.random() < 0.35:  # a stamp
        r = int(rng.uniform(0.08, 0.15) * min(w, h))
        c = (int(rng.uniform(0.5, 0.85) * w), int(rng.uniform(0.55, 0.9) * h))
        color = (200, 30, 40) if rng.random() < 0.5 else (30, 50, 190)
        cv2.circle(page, c, r, color, max(1, r // 8), cv2.LINE_AA)
        cv2.circle(page, c, max(1, int(r * 0.7)), color, max(1, r // 12), cv2.LINE_AA)
    if rng.random() < 0.3:  # a logo
        r = int(rng.uniform(0.04, 0.08) * min(w, h))
        cv2.circle(page, (int(rng.uniform(0.75, 0.92) * w), int(rng.uniform(0.05, 0.15) * h)), r, accent, -1)
    if rng.random() < 0.25:  # a fold or crease across the page
        yy = int(rng.uniform(0.3, 0.7) * h)
        cv2.line(page, (0, yy), (w, yy + int(rng.uniform(-0.05, 0.05) * h)), tuple(int(c * 0.85) for c in page[0, 0]), 1)
    return page


def render_background(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A surface to photograph a document on: wood, fabric, desk, carpet, clutter; maybe cables and other sheets.

    Args:
        rng: The random stream.
        size: ``(width, height)``.

    Returns:
        ``height x width x 3`` uint8 RGB.
    """
    cv2 = _cv2()
    w, h = size
    kind = rng.choice(["wood", "fabric", "plain", "noise", "clutter", "gradient"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array(_color(rng, 20, 235), np.float32)
    if kind == "wood":
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        freq = rng.uniform(0.05, 0.3)
        grain = np.sin(u * freq + 3 * np.sin(v * rng.uniform(0.01, 0.05))) * 0.5 + 0.5
        tone = 0.7 + 0.3 * grain
        img = base[None, None] * tone[..., None]
    elif kind == "fabric":
        period = rng.uniform(2, 6)
        weave = (np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)) * 0.5 + 0.5
        img = base[None, None] * (0.8 + 0.2 * weave[..., None])
    elif kind == "gradient":
        other = np.array(_color(rng, 20, 235), np.float32)
        t = (xx / max(w - 1, 1) * rng.uniform(-1, 1) + yy / max(h - 1, 1) * rng.uniform(-1, 1))
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img = base[None, None] * (1 - t[..., None]) + other[None, None] * t[..., None]
    else:
        img = np.broadcast_to(base, (h, w, 3)).copy()
    if kind in ("noise", "plain", "wood"):
        small = rng.normal(0, 25 if kind == "noise" else 8, (max(1, h // 8), max(1, w // 8), 3)).astype(np.float32)
        img = img + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
    n_things = int(rng.integers(3, 12)) if kind == "clutter" else int(rng.integers(0, 4))
    for _ in range(n_things):  # objects on the desk: boxes, discs, books
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        s = int(rng.uniform(0.05, 0.35) * min(w, h))
        if rng.random() < 0.5:
            box = cv2.boxPoints((c, (s, s * rng.uniform(0.3, 1.5)), rng.uniform(0, 180))).astype(np.int32)
            cv2.fillConvexPoly(img, box, _color(rng), cv2.LINE_AA)
        else:
            cv2.circle(img, c, max(1, s // 2), _color(rng), -1, cv2.LINE_AA)
    if rng.random() < 0.25:  # the edge of another sheet of paper coming in from outside the frame
        side = int(rng.integers(0, 4))
        t = rng.uniform(0, 1)
        edge = [(t * w, -0.3 * h), (1.3 * w, t * h), (t * w, 1.3 * h), (-0.3 * w, t * h)][side]
        sheet = cv2.boxPoints((edge, (rng.uniform(0.5, 1.0) * w, rng.uniform(0.5, 1.0) * h), rng.uniform(0, 180)))
        cv2.fillConvexPoly(img, sheet.astype(np.int32), _paper(rng), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.4 else 0):  # cables
        pts = np.stack([rng.uniform(-0.2, 1.2, 4) * w, rng.uniform(-0.2, 1.2, 4) * h], 1)
        t = np.linspace(0, 1, 24)[:, None]
        curve = ((1 - t) ** 3 * pts[0] + 3 * (1 - t) ** 2 * t * pts[1] + 3 * (1 - t) * t**2 * pts[2] + t**3 * pts[3]).astype(np.int32)
        cv2.polylines(img, [curve], False, _color(rng, 0, 255), max(1, int(rng.uniform(0.008, 0.025) * min(w, h))), cv2.LINE_AA)
    return img


def random_quad(
    rng: np.random.Generator,
    size: Size,
    page_aspect: float,
    scale: Tuple[float, float] = (0.35, 0.95),
    max_rotation: float = 25.0,
    perspective: float = 0.12,
    outside: float = 0.0,
) -> np.ndarray:
    """Where a page's corners land in a photo of ``size``: TL, TR, BR, BL.

    A rectangle of the page's aspect ratio, scaled so its longer side spans
    ``scale`` of the photo's matching extent, rotated by up to ``max_rotation``
    degrees (document order stays geometric order below 45), each corner pushed by
    up to ``perspective`` of the page size (a camera off the page's normal), then
    shifted to a random place. With ``outside > 0`` some corners may leave the
    photo by up to that fraction of its size; otherwise all stay inside.

    Returns:
        ``4 x 2`` float64 in photo pixels.
    """
    w, h = size
    for _ in range(100):
        s = rng.uniform(*scale)
        # Fit the longer page side against the photo (as a photographer frames it).
        pw, ph = (s * w, s * w / page_aspect) if page_aspect * h >= w else (s * h * page_aspect, s * h)
        rect = np.array([[-pw, -ph], [pw, -ph], [pw, ph], [-pw, ph]], np.float64) / 2
        rect += rng.uniform(-perspective, perspective, (4, 2)) * np.array([pw, ph])
        a = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        quad = rect @ rot.T
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        span = hi - lo
        slack_x = (-outside * w, w - span[0] + outside * w)
        slack_y = (-outside * h, h - span[1] + outside * h)
        if slack_x[1] < slack_x[0] or slack_y[1] < slack_y[0]:
            continue
        offset = np.array([rng.uniform(*slack_x), rng.uniform(*slack_y)]) - lo
        quad = quad + offset - 0.5
        if _convex(quad):
            return quad
    raise ValueError(f"cannot place a page of aspect {page_aspect:.2f} at scale {scale} in a {w}x{h} photo")


def _convex(quad: np.ndarray) -> bool:
    signs = []
    for i in range(4):
        a, b, c = quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]
        signs.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    return all(s > 0 for s in signs) or all(s < 0 for s in signs)


def photograph(
    rng: np.random.Generator,
    page: Optional[np.ndarray],
    background: np.ndarray,
    quad: Optional[np.ndarray],
    effects: float = 1.0,
    occlusion: float = 0.3,
) -> np.ndarray:
    """Put ``page`` onto ``background`` so its corners land on ``quad``, then make it look photographed.

    Args:
        rng: The random stream.
        page: ``h x w x 3`` uint8; None for a photo without a document.
        background: ``H x W x 3`` uint8; the photo has its size.
        quad: ``4 x 2`` TL, TR, BR, BL in photo pixels (see :func:`random_quad`); None without a page.
        effects: Probability of each photometric effect (shadow, glare, blur, noise, JPEG, colour cast).
        occlusion: Probability of an object (a hand, a pen, a mug) over part of the page edge.

    Returns:
        ``H x W x 3`` uint8.
    """
    cv2 = _cv2()
    hgt, wid = background.shape[:2]
    img = background.astype(np.float32)
    if page is not None and quad is not None:
        matrix = homography(page_corners((page.shape[1], page.shape[0])), quad)
        warped = cv2.warpPerspective(page, matrix, (wid, hgt), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Supersampled mask edge: the page border is anti-aliased like a real edge.
        mask = np.zeros((hgt * 4, wid * 4), np.uint8)
        cv2.fillConvexPoly(mask, np.round((quad + 0.5) * 4 * 16 - 0.5 * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
        alpha = cv2.resize(mask, (wid, hgt), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0
        img = img + (warped.astype(np.float32) - img) * alpha
    else:
        quad = np.array([[0, 0], [wid - 1, 0], [wid - 1, hgt - 1], [0, hgt - 1]], np.float64)  # occluders anywhere

    if rng.random() < occlusion:  # something over the page's edge, near a corner
        corner = quad[int(rng.integers(0, 4))]
        toward = quad.mean(axis=0) - corner
        centre = corner + toward * rng.uniform(-0.1, 0.35) + rng.normal(0, 0.04 * min(wid, hgt), 2)
        size = rng.uniform(0.05, 0.18) * min(wid, hgt)
        color = _color(rng, 60, 240) if rng.random() < 0.5 else (int(rng.uniform(150, 235)), int(rng.uniform(100, 190)), int(rng.uniform(80, 160)))
        axes = (max(1, int(size)), max(1, int(size * rng.uniform(0.3, 0.8))))
        cv2.ellipse(img, tuple(int(v) for v in centre), axes, rng.uniform(0, 180), 0, 360, color, -1, cv2.LINE_AA)
    # Light fields are smooth: computed on a coarse grid and resized, at a fraction of the cost.
    gh, gw = max(2, hgt // 8), max(2, wid // 8)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32) * np.float32(8)
    light = np.ones((gh, gw), np.float32)
    if rng.random() < effects:  # uneven light / a soft shadow across the photo
        angle = rng.uniform(0, 2 * np.pi)
        t = ((xx - wid / 2) * np.cos(angle) + (yy - hgt / 2) * np.sin(angle)) / max(wid, hgt)
        if rng.random() < 0.5:
            light = light - rng.uniform(0.1, 0.5) / (1 + np.exp(-t * rng.uniform(8, 40) + rng.uniform(-3, 3)))
        else:
            light = light + t * rng.uniform(-0.6, 0.6)
    glare = np.zeros((gh, gw), np.float32)
    if rng.random() < effects * 0.4:  # glare: a bright soft spot
        c = rng.uniform(0, 1, 2) * [wid, hgt]
        r = rng.uniform(0.05, 0.25) * max(wid, hgt)
        glare = (np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * r * r)) * rng.uniform(60, 200)).astype(np.float32)
    gain = rng.uniform(0.8, 1.15, 3).astype(np.float32) if rng.random() < effects else np.ones(3, np.float32)
    bias = np.float32(rng.uniform(-20, 20) if rng.random() < effects else 0.0)
    light = cv2.resize(light.astype(np.float32), (wid, hgt), interpolation=cv2.INTER_LINEAR)
    glare = cv2.resize(glare, (wid, hgt), interpolation=cv2.INTER_LINEAR)
    img = img * light[..., None] * gain + (glare[..., None] + bias)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < effects * 0.4:
        k = int(rng.choice([3, 5]))
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (k, k), 0)
        else:  # motion blur along a random direction
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < effects * 0.5:
        noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(2, 10))
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    if rng.random() < effects * 0.4:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img

