"""otter.geometry: corner ordering, homographies, polygon IoU, heatmap targets and sub-pixel decoding."""

import numpy as np
import pytest

from otter.geometry import (
    apply_homography,
    corner_metrics,
    decode_heatmaps,
    flatten,
    flatten_size,
    heatmap_to_image,
    homography,
    image_to_heatmap,
    order_corners,
    polygon_area,
    polygon_iou,
    render_heatmaps,
    scale_points,
)

SQUARE = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.5])
def test_quadratic_decode_finds_gaussian_peaks_exactly(stride, sigma):
    rng = np.random.default_rng(stride * 10 + int(sigma * 2))
    size = (24, 20)  # height, width
    # Anywhere on the map, border cells included.
    cells = np.stack([rng.uniform(-0.5, size[1] - 0.5, 4), rng.uniform(-0.5, size[0] - 0.5, 4)], axis=1)
    points = heatmap_to_image(cells, stride)
    maps = render_heatmaps(points, size, stride, sigma)
    found, scores = decode_heatmaps(maps, stride)
    assert found.shape == (4, 2) and scores.shape == (4,)
    np.testing.assert_allclose(found, points, atol=1e-4 * stride)
    assert np.all(scores > np.exp(-0.5 / sigma**2) - 1e-6)  # the arg-max cell is within half a cell of the peak


def test_argmax_decode_is_off_by_the_sub_cell_offset_that_quadratic_recovers():
    points = np.array([[5.3, 7.8]])
    maps = render_heatmaps(points, (16, 16), stride=1, sigma=1.5)
    coarse, _ = decode_heatmaps(maps, method="argmax")
    fine, _ = decode_heatmaps(maps, method="quadratic")
    np.testing.assert_allclose(coarse, [[5.0, 8.0]])
    np.testing.assert_allclose(fine, points, atol=1e-6)


def test_decode_batches_and_scaled_peaks():
    points = np.array([[[3.2, 4.7], [10.1, 2.6], [8.8, 9.9], [2.5, 11.4]], [[6.6, 6.6], [12.2, 3.3], [11.0, 12.0], [4.4, 12.1]]])
    maps = np.stack([render_heatmaps(p, (16, 16)) for p in points]) * 0.4  # a lower, still Gaussian peak
    found, scores = decode_heatmaps(maps)
    assert found.shape == (2, 4, 2) and scores.shape == (2, 4)
    np.testing.assert_allclose(found, points, atol=1e-5)
    assert np.all(scores <= 0.4 + 1e-6)


def test_decode_reaches_just_past_the_border_and_no_further():
    # Peaks on the border cell or up to one cell outside: the rising half of the Gaussian locates them.
    for x in (0.2, -0.4, -0.9, 7.6):
        found, _ = decode_heatmaps(render_heatmaps([[x, 5.0]], (8, 8)))
        np.testing.assert_allclose(found[0], [x, 5.0], atol=1e-5)
    # Further out, the answer stops one cell beyond the border.
    found, _ = decode_heatmaps(render_heatmaps([[-3.0, 5.0]], (8, 8)))
    assert found[0, 0] == pytest.approx(-1.0) and found[0, 1] == pytest.approx(5.0, abs=1e-5)
    with pytest.raises(ValueError, match="method"):
        decode_heatmaps(render_heatmaps([[3.0, 5.0]], (8, 8)), method="centroid")


def test_heatmap_cell_centres_map_back_and_forth():
    xy = np.array([[0.0, 0.0], [13.7, 2.2]])
    np.testing.assert_allclose(heatmap_to_image(image_to_heatmap(xy, 4), 4), xy)
    # Cell 0 at stride 4 covers pixels 0..3; its centre is pixel 1.5.
    assert heatmap_to_image([0.0, 0.0], 4).tolist() == [1.5, 1.5]


def test_render_heatmaps_peak_value_and_shape():
    maps = render_heatmaps([[6.0, 2.0], [2.5, 0.5]], (3, 5), stride=2, sigma=1.0)
    assert maps.shape == (2, 3, 5) and maps.dtype == np.float32
    assert maps.max() <= 1.0 and maps[1].max() == pytest.approx(1.0)


# --------------------------------------------------------------------------- polygons


def test_iou_of_known_polygons():
    assert polygon_iou(SQUARE, SQUARE) == pytest.approx(1.0)
    assert polygon_iou(SQUARE, SQUARE + [2, 0]) == pytest.approx(8 / 24)
    assert polygon_iou(SQUARE, SQUARE + [10, 0]) == 0.0
    inner = np.array([[1, 1], [3, 1], [3, 3], [1, 3]], float)
    assert polygon_iou(inner, SQUARE) == pytest.approx(4 / 16)
    # Orientation does not matter (counter-clockwise vertices).
    assert polygon_iou(SQUARE[::-1], inner) == pytest.approx(4 / 16)


