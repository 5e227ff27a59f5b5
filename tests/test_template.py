"""The template, baked for real with pytest-cookies and cookiecutter, used the way a user uses it."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

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


# Runs several `python -m MyProj.model ...` commands in one interpreter, each as `python -m` runs it
# (runpy, SystemExit for the exit code) with its own stdout/stderr captured at the file-descriptor
# level, so log lines written by libraries count as they would in a separate process. Saves the
# interpreter start and the torch import (seconds each) per command.
_MANY = r"""
import json, os, runpy, sys, tempfile, warnings

filters = list(warnings.filters)
results = []
for argv in json.loads(sys.argv[1]):
    warnings.resetwarnings()
    warnings.filters[:] = filters  # each warning shown once per command, as in a fresh process
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            sys.argv = ["MyProj.model", *argv]
            try:
                runpy.run_module("MyProj.model", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        results.append([code, out.read().decode(), err.read().decode()])
print("\nRESULTS=" + json.dumps(results))
"""


def project_cmds(folder: Path, *commands: List[str]) -> List[subprocess.CompletedProcess]:
    """Run each ``python -m MyProj.model <command>`` in one child interpreter; one result per command."""
    proc = subprocess.run([sys.executable, "-c", _MANY, json.dumps([list(c) for c in commands])],
                          cwd=folder, env=env(), capture_output=True, text=True)
    marker = proc.stdout.rfind("RESULTS=")
    assert proc.returncode == 0 and marker >= 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [subprocess.CompletedProcess(c, code, out, err) for c, (code, out, err) in zip(commands, json.loads(proc.stdout[marker + 8:]))]


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(f"_hook_{name}", REPO / "template" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = load_hook("post_gen_project")
BASE = REPO / "template" / "{{cookiecutter.project_name}}"
TASK_DIRS = sorted(p.name for p in (BASE / "_tasks").iterdir() if p.is_dir() and p.name != "__pycache__")
# The tasks a user can generate: those whose folder meets the contract in _tasks/TASKS.md.
TASKS = HOOK.available_tasks(BASE / "_tasks", BASE)


def bake(out: Path, task: str, template: Path = REPO / "template", name: str = "MyProj") -> Path:
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(template), no_input=True, output_dir=str(out), extra_context={"project_name": name, "task": task}))


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """A classifier project baked by cookiecutter from this repository's template."""
    out = tmp_path_factory.mktemp("baked")
    bake(out, "classifier")
    return out


@pytest.fixture(scope="module", params=TASKS)
def baked_task(request, tmp_path_factory):
    """``(folder holding MyProj, task)`` for each available task."""
    out = tmp_path_factory.mktemp(f"baked_{request.param}")
    bake(out, request.param)
    return out, request.param


def test_the_classifier_is_available():
    assert "classifier" in TASKS


@pytest.mark.parametrize("task", TASK_DIRS)
def test_every_task_folder_meets_the_contract(task):
    assert HOOK.task_problems(BASE / "_tasks", task, BASE) == []


def test_contract_lists_what_the_base_imports():
    contract = HOOK.contract(BASE / "_tasks")
    assert {"config/default.yaml", "model/__init__.py", "infer.py", "README.md", "tests/"} <= set(contract)
    assert contract["model/__init__.py"] == ["main_<task>_train", "main_<task>_torch2onnx"]
    trainer = (BASE / "model" / "trainer.py").read_text()
    # Every task module the base imports is in the contract.
    for module in ("component", "dataset", "model", "to_onnx"):
        assert module in trainer and f"model/{module}.py" in contract


@pytest.mark.slow
def test_bake_makes_the_documented_layout(baked_task):
    out, task = baked_task
    root = out / "MyProj"
    for path in (".gitignore", "__init__.py", "model/__main__.py", "model/trainer.py", "docker/train.bash", "docker/to_onnx.bash", "tests/conftest.py"):
        assert (root / path).is_file(), path
    for path in HOOK.contract(BASE / "_tasks"):
        target = root / path
        assert target.is_dir() if path.endswith("/") else target.is_file(), path
    assert not (root / "_tasks").exists()
    assert [p for p in root.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")] == []
    assert "runs/" in (root / ".gitignore").read_text().split()
    assert "MyProj" in (root / "README.md").read_text() and "{{" not in (root / "README.md").read_text()
    assert os.access(root / "docker" / "train.bash", os.X_OK)


@pytest.mark.slow
def test_bake_from_a_template_with_byte_code_leaves_none(tmp_path):
    # An installed template (otter new) may hold __pycache__ folders next to its sources.
    template = tmp_path / "template"
    shutil.copytree(REPO / "template", template, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in (template / "{{cookiecutter.project_name}}" / "model", template / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "model"):
        (folder / "__pycache__").mkdir()
        (folder / "__pycache__" / "trainer.cpython-311.pyc").write_bytes(b"\x00\x01binary")
    root = bake(tmp_path / "out", "classifier", template)
    assert [p for p in root.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"] == []


def copy_template(tmp_path: Path) -> Path:
    template = tmp_path / "template"
    shutil.copytree(REPO / "template", template, ignore=shutil.ignore_patterns("__pycache__"))
    return template


@pytest.mark.slow
def test_an_overlay_file_that_would_overwrite_a_base_file_is_refused(tmp_path):
    template = copy_template(tmp_path)
    overlay = template / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "model" / "trainer.py"
    overlay.write_text("# would replace the base's trainer\n")
    bake_refused(tmp_path / "out", template, task="classifier", message="_tasks/classifier/model/trainer.py would overwrite the base's model/trainer.py")


@pytest.mark.slow
def test_a_task_missing_a_contract_file_is_refused(tmp_path):
    template = copy_template(tmp_path)
    (template / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "config" / "gpu.yaml").unlink()
    bake_refused(tmp_path / "out", template, task="classifier", message="_tasks/classifier/config/gpu.yaml is missing")


@pytest.mark.slow
def test_a_task_without_its_entry_points_is_refused(tmp_path):
    template = copy_template(tmp_path)
    init = template / "{{cookiecutter.project_name}}" / "_tasks" / "classifier" / "model" / "__init__.py"
    init.write_text(init.read_text().replace("main_classifier_torch2onnx", "export_it"))
    bake_refused(tmp_path / "out", template, task="classifier", message="does not define main_classifier_torch2onnx")


def test_a_new_task_folder_that_meets_the_contract_is_available(tmp_path):
    template = copy_template(tmp_path)
    tasks = template / "{{cookiecutter.project_name}}" / "_tasks"
    shutil.copytree(tasks / "classifier", tasks / "sorter")
    init = tasks / "sorter" / "model" / "__init__.py"
    init.write_text(init.read_text().replace("main_classifier_", "main_sorter_"))
    base = template / "{{cookiecutter.project_name}}"
    assert "sorter" in HOOK.available_tasks(tasks, base)
    (tasks / "sorter" / "infer.py").unlink()
    assert "sorter" not in HOOK.available_tasks(tasks, base)


def test_root_nested_template_file_points_at_template():
    config = json.loads((REPO / "cookiecutter.json").read_text())
    assert [t["path"] for t in config["templates"].values()] == ["./template"]


def bake_refused(out: Path, template: Path = REPO / "template", message: str = "", **context):
    """Bake in a child process (to read the hook's message); it must fail and leave nothing."""
    out.mkdir(parents=True, exist_ok=True)
    context.setdefault("project_name", "MyProj")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, json; from cookiecutter.main import cookiecutter; "
         "cookiecutter(sys.argv[1], no_input=True, output_dir=sys.argv[2], extra_context=json.loads(sys.argv[3]))",
         str(template), str(out), json.dumps(context)],
        capture_output=True, text=True, env=env(),
    )
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert list(out.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["my-proj", "9lives", "torch", "test", "import"])
def test_hook_refuses_bad_project_names_and_writes_nothing(tmp_path, name):
    bake_refused(tmp_path, project_name=name, task="classifier")


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in ("classifier", "aligner", "mrz") if t not in TASKS])
def test_tasks_not_ready_say_so_and_write_nothing(tmp_path, task):
    bake_refused(tmp_path, task=task, message=f"task {task!r} is not available")


