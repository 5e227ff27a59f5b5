"""Quadrilateral geometry and corner heatmaps: ordering, homographies, polygon IoU, heatmap targets and decoding.

Shared by every task that locates a quadrilateral in a photo (a document's corners,
an MRZ band). Numpy only at import time; OpenCV is imported inside the functions
that warp images.

Conventions:

* points are float ``(x, y)`` in pixels, with pixel centres at integer coordinates
  (OpenCV's ``warpPerspective`` convention);
* a quadrilateral is ``4 x 2`` in the order top-left, top-right, bottom-right,
  bottom-left of the document itself (see :func:`order_corners` to get it from
  unordered points);
* heatmap cell ``(i, j)`` of a map at ``stride`` covers input pixels
  ``[j * stride, (j + 1) * stride)``; its centre is :func:`heatmap_to_image` of ``j``.

>>> quad = np.array([[10, 10], [90, 12], [88, 70], [12, 68]], float)
>>> round(polygon_iou(quad, quad + [1, 0]), 3)
0.974
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "order_corners",
    "homography",
    "apply_homography",
    "polygon_area",
    "polygon_iou",
    "polygon_ious",
    "flatten_size",
    "flatten",
    "scale_points",
    "image_to_heatmap",
    "heatmap_to_image",
    "render_heatmaps",
    "decode_heatmaps",
    "corner_metrics",
    "PCK_LEVELS",
]

ArrayLike = Union[np.ndarray, Sequence[Sequence[float]]]
#: How far beyond a map's border (in cells) the quadratic decoder may place a peak.
BORDER_REACH = 1.0
#: Fractions of the document diagonal at which PCK (percentage of correct keypoints) is reported.
PCK_LEVELS: Tuple[float, ...] = (0.01, 0.02, 0.05)


# --------------------------------------------------------------------------- #
# Corners and homographies
# --------------------------------------------------------------------------- #


def order_corners(points: ArrayLike) -> np.ndarray:
    """Four unordered points -> top-left, top-right, bottom-right, bottom-left.

    Points are sorted clockwise (in image coordinates, y down) by their angle around
    the centroid; the first is the one with the smallest ``x + y`` (nearest the image's
    top-left). Right for documents rotated by less than 45 degrees, which is what
    geometric ordering can promise.

    >>> order_corners([[90, 80], [10, 10], [10, 80], [90, 10]]).tolist()
    [[10.0, 10.0], [90.0, 10.0], [90.0, 80.0], [10.0, 80.0]]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    clockwise = pts[np.argsort(angles)]  # y points down, so increasing angle is clockwise on screen
    start = int(np.argmin(clockwise.sum(axis=1)))
    return np.roll(clockwise, -start, axis=0)


