"""`otter check` refuses what `train` would refuse in its set-up: one line, the key path, exit 2.

Each case changes one thing in a valid config (tests/tinyproj.py's) that the real
constructor — optimizer, scheduler, callback, logger, DataLoader, Trainer —
refuses, or a YAML mapping that names a key twice. The check builds those
objects in a throwaway folder, so nothing here is a copy of their rules.
"""

import pytest

from tinyproj import TINY_CONFIG


def check(tmp_path, capsys, *overrides, text=TINY_CONFIG):
    from otter.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    code = main(["check", str(path), *overrides])
    out = capsys.readouterr()
    return code, path, out


REFUSED = [
    # optimizer values torch.optim refuses
    ("optimizer.options.lr=-0.1", "optimizer.options.lr", "AdamW refuses this: Invalid learning rate: -0.1"),
    ("optimizer.options.betas=[0.9, 1.5]", "optimizer.options.betas", "Invalid beta parameter at index 1: 1.5"),
    ("optimizer.options.weight_decay=-1", "optimizer.options.weight_decay", "Invalid weight_decay value: -1"),
    ("optimizer.options.eps=-1e-8", "optimizer.options.eps", "Invalid epsilon value"),
    # scheduler arguments
    ("lr_scheduler.options.warmup_iters=-5", "lr_scheduler.options.warmup_iters", "PolynomialLRWarmup needs warmup_iters >= 0"),
    ("lr_scheduler={name: LinearLR, options: {start_factor: 2}}", "lr_scheduler.options", "LinearLR refuses this: Starting multiplicative factor"),
    ("lr_scheduler={name: ReduceLROnPlateau, options: {mode: maxx}}", "lr_scheduler.options.mode", "expects 'min' or 'max', got 'maxx'"),
    ("optimizer={name: SGD, options: {lr: 0.1, nesterov: true}}", "optimizer.options.nesterov", "SGD refuses this: Nesterov momentum requires"),
    ("lr_scheduler={name: OneCycleLR, options: {max_lr: 0.1}}", "lr_scheduler.options", "OneCycleLR refuses this"),
    # callback arguments and conflicts
    ("callbacks.0.options.mode=maxx", "callbacks.0.options.mode", "ModelCheckpoint refuses this: `mode` can be min, max but got maxx"),
    ("callbacks.0.options.save_top_k=-2", "callbacks.0.options.save_top_k", "Invalid value for save_top_k=-2"),
    ("callbacks.0.options={save_top_k: 3}", "callbacks.0.options.save_top_k", "No quantity for top_k to track"),
    ("callbacks.0.options={monitor: valid_loss, every_n_epochs: 1, every_n_train_steps: 3}", "callbacks.0.options.every_n_", "mutually exclusive"),
    ("callbacks.1={name: EarlyStopping, options: {monitor: valid_loss, mode: up}}", "callbacks.1.options.mode", "EarlyStopping refuses this"),
    ("callbacks.1={name: LearningRateMonitor, options: {logging_interval: hour}}", "callbacks.1.options.logging_interval", "expects 'step' or 'epoch', got 'hour'"),
    # logger arguments
    ("logger=[{name: TensorBoardLogger}, {name: MLFlowLogger}]", "logger.1.name", "MLFlowLogger needs a package that is not installed"),
    # DataLoader arguments
    ("dataloader.train_options.num_workers=-1", "dataloader.train_options.num_workers", "num_workers option should be non-negative"),
    ("dataloader.train_options.batch_size=0", "dataloader.train_options.batch_size", "batch_size should be a positive integer"),
    ("dataloader.valid_options.prefetch_factor=2", "dataloader.valid_options.prefetch_factor", "prefetch_factor option could only be specified"),
    ("dataloader.valid_options.persistent_workers=true", "dataloader.valid_options.persistent_workers", "needs num_workers > 0"),
    # Trainer arguments
    ("trainer.precision='17'", "trainer.precision", "got '17'"),
    ("trainer.precision=17", "trainer.precision", "got 17"),
    ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches", "Trainer refuses this"),
    ("trainer.accelerator=gpuu", "trainer.accelerator", "invalid accelerator name"),
    ("trainer.devices=-3", "trainer.devices", "should be an int > 0"),
    ("trainer.strategy=dpp", "trainer.strategy", "invalid strategy name"),
    ("trainer.max_epochs=-5", "trainer.max_epochs", "`max_epochs` must be a non-negative integer or -1"),
    ("trainer.val_check_interval=-1", "trainer.val_check_interval", "invalid value -1 for val_check_interval"),
    ("trainer.gradient_clip_algorithm=sideways", "trainer.gradient_clip_algorithm", "Allowed algorithms"),
    ("trainer.enable_progress_bar=false", "trainer.enable_progress_bar", "found `CustomTQDMProgressBar` in callbacks list"),
]


