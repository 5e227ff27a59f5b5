"""The weights that resume and export load are the ones the config names (DESIGN §5, §6).

A run is trained until its best checkpoint differs from ``last.ckpt``; every
check then compares the loaded tensors (or the exported model's outputs) with
the named checkpoint *and* makes sure they differ from the other checkpoints,
so a loader that reads the wrong file, or nothing, fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

import otter
import tinyproj

pytestmark = pytest.mark.slow

# Every epoch keeps its checkpoint; the "best" by `epoch` (min) is epoch 0, so best != last.
KEEP_EVERY_EPOCH = [
    "trainer.max_epochs=3",
    "callbacks.0.options.monitor=epoch",
    "callbacks.0.options.mode=min",
    "callbacks.0.options.save_top_k=-1",
]


def weights(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def same(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def by_epoch(run_dir: Path) -> Dict[int, Path]:
    """The per-epoch checkpoints of a run (not last.ckpt), by their saved epoch."""
    found = {}
    for path in (run_dir / "checkpoint").glob("*.ckpt"):
        if path.name != "last.ckpt":
            found[torch.load(path, map_location="cpu", weights_only=False)["epoch"]] = path
    return found


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Project with run A (3 epochs, every epoch kept) and a later run B (1 epoch, another seed)."""
    root = tinyproj.make_project(tmp_path_factory.mktemp("weights"))
    _, _, cfg_a = tinyproj.train(root, overrides=KEEP_EVERY_EPOCH)
    _, _, cfg_b = tinyproj.train(root, overrides=["trainer.max_epochs=1", "common.seed=11"])
    run_a, run_b = Path(cfg_a.root_dir), Path(cfg_b.root_dir)
    epochs = by_epoch(run_a)
    assert sorted(epochs) == [0, 1, 2], epochs
    ckpts = {"epoch0": epochs[0], "last": run_a / "checkpoint" / "last.ckpt", "b_last": run_b / "checkpoint" / "last.ckpt"}
    # The premise of every test here: the three checkpoints hold different weights.
    loaded = {k: weights(p) for k, p in ckpts.items()}
    assert not same(loaded["epoch0"], loaded["last"]) and not same(loaded["last"], loaded["b_last"])
    return root, cfg_a.name_ind, cfg_b.name_ind, ckpts, loaded


def restored(root: Path, *overrides: str):
    model, _ = otter.load_model_from_config("tiny", root=root, network=tinyproj, overrides=["common.is_restore=true", *overrides])
    return model.state_dict()


def test_restore_without_names_loads_the_latest_runs_last_ckpt(two_runs):
    root, _, _, _, loaded = two_runs
    assert same(restored(root), loaded["b_last"])


def test_restore_ckpt_loads_that_file(two_runs):
    root, run_a, _, ckpts, loaded = two_runs
    state = restored(root, f"common.restore_ind={run_a}", f"common.restore_ckpt={ckpts['epoch0'].name}")
    assert same(state, loaded["epoch0"])
    assert same(restored(root, f"common.restore_ind={run_a}", "common.restore_ckpt=last.ckpt"), loaded["last"])


def test_restore_ind_loads_from_that_run(two_runs):
    root, run_a, run_b, _, loaded = two_runs
    assert same(restored(root, f"common.restore_ind={run_a}"), loaded["last"])
    assert same(restored(root, f"common.restore_ind={run_b}"), loaded["b_last"])


def test_full_resume_starts_from_the_named_checkpoint(two_runs, tmp_path):
    """restore_all_states with restore_ckpt resumes that file, not last.ckpt: epoch 1 is trained again."""
    import shutil

    root, run_a, _, ckpts, _ = two_runs
    copy = tmp_path / "proj"
    shutil.copytree(root, copy)
    trainer, _, cfg = tinyproj.train(
        copy,
        overrides=[
            *KEEP_EVERY_EPOCH[1:],
            "trainer.max_epochs=2",
            "common.is_restore=true",
            "common.restore_all_states=true",
            f"common.restore_ind={run_a}",
            f"common.restore_ckpt={ckpts['epoch0'].name}",
        ],
    )
    # From last.ckpt (3 epochs done) there would be nothing left to train at max_epochs=2.
    assert trainer.global_step == 16 and trainer.current_epoch == 2
    assert cfg.root_dir == str(copy / "runs" / "tiny" / run_a)


