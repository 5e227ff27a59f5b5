"""otter.corners (FPN neck, heatmap head, exportable decoder, losses) and otter.photo (synthetic document photos)."""

import numpy as np
import pytest
import torch

from otter.corners import HEATMAP_LOSSES, CornerHeatmapHead, FPNNeck, HeatmapLoss, decode_heatmaps_torch
from otter.geometry import decode_heatmaps, heatmap_to_image, render_heatmaps
from otter.photo import PAGE_SHAPES, page_corners, photograph, random_quad, render_background, render_page

# --------------------------------------------------------------------------- decoder


def test_torch_decoder_finds_gaussian_peaks_exactly_and_agrees_with_numpy():
    rng = np.random.default_rng(0)
    cells = np.stack([rng.uniform(-0.9, 31.9, (3, 4)), rng.uniform(-0.9, 23.9, (3, 4))], axis=-1)  # batch 3, 4 corners
    points = heatmap_to_image(cells, 4)
    maps = np.stack([render_heatmaps(p, (24, 32), stride=4, sigma=1.5) for p in points])
    found, scores = decode_heatmaps_torch(torch.from_numpy(maps).double(), stride=4)
    assert found.shape == (3, 4, 2) and scores.shape == (3, 4)
    np.testing.assert_allclose(found.numpy(), points, atol=1e-6)
    # Any maps, not only Gaussians: the same numbers as the numpy decoder.
    noisy = rng.random((2, 4, 10, 12))
    want, want_scores = decode_heatmaps(noisy, stride=2)
    have, have_scores = decode_heatmaps_torch(torch.from_numpy(noisy), stride=2)
    np.testing.assert_allclose(have.numpy(), want, atol=1e-9)
    np.testing.assert_allclose(have_scores.numpy(), want_scores)


