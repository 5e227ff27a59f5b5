"""The `otter` command as a user runs it: real subprocesses, real exit codes."""

import json
import subprocess
import sys


def otter(*args, env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "otter.cli", *map(str, args)], capture_output=True, text=True, env=env)


def test_help_lists_the_commands():
    out = otter("--help")
    assert out.returncode == 0
    for word in ("check", "info", "--debug"):
        assert word in out.stdout


def test_check_accepts_the_seed_example(seed_config):
    out = otter("check", seed_config)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"{seed_config}: OK")
    assert "not checked: model.name: 'ClassifierModel'" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "onnx.dynamic_axes.output" in warnings[0]


def test_check_applies_overrides(seed_config):
    out = otter("check", seed_config, "optimizer.options.lr=fast")
    assert out.returncode == 2
    assert out.stderr.strip() == f"{seed_config}: optimizer.options.lr: AdamW expects float or Tensor, got 'fast'"


def test_malformed_config_is_one_line_exit_2_no_traceback(tmp_path, seed_config):
    bad = tmp_path / "bad.yaml"
    bad.write_text(seed_config.read_text().replace("max_epochs: 40", "max_epoch: 40"))
    out = otter("check", bad)
    assert out.returncode == 2
    assert out.stderr == f"{bad}: trainer.max_epoch: Trainer has no option 'max_epoch' (did you mean 'max_epochs' or 'min_epochs' or 'max_steps'?)\n"
    assert "Traceback" not in out.stderr


def test_yaml_syntax_error_shows_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("common:\n  batch_size: 4\n optimizer: x\n")
    out = otter("check", bad)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{bad}: YAML syntax error at line 3, column 2")


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("[1, 2\n")
    assert "Traceback" in otter("--debug", "check", bad).stderr
    assert "Traceback" in otter("check", bad, env_extra={"OTTER_DEBUG": "1"}).stderr


def test_missing_file_is_a_clear_error(tmp_path):
    out = otter("check", tmp_path / "nope.yaml")
    assert out.returncode == 2
    assert out.stderr.strip() == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_info_prints_versions_and_devices():
    out = otter("info")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["PackageVersions"]["torch"] and info["PackageVersions"]["lightning"]
    import torch

    # What this machine has, not merely a boolean.
    assert info["GPU-Cuda-Versions"]["cuda_available"] is torch.cuda.is_available()
    assert len(info["GPU-Cuda-Versions"]["devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert info["GPU-Cuda-Versions"]["torch"] == torch.__version__
    assert info["SystemInfos"]["cpu_count"] >= 1


def test_info_of_a_folder_that_is_not_a_run(tmp_path):
    out = otter("info", tmp_path)
    assert out.returncode == 2 and "not a run folder" in out.stderr
