"""A seed-style project trains on CPU through otter and leaves a complete run folder."""

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

import otter
import tinyproj
from otter.errors import OtterConfigError, OtterError


def only_run(root: Path, cfg_name: str = "tiny") -> Path:
    runs = list((root / "runs" / cfg_name).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real 2-epoch CPU run shared by the tests that only read its folder."""
    root = tinyproj.make_project(tmp_path_factory.mktemp("trained"))
    trainer, model, cfg = tinyproj.train(root)
    return root, trainer, model, cfg


def test_run_folder_has_everything(trained):
    root, trainer, model, cfg = trained
    run = only_run(root)
    assert Path(cfg.root_dir) == run and run.name == cfg.name_ind
    for name in ("config.yaml", "PackageVersions.json", "GPU-Cuda-Versions.json", "SystemInfos.json", "model_meta_data.json"):
        assert (run / name).is_file(), name
    ckpts = sorted(p.name for p in (run / "checkpoint").iterdir())
    assert "last.ckpt" in ckpts and any(n.startswith("epoch=") for n in ckpts)
    assert list((run / "logs").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "preview").iterdir()) == ["epoch_0", "epoch_1"]
    assert (run / "export").is_dir()
    assert trainer.global_step == 16 and trainer.current_epoch == 2


def test_metadata_files_hold_real_values(trained):
    run = only_run(trained[0])
    meta = json.loads((run / "model_meta_data.json").read_text())
    params = sum(p.numel() for p in trained[2].parameters())
    assert meta["params"] == params and meta["flops"] > 0 and meta["macs"] * 2 == meta["flops"]
    assert torch.__version__.startswith(json.loads((run / "PackageVersions.json").read_text())["torch"])
    assert json.loads((run / "GPU-Cuda-Versions.json").read_text())["torch"] == torch.__version__
    assert json.loads((run / "SystemInfos.json").read_text())["cpu_count"] == os.cpu_count()


def test_saved_config_is_resolved_and_loads_again(trained):
    run = only_run(trained[0])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    # -1 values are shown as used: 32 samples / batch 4 * 2 epochs = 16 steps, 10% warmup.
    assert saved["lr_scheduler"]["options"] == {"warmup_iters": 1, "total_iters": 16}
    assert saved["dataloader"]["train_options"]["batch_size"] == 4
    assert saved["common"]["seed"] == 7
    again = otter.load_config(run / "config.yaml")
    assert again.model.name == "TinyModel"


@pytest.mark.parametrize("max_time, seconds", [("00:00:10:00", 600.0), (None, 0.0)])
def test_a_time_budget_of_minus_one_is_the_trainers_max_time(project, max_time, seconds):
    overrides = ["trainer.max_epochs=1", "lr_scheduler.options.max_seconds=-1"]
    if max_time:
        overrides.append(f"trainer.max_time={max_time}")
    trainer, model, cfg = tinyproj.train(project, overrides=overrides)
    saved = yaml.safe_load((only_run(project) / "config.yaml").read_text())
    assert saved["lr_scheduler"]["options"]["max_seconds"] == seconds
    assert trainer.lr_scheduler_configs[0].scheduler.max_seconds == seconds


def test_overrides_show_in_the_saved_config(project):
    tinyproj.train(project, overrides=["trainer.max_epochs=1", "optimizer.options.lr=0.002"])
    saved = yaml.safe_load((only_run(project) / "config.yaml").read_text())
    assert saved["trainer"]["max_epochs"] == 1 and saved["optimizer"]["options"]["lr"] == 0.002


def test_a_missing_seed_is_chosen_and_recorded(project):
    text = tinyproj.TINY_CONFIG.replace("  seed: 7\n", "")
    tinyproj.make_project(project, text=text)
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    assert isinstance(cfg.common.seed, int)


def test_same_seed_same_weights(project):
    a, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    b, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    c, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.seed=8"])
    wa, wb, wc = (m.head.net[0].weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_bad_trainer_setting_creates_no_run_folder(project):
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["trainer.accelerator=gpu"])
    with pytest.raises(OtterConfigError, match=r"tiny\.yaml: trainer: "):
        otter.build_trainer(cfg, root=project)
    # The run id's folder is reserved (empty, removed at exit if no step ran); nothing is written into it.
    assert [p for p in (project / "runs").rglob("*") if p.is_file()] == []


def test_invalid_config_creates_nothing(project):
    with pytest.raises(OtterConfigError, match=r"optimizer\.options\.lrr"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["optimizer.options.lrr=1"])
    assert sorted(p.name for p in project.iterdir()) == ["config"]


def test_unknown_config_name_lists_the_configs(project):
    with pytest.raises(OtterConfigError, match=r"unknown config 'tiyn' \(did you mean 'tiny'\?\); configs in .*config: tiny"):
        otter.load_model_from_config("tiyn", root=project, network=tinyproj)


def test_an_existing_run_folder_is_never_overwritten(project):
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    # Another run's folder, under the id this run is told to use.
    existing = project / "runs" / "tiny" / "earlier"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("mine")
    cfg.name_ind = existing.name
    with pytest.raises(OtterError, match="exists already; a run folder is never overwritten"):
        otter.build_trainer(cfg, root=project)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_progress_bar_counts_images(project):
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    cfg.root_dir = str(project / "runs" / "x")
    bar = next(c for c in otter.build_callback(cfg) if type(c).__name__ == "CustomTQDMProgressBar")
    tqdm = bar.init_train_tqdm()
    assert tqdm.unit == "img" and tqdm.unit_scale == 4
    tqdm.close()


def test_logger_list_writes_each_into_the_run(project):
    trainer, model, cfg = tinyproj.train(
        project,
        overrides=["trainer.max_epochs=1", "logger=[{name: TensorBoardLogger}, {name: CSVLogger, options: {save_dir: csv}}]"],
    )
    run = only_run(project)
    assert list((run / "logs").glob("events.out.tfevents.*"))
    assert (run / "csv" / "metrics.csv").is_file()


# --------------------------------------------------------------------------- one rule each: dataset options, image size


def test_global_settings_win_over_dataset_options():
    from otter.sections import dataset_options

    cfg = {"global_settings": {"image_size": [8, 8]}, "dataset": {"valid_options": {"name": "D", "options": {"image_size": 4, "n": 2}}}}
    assert dataset_options(cfg, "valid") == {"image_size": [8, 8], "n": 2}
    assert dataset_options(cfg, "train") == {"image_size": [8, 8]}


@pytest.mark.parametrize(
    "cfg, size",
    [
        ({"common": {"image_size": 32}}, (32, 32)),
        ({"common": {"image_size": 32}, "dataset": {"train_options": {"name": "D", "options": {"image_size": [16, 24]}}}}, (16, 24)),
        ({"common": {"image_size": 32}, "global_settings": {"image_size": [8, 12]},
          "dataset": {"train_options": {"name": "D", "options": {"image_size": [16, 24]}}}}, (8, 12)),
        ({"common": {}}, None),
    ],
)
def test_the_image_size_is_what_the_training_images_are_made_at(cfg, size):
    from otter.sections import image_size

    assert image_size(cfg) == size


def test_make_dataset_builds_what_build_dataset_loads(project):
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    dataset = otter.make_dataset(cfg, "train", tinyproj)
    train, _ = otter.build_dataset(cfg, tinyproj)
    assert isinstance(dataset, tinyproj.TinyDataset) and len(dataset) == len(train.dataset)
    assert otter.make_dataset(cfg, "test", tinyproj) is None


def test_a_corrupt_checkpoint_is_one_line_naming_the_file(tmp_path):
    from otter.checkpoint import read_checkpoint

    path = tmp_path / "last.ckpt"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(OtterError, match=rf"^{path}: cannot read this checkpoint .*; is it complete\?$"):
        read_checkpoint(path)
    torch.save([1, 2], path)
    with pytest.raises(OtterError, match="not a checkpoint"):
        read_checkpoint(path)