def test_iou_of_a_rotated_square_matches_the_closed_form():
    # A square rotated 45 degrees inside another: the intersection is an octagon.
    r = 2.0
    diamond = np.array([[2, 2 - r * np.sqrt(2)], [2 + r * np.sqrt(2), 2], [2, 2 + r * np.sqrt(2)], [2 - r * np.sqrt(2), 2]])
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    # Each diamond tip beyond the square cuts a triangle of area (2*sqrt(2) - 2)^2.
    cut = (2 * np.sqrt(2) - 2) ** 2
    inter = polygon_area(diamond) - 4 * cut  # the diamond less its four tips
    expected = inter / (16 + polygon_area(diamond) - inter)
    assert polygon_iou(diamond, square) == pytest.approx(expected, rel=1e-9)


def test_self_intersecting_prediction_counts_as_its_two_lobes():
    # TR and BR swapped: a bow tie whose two triangles cover half the square.
    bow_tie = np.array([[0, 0], [4, 4], [4, 0], [0, 4]], float)
    assert polygon_iou(bow_tie, SQUARE) == pytest.approx(0.5)
    # Shoelace area of a bow tie is 0; the IoU must not fall back to that (or exceed the true overlap).
    assert polygon_iou(SQUARE, bow_tie) == pytest.approx(0.5)
    assert polygon_iou(bow_tie, bow_tie) == pytest.approx(1.0)


def test_concave_prediction():
    dart = np.array([[0, 0], [4, 0], [1, 2], [0, 4]], float)  # reflex vertex at (1, 2)
    area = polygon_area(dart)
    assert polygon_iou(dart, SQUARE) == pytest.approx(area / 16)


def test_degenerate_polygons_give_zero():
    line = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], float)
    assert polygon_iou(line, line) == 0.0


# --------------------------------------------------------------------------- corners and warping


def test_order_corners_from_any_permutation():
    quad = np.array([[12, 10], [95, 18], [90, 80], [8, 70]], float)
    for perm in ([0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]):
        np.testing.assert_allclose(order_corners(quad[perm]), quad)


def test_homography_maps_the_four_points_and_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    src = np.array([[0, 0], [99, 0], [99, 49], [0, 49]], float)
    dst = np.array([[10, 5], [80, 12], [85, 60], [5, 55]], float)
    matrix = homography(src, dst)
    np.testing.assert_allclose(apply_homography(matrix, src), dst, atol=1e-9)
    np.testing.assert_allclose(matrix, cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)), atol=1e-6)
    with pytest.raises(ValueError, match="collinear"):
        homography([[0, 0], [1, 1], [2, 2], [3, 3]], dst)


def test_flatten_recovers_an_upright_page_at_its_aspect_ratio():
    page = np.zeros((60, 90, 3), np.uint8)
    page[:, :45] = 255  # left half white
    corners_page = np.array([[-0.5, -0.5], [89.5, -0.5], [89.5, 59.5], [-0.5, 59.5]])
    quad = np.array([[30, 20], [150, 30], [140, 110], [25, 100]], float)
    import cv2

    photo = cv2.warpPerspective(page, homography(corners_page, quad), (180, 130))
    width, height = flatten_size(quad)
    assert 1.2 < width / height < 1.7  # the page is 3:2
    flat = flatten(photo, quad)
    assert flat.shape[:2] == (height, width)
    assert flat[:, : width // 3].mean() > 200 and flat[:, -width // 3 :].mean() < 40
    assert max(flatten_size(quad, max_side=50)) == 50


def test_scale_points_uses_pixel_centres():
    np.testing.assert_allclose(scale_points([[0.0, 0.0], [3.0, 1.0]], (4, 2), (8, 4)), [[0.5, 0.5], [6.5, 2.5]])


# --------------------------------------------------------------------------- metrics


def test_corner_metrics_on_known_errors():
    true = np.tile(np.array([[0, 0], [300, 0], [300, 400], [0, 400]], float), (3, 1, 1))  # diagonal 500
    pred = true.copy()
    pred[1, 0] += [3, 4]  # one corner 5 px (1% of the diagonal) off
    pred[2] += 20  # every corner 28.3 px off
    m = corner_metrics(pred, true)
    np.testing.assert_allclose(m["err_px"], [0.0, 1.25, 20 * np.sqrt(2)])
    np.testing.assert_allclose(m["err_diag"], m["err_px"] / 500)
    np.testing.assert_allclose(m["pck@0.01"], [1.0, 1.0, 0.0])  # 5 px <= 1% of 500
    np.testing.assert_allclose(m["pck@0.05"], [1.0, 1.0, 0.0])
    assert m["iou"][0] == 1.0 and m["iou"][1] < 1.0 and m["iou"][2] < m["iou"][1]
    assert m["iou_mean"] == pytest.approx(m["iou"].mean())
    assert m["iou_p5"] <= m["iou"].min() + 0.1 * (m["iou"].max() - m["iou"].min())