@pytest.mark.slow
def test_exports_keep_the_seed_entry_points(baked_task):
    out, task = baked_task
    code = f"import MyProj.model as m; print(m.main_{task}_train.__name__, m.main_{task}_torch2onnx.__name__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=out, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_shipped_configs_pass_check(baked_task):
    out, task = baked_task
    configs = ("default", "gpu", "finetune")
    for cfg, proc in zip(configs, project_cmds(out, *(["check", cfg] for cfg in configs))):
        assert proc.returncode == 0, (task, cfg, proc.stderr)
        assert proc.stdout.strip().endswith(": OK")


@pytest.fixture(scope="module")
def quick(baked):
    """The classifier project's fast commands (checks and refused trainings), all in one interpreter."""
    shutil.copy(SEED_CONFIG, baked / "MyProj" / "config" / SEED_CONFIG.name)
    commands = {
        "seed_check": ["check", SEED_CONFIG.stem],
        "typo_option": ["check", "default", "model.head.options.embed_dm=64"],
        "typo_name": ["check", "--cfg_name", "default", "model.name=ClassifierModle"],
        "unknown_config": ["train", "defualt"],
        "pretrained": ["train", "default", *TINY, "model.backbone.options.pretrained=true"],
        "use_imagenet": ["train", "default", *TINY, "dataset.train_options.options.use_imagenet=true"],
    }
    runs = baked / "MyProj" / "runs"
    before = set(runs.rglob("*"))
    results = dict(zip(commands, project_cmds(baked, *commands.values())))
    results["runs_made"] = sorted(set(runs.rglob("*")) - before)
    return results


