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