def test_torch_decoder_exports_to_onnx_with_the_same_numbers(tmp_path):
    ort = pytest.importorskip("onnxruntime")

    class Decode(torch.nn.Module):
        def forward(self, x):
            return decode_heatmaps_torch(torch.sigmoid(x), 4)

    x = torch.randn(2, 4, 8, 8) * 3
    path = tmp_path / "decode.onnx"
    torch.onnx.export(Decode(), (x,), str(path), input_names=["x"], output_names=["points", "scores"],
                      dynamic_axes={"x": {0: "b"}}, opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        xb = torch.randn(batch, 4, 8, 8) * 3
        points, scores = session.run(None, {"x": xb.numpy()})
        want_points, want_scores = Decode()(xb)
        np.testing.assert_allclose(points, want_points.numpy(), atol=1e-4)
        np.testing.assert_allclose(scores, want_scores.numpy(), atol=1e-6)


# --------------------------------------------------------------------------- neck and head


def test_neck_and_head_shapes_at_each_stride():
    maps = [torch.zeros(2, c, 64 // s, 64 // s) for c, s in zip([8, 16, 32, 64], [2, 4, 8, 16])]
    for stride in (2, 4, 8):
        neck = FPNNeck([8, 16, 32, 64], [2, 4, 8, 16], channels=12, out_stride=stride, depth=2)
        out = CornerHeatmapHead(neck.channels, hidden=8)(neck(maps))
        assert out.shape == (2, 4, 64 // stride, 64 // stride)
    with pytest.raises(ValueError, match="out_stride 3"):
        FPNNeck([8, 16], [2, 4], out_stride=3)
    with pytest.raises(ValueError, match="in_channels_list"):
        FPNNeck(reductions=[2, 4])


def test_head_starts_from_a_low_prior():
    head = CornerHeatmapHead(8, prior=0.01).eval()
    prob = torch.sigmoid(head(torch.zeros(1, 8, 4, 4)))
    assert torch.allclose(prob, torch.full_like(prob, 0.01), atol=1e-4)


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("kind", HEATMAP_LOSSES)
def test_each_loss_prefers_the_true_peak_and_trains(kind):
    target = torch.from_numpy(render_heatmaps([[10, 12], [20, 5], [25, 25], [3, 28]], (32, 32)))[None]
    shifted = torch.roll(target, shifts=3, dims=-1)
    loss = HeatmapLoss(kind)

    def logits(p):
        return torch.logit(p.clamp(1e-4, 1 - 1e-4))

    assert loss(logits(target), target) < loss(logits(shifted), target)
    # A few steps of gradient descent on free logits move the peak to the target.
    free = torch.full_like(target, -4.0).requires_grad_(True)
    opt = torch.optim.Adam([free], lr=0.3)
    for _ in range(60):
        opt.zero_grad()
        loss(free, target).backward()
        opt.step()
    found, _ = decode_heatmaps_torch(torch.sigmoid(free.detach()), 1)
    np.testing.assert_allclose(found[0].numpy(), [[10, 12], [20, 5], [25, 25], [3, 28]], atol=0.5)


def test_coordinate_term_is_zero_at_the_target_and_skips_empty_maps():
    # Peaks away from the border: the target's centre is the point itself.
    target = torch.from_numpy(render_heatmaps([[10, 12], [20, 8], [24, 22], [8, 20]], (32, 32)))[None]
    with_coords = HeatmapLoss("focal_mse", coord_weight=1.0)
    plain = HeatmapLoss("focal_mse")
    sharp = torch.where(target > 0.999, 30.0, -30.0)  # soft-argmax lands exactly on the peaks
    assert with_coords(sharp, target) - plain(sharp, target) < 1e-3
    shifted = torch.roll(sharp, shifts=2, dims=-1)
    assert with_coords(shifted, target) - plain(shifted, target) == pytest.approx(2.0, abs=1e-2)  # 2 cells off in x
    empty = torch.zeros_like(target)
    assert with_coords(shifted, empty) == pytest.approx(float(plain(shifted, empty)))


def test_unknown_loss_kind():
    with pytest.raises(ValueError, match="focal_mse"):
        HeatmapLoss("l1")


# --------------------------------------------------------------------------- photos


def test_photo_parts_are_fixed_by_the_seed():
    def make(seed):
        rng = np.random.default_rng(seed)
        page = render_page(rng, (60, 80))
        bg = render_background(rng, (96, 72))
        quad = random_quad(rng, (96, 72), 60 / 80)
        return page, bg, quad, photograph(rng, page, bg, quad)

    a, b, c = make(3), make(3), make(4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[3], c[3])


def test_random_quad_keeps_corners_inside_unless_allowed_out():
    rng = np.random.default_rng(1)
    outside_seen = False
    for _ in range(200):
        quad = random_quad(rng, (160, 120), PAGE_SHAPES["card"], scale=(0.3, 0.95))
        assert quad[:, 0].min() >= -0.5 and quad[:, 0].max() <= 159.5 and quad[:, 1].min() >= -0.5 and quad[:, 1].max() <= 119.5
        loose = random_quad(rng, (160, 120), PAGE_SHAPES["a4"], outside=0.1)
        assert loose[:, 0].min() >= -16.5 and loose[:, 0].max() <= 175.5
        outside_seen |= bool((loose < -0.5).any() or (loose[:, 0] > 159.5).any() or (loose[:, 1] > 119.5).any())
        # TL, TR, BR, BL: clockwise on screen (positive shoelace sum with y down).
        x, y = quad[:, 0], quad[:, 1]
        assert np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) > 0
    assert outside_seen


def test_photograph_puts_the_page_where_the_quad_says():
    rng = np.random.default_rng(2)
    page = np.zeros((40, 60, 3), np.uint8)
    page[:20, :30] = (255, 0, 0)  # top-left quarter red
    page[20:, 30:] = (0, 0, 255)  # bottom-right quarter blue
    bg = np.full((100, 120, 3), (0, 255, 0), np.uint8)
    quad = np.array([[20, 10], [100, 15], [95, 85], [25, 90]], float)
    photo = photograph(rng, page, bg, quad, effects=0.0, occlusion=0.0)
    near_tl = photo[18, 30]
    near_br = photo[78, 88]
    assert near_tl[0] > 200 and near_tl[1] < 50
    assert near_br[2] > 200 and near_br[1] < 50
    assert tuple(photo[2, 2]) == (0, 255, 0) and tuple(photo[97, 117]) == (0, 255, 0)
    assert page_corners((60, 40))[2].tolist() == [59.5, 39.5]
    empty = photograph(rng, None, bg, None, effects=0.0, occlusion=0.0)
    np.testing.assert_array_equal(empty, bg)