@pytest.mark.slow
def test_seed_example_config_passes_check_unchanged(quick):
    out = quick["seed_check"]
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "onnx.dynamic_axes.output" in warnings[0]


@pytest.mark.slow
def test_check_catches_project_names_and_options(quick, baked):
    out = quick["typo_option"]
    assert out.returncode == 2
    assert out.stderr.strip().startswith(str(baked / "MyProj" / "config" / "default.yaml") + ": model.head.options.embed_dm: ")
    assert "did you mean 'embed_dim'" in out.stderr
    out = quick["typo_name"]
    assert out.returncode == 2 and "did you mean 'ClassifierModel'" in out.stderr


@pytest.mark.slow
def test_unknown_config_lists_the_configs(quick):
    out = quick["unknown_config"]
    assert out.returncode == 2
    assert "unknown config 'defualt' (did you mean 'default'?)" in out.stderr and "default, finetune, gpu" in out.stderr


@pytest.mark.slow
def test_pretrained_without_network_is_one_line(quick):
    out = quick["pretrained"]
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pretrained: false" in lines[0], out.stderr[-2000:]
    assert quick["runs_made"] == []


@pytest.mark.slow
def test_use_imagenet_without_a_folder_is_one_line(quick):
    out = quick["use_imagenet"]
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "use_imagenet" in lines[0], out.stderr[-2000:]


@pytest.mark.slow
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


@pytest.mark.slow
def test_baked_project_tests_pass(baked_task):
    out, task = baked_task
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "MyProj/tests"],
        cwd=out, env=env(), capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # Every outcome of the summary counted: a skipped, failed or erroring test fails this one.
    summary = [line for line in proc.stdout.splitlines() if line.strip()][-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    assert counts.get("passed", 0) >= 3, summary
    assert set(counts) <= {"passed", "warning", "warnings"}, summary