def test_non_strict_restore_loads_the_matching_keys(two_runs, tmp_path):
    """restore_strict: false loads every key that matches and leaves the others as built."""
    root, _, _, _, loaded = two_runs
    project = tinyproj.make_project(tmp_path / "proj")
    partial = dict(loaded["last"])
    dropped = partial.pop("head.net.2.bias")
    partial["extra.weight"] = torch.ones(3)
    folder = project / "runs" / "tiny" / "2024-01-01-00-00-00" / "checkpoint"
    folder.mkdir(parents=True)
    torch.save({"state_dict": partial}, folder / "last.ckpt")

    fresh, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    state = restored(project, "common.restore_strict=false")
    matching = [k for k in partial if k in state]
    assert matching and len(matching) == len(state) - 1
    for key in matching:
        assert torch.equal(state[key], partial[key]), key
        assert not torch.equal(state[key], fresh.state_dict()[key]), f"{key}: the fresh model holds the same values"
    # The key the checkpoint lacks keeps the model's own (seeded) initial value.
    assert torch.equal(state["head.net.2.bias"], fresh.state_dict()["head.net.2.bias"])
    assert not torch.equal(state["head.net.2.bias"], dropped)


# -- export_run: the exported ONNX computes what the named checkpoint computes ----------


def onnx_outputs(path: str, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"img": x.numpy()})[0]


def torch_outputs(root: Path, state: Dict[str, torch.Tensor], x: torch.Tensor) -> np.ndarray:
    model, _ = otter.load_model_from_config("tiny", root=root, network=tinyproj)
    model.load_state_dict(state)
    with torch.no_grad():
        return tinyproj.TinyWrapper(model.eval())(x).numpy()


@pytest.fixture(scope="module")
def probe(two_runs):
    """An input on which the three checkpoints give clearly different outputs."""
    root, _, _, _, loaded = two_runs
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    out = {k: torch_outputs(root, s, x) for k, s in loaded.items()}
    assert np.abs(out["epoch0"] - out["last"]).max() > 1e-3 and np.abs(out["last"] - out["b_last"]).max() > 1e-3
    return x, out


@pytest.mark.parametrize(
    "which, overrides",
    [
        ("epoch0", lambda run_a, ckpts: [f"common.restore_ind={run_a}"]),  # the run's best, by `epoch` min
        ("last", lambda run_a, ckpts: [f"common.restore_ind={run_a}", "common.restore_ckpt=last.ckpt"]),
        ("epoch0", lambda run_a, ckpts: [f"common.restore_ind={run_a}", f"common.restore_ckpt={ckpts['epoch0'].name}"]),
        ("b_last", lambda run_a, ckpts: []),  # the latest run (B, whose only checkpoint is its best and last)
    ],
    ids=["best-of-named-run", "restore_ckpt-last", "restore_ckpt-epoch0", "latest-run"],
)
def test_export_run_exports_the_named_checkpoint(two_runs, probe, which, overrides):
    from otter.export import export_run

    root, run_a, run_b, ckpts, _ = two_runs
    x, out = probe
    report = export_run("tiny", root=root, network=tinyproj, overrides=overrides(run_a, ckpts))
    got = onnx_outputs(report["path"], x)
    assert np.abs(got - out[which]).max() < 1e-5
    for other in {"epoch0", "last", "b_last"} - {which}:
        assert np.abs(got - out[other]).max() > 1e-3, other
    expected_run = run_b if which == "b_last" else run_a
    assert Path(report["path"]).parent == root / "runs" / "tiny" / expected_run / "export"