def homography(src: ArrayLike, dst: ArrayLike) -> np.ndarray:
    """The 3x3 projective map taking the four ``src`` points to the four ``dst`` points.

    Solved directly (8 linear equations, ``H[2, 2] = 1``); the same matrix as
    ``cv2.getPerspectiveTransform``, without OpenCV.

    Raises:
        ValueError: three of the points are collinear (no unique map).
    """
    s = np.asarray(src, dtype=np.float64).reshape(4, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(4, 2)
    a = np.zeros((8, 8))
    b = d.reshape(-1)
    for k, ((x, y), (u, v)) in enumerate(zip(s, d)):
        a[2 * k] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * k + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
    try:
        h = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise ValueError("degenerate quadrilateral: three of its points are collinear") from None
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(matrix: np.ndarray, points: ArrayLike) -> np.ndarray:
    """Map ``... x 2`` points through a 3x3 homography."""
    pts = np.asarray(points, dtype=np.float64)
    flat = pts.reshape(-1, 2)
    mapped = np.c_[flat, np.ones(len(flat))] @ np.asarray(matrix, np.float64).T
    return (mapped[:, :2] / mapped[:, 2:3]).reshape(pts.shape)


def scale_points(points: ArrayLike, from_size: Tuple[int, int], to_size: Tuple[int, int]) -> np.ndarray:
    """Map points between two resolutions of the same image (pixel-centre convention).

    Args:
        points: ``... x 2`` ``(x, y)``.
        from_size: ``(width, height)`` the points are in.
        to_size: ``(width, height)`` to map them to.

    >>> scale_points([[0.5, 0.5]], (2, 2), (4, 4)).tolist()
    [[1.5, 1.5]]
    """
    pts = np.asarray(points, dtype=np.float64)
    scale = np.array([to_size[0] / from_size[0], to_size[1] / from_size[1]])
    return (pts + 0.5) * scale - 0.5


# --------------------------------------------------------------------------- #
# Polygon area and IoU
# --------------------------------------------------------------------------- #


def polygon_area(polygon: ArrayLike) -> float:
    """Area of a simple polygon (shoelace formula, orientation ignored)."""
    p = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _segment_crossing(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> Optional[np.ndarray]:
    """The point where segments p1p2 and q1q2 cross in their interiors, else None."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        t = d1 / (d1 - d2)
        return p1 + t * (p2 - p1)
    return None


def _quad_triangles(quad: np.ndarray) -> list:
    """Split a quadrilateral into triangles whose interiors do not overlap.

    A simple quad (convex or not) splits along the diagonal that stays inside it;
    a self-intersecting one ("bow tie") is the two triangles on either side of the
    crossing, i.e. the region it encloses under the usual fill rules.
    """
    p = quad
    for i in (0, 1):  # edges (0,1)x(2,3) and (1,2)x(3,0)
        x = _segment_crossing(p[i], p[i + 1], p[i + 2], p[(i + 3) % 4])
        if x is not None:
            return [np.array([x, p[i + 1], p[i + 2]]), np.array([x, p[(i + 3) % 4], p[i]])]
    area = polygon_area(p)
    for a, b, c, d in ((0, 1, 2, 3), (1, 2, 3, 0)):
        t1, t2 = np.array([p[a], p[b], p[c]]), np.array([p[a], p[c], p[d]])
        if abs(polygon_area(t1) + polygon_area(t2) - area) <= 1e-9 * max(area, 1.0):
            return [t1, t2]
    return [np.array([p[0], p[1], p[2]]), np.array([p[0], p[2], p[3]])]


def _clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex ``subject`` inside convex ``clip`` (any orientation)."""
    signed = np.dot(clip[:, 0], np.roll(clip[:, 1], -1)) - np.dot(clip[:, 1], np.roll(clip[:, 0], -1))
    if signed == 0:
        return np.zeros((0, 2))
    sign = 1.0 if signed > 0 else -1.0
    output = subject
    for k in range(len(clip)):
        a, b = clip[k], clip[(k + 1) % len(clip)]
        if len(output) == 0:
            break
        current, output = output, []
        for i in range(len(current)):
            p, q = current[i], current[(i + 1) % len(current)]
            p_in, q_in = sign * _cross(a, b, p) >= 0, sign * _cross(a, b, q) >= 0
            if p_in:
                output.append(p)
            if p_in != q_in:
                dp, dq = _cross(a, b, p), _cross(a, b, q)
                output.append(p + (q - p) * (dp / (dp - dq)))
        output = np.array(output) if output else np.zeros((0, 2))
    return np.asarray(output).reshape(-1, 2)


def polygon_iou(pred: ArrayLike, true: ArrayLike) -> float:
    """Intersection over union (Jaccard index) of two quadrilaterals, exactly.

    The SmartDoc measure of a found document. Either quad may be concave or
    self-intersecting (a prediction with two corners swapped): a bow tie counts as
    the two triangles it encloses, so a crossed prediction scores well below the
    true page, never above it.

    Args:
        pred: ``4 x 2`` predicted corners.
        true: ``4 x 2`` true corners.

    Returns:
        IoU in ``[0, 1]``; 0 when both are degenerate.

    >>> square = [[0, 0], [2, 0], [2, 2], [0, 2]]
    >>> polygon_iou(square, [[1, 0], [3, 0], [3, 2], [1, 2]])
    0.3333333333333333
    """
    a = np.asarray(pred, dtype=np.float64).reshape(4, 2)
    b = np.asarray(true, dtype=np.float64).reshape(4, 2)
    ta, tb = _quad_triangles(a), _quad_triangles(b)
    area_a = sum(polygon_area(t) for t in ta)
    area_b = sum(polygon_area(t) for t in tb)
    inter = 0.0
    for s in ta:
        for c in tb:
            piece = _clip_convex(s, c)
            if len(piece) >= 3:
                inter += polygon_area(piece)
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def polygon_ious(pred: ArrayLike, true: ArrayLike) -> np.ndarray:
    """:func:`polygon_iou` of each pair in ``n x 4 x 2`` batches."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4, 2)
    t = np.asarray(true, dtype=np.float64).reshape(-1, 4, 2)
    return np.array([polygon_iou(a, b) for a, b in zip(p, t)])


# --------------------------------------------------------------------------- #
# Flattening
# --------------------------------------------------------------------------- #


def flatten_size(corners: ArrayLike, max_side: Optional[int] = None) -> Tuple[int, int]:
    """``(width, height)`` of the upright page: the mean lengths of opposite sides.

    Perspective shortens the far side; averaging both keeps the page's aspect ratio
    close to the real one. ``max_side`` scales the result down to fit.
    """
    c = np.asarray(corners, dtype=np.float64).reshape(4, 2)
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    if max_side and max(width, height) > max_side:
        factor = max_side / max(width, height)
        width, height = width * factor, height * factor
    return max(1, int(round(width))), max(1, int(round(height)))


def flatten(image: np.ndarray, corners: ArrayLike, size: Optional[Tuple[int, int]] = None, max_side: Optional[int] = None) -> np.ndarray:
    """Warp the quadrilateral ``corners`` of ``image`` to an upright page.

    Args:
        image: ``H x W`` or ``H x W x C`` array.
        corners: ``4 x 2`` TL, TR, BR, BL in ``image``'s pixels.
        size: Output ``(width, height)``; default :func:`flatten_size`.
        max_side: With the default size, cap the longer side.

    Returns:
        The page, ``height x width (x C)``, same dtype as ``image``.
    """
    import cv2

    width, height = size or flatten_size(corners, max_side)
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    matrix = homography(corners, dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- #
# Heatmaps
# --------------------------------------------------------------------------- #


def image_to_heatmap(points: ArrayLike, stride: float) -> np.ndarray:
    """Input-pixel coordinates -> heatmap-cell coordinates (cell ``j``'s centre is ``j``)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / stride - 0.5


def heatmap_to_image(points: ArrayLike, stride: float) -> np.ndarray:
    """Heatmap-cell coordinates -> input-pixel coordinates; the inverse of :func:`image_to_heatmap`."""
    return (np.asarray(points, dtype=np.float64) + 0.5) * stride - 0.5


def render_heatmaps(points: ArrayLike, size: Tuple[int, int], stride: float = 1.0, sigma: float = 1.5) -> np.ndarray:
    """Gaussian target maps, one per point, peak 1 at the point's exact (sub-cell) position.

    A point outside the map still leaves the tail of its Gaussian along the border,
    which tells the model which way the corner lies.

    Args:
        points: ``k x 2`` in input pixels.
        size: ``(height, width)`` of the heatmaps.
        stride: Input pixels per heatmap cell.
        sigma: Standard deviation in heatmap cells.

    Returns:
        ``k x height x width`` float32.

    >>> hm = render_heatmaps([[6.5, 2.5]], (4, 4), stride=2)
    >>> np.unravel_index(hm[0].argmax(), hm[0].shape), float(hm[0].max())
    ((np.int64(1), np.int64(3)), 1.0)
    """
    height, width = size
    cells = image_to_heatmap(np.asarray(points, dtype=np.float64).reshape(-1, 2), stride)
    ys = np.arange(height, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    gx = np.exp(-((xs[None, :] - cells[:, :1]) ** 2) / (2 * sigma**2))  # k x W
    gy = np.exp(-((ys[None, :] - cells[:, 1:]) ** 2) / (2 * sigma**2))  # k x H
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def decode_heatmaps(heatmaps: np.ndarray, stride: float = 1.0, method: str = "quadratic", eps: float = 1e-6) -> Tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak positions of heatmaps.

    ``quadratic``: the arg-max cell, refined by fitting a parabola to ``log(heatmap)``
    through it and its two neighbours along each axis. A Gaussian's log is a
    parabola, so a Gaussian peak is found exactly; the shift is clamped to half a
    cell, except on a border cell, where the fit uses the border and the next two
    cells and may place the peak up to :data:`BORDER_REACH` cells outside the map.
    ``argmax``: the arg-max cell's centre.

    Args:
        heatmaps: ``... x k x H x W``, non-negative (probabilities, e.g. after a sigmoid).
        stride: Input pixels per cell; the points come back in input pixels.
        method: ``"quadratic"`` or ``"argmax"``.
        eps: Floor under values before the log.

    Returns:
        ``(points ... x k x 2, scores ... x k)``; the score is the arg-max cell's value.

    >>> pts, score = decode_heatmaps(render_heatmaps([[3.3, 4.6]], (9, 9)))
    >>> np.round(pts, 6).tolist(), round(float(score[0]), 3)
    ([[3.3, 4.6]], 0.946)
    """
    if method not in ("quadratic", "argmax"):
        raise ValueError(f"method must be 'quadratic' or 'argmax', got {method!r}")
    hm = np.asarray(heatmaps, dtype=np.float64)
    *lead, height, width = hm.shape
    flat = hm.reshape(-1, height * width)
    idx = flat.argmax(axis=1)
    scores = flat[np.arange(len(flat)), idx]
    y, x = np.divmod(idx, width)
    px, py = x.astype(np.float64), y.astype(np.float64)
    if method == "quadratic":
        maps = hm.reshape(-1, height, width)
        rows = np.arange(len(flat))

        def value(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
            return np.log(np.maximum(maps[rows, np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)], eps))

        if width >= 3:
            cx = np.clip(x, 1, width - 2)
            px = _refine(x, cx, value(y, cx - 1), value(y, cx), value(y, cx + 1), width)
        if height >= 3:
            cy = np.clip(y, 1, height - 2)
            py = _refine(y, cy, value(cy - 1, x), value(cy, x), value(cy + 1, x), height)
    points = heatmap_to_image(np.stack([px, py], axis=-1), stride)
    return points.reshape(*lead, 2), scores.reshape(lead)


def _refine(peak: np.ndarray, centre: np.ndarray, left: np.ndarray, mid: np.ndarray, right: np.ndarray, length: int) -> np.ndarray:
    """The vertex of the parabola through three log-values around ``centre``, kept near ``peak``.

    Inside the map the arg-max cell is the middle sample, and the vertex stays within
    half a cell of it. On a border cell the three samples are the border and its two
    inner neighbours, and the vertex may lie up to :data:`BORDER_REACH` cells beyond the
    border: a corner just outside the image still leaves the rising half of its
    Gaussian, which locates it.
    """
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(curvature < 0, centre + 0.5 * (left - right) / curvature, peak.astype(np.float64))
    low = np.where(peak > 0, peak - 0.5, -BORDER_REACH)
    high = np.where(peak < length - 1, peak + 0.5, length - 1 + BORDER_REACH)
    return np.clip(vertex, low, high)


# --------------------------------------------------------------------------- #
# Metrics
# --------------------------------------------------------------------------- #


def corner_metrics(pred: ArrayLike, true: ArrayLike, pck_levels: Sequence[float] = PCK_LEVELS) -> Dict[str, Any]:
    """Per-sample quality of predicted quadrilaterals, in the images' own pixels.

    Args:
        pred: ``n x 4 x 2`` predicted corners.
        true: ``n x 4 x 2`` true corners (same pixels as ``pred``).
        pck_levels: Fractions of the true diagonal for PCK.

    Returns:
        Arrays of length ``n``: ``iou`` (polygon IoU), ``err_px`` (mean corner distance),
        ``err_diag`` (that distance over the true quad's longer diagonal) and
        ``pck@<level>`` (fraction of the four corners within ``level`` of the diagonal).
        Summaries: ``iou_mean``, ``iou_p5`` (5th percentile), ``err_px_mean``,
        ``err_diag_mean``, ``pck@<level>_mean``.

    >>> m = corner_metrics([[[0, 0], [10, 0], [10, 10], [0, 10]]], [[[0, 0], [10, 0], [10, 10], [0, 10]]])
    >>> m["iou_mean"], m["err_px_mean"], m["pck@0.01_mean"]
    (1.0, 0.0, 1.0)
    """
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4, 2)
    t = np.asarray(true, dtype=np.float64).reshape(-1, 4, 2)
    dist = np.linalg.norm(p - t, axis=-1)  # n x 4
    diag = np.maximum(np.maximum(np.linalg.norm(t[:, 2] - t[:, 0], axis=-1), np.linalg.norm(t[:, 3] - t[:, 1], axis=-1)), 1e-9)
    out: Dict[str, Any] = {
        "iou": polygon_ious(p, t),
        "err_px": dist.mean(axis=1),
        "err_diag": dist.mean(axis=1) / diag,
    }
    for level in pck_levels:
        out[f"pck@{level:g}"] = (dist <= level * diag[:, None]).mean(axis=1)
    n = len(p)
    out["iou_mean"] = float(out["iou"].mean()) if n else 0.0
    out["iou_p5"] = float(np.percentile(out["iou"], 5)) if n else 0.0
    out["err_px_mean"] = float(out["err_px"].mean()) if n else 0.0
    out["err_diag_mean"] = float(out["err_diag"].mean()) if n else 0.0
    for level in pck_levels:
        out[f"pck@{level:g}_mean"] = float(out[f"pck@{level:g}"].mean()) if n else 0.0
    return out