@pytest.mark.parametrize("override, key, text", REFUSED, ids=[r[1] + ":" + r[0].split("=", 1)[1][:20] for r in REFUSED])
def test_check_refuses_what_the_constructors_refuse(tmp_path, capsys, override, key, text):
    code, path, out = check(tmp_path, capsys, override)
    errors = out.err.strip().splitlines()
    assert code == 2, out
    assert len(errors) == 1, out.err
    assert errors[0].startswith(f"{path}: {key}"), errors[0]
    assert text in errors[0]
    assert "Traceback" not in out.err and not (tmp_path / "runs").exists()


DUPLICATES = [
    ("optimizer:\n  name: AdamW\n", "optimizer:\n  name: AdamW\n  name: SGD\n", "optimizer.name", "lines"),
    ("    lr: 0.01\n", "    lr: 0.01\n    lr: 0.1\n", "optimizer.options.lr", "lines"),
    ("      mode: min\n", "      mode: min\n      mode: max\n", "callbacks.0.options.mode", "lines"),
    ("logger:\n", "trainer:\n  max_epochs: 1\nlogger:\n", "trainer", "lines 5 and"),
]


@pytest.mark.parametrize("find, replace, key, text", DUPLICATES, ids=[d[2] for d in DUPLICATES])
def test_check_refuses_duplicate_keys_anywhere(tmp_path, capsys, find, replace, key, text):
    assert find in TINY_CONFIG
    code, path, out = check(tmp_path, capsys, text=TINY_CONFIG.replace(find, replace, 1))
    errors = out.err.strip().splitlines()
    assert code == 2 and len(errors) == 1, out.err
    assert errors[0].startswith(f"{path}: {key}: duplicate key ({text}"), errors[0]


def test_a_valid_config_passes_and_a_gpu_config_is_checked_on_the_cpu(tmp_path, capsys):
    code, path, out = check(tmp_path, capsys)
    assert code == 0 and out.out.strip().endswith(f"{path}: OK"), out
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the CPU fallback is not exercised here")
    code, path, out = check(tmp_path, capsys, "trainer.accelerator=gpu", "trainer.devices=[0]", "trainer.precision=16-mixed")
    assert code == 0, out
    assert "not checked: trainer.accelerator: 'gpu' is not available on this machine" in out.out
    code, path, out = check(tmp_path, capsys, "trainer.accelerator=gpu", "trainer.max_epochs=-5")
    assert code == 2 and out.err.startswith(f"{path}: trainer.max_epochs: Trainer refuses this"), out


def test_train_refuses_in_its_set_up_with_the_same_line_and_no_run_folder(project):
    import otter
    import tinyproj
    from otter.errors import OtterConfigError

    with pytest.raises(OtterConfigError) as e:
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["optimizer.options.lr=-0.1"])
    assert str(e.value) == f"{project / 'config' / 'tiny.yaml'}: optimizer.options.lr: AdamW refuses this: Invalid learning rate: -0.1"
    assert not (project / "runs").exists()


class PassesKwargsOn:
    """A project class whose **kwargs go to torch.nn.Conv2d."""

    OTTER_KWARGS_TARGET = "torch.nn:Conv2d"

    def __init__(self, channels: int = 3, **kwargs):
        self.kwargs = kwargs


def test_options_passed_on_through_kwargs_are_checked_where_they_land():
    from otter.errors import OtterConfigError
    from otter.validate import check_options

    check_options(PassesKwargsOn, {"channels": 3, "kernel_size": 3, "padding": 1}, file="c.yaml", key="model.neck.options")
    with pytest.raises(OtterConfigError) as e:
        check_options(PassesKwargsOn, {"channels": 3, "paddin": 1}, file="c.yaml", key="model.neck.options")
    assert str(e.value) == "c.yaml: model.neck.options.paddin: Conv2d has no option 'paddin' (did you mean 'padding' or 'padding_mode'?)"
    with pytest.raises(OtterConfigError, match=r"c\.yaml: model\.neck\.options\.padding: Conv2d expects"):
        check_options(PassesKwargsOn, {"padding": [1.5]}, file="c.yaml", key="model.neck.options")


def test_a_logger_option_its_writer_refuses_is_caught(tmp_path, capsys):
    code, path, out = check(tmp_path, capsys, "logger.options={flush_secs: 1, no_such_writer_option: 2}")
    assert code == 2, out
    assert out.err.strip().startswith(f"{path}: logger.options.no_such_writer_option: TensorBoardLogger refuses this"), out.err
