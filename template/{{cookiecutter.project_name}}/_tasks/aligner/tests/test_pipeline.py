"""This project end to end, the way its README says to use it: check, train, export, find corners, flatten.

A tiny run (64x64 inputs, a few photos, one epoch) so it takes seconds on a CPU; the
default config's real training is what `python -m <Project>.model train default` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from otter.onnx_meta import read_onnx_meta

# conftest's project.tiny() adds one epoch on the CPU, in this process.
TINY = [
    "common.batch_size=8",
    "common.image_size=[64,64]",
    "global_settings.image_size=[64,64]",
    "model.neck.options.channels=8",
    "model.head.options.hidden=8",
    "onnx.input_shape.img.shape=[1,3,64,64]",
    "dataset.train_options.options.length_of_dataset=32",
    "dataset.train_options.options.num_designs=8",
    "dataset.train_options.options.num_backgrounds=8",
    "dataset.valid_options.options.num_samples=8",
    "dataset.valid_options.options.photo_size=[96,72]",
]


@pytest.fixture(scope="module")
def exported(project):
    """Train the default config tiny, then export it: (run folder, ONNX file)."""
    with project.trained("default", *project.tiny(*TINY)) as paths:
        yield paths


def test_training_writes_a_run_folder_with_previews(exported, project):
    run_dir, _ = exported
    assert run_dir.parent == project.dir / "runs" / "default"
    assert (run_dir / "checkpoint" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file() and (run_dir / "model_meta_data.json").is_file()
    preview = run_dir / "preview" / "epoch_0"
    for name in ("valid_polygons.png", "worst_cases.png", "metrics.txt"):
        assert (preview / name).is_file(), name
    assert "polygon IoU" in (preview / "metrics.txt").read_text()


def test_export_is_verified_and_carries_what_inference_needs(exported):
    run_dir, onnx_path = exported
    assert onnx_path.parent == run_dir / "export" and onnx_path.name.startswith("default_") and onnx_path.name.endswith("_fp32.onnx")
    meta = read_onnx_meta(onnx_path)
    assert meta["image_size"] == [64, 64] and meta["cfg_name"] == "default" and meta["run_id"] == run_dir.name
    assert meta["heatmap_stride"] == 4 and meta["decode"].startswith("quadratic") and meta["normalize"] is None
    assert meta["output_names"] == ["heatmaps"]
    assert meta["corner_order"] == ["top_left", "top_right", "bottom_right", "bottom_left"]
    assert set(meta["parity_max_abs_diff"]) == {"1", "3"} or set(meta["parity_max_abs_diff"]) == {1, 3}
    assert all(d <= 1e-4 for d in meta["parity_max_abs_diff"].values())


def write_photo(project, tmp_path: Path) -> tuple:
    dataset = project.module("model.dataset")
    photo, corners = dataset.SynthAlignValidDataset(image_size=64, num_samples=1, photo_size=[120, 90]).raw(0)
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    return path, photo, corners


def test_inference_returns_corners_in_original_pixels(exported, project, tmp_path):
    _, onnx_path = exported
    infer = project.module("infer")
    path, photo, _ = write_photo(project, tmp_path)
    aligner = infer.DocAligner(onnx_path, threshold=0.0)
    corners, score = aligner.predict(path)
    assert corners.shape == (4, 2) and 0.0 <= score <= 1.0
    # Points come back in the photo's pixels: within reach of its frame (one heatmap cell past it at most).
    height, width = photo.shape[:2]
    assert corners[:, 0].min() > -width / 16 - 1 and corners[:, 0].max() < width * 17 / 16
    # The same photo as an array, and a threshold no score reaches.
    assert np.allclose(aligner.predict(photo)[0], corners, atol=1e-4)
    assert infer.DocAligner(onnx_path, threshold=1.01).predict(photo)[0] is None
    page = aligner.flatten(photo, corners)
    assert page.ndim == 3 and page.dtype == np.uint8


def test_inference_command_line(exported, project, tmp_path):
    _, onnx_path = exported
    path, _, _ = write_photo(project, tmp_path)
    out_file = tmp_path / "flat.png"
    found = project.run(str(onnx_path), str(path), "--out", str(out_file), "--json", "--threshold=0", module="infer")
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["found"] and len(result["corners"]) == 4 and result["out"] == str(out_file)
    assert Image.open(out_file).size[0] > 0
    none = project.run(str(onnx_path), str(path), "--threshold=1.01", module="infer")
    assert none.returncode == 1 and "no document found" in none.stdout
    bad = project.run(str(onnx_path), "missing.jpg", module="infer")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: missing.jpg: no such image"
