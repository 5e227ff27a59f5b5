"""This project end to end, the way its README says to use it: check, train, export, read.

A tiny run (a narrow band, a few samples, one epoch) so it takes seconds on a CPU; the
default config's real training is what `python -m <Project>.model train default` does.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from otter.onnx_meta import read_onnx_meta

# conftest's project.tiny() adds one epoch on the CPU, in this process.
TINY = [
    "common.batch_size=4",
    "global_settings.image_size=[32,352]",
    "onnx.input_shape.img.shape=[1,1,32,352]",
    "model.encoder.options.channels=[8,8,16]",
    "model.encoder.options.blocks=1",
    "model.head.options.hidden=8",
    "dataset.train_options.options.length_of_dataset=8",
    "dataset.train_options.options.designs=2",
    "dataset.valid_options.options.length_of_dataset=4",
    "dataset.valid_options.options.designs=2",
]
FINDER_TINY = [
    "common.batch_size=4",
    "global_settings.image_size=[64,96]",
    "onnx.input_shape.img.shape=[1,1,64,96]",
    "model.encoder.options.channels=[8,8,8,8,8]",
    "model.neck.options.channels=8",
    "dataset.train_options.options.length_of_dataset=8",
    "dataset.train_options.options.designs=2",
    "dataset.valid_options.options.length_of_dataset=4",
    "dataset.valid_options.options.designs=2",
]
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]


def test_bad_model_option_is_one_line_exit_2(project):
    out = project.run("check", "default", "model.encoder.options.chanels=[8,8,8]")
    assert out.returncode == 2, out.stderr
    assert "model.encoder.options.chanels" in out.stderr and "channels" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_bad_label_in_a_real_folder_is_one_line_exit_2(project, tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((40, 400), 200, np.uint8))
    (tmp_path / "a.txt").write_text(TD3[0] + "\n" + TD3[1].lower() + "\n")
    out = project.run("train", "default", *project.tiny(*TINY), "dataset.train_options.name=RealMRZDataset", f"dataset.train_options.options.root={tmp_path}")
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip() == f"{tmp_path / 'a.txt'}: line 2 column 1: character 'l' is not one of A-Z, 0-9, < (did you mean 'L'?)"


@pytest.fixture(scope="module")
def exported(project):
    """Train the default config tiny, then export it: (run folder, ONNX file)."""
    with project.trained("default", *project.tiny(*TINY)) as paths:
        yield paths


def test_training_writes_metrics_and_previews(exported):
    run_dir, _ = exported
    assert (run_dir / "checkpoint" / "last.ckpt").is_file()
    previews = sorted(p.name for p in (run_dir / "preview").rglob("*") if p.is_file())
    assert {"samples.png", "worst.png", "reads.txt"} <= set(previews)
    reads = next((run_dir / "preview").rglob("reads.txt")).read_text()
    assert "NLS" in reads and "worst reads" in reads


def test_export_is_verified_and_carries_what_inference_needs(exported):
    import onnxruntime as ort

    run_dir, onnx_path = exported
    assert onnx_path.parent == run_dir / "export" and onnx_path.name.endswith("_fp32.onnx")
    meta = read_onnx_meta(onnx_path)
    # Parity of onnxruntime against torch at batch 1 and 3, measured by the export itself.
    assert set(meta["parity_max_abs_diff"]) == {"1", "3"} or set(meta["parity_max_abs_diff"]) == {1, 3}
    assert all(d <= 1e-4 for d in meta["parity_max_abs_diff"].values())
    assert meta["image_size"] == [32, 352] and meta["blank_index"] == 0 and meta["task"] == "mrz"
    assert meta["alphabet"] == "-<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        out = session.run(None, {"img": np.random.rand(batch, 1, 32, 352).astype(np.float32)})[0]
        assert out.shape == (batch, 3, 176, 38)  # 352 / 4 columns, two CTC steps each


def test_infer_reads_a_band_and_a_page_from_python_and_the_command_line(exported, project, tmp_path):
    _, onnx_path = exported
    infer = project.module("infer")
    dataset = project.module("model.dataset")
    reader = infer.MRZReader(onnx_path)
    rng = random.Random(0)
    band = dataset.render_band(TD3, rng, (64, 512))
    page, _ = dataset.render_page(TD3, rng, (480, 640))
    cv2.imwrite(str(tmp_path / "band.png"), band)
    cv2.imwrite(str(tmp_path / "page.jpg"), page)
    result = reader.read(tmp_path / "band.png")
    assert result.corners is None  # wide image: read as a band
    assert 0.0 <= result.score <= 1.0 and isinstance(result.valid, dict) and isinstance(result.corrections, list)
    page_result = reader.read(tmp_path / "page.jpg")
    assert page_result.corners is not None and len(page_result.corners) == 4
    out = project.run(str(onnx_path), str(tmp_path / "band.png"), str(tmp_path / "page.jpg"), "--json", module="infer")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["band.png", "page.jpg"]
    assert {"lines", "fields", "valid", "all_valid", "score", "corrections", "format"} <= set(rows[0])
    out = project.run(str(onnx_path), str(tmp_path / "missing.png"), module="infer")
    assert out.returncode == 2 and "cannot be read" in out.stderr


@pytest.fixture(scope="module")
def finder_exported(project):
    """The band finder (config/finder.yaml) trained tiny and exported: (run folder, ONNX file)."""
    with project.trained("finder", *project.tiny(*FINDER_TINY)) as paths:
        yield paths


def test_finder_trains_exports_and_drives_inference(exported, finder_exported, project, tmp_path):
    run_dir, finder_path = finder_exported
    assert any((run_dir / "preview").rglob("bands.png"))
    meta = read_onnx_meta(finder_path)
    assert meta["task"] == "mrz-finder" and meta["heatmap_stride"] == 4 and meta["image_size"] == [64, 96]
    assert all(d <= 1e-4 for d in meta["parity_max_abs_diff"].values())
    infer = project.module("infer")
    dataset = project.module("model.dataset")
    page, _ = dataset.render_page(TD3, random.Random(1), (480, 640))
    cv2.imwrite(str(tmp_path / "page.jpg"), page)
    reader = infer.MRZReader(exported[1], finder=finder_path)
    result = reader.read(tmp_path / "page.jpg")
    assert result.corners is not None and np.isfinite(np.asarray(result.corners)).all()
    out = project.run(str(exported[1]), str(tmp_path / "page.jpg"), "--finder", str(finder_path), "--json", module="infer")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout.splitlines()[0])["corners"]) == 4
    # The reader's file is not a finder: one clear line.
    out = project.run(str(exported[1]), str(tmp_path / "page.jpg"), "--finder", str(exported[1]), module="infer")
    assert out.returncode == 2 and "not a band finder" in out.stderr
