"""This project end to end, the way its README says to use it: check, train, export, match.

A tiny run (32x32 images, a few classes, one epoch) so it takes seconds on a CPU; the
default config's real training is what `python -m <Project>.model train default` does.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT = PROJECT_DIR.name
TINY = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "common.batch_size=8",
    "common.image_size=[32,32]",
    "global_settings.image_size=[32,32]",
    "model.head.options.feature_map_size=1",
    "onnx.input_shape.img.shape=[1,3,32,32]",
    "dataset.train_options.options.length_of_dataset=32",
    "dataset.train_options.options.num_classes=4",
    "dataset.valid_options.options.num_classes=4",
    "dataset.valid_options.options.views_per_class=2",
    "dataloader.train_options.num_workers=0",
    "dataloader.train_options.persistent_workers=false",
    "dataloader.valid_options.num_workers=0",
    "dataloader.valid_options.persistent_workers=false",
]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"{PROJECT}.model", *args], cwd=PROJECT_DIR.parent, capture_output=True, text=True
    )


def in_process(capsys, monkeypatch, *args: str) -> subprocess.CompletedProcess:
    """``python -m <Project>.model ARGS`` run the way ``-m`` runs it, in this process: no interpreter start-up."""
    import runpy

    monkeypatch.setattr(sys, "argv", [f"{PROJECT}.model", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        runpy.run_module(f"{PROJECT}.model", run_name="__main__", alter_sys=True)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, stop.value.code, out, err)


def test_shipped_configs_pass_check(capsys, monkeypatch):
    configs = sorted(p.stem for p in (PROJECT_DIR / "config").glob("*.yaml"))
    assert "default" in configs
    for cfg in configs:
        out = in_process(capsys, monkeypatch, "check", cfg)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().endswith(": OK"), out.stdout


def test_bad_override_is_one_line_exit_2():
    # A separate process: the whole of stderr is the one line a user sees.
    out = cli("check", "default", "optimizer.options.lr=fast")
    assert out.returncode == 2
    assert out.stderr.strip().endswith("optimizer.options.lr: AdamW expects float or Tensor, got 'fast'")
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Train the default config tiny, then export it: (run folder, ONNX file)."""
    trainer = importlib.import_module(f"{PROJECT}.model.trainer")
    to_onnx = importlib.import_module(f"{PROJECT}.model.to_onnx")
    run_dir = Path(trainer.train("default", *TINY))
    onnx_path = Path(to_onnx.to_onnx("default", *TINY))
    yield run_dir, onnx_path
    # Keep the project folder clean for the next user of it.
    import shutil

    shutil.rmtree(run_dir)


def test_training_writes_a_run_folder(exported):
    run_dir, _ = exported
    assert run_dir.parent == PROJECT_DIR / "runs" / "default"
    assert (run_dir / "checkpoint" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file() and (run_dir / "model_meta_data.json").is_file()
    assert any((run_dir / "preview").rglob("*.png"))


def test_export_is_verified_and_carries_what_inference_needs(exported):
    run_dir, onnx_path = exported
    from otter.export import read_onnx_meta

    assert onnx_path.parent == run_dir / "export" and onnx_path.name.startswith("default_") and onnx_path.name.endswith("_fp32.onnx")
    meta = read_onnx_meta(onnx_path)
    assert meta["image_size"] == [32, 32] and meta["cfg_name"] == "default" and meta["run_id"] == run_dir.name
    # Compared at batch 1 and at batch 3 (the batch axis is dynamic), each within the tolerance.
    diffs = meta["parity_max_abs_diff"]
    assert set(diffs) == {"1", "3"} and all(0 <= d <= 1e-4 for d in diffs.values()), diffs


def test_inference_matches_an_image_to_its_own_registered_copy(exported):
    _, onnx_path = exported
    infer = importlib.import_module(f"{PROJECT}.infer")
    dataset = importlib.import_module(f"{PROJECT}.model.dataset")
    pages = dataset.SynthValidDataset(image_size=32, num_classes=3, views_per_class=2, return_tensor=False)
    images = [pages[i][0] for i in range(len(pages))]
    matcher = infer.DocumentMatcher(onnx_path, threshold=-1.0)
    for k, image in enumerate(images):
        matcher.register(f"doc{k}", image)
    for k, image in enumerate(images):
        # A one-epoch model may embed two pages alike, so check the image's own score, not the arg-max.
        assert matcher.scores(image)[f"doc{k}"] == pytest.approx(1.0, abs=1e-4)
        name, score = matcher.match(image)
        assert name is not None and score == pytest.approx(1.0, abs=1e-4)
    assert matcher.embed(images).shape[0] == len(images)
    assert np.allclose(np.linalg.norm(matcher.embed(images[:2]), axis=1), 1.0, atol=1e-5)


def test_matching_other_views_of_unseen_templates_uses_the_stored_threshold(exported):
    """Register one view of each unseen template, match the others with the threshold the export stored.

    A one-epoch model is too weak to promise the right template; what is checked is the rule: the
    default threshold is the stored one, a match is the most similar registered template, and no
    name is given below the threshold. (The demo's longer training measures how often it is right.)
    """
    from otter.export import read_onnx_meta

    _, onnx_path = exported
    infer = importlib.import_module(f"{PROJECT}.infer")
    dataset = importlib.import_module(f"{PROJECT}.model.dataset")
    stored = read_onnx_meta(onnx_path)["threshold"]
    assert isinstance(stored, float) and -1.0 <= stored <= 1.0
    matcher = infer.DocumentMatcher(onnx_path)
    assert matcher.threshold == stored
    # Templates neither in training nor in validation.
    pages = dataset.SynthValidDataset(image_size=32, num_classes=3, views_per_class=3, return_tensor=False, first_template=3_000_000)
    views = {}
    for i in range(len(pages)):
        image, label = pages[i][0], int(pages[i][1])
        views.setdefault(label, []).append(image)
    assert sorted(views) == [0, 1, 2] and all(len(v) == 3 for v in views.values())
    for label, images in views.items():
        matcher.register(f"t{label}", images[0])
    for images in views.values():
        for image in images[1:]:
            assert not np.array_equal(image, images[0])  # another view, not the registered copy
            scores = matcher.scores(image)
            name, score = matcher.match(image)
            assert score == max(scores.values())
            if score >= stored:
                assert scores[name] == score
            else:
                assert name is None


def test_inference_command_line(exported, tmp_path):
    from PIL import Image

    _, onnx_path = exported
    dataset = importlib.import_module(f"{PROJECT}.model.dataset")
    pages = dataset.SynthValidDataset(image_size=32, num_classes=2, views_per_class=2, return_tensor=False)
    paths = []
    for i in range(len(pages)):
        path = tmp_path / f"page{i}.png"
        Image.fromarray(pages[i][0]).save(path)
        paths.append(path)
    out = subprocess.run(
        [sys.executable, "-m", f"{PROJECT}.infer", str(onnx_path), f"--register=a={paths[0]}", "--threshold=-1", str(paths[0])],
        cwd=PROJECT_DIR.parent, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].split("\t")[:2] == [str(paths[0]), "a"]
    bad = subprocess.run(
        [sys.executable, "-m", f"{PROJECT}.infer", str(onnx_path), "--register=a=missing.png", str(paths[0])],
        cwd=PROJECT_DIR.parent, capture_output=True, text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "error: missing.png: no such image"
