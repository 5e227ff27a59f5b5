"""Make the project importable by its name, offline, wherever pytest is started; and the ``project`` fixture.

``project`` runs this project the way its README does, for every task's tests:

    project.run("check", "default")              # python -m <Project>.model check default
    project.run("model.onnx", "a.jpg", module="infer")
    project.in_process(capsys, monkeypatch, "check", "default")   # the same, in this interpreter
    with project.trained("default", *project.tiny(...)) as (run_dir, onnx_path): ...
    project.module("infer")                      # import <Project>.infer
"""

import importlib
import os
import runpy
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Tuple

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
# The folder that holds the project: `import <Project>` works from there.
sys.path.insert(0, str(PROJECT_DIR.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


#: Overrides that make any config a one-epoch CPU run in this process (a task's tests add their sizes).
ONE_EPOCH_ON_CPU = (
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "dataloader.train_options.num_workers=0",
    "dataloader.train_options.persistent_workers=false",
    "dataloader.valid_options.num_workers=0",
    "dataloader.valid_options.persistent_workers=false",
)


class Project:
    """This project, driven as a user drives it."""

    def __init__(self) -> None:
        self.dir = PROJECT_DIR
        self.name = PROJECT_DIR.name

    @staticmethod
    def tiny(*overrides: str) -> list:
        """:data:`ONE_EPOCH_ON_CPU` followed by ``overrides`` (tiny sizes for the task's config)."""
        return [*ONE_EPOCH_ON_CPU, *overrides]

    def module(self, name: str):
        """``import <Project>.<name>``."""
        return importlib.import_module(f"{self.name}.{name}")

    def run(self, *args: str, module: str = "model") -> subprocess.CompletedProcess:
        """``python -m <Project>.<module> ARGS`` in a new interpreter, from the folder that holds the project."""
        return subprocess.run(
            [sys.executable, "-m", f"{self.name}.{module}", *args], cwd=self.dir.parent, capture_output=True, text=True
        )

    def in_process(self, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str) -> subprocess.CompletedProcess:
        """``python -m <Project>.model ARGS`` run the way ``-m`` runs it, in this interpreter (no start-up)."""
        monkeypatch.setattr(sys, "argv", [f"{self.name}.model", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            runpy.run_module(f"{self.name}.model", run_name="__main__", alter_sys=True)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, stop.value.code, out, err)

    @contextmanager
    def trained(self, cfg_name: str, *overrides: str) -> Iterator[Tuple[Path, Path]]:
        """Train ``cfg_name`` with ``overrides``, export it: ``(run folder, ONNX file)``; the run is removed after."""
        run_dir = Path(self.module("model.trainer").train(cfg_name, *overrides))
        try:
            yield run_dir, Path(self.module("model.to_onnx").to_onnx(cfg_name, *overrides))
        finally:
            # Keep the project folder clean for the next user of it.
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def project() -> Project:
    return Project()
