"""Unit tests of the aligner's parts: datasets (synthetic and real), label checks, model, export wrapper, flattening.

Tiny sizes throughout (64x64 inputs, a handful of samples); the file runs in seconds on a CPU.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from otter import OtterConfigError, OtterError
from otter.geometry import decode_heatmaps, flatten, polygon_iou, scale_points

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT = PROJECT_DIR.name
dataset = importlib.import_module(f"{PROJECT}.model.dataset")
model_module = importlib.import_module(f"{PROJECT}.model.model")
to_onnx = importlib.import_module(f"{PROJECT}.model.to_onnx")
infer = importlib.import_module(f"{PROJECT}.infer")

SIZE = 64


def tiny_cfg(tmp_path: Path, stride: int = 4) -> dict:
    return {
        "common": {"batch_size": 4, "image_size": [SIZE, SIZE]},
        "global_settings": {"image_size": [SIZE, SIZE], "heatmap_stride": stride},
        "model": {
            "name": "AlignerModel",
            "backbone": {"name": "Backbone", "options": {"name": "lcnet_050", "pretrained": False, "features_only": True}},
            "neck": {"name": "FPNNeck", "options": {"channels": 8}},
            "head": {"name": "CornerHeatmapHead", "options": {"hidden": 8}},
            "loss": {"name": "HeatmapLoss", "options": {"kind": "focal_mse"}},
        },
        "optimizer": {"name": "AdamW", "options": {"lr": 1e-3}},
        "root_dir": str(tmp_path),
    }


# --------------------------------------------------------------------------- synthetic data


def test_training_sample_targets_decode_back_to_its_corners():
    ds = dataset.SynthAlignDataset(image_size=SIZE, length_of_dataset=8, outside_ratio=0.0, empty_ratio=0.0, seed=0)
    for i in range(4):
        sample = ds[i]
        assert sample["image"].shape == (3, SIZE, SIZE) and sample["image"].dtype == torch.float32
        assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
        assert sample["heatmaps"].shape == (4, SIZE // 4, SIZE // 4)
        assert float(sample["has_doc"]) == 1.0 and sample["size"].tolist() == [SIZE, SIZE]
        found, _ = decode_heatmaps(sample["heatmaps"].numpy(), stride=4)
        np.testing.assert_allclose(found, sample["corners"].numpy(), atol=1e-3)


def test_empty_photos_have_no_targets():
    ds = dataset.SynthAlignDataset(image_size=SIZE, length_of_dataset=4, empty_ratio=1.0)
    sample = ds[0]
    assert float(sample["has_doc"]) == 0.0 and float(sample["heatmaps"].abs().sum()) == 0.0


def test_validation_set_is_fixed_unseen_and_in_original_pixels():
    a = dataset.SynthAlignValidDataset(image_size=SIZE, num_samples=4, photo_size=[96, 72])
    b = dataset.SynthAlignValidDataset(image_size=SIZE, num_samples=4, photo_size=[96, 72])
    for i in range(4):
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["corners"], b[i]["corners"])
        assert sorted(a[i]["size"].tolist()) == [72.0, 96.0]
        # The targets are at the input size; the corners stay in the 96x72 (or 72x96) original.
        width, height = a[i]["size"].tolist()
        found, _ = decode_heatmaps(a[i]["heatmaps"].numpy(), stride=4)
        back = scale_points(found, (SIZE, SIZE), (width, height))
        assert polygon_iou(back, a[i]["corners"].numpy()) > 0.9
    assert a.first_id >= dataset.VALID_FIRST_ID  # never a training design or background
    with pytest.raises(IndexError):
        a.raw(4)


def test_dataset_options_are_checked():
    with pytest.raises(OtterConfigError, match=r"dataset\.train_options\.options\.heatmap_stride"):
        dataset.SynthAlignDataset(image_size=SIZE, heatmap_stride=3)
    with pytest.raises(OtterConfigError, match=r"dataset\.train_options\.options\.outside_ratio"):
        dataset.SynthAlignDataset(image_size=SIZE, outside_ratio=1.5)


def test_validation_set_takes_the_training_sets_photo_options(project):
    import inspect

    # One list of photo options (same names, same defaults), and nothing else accepted.
    params = inspect.signature(dataset.SynthAlignValidDataset).parameters
    train = inspect.signature(dataset.SynthAlignDataset).parameters
    assert all(params[name].default == train[name].default for name in dataset.PHOTO_OPTIONS)
    assert "empty_ratio" not in params and "length_of_dataset" not in params
    valid = dataset.SynthAlignValidDataset(image_size=SIZE, num_samples=2, outside_ratio=0.5, sigma=2.0)
    assert (valid.outside_ratio, valid.sigma, valid.empty_ratio, len(valid)) == (0.5, 2.0, 0.0, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sigmaa'"):
        dataset.SynthAlignValidDataset(image_size=SIZE, sigmaa=2.0)
    with pytest.raises(OtterConfigError, match=r"dataset\.valid_options\.options\.outside_ratio"):
        dataset.SynthAlignValidDataset(image_size=SIZE, outside_ratio=1.5)
    # `check` reads the same signature: a misspelt option is one line with the close name.
    out = project.run("check", "default", "dataset.valid_options.options.sigmaa=2")
    assert out.returncode == 2 and "dataset.valid_options.options.sigmaa" in out.stderr and "sigma" in out.stderr.split("sigmaa", 1)[1], out.stderr


# --------------------------------------------------------------------------- real data


def write_photo(folder: Path, name: str, size=(80, 60)) -> Path:
    path = folder / "images" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)
    return path


def write_label(folder: Path, stem: str, corners) -> Path:
    path = folder / "labels" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"corners": corners}))
    return path


GOOD = [[10, 8], [70, 10], [68, 50], [12, 52]]


def test_real_folder_with_json_labels(tmp_path):
    write_photo(tmp_path, "a.jpg")
    write_photo(tmp_path, "b.png")
    write_label(tmp_path, "a", GOOD)
    write_label(tmp_path, "b", GOOD)
    ds = dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)
    assert len(ds) == 2
    sample = ds[0]
    assert sample["corners"].tolist() == [[float(v) for v in p] for p in GOOD] and sample["size"].tolist() == [80, 60]
    found, _ = decode_heatmaps(sample["heatmaps"].numpy(), stride=4)
    np.testing.assert_allclose(scale_points(found, (SIZE, SIZE), (80, 60)), GOOD, atol=1e-2)
    augmented = dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE, aug_ratio=1.0)[0]
    assert augmented["image"].shape == (3, SIZE, SIZE)
    # A longer epoch cycles through the photos; num_samples keeps the first ones.
    cycled = dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE, length_of_dataset=5)
    assert len(cycled) == 5 and torch.equal(cycled[4]["image"], ds[0]["image"])
    assert len(dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE, num_samples=1)) == 1


def test_real_folder_with_a_csv(tmp_path):
    write_photo(tmp_path, "a.jpg")
    (tmp_path / "labels.csv").write_text("image,x1,y1,x2,y2,x3,y3,x4,y4\na.jpg,10,8,70,10,68,50,12,52\n")
    ds = dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)
    assert ds[0]["corners"].tolist()[2] == [68.0, 50.0]


def test_missing_label_is_one_line_naming_the_file(tmp_path):
    write_photo(tmp_path, "a.jpg")
    with pytest.raises(OtterError) as e:
        dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "labels" / "a.json")) and "missing label" in message


def test_wrong_number_of_points(tmp_path):
    write_photo(tmp_path, "a.jpg")
    label = write_label(tmp_path, "a", GOOD[:3])
    with pytest.raises(OtterError, match=r"expected 4 points .*got 3") as e:
        dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)
    assert str(e.value).startswith(str(label))
    (tmp_path / "labels.csv").write_text("image,x1,y1,x2,y2,x3,y3,x4,y4\na.jpg,10,8,70,10,68,50,,\n")
    with pytest.raises(OtterError, match=r"labels\.csv:2: expected 4 points"):
        dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)


def test_points_far_outside_the_image(tmp_path):
    write_photo(tmp_path, "a.jpg")
    write_label(tmp_path, "a", [[10, 8], [70, 10], [68, 500], [12, 52]])
    with pytest.raises(OtterError, match=r"far outside the 80x60 image a\.jpg"):
        dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)
    # A little outside (a corner just past the frame) is fine.
    write_label(tmp_path, "a", [[-5, 8], [70, 10], [68, 63], [12, 52]])
    assert len(dataset.RealAlignDataset(root=str(tmp_path), image_size=SIZE)) == 1


def test_missing_folder_names_the_key(tmp_path):
    with pytest.raises(OtterConfigError, match=r"dataset\.valid_options\.options\.root: .*has no images/ folder"):
        dataset.RealAlignDataset(root=str(tmp_path / "nope"))


# --------------------------------------------------------------------------- model, export wrapper


def test_model_predicts_four_heatmaps_at_the_stride(tmp_path):
    net = model_module.AlignerModel(tiny_cfg(tmp_path)).eval()
    logits = net(torch.zeros(2, 3, SIZE, SIZE))
    assert logits.shape == (2, 4, SIZE // 4, SIZE // 4)
    points, scores = net.predict_points(torch.zeros(2, 3, SIZE, SIZE))
    assert points.shape == (2, 4, 2) and scores.shape == (2, 4)
    meta = net.export_meta()
    assert meta["heatmap_stride"] == 4 and meta["image_size"] == [SIZE, SIZE] and meta["corner_order"][0] == "top_left"
    heatmaps = to_onnx.WarpAligner(net)(torch.zeros(3, 3, SIZE, SIZE))
    assert heatmaps.shape == (3, 4, 16, 16)
    assert float(heatmaps.detach().min()) >= 0.0 and float(heatmaps.detach().max()) <= 1.0


def test_model_refuses_a_stride_the_backbone_lacks(tmp_path):
    with pytest.raises(OtterConfigError, match=r"global_settings\.heatmap_stride"):
        model_module.AlignerModel(tiny_cfg(tmp_path, stride=64))
    cfg = tiny_cfg(tmp_path)
    cfg["model"]["neck"]["options"]["out_stride"] = 8
    with pytest.raises(OtterConfigError, match=r"model\.neck\.options\.out_stride"):
        model_module.AlignerModel(cfg)


def test_inference_decodes_and_flattens_with_otters_geometry():
    # One implementation: training's metrics and inference decode the same way.
    assert infer.decode_heatmaps is decode_heatmaps
    photo = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    quad = np.array([[10, 8], [70, 12], [66, 50], [12, 54]], float)
    np.testing.assert_array_equal(infer.flatten(photo, quad, max_side=None), flatten(photo, quad))


def test_flatten_keeps_the_documents_aspect_ratio():
    photo = np.zeros((200, 300, 3), np.uint8)
    quad = np.array([[50, 40], [250, 50], [240, 150], [60, 160]], float)
    page = infer.flatten(photo, quad)
    height, width = page.shape[:2]
    assert abs(width / height - 195 / 110) < 0.05
