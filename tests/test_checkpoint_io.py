"""Checkpoints (issue #8): last.ckpt always the latest state, atomic writes, and a full disk that harms nothing."""

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import otter
import tinyproj
from otter.ckpt_save import DiskFullError, atomic_write_bytes

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_last_ckpt_is_the_latest_state_when_later_epochs_do_not_enter_top_k(project):
    # Monitoring "step" with mode min: only epoch 0 is ever in the top 1, as with a metric that stops improving.
    trainer, _, cfg = tinyproj.train(
        project,
        overrides=["trainer.max_epochs=3", "callbacks.0.options.monitor=step", "callbacks.0.options.save_last=true"],
    )
    ckpts = Path(cfg.root_dir) / "checkpoint"
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch=0-step=8.ckpt", "last.ckpt"]
    last = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == trainer.global_step == 24 and last["epoch"] == 2
    # The weights in it are the final ones, not those of the best epoch.
    final = trainer.lightning_module.state_dict()
    assert all(torch.equal(last["state_dict"][k], v) for k, v in final.items())


@pytest.mark.slow
def test_last_ckpt_every_n_steps(project):
    text = tinyproj.TINY_CONFIG.replace(
        "  - name: CustomTQDMProgressBar", "  - name: LastCheckpoint\n    options:\n      every_n_train_steps: 3\n  - name: CustomTQDMProgressBar"
    )
    tinyproj.make_project(project, text=text)
    steps = []
    orig = otter.ckpt_save.AtomicCheckpointIO.save_checkpoint

    def spy(self, checkpoint, path, storage_options=None):
        if Path(path).name == "last.ckpt":
            steps.append(checkpoint["global_step"])
        return orig(self, checkpoint, path, storage_options)

    otter.ckpt_save.AtomicCheckpointIO.save_checkpoint = spy
    try:
        tinyproj.train(project, overrides=["trainer.max_epochs=2"])
    finally:
        otter.ckpt_save.AtomicCheckpointIO.save_checkpoint = orig
    # Every 3 steps, and at each epoch end (8, 16): at most 3 steps are ever lost.
    assert steps == [3, 6, 8, 9, 12, 15, 16]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_write_bytes(b"good", target)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(otter.ckpt_save.os, "fsync", full)
    with pytest.raises(DiskFullError, match=rf"{tmp_path}: disk full writing last.ckpt \(needs 0.0 KB, .* free\)"):
        atomic_write_bytes(b"new and longer", target)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only); skipped with the reason where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the injected ENOSPC test above covers the write path")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_full_disk_ends_the_run_with_one_line_and_the_last_checkpoint_still_loads(project, small_disk):
    _, _, cfg = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    run = Path(cfg.root_dir)
    # The run's checkpoint folder moves to the small disk, with its good last.ckpt ...
    for f in (run / "checkpoint").iterdir():
        (small_disk / f.name).write_bytes(f.read_bytes())
        f.unlink()
    (run / "checkpoint").rmdir()
    (run / "checkpoint").symlink_to(small_disk)
    good = (small_disk / "last.ckpt").read_bytes()
    # ... and the disk is filled up to 8 KB, less than one checkpoint.
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * (free - 8192))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTTER_RUN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, str(TESTS / "tinyproj.py"), str(project), "trainer.max_epochs=3", "common.is_restore=true", "common.restore_all_states=true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    # One line naming the folder (Lightning resolves the link) and the space needed and free.
    assert re.fullmatch(rf"{small_disk.resolve()}: disk full writing \S+\.ckpt \(needs [\d.]+ KB, [\d.]+ KB free\); free space there.*", line), line
    # Nothing was harmed: the good last.ckpt is byte for byte the same and loads; no temporary or partial file.
    assert (small_disk / "last.ckpt").read_bytes() == good
    assert sorted(os.listdir(small_disk)) == ["epoch=0-step=8.ckpt", "filler", "last.ckpt"]
    assert torch.load(small_disk / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 8
