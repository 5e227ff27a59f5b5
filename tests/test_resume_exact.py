"""Exact resume (issue #8): a run killed at any point and resumed from last.ckpt ends where the unbroken run ends.

The training process is really killed (SIGKILL at a step, mid-epoch or just after an
epoch boundary; SIGTERM; SIGINT), then resumed in this process with all states; every
tensor of the final weights, the optimizer and scheduler state right after the
restore, and the final metrics are compared with an unbroken run: equal, bit for bit.
Dropout and random augmentation from torch, NumPy and Python are on, with shuffling.
"""

import copy
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

import otter
import tinyproj

TESTS = Path(__file__).resolve().parent
# 32 samples, batch 4: 8 steps an epoch; last.ckpt every 3 steps and at each epoch end.
RANDOM = [
    "trainer.max_epochs=3",
    "model.head.options.dropout=0.3",
    "dataset.train_options.options.noise=0.2",
]
CONFIG = tinyproj.TINY_CONFIG.replace(
    "  - name: CustomTQDMProgressBar",
    "  - name: LastCheckpoint\n    options:\n      every_n_train_steps: 3\n  - name: CustomTQDMProgressBar",
)
assert CONFIG != tinyproj.TINY_CONFIG
RESUME = ["common.is_restore=true", "common.restore_all_states=true"]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTTER_RUN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_tiny(root: Path, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TESTS / "tinyproj.py"), str(root), *RANDOM, *overrides],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


class Probe(Callback):
    """Records the optimizer and scheduler state as training (re)starts, before any step."""

    def on_train_start(self, trainer, pl_module):
        # Copies: the optimizer updates its state tensors in place as training goes on.
        self.optimizer = copy.deepcopy(trainer.optimizers[0].state_dict())
        self.scheduler = copy.deepcopy(trainer.lr_scheduler_configs[0].scheduler.state_dict())
        self.global_step = trainer.global_step


def resume_in_process(root: Path):
    model, cfg = otter.load_model_from_config("tiny", root=root, network=tinyproj, overrides=[*RANDOM, *RESUME])
    train, valid = otter.build_dataset(cfg, tinyproj)
    trainer = otter.build_trainer(cfg, root=root)
    probe = Probe()
    trainer.callbacks.append(probe)
    ckpt = torch.load(cfg.common.checkpoint_path, map_location="cpu", weights_only=False)
    trainer.fit(model, train_dataloaders=train, val_dataloaders=valid)
    return trainer, model, probe, ckpt


def assert_same_tree(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture
def project(tmp_path):
    return tinyproj.make_project(tmp_path / "proj", text=CONFIG)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    root = tinyproj.make_project(tmp_path_factory.mktemp("unbroken") / "proj", text=CONFIG)
    trainer, model, cfg = tinyproj.train(root, overrides=RANDOM)
    assert trainer.global_step == 24
    metrics = {k: v.clone() for k, v in trainer.callback_metrics.items()}
    return model.state_dict(), metrics


@pytest.mark.slow
@pytest.mark.parametrize(
    "signal_at, code, saved_step",
    [
        ("5:KILL", -signal.SIGKILL, 3),  # kill -9 mid-epoch: the every-3-steps last.ckpt
        ("8:KILL", -signal.SIGKILL, 8),  # kill -9 in the first step after an epoch boundary: the epoch-end last.ckpt
        ("13:TERM", 143, 14),  # SIGTERM: stops after the current step, writes last.ckpt, exit 143
        ("10:INT", 130, 11),  # Ctrl-C: the same, exit 130
    ],
)
def test_killed_run_resumes_to_the_same_weights_and_metrics(project, unbroken, signal_at, code, saved_step):
    out = run_tiny(project, TINY_SIGNAL_AT=signal_at)
    assert out.returncode == code, out.stdout[-2000:] + out.stderr[-2000:]
    (run,) = (project / "runs" / "tiny").iterdir()
    trainer, model, probe, ckpt = resume_in_process(project)
    assert ckpt["global_step"] == saved_step
    # Right after the restore: the optimizer and scheduler hold exactly what last.ckpt holds.
    assert probe.global_step == saved_step
    assert_same_tree(probe.optimizer, ckpt["optimizer_states"][0], "optimizer")
    assert_same_tree(probe.scheduler, ckpt["lr_schedulers"][0], "scheduler")
    assert probe.optimizer["state"], "the restored optimizer has no moments: nothing was restored"
    # At the end: every tensor and every metric equal to the unbroken run's.
    weights, metrics = unbroken
    assert trainer.global_step == 24 and str(run) == trainer.default_root_dir
    final = model.state_dict()
    assert final.keys() == weights.keys()
    differ = [k for k in weights if not torch.equal(weights[k], final[k])]
    assert not differ, f"{len(differ)} of {len(weights)} tensors differ, e.g. {differ[:3]}"
    assert metrics.keys() == trainer.callback_metrics.keys()
    for k, v in metrics.items():
        assert torch.equal(v, trainer.callback_metrics[k]), k


def test_without_restored_position_the_resume_would_differ(project, unbroken):
    """The comparison above can fail: the weights of a mid-epoch last.ckpt alone (a new run) end elsewhere."""
    tinyproj.train(project, overrides=[*RANDOM, "trainer.max_steps=5"])
    ckpt = next((project / "runs" / "tiny").iterdir()) / "checkpoint" / "last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] in (3, 5)
    _, model, _ = tinyproj.train(project, overrides=[*RANDOM, "common.is_restore=true"])
    weights, _ = unbroken
    assert any(not torch.equal(weights[k], v) for k, v in model.state_dict().items())
