"""A project written exactly the seed's way trains unchanged (DESIGN §3, issue: the seed's calling convention).

Like the seed's DocClassifier: the configs live in ``<project>/model/config/``, the
model module and the dataset module are separate, and the trainer calls

    model, cfg = load_model_from_config(cfg_name, root=DIR, stem="config", network=net)
    train_data, valid_data = build_dataset(cfg, ds)

so the dataset names are resolved only when ``ds`` arrives. Nothing is registered.
"""

import importlib
import subprocess
import sys
import uuid

import pytest

from tinyproj import TINY_CONFIG

MODEL_PY = '''\
import torch
import torch.nn as nn

from otter import BaseMixin


class TinyHead(nn.Module):
    OTTER_DERIVED = ("in_dim",)

    def __init__(self, in_dim: int, hidden: int = 8, num_classes: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.net(x)


class TinyModel(BaseMixin):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.apply_solver_config(cfg.optimizer, cfg.get("lr_scheduler"))
        h, w = cfg.common.image_size
        self.flatten = nn.Flatten()
        self.head = TinyHead(in_dim=3 * h * w, **(cfg.model.head.get("options") or {}))
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.head(self.flatten(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("valid_loss", self.loss_fn(self(x), y))


class TinyWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, img):
        return self.model(img).softmax(-1)
'''

DATASET_PY = '''\
import torch
from torch.utils.data import Dataset


class TinyDataset(Dataset):
    def __init__(self, length, image_size, seed=0):
        g = torch.Generator().manual_seed(seed)
        h, w = image_size
        self.x = torch.rand(length, 3, h, w, generator=g)
        self.y = (self.x[:, 0].mean((1, 2)) > self.x[:, 1].mean((1, 2))).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]
'''

TRAINER_PY = '''\
from pathlib import Path

from otter import build_dataset, build_trainer, load_model_from_config

from . import dataset as ds
from . import model as net

DIR = Path(__file__).resolve().parent


def main_tiny_train(cfg_name: str):
    model, cfg = load_model_from_config(cfg_name=cfg_name, root=DIR, stem="config", network=net)
    train_data, valid_data = build_dataset(cfg, ds)
    trainer = build_trainer(cfg, root=DIR)
    trainer.fit(model, train_data, valid_data)
    print(f"RUN_DIR={cfg.root_dir} GLOBAL_STEP={trainer.global_step}")
'''


@pytest.fixture
def seed_project(tmp_path, monkeypatch):
    """``<tmp>/<Name>/model/{config/tiny.yaml, model.py, dataset.py, trainer.py}``; returns (name, model folder)."""
    name = f"SeedProj_{uuid.uuid4().hex[:8]}"
    model_dir = tmp_path / name / "model"
    (model_dir / "config").mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (model_dir / "__init__.py").write_text("from .trainer import main_tiny_train\n")
    (model_dir / "model.py").write_text(MODEL_PY)
    (model_dir / "dataset.py").write_text(DATASET_PY)
    (model_dir / "trainer.py").write_text(TRAINER_PY)
    (model_dir / "config" / "tiny.yaml").write_text(
        TINY_CONFIG.replace("max_epochs: 2", "max_epochs: 1").replace("length: 32", "length: 8")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name, model_dir


@pytest.mark.slow
def test_a_seed_shaped_project_trains_on_cpu(seed_project, tmp_path):
    name, model_dir = seed_project
    code = f"from {name}.model import main_tiny_train; main_tiny_train('tiny')"
    env_path = {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env_path}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "GLOBAL_STEP=2" in out.stdout
    runs = list((model_dir / "runs" / "tiny").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoint" / "last.ckpt").is_file()


@pytest.mark.slow
def test_dataset_problems_are_one_line_when_the_module_arrives_and_leave_no_run_folder(seed_project, tmp_path):
    import os

    name, model_dir = seed_project
    text = (model_dir / "config" / "tiny.yaml").read_text()
    bad_name = model_dir / "config" / "bad_name.yaml"
    bad_name.write_text(text.replace("name: TinyDataset", "name: TinyDatset", 1))
    bad_option = model_dir / "config" / "bad_option.yaml"
    bad_option.write_text(text.replace("length: 16", "lenght: 16", 1))
    # As the seed's Fire entry point would run it, through otter's guard: one line and exit 2 each.
    code = (
        "import sys\n"
        "from otter.cli import run_guarded\n"
        f"from {name}.model import main_tiny_train\n"
        "codes = [run_guarded(lambda: main_tiny_train(c), []) for c in ('bad_name', 'bad_option')]\n"
        "print('CODES', codes)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert "CODES [2, 2]" in out.stdout, out.stderr[-3000:]
    err = [line for line in out.stderr.strip().splitlines() if line]
    assert len(err) == 2, out.stderr
    assert err[0].startswith(f"{bad_name}: dataset.train_options.name: unknown name 'TinyDatset'")
    assert "did you mean 'TinyDataset'" in err[0]
    assert err[1] == f"{bad_option}: dataset.valid_options.options.lenght: TinyDataset has no option 'lenght' (did you mean 'length'?)"
    assert not any((model_dir / "runs").glob("*/*")), "a run that failed in its set-up left a run folder"


def test_project_check_does_not_defer(seed_project):
    import otter
    from otter.errors import OtterConfigError

    name, model_dir = seed_project
    net = importlib.import_module(f"{name}.model.model")
    ds = importlib.import_module(f"{name}.model.dataset")
    cfg = otter.load_project_config("tiny", model_dir, "config", [net, ds], mode="check")
    assert cfg.name == "tiny"
    with pytest.raises(OtterConfigError, match=r"dataset\.train_options\.name: unknown name 'TinyDataset'"):
        otter.load_project_config("tiny", model_dir, "config", [net], mode="check")
