"""Exit codes (issue #8): finished 0, config or data error 2, crash 1, SIGTERM 143, Ctrl-C 130.

The signal cases with a real training process are in test_resume_exact.py (they also
resume); here the other codes, the generated project's data checks, and the code
mapping of the command-line guard shared by `otter` and every project's commands.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from otter.cli import project_main

TESTS = Path(__file__).resolve().parent


def run_tiny(root: Path, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTTER_RUN"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(TESTS / "tinyproj.py"), str(root), *overrides], env=environ, capture_output=True, text=True, timeout=300
    )


def run_folders(root: Path):
    folder = root / "runs" / "tiny"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.slow
def test_config_error_2_and_crash_1(project):
    bad = run_tiny(project, "optimizer.options.lr=fast")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith(f"{project / 'config' / 'tiny.yaml'}: optimizer.options.lr: ")
    assert run_folders(project) == []

    # A crash after a checkpoint: exit 1 with the traceback; last.ckpt keeps the last good state.
    crash = run_tiny(project, "trainer.max_epochs=2", TINY_CRASH_AT="10")
    assert crash.returncode == 1 and "planned crash at step 10" in crash.stderr and "Traceback" in crash.stderr
    (crashed,) = run_folders(project)
    last = torch.load(project / "runs" / "tiny" / crashed / "checkpoint" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 8


@pytest.mark.slow
def test_a_run_that_fails_before_its_first_step_leaves_no_folder(project):
    crash = run_tiny(project, TINY_CRASH_AT="0")
    assert crash.returncode == 1 and "planned crash at step 0" in crash.stderr
    assert run_folders(project) == []


def test_the_guard_maps_an_unset_sigterm_exit_to_143_and_keeps_set_codes():
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def stopped(cfg_name):
        raise SIGTERMException()  # code None: would have exited 0 ("finished")

    def interrupted(cfg_name):
        raise SIGTERMException(130)

    commands = {"train": stopped, "again": interrupted}
    assert project_main("prog", commands, ["train", "x"]) == 143
    assert project_main("prog", commands, ["again", "x"]) == 130


# --------------------------------------------------------------------------- #
# The generated project's real-data checks
# --------------------------------------------------------------------------- #

REAL = [
    "trainer.max_epochs=1",
    "common.batch_size=4",
    "common.image_size=[32,32]",
    "global_settings.image_size=[32,32]",
    "onnx.input_shape.img.shape=[1,3,32,32]",
    "model.head.options.feature_map_size=1",
]


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("baked")
    cookiecutter(str(TESTS.parent / "template"), no_input=True, output_dir=str(out), extra_context={"project_name": "MyProj", "task": "classifier"})
    return out


def image_folder(root: Path, classes: dict) -> Path:
    from PIL import Image

    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (40, 40), (40 * i, 100, 200)).save(root / name / f"{i}.png")
    return root


def train_real(baked: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    entry = f"dataset.train_options={{name: RealDataset, options: {{root: {root}, aug_ratio: 1.0{''.join(extra)}}}}}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "MyProj.model", "train", "default", *REAL, entry],
        cwd=baked,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_corrupt_and_empty_images_are_named_in_one_line_exit_2_and_leave_no_run(baked, tmp_path):
    root = image_folder(tmp_path / "data", {"a": 3, "b": 3})
    (root / "a" / "empty.png").write_bytes(b"")
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "cut.png").write_bytes(good[: len(good) // 2])
    out = train_real(baked, root)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    assert ".options.root: 2 of 8 images cannot be read: " in lines[-1]
    assert f"{root / 'a' / 'empty.png'} (empty file)" in lines[-1] and str(root / "b" / "cut.png") in lines[-1]
    assert not (baked / "MyProj" / "runs" / "default").exists() or not list((baked / "MyProj" / "runs" / "default").iterdir())


def test_a_single_class_is_a_config_error(baked, tmp_path, monkeypatch):
    from otter.errors import OtterConfigError

    monkeypatch.syspath_prepend(str(baked))
    from MyProj.model.dataset import RealDataset

    root = image_folder(tmp_path / "data", {"only": 4})
    with pytest.raises(OtterConfigError, match=r"has images of one class only \(only\); a classifier needs at least 2 class folders"):
        RealDataset(root=str(root))
    (root / "two").mkdir()
    (root / "two" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(OtterConfigError, match=r"1 of 5 images cannot be read: .*broken.png \((UnidentifiedImageError|OSError)"):
        RealDataset(root=str(root))
    # Skipped instead, the broken file leaves class "two" empty: one class again.
    with pytest.warns(UserWarning, match="skipped 1 of 5 images that cannot be read"), pytest.raises(OtterConfigError, match="one class only"):
        RealDataset(root=str(root), on_bad_image="skip")
    image_folder(root / "three", {"x": 2})
    with pytest.warns(UserWarning, match="skipped 1 of 7"):
        assert RealDataset(root=str(root), on_bad_image="skip").class_names == ["only", "three"]
