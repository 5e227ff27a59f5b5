"""ONNX export: section validation, a verified export, metadata, the run's best checkpoint.

Real torch, onnx and onnxruntime on CPU with tiny models.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from otter.checkpoint import best_checkpoint
from otter.errors import OtterConfigError, OtterError
from otter.export import export_onnx, read_onnx_meta


def tiny_section(**changes):
    """A valid section for a 3x16x16 image input with a dynamic batch axis."""
    section = {
        "name": "TinyWrapper",
        "input_shape": {"img": {"shape": [1, 3, 16, 16], "dtype": "float32"}},
        "input_names": ["img"],
        "output_names": ["feats"],
        "dynamic_axes": {"img": {"0": "batch_size"}, "feats": {"0": "batch_size"}},
        "options": {"opset_version": 17, "do_constant_folding": True},
    }
    section.update(changes)
    return section


def tiny_conv():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ).eval()


# The onnx section's own checks are tested in test_schema.py.


def test_importing_export_does_not_import_torch():
    code = "import sys, otter.export; print(any(m in sys.modules for m in ('torch', 'onnx', 'onnxruntime')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- #
# export_onnx and read_onnx_meta
# --------------------------------------------------------------------------- #


def test_export_passes_parity_at_batch_1_and_3_and_metadata_round_trips(tmp_path):
    out = tmp_path / "export" / "tiny_20250101_fp32.onnx"
    meta = {
        "cfg_name": "tiny",
        "run_id": "2025-01-01-00-00-00",
        "labels": ["cat", "dog"],
        "image_size": (16, 16),
        "version_tag": "17",
    }
    section = tiny_section(additional_meta_info={"author": "otter tests", "threshold": 0.5})

    report = export_onnx(tiny_conv(), section, out, meta=meta)

    assert report["path"] == str(out) and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp files left
    assert report["opset"] == 17
    assert set(report["max_abs_diff"]) == {1, 3}
    assert all(d <= 1e-4 for d in report["max_abs_diff"].values())
    assert report["params"] > 0 and report["macs"] * 2 == report["flops"] > 0

    got = read_onnx_meta(out)
    assert got["inputs"] == {"img": {"shape": [1, 3, 16, 16], "dtype": "float32", "dynamic_axes": {"0": "batch_size"}}}
    assert got["input_names"] == ["img"] and got["output_names"] == ["feats"]
    assert got["dynamic_axes"]["feats"] == {"0": "batch_size"}
    assert (got["params"], got["flops"], got["macs"]) == (report["params"], report["flops"], report["macs"])
    assert got["labels"] == ["cat", "dog"] and got["image_size"] == [16, 16]
    assert got["run_id"] == "2025-01-01-00-00-00" and got["cfg_name"] == "tiny"
    assert got["version_tag"] == "17"  # a string stays a string even when it reads as a number
    assert got["author"] == "otter tests" and got["threshold"] == 0.5
    assert got["wrapper"] == "TinyWrapper" and got["opset"] == 17
    assert isinstance(got["otter_version"], str) and got["export_date"][:2] == "20"


def test_exported_model_runs_at_another_batch_size(tmp_path):
    import numpy as np
    import onnxruntime as ort

    out = tmp_path / "m.onnx"
    export_onnx(tiny_conv(), tiny_section(), out)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (feats,) = session.run(None, {"img": np.zeros((5, 3, 16, 16), np.float32)})
    assert feats.shape == (5, 4)
    assert read_onnx_meta(session)["output_names"] == ["feats"]  # an open session works too


def test_static_batch_is_checked_at_its_configured_size(tmp_path):
    section = tiny_section(dynamic_axes=None, input_shape={"img": {"shape": [2, 3, 16, 16], "dtype": "float32"}})
    report = export_onnx(tiny_conv(), section, tmp_path / "m.onnx")
    assert set(report["max_abs_diff"]) == {2}


class CallCounter:
    """Builds a wrapper whose output depends on a Python-side call counter.

    Tracing records the counter's value at export time as a constant, while eager
    torch keeps counting: an honest example of a forward that ONNX cannot capture.
    """

    @staticmethod
    def make():
        import torch.nn as nn

        class Counting(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
                self.calls = 0

            def forward(self, x):
                self.calls += 1
                return self.conv(x).mean((2, 3)) + self.calls

        return Counting().eval()


def test_unfaithful_export_fails_and_leaves_no_file(tmp_path):
    folder = tmp_path / "export"
    out = folder / "m.onnx"
    with pytest.raises(OtterError, match=r"output 'feats' differs from torch at batch 1: max abs diff .* > tolerance 0\.0001"):
        export_onnx(CallCounter.make(), tiny_section(), out)
    assert list(folder.iterdir()) == []


def test_failed_export_keeps_an_older_file(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"older export")
    with pytest.raises(OtterError):
        export_onnx(CallCounter.make(), tiny_section(), out)
    assert out.read_bytes() == b"older export"


def test_output_names_must_match_the_wrapper_outputs(tmp_path):
    section = tiny_section(output_names=["feats", "extra"], dynamic_axes={"img": {0: "batch_size"}})
    with pytest.raises(OtterError, match="output"):
        export_onnx(tiny_conv(), section, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_an_invalid_section(tmp_path):
    with pytest.raises(OtterConfigError, match=r"onnx\.dynamic_axes\.output"):
        export_onnx(tiny_conv(), tiny_section(dynamic_axes={"output": {0: "b"}}), tmp_path / "m.onnx")


def test_read_onnx_meta_of_a_missing_file(tmp_path):
    with pytest.raises(OtterError, match="no such ONNX file"):
        read_onnx_meta(tmp_path / "nope.onnx")


# --------------------------------------------------------------------------- #
# best_checkpoint
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder after 2 epochs whose monitored score is best at epoch 0."""
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    class Boring(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            # Lower is better and grows with the epoch, so epoch 0 stays the best and differs from last.
            self.log("score", float(self.current_epoch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
    run_dir = tmp_path_factory.mktemp("run")
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoint",
        filename="epoch{epoch}",
        auto_insert_metric_name=False,
        monitor="score",
        mode="min",
        save_top_k=1,
        save_last=True,
    )
    trainer = Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        callbacks=[checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=run_dir,
    )
    trainer.fit(Boring(), data, data)
    return run_dir


@pytest.mark.slow
def test_best_checkpoint_reads_the_saved_best(trained_run):
    names = sorted(p.name for p in (trained_run / "checkpoint").iterdir())
    assert names == ["epoch0.ckpt", "last.ckpt"]
    assert best_checkpoint(trained_run) == trained_run / "checkpoint" / "epoch0.ckpt"


@pytest.mark.slow
def test_best_checkpoint_survives_a_moved_run_folder(trained_run, tmp_path):
    import shutil

    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(trained_run, moved)
    assert best_checkpoint(moved) == moved / "checkpoint" / "epoch0.ckpt"


@pytest.mark.slow
def test_best_checkpoint_falls_back_to_last(trained_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "checkpoint" / "epoch0.ckpt").unlink()
    assert best_checkpoint(run) == run / "checkpoint" / "last.ckpt"


def test_best_checkpoint_of_a_run_without_checkpoints(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(OtterError, match="the run has no checkpoint") as e:
        best_checkpoint(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_best_checkpoint_names_an_unreadable_file(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(OtterError, match=r"last\.ckpt: cannot read this checkpoint"):
        best_checkpoint(tmp_path)


# -- export_run: from a project's trained run -----------------------------------


@pytest.fixture(scope="module")
def tiny_trained(tmp_path_factory):
    import tinyproj

    root = tinyproj.make_project(tmp_path_factory.mktemp("export_run"))
    trainer, model, cfg = tinyproj.train(
        root, overrides=["trainer.max_epochs=3", "callbacks.0.options.monitor=valid_acc", "callbacks.0.options.mode=max"]
    )
    return root, cfg


@pytest.mark.slow
def test_export_run_writes_a_verified_file_into_the_run(tiny_trained):
    from datetime import date

    import numpy as np
    import onnxruntime as ort
    import torch

    import otter
    import tinyproj
    from otter.export import export_run, read_onnx_meta

    root, cfg = tiny_trained
    report = export_run("tiny", root=root, network=tinyproj)
    out = Path(report["path"])
    assert out == Path(cfg.root_dir) / "export" / f"tiny_{date.today():%Y%m%d}_fp32.onnx"
    meta = read_onnx_meta(out)
    assert meta["cfg_name"] == "tiny" and meta["run_id"] == cfg.name_ind
    assert meta["checkpoint"] == Path(report["checkpoint"]).name and meta["checkpoint"].startswith("epoch=")
    # The same probabilities as the trained torch model, through onnxruntime.
    model, _ = otter.load_model_from_config("tiny", root=root, network=tinyproj)
    otter.load_weights(model, report["checkpoint"])
    x = torch.rand(3, 3, 8, 8)
    expected = model.eval()(x).softmax(-1).detach().numpy()
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"img": x.numpy()})[0]
    assert np.abs(expected - got).max() < 1e-5


def test_export_run_without_a_trained_run_says_so(project):
    import tinyproj
    from otter.export import export_run

    with pytest.raises(OtterError, match=r"no trained run of 'tiny': .*runs/tiny has no run yet; train it first"):
        export_run("tiny", root=project, network=tinyproj)


@pytest.mark.slow
def test_export_run_refuses_a_bad_onnx_section(tiny_trained):
    import tinyproj
    from otter.export import export_run

    root, _ = tiny_trained
    with pytest.raises(OtterConfigError, match=r"tiny\.yaml: onnx\.dynamic_axes\.prob: 'prob' names no input or output \(did you mean 'probs'"):
        export_run("tiny", root=root, network=tinyproj, overrides=["onnx.dynamic_axes.prob={0: b}"])
