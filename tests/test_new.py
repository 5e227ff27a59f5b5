"""`otter new` and the template's hooks refuse bad names and write nothing."""

import subprocess
import sys

import pytest


def otter_new(*args, cwd):
    return subprocess.run([sys.executable, "-m", "otter.cli", "new", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "name, message",
    [
        ("9lives", "is not a Python identifier"),
        ("my-proj", "is not a Python identifier"),
        ("class", "is a Python keyword"),
        ("torch", "would shadow the module 'torch'"),
        ("test", "would shadow the module 'test'"),
        ("json", "would shadow the module 'json'"),
        ("Otter", "would shadow the module 'Otter'"),
    ],
)
def test_bad_project_names_are_refused_and_nothing_is_written(tmp_path, name, message):
    out = otter_new(name, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_task_is_refused(tmp_path):
    out = otter_new("MyProj", "--task", "segmenter", cwd=tmp_path)
    assert out.returncode == 2 and "invalid choice: 'segmenter'" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "MyProj").mkdir()
    (tmp_path / "MyProj" / "mine.txt").write_text("keep")
    out = otter_new("MyProj", cwd=tmp_path)
    assert out.returncode == 2 and "exists already" in out.stderr
    assert [p.name for p in (tmp_path / "MyProj").iterdir()] == ["mine.txt"]


def test_a_new_project_has_the_task_files_and_no_byte_code(tmp_path):
    out = otter_new("MyProj", "--task", "classifier", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "MyProj"
    assert (root / "config" / "default.yaml").is_file() and (root / "model" / "model.py").is_file()
    assert not (root / "_tasks").exists()
    assert [p for p in root.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")] == []


def test_a_task_that_does_not_meet_the_contract_is_refused_by_name(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    template = Path(__file__).resolve().parents[1] / "template"
    spec = importlib.util.spec_from_file_location("post_gen", template / "hooks" / "post_gen_project.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    base = template / "{{cookiecutter.project_name}}"
    available = hook.available_tasks(base / "_tasks", base)
    missing = [t for t in json.loads((template / "cookiecutter.json").read_text())["task"] if t not in available]
    if not missing:
        pytest.skip("every task in cookiecutter.json meets the contract")
    out = otter_new("MyProj", "--task", missing[0], cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == f"task {missing[0]!r} is not available yet; available: {', '.join(available)}"
    assert list(tmp_path.iterdir()) == []
