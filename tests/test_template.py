"""The template, baked for real with pytest-cookies and cookiecutter, used the way a user uses it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED_CONFIG = Path(__file__).resolve().parent / "data" / "lcnet050_cosface_f256_r128_squeeze_lbn_imagenet.yaml"
# A training run small enough for a test: tiny images, few samples, one epoch.
TINY = [
    "trainer.max_epochs=1",
    "common.batch_size=8",
    "common.image_size=[32,32]",
    "global_settings.image_size=[32,32]",
    "onnx.input_shape.img.shape=[1,3,32,32]",
    "dataset.train_options.options.length_of_dataset=32",
    "dataset.train_options.options.num_classes=4",
    "dataset.valid_options.options.num_classes=4",
    "dataset.valid_options.options.views_per_class=2",
    "model.head.options.feature_map_size=1",
    "dataloader.train_options.num_workers=0",
    "dataloader.train_options.persistent_workers=false",
    "dataloader.valid_options.num_workers=0",
    "dataloader.valid_options.persistent_workers=false",
]


def env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}


def project_cmd(folder: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "MyProj.model", *args], cwd=folder, env=env(), capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(out.stdout[-3000:] + out.stderr[-3000:])
    return out


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """A classifier project baked by cookiecutter from this repository's template."""
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("baked")
    cookiecutter(str(REPO / "template"), no_input=True, output_dir=str(out), extra_context={"project_name": "MyProj", "task": "classifier"})
    return out


def test_bake_makes_the_documented_layout(cookies):
    result = cookies.bake(template=str(REPO / "template"), extra_context={"project_name": "MyProj", "task": "classifier"})
    assert result.exit_code == 0, result.exception
    root = Path(result.project_path)
    for path in (
        "README.md", ".gitignore", "__init__.py", "infer.py",
        "config/default.yaml", "config/gpu.yaml", "config/finetune.yaml",
        "model/__init__.py", "model/__main__.py", "model/trainer.py", "model/to_onnx.py",
        "model/model.py", "model/dataset.py", "model/component.py",
        "docker/train.bash", "docker/to_onnx.bash", "tests/conftest.py",
    ):
        assert (root / path).is_file(), path
    assert not (root / "_tasks").exists()
    assert "runs/" in (root / ".gitignore").read_text().split()
    assert "MyProj" in (root / "README.md").read_text() and "{{" not in (root / "README.md").read_text()
    assert os.access(root / "docker" / "train.bash", os.X_OK)


def test_root_nested_template_file_points_at_template():
    config = json.loads((REPO / "cookiecutter.json").read_text())
    assert [t["path"] for t in config["templates"].values()] == ["./template"]


def bake_refused(tmp_path, **context):
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    with pytest.raises(FailedHookException):
        cookiecutter(str(REPO / "template"), no_input=True, output_dir=str(tmp_path), extra_context=context)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["my-proj", "9lives", "torch", "test", "import"])
def test_hook_refuses_bad_project_names_and_writes_nothing(tmp_path, name):
    bake_refused(tmp_path, project_name=name)


@pytest.mark.parametrize("task", ["aligner", "mrz"])
def test_tasks_not_built_yet_say_so_and_write_nothing(tmp_path, task):
    bake_refused(tmp_path, project_name="MyProj", task=task)


def test_exports_keep_the_seed_entry_points(baked):
    code = "import MyProj.model as m; print(m.main_classifier_train.__name__, m.main_classifier_torch2onnx.__name__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=baked, env=env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_shipped_configs_pass_check(baked):
    for cfg in ("default", "gpu", "finetune"):
        out = project_cmd(baked, "check", cfg)
        assert out.returncode == 0, (cfg, out.stderr)
        assert out.stdout.strip().endswith(": OK")


def test_seed_example_config_passes_check_unchanged(baked):
    shutil.copy(SEED_CONFIG, baked / "MyProj" / "config" / SEED_CONFIG.name)
    out = project_cmd(baked, "check", SEED_CONFIG.stem)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "onnx.dynamic_axes.output" in warnings[0]


def test_check_catches_project_names_and_options(baked):
    out = project_cmd(baked, "check", "default", "model.head.options.embed_dm=64")
    assert out.returncode == 2
    assert out.stderr.strip().startswith(str(baked / "MyProj" / "config" / "default.yaml") + ": model.head.options.embed_dm: ")
    assert "did you mean 'embed_dim'" in out.stderr
    out = project_cmd(baked, "check", "--cfg_name", "default", "model.name=ClassifierModle")
    assert out.returncode == 2 and "did you mean 'ClassifierModel'" in out.stderr


def test_unknown_config_lists_the_configs(baked):
    out = project_cmd(baked, "train", "defualt")
    assert out.returncode == 2
    assert "unknown config 'defualt' (did you mean 'default'?)" in out.stderr and "default, finetune, gpu" in out.stderr


def test_pretrained_without_network_is_one_line(baked):
    out = project_cmd(baked, "train", "default", *TINY, "model.backbone.options.pretrained=true")
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pretrained: false" in lines[0], out.stderr[-2000:]
    assert not (baked / "MyProj" / "runs").exists()


def test_use_imagenet_without_a_folder_is_one_line(baked):
    out = project_cmd(baked, "train", "default", *TINY, "dataset.train_options.options.use_imagenet=true")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "use_imagenet" in lines[0], out.stderr[-2000:]


def test_seed_example_trains_with_small_cpu_overrides(baked):
    shutil.copy(SEED_CONFIG, baked / "MyProj" / "config" / SEED_CONFIG.name)
    small = [a for a in TINY if not a.startswith("dataset.valid_options")] + [
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.precision=32",
        "model.backbone.options.pretrained=false",
        "common.use_imagenet=false",
        "dataset.train_options.options.use_imagenet=false",
        "dataset.valid_options.name=SynthValidDataset",
        "dataset.valid_options.options={num_classes: 4, views_per_class: 2}",
        "callbacks.0.options.monitor=valid_auc",
    ]
    out = project_cmd(baked, "train", SEED_CONFIG.stem, *small)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run = next((baked / "MyProj" / "runs" / SEED_CONFIG.stem).iterdir())
    assert (run / "checkpoint" / "last.ckpt").is_file()


def test_baked_project_tests_pass(baked):
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "MyProj/tests"],
        cwd=baked, env=env(), capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout.splitlines()[-1] and "failed" not in out.stdout.splitlines()[-1]
