"""Resume (DESIGN §5): weights-only into a new run, full state in the same run, and after SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import otter
import tinyproj
from otter.errors import OtterConfigError, OtterError

TESTS = Path(__file__).resolve().parent


def runs(root: Path):
    return sorted(p.name for p in (root / "runs" / "tiny").iterdir())


@pytest.mark.slow
def test_weights_only_resume_seeds_a_new_run(project):
    _, first, cfg1 = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    model, cfg = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
    assert cfg.name_ind != cfg1.name_ind
    for (name, a), b in zip(first.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name
    trainer = otter.build_trainer(cfg, root=project)
    assert trainer.ckpt_path is None
    assert len(runs(project)) == 2


@pytest.mark.slow
def test_full_resume_continues_epoch_and_step_in_the_same_folder(project):
    trainer1, _, cfg1 = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    assert trainer1.global_step == 8
    trainer2, _, cfg2 = tinyproj.train(
        project,
        overrides=["trainer.max_epochs=2", "common.is_restore=true", "common.restore_all_states=true", f"common.restore_ind={cfg1.name_ind}"],
    )
    assert cfg2.root_dir == cfg1.root_dir and runs(project) == [cfg1.name_ind]
    assert trainer2.global_step == 16 and trainer2.current_epoch == 2
    # The second half was trained: epoch_1 previews exist beside epoch_0.
    assert sorted(p.name for p in (Path(cfg1.root_dir) / "preview").iterdir()) == ["epoch_0", "epoch_1"]


@pytest.mark.slow
def test_restore_names_a_checkpoint_file(project):
    _, _, cfg1 = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    best = next(p.name for p in (Path(cfg1.root_dir) / "checkpoint").iterdir() if p.name.startswith("epoch="))
    model, cfg = otter.load_model_from_config(
        "tiny", root=project, network=tinyproj, overrides=["common.is_restore=true", f"common.restore_ckpt={best}"]
    )
    with pytest.raises(OtterConfigError, match=r"common\.restore_ckpt: no checkpoint 'nope\.ckpt' in .* \(there: epoch="):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true", "common.restore_ckpt=nope.ckpt"])


def test_restore_without_runs_or_with_unknown_run_says_so(project):
    with pytest.raises(OtterConfigError, match=r"tiny\.yaml: common\.is_restore: .*runs/tiny has no run yet; train it first"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
    (project / "runs" / "tiny" / "2024-01-01-00-00-00").mkdir(parents=True)
    with pytest.raises(OtterConfigError, match=r"common\.restore_ind: no run 'x' .*runs: 2024-01-01-00-00-00"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true", "common.restore_ind=x"])


def _fake_run_with_checkpoint(project: Path, content) -> Path:
    ckpt_dir = project / "runs" / "tiny" / "2024-01-01-00-00-00" / "checkpoint"
    ckpt_dir.mkdir(parents=True)
    path = ckpt_dir / "last.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def test_corrupt_checkpoint_names_the_file(project):
    path = _fake_run_with_checkpoint(project, b"not a checkpoint at all")
    with pytest.raises(OtterError, match=rf"{path}: cannot read this checkpoint"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])


def test_mismatched_checkpoint_names_the_file_and_the_keys(project):
    other, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["model.head.options.hidden=16"])
    path = _fake_run_with_checkpoint(project, {"state_dict": other.state_dict()})
    with pytest.raises(OtterError, match=rf"{path}: does not match TinyModel: shape mismatch: head\.net\.0\.weight \(16, 192\) vs model \(8, 192\)"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])


def test_strict_loading_reports_missing_and_unexpected_keys(project):
    model, _ = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    state = model.state_dict()
    state["extra.weight"] = state.pop("head.net.2.bias")
    _fake_run_with_checkpoint(project, {"state_dict": state})
    with pytest.raises(OtterError, match=r"missing keys: head\.net\.2\.bias; unexpected keys: extra\.weight; set common\.restore_strict: false"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
    model, _ = otter.load_model_from_config(
        "tiny", root=project, network=tinyproj, overrides=["common.is_restore=true", "common.restore_strict=false"]
    )


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTTER_RUN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


@pytest.mark.slow
def test_sigterm_leaves_a_last_ckpt_that_resumes(project, tmp_path):
    marker = tmp_path / "stepped"
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "tinyproj.py"), str(project), "trainer.max_epochs=100"],
        env=clean_env(TINY_STEP_SLEEP="0.05", TINY_MARKER=str(marker)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "training never reached step 2"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    run = (project / "runs" / "tiny").iterdir().__next__()
    last = run / "checkpoint" / "last.ckpt"
    assert last.is_file(), output
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert 2 <= saved["global_step"] < 800
    trainer, _, cfg = tinyproj.train(
        project,
        overrides=["trainer.max_epochs=1", "common.is_restore=true", "common.restore_all_states=true"],
    )
    assert cfg.root_dir == str(run)
    assert trainer.global_step >= saved["global_step"]


@pytest.mark.slow
def test_restore_from_another_configs_run(project):
    _, first, cfg1 = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    (project / "config" / "finetune.yaml").write_text("_base_: tiny.yaml\ncommon:\n  is_restore: true\n  restore_cfg: tiny\n")
    model, cfg = otter.load_model_from_config("finetune", root=project, network=tinyproj)
    assert cfg.name == "finetune"  # a new run under runs/finetune/
    for a, b in zip(first.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(OtterConfigError, match=r"finetune\.yaml: common\.restore_all_states: restore_all_states continues a run in its own folder"):
        otter.load_model_from_config("finetune", root=project, network=tinyproj, overrides=["common.restore_all_states=true"])


# --------------------------------------------------------------------------- #
# Run ids and run folders (issue #8)
# --------------------------------------------------------------------------- #


def _start_at_the_same_time(root, barrier, queue):
    import datetime as real

    import otter.runinfo as runinfo

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2030, 1, 2, 3, 4, 5)

    runinfo.datetime = Frozen
    os.environ.pop("OTTER_RUN_ID", None)
    os.environ.pop("OTTER_RUN_PID", None)
    barrier.wait()
    queue.put(runinfo.new_run_id(root, "tiny"))


def test_concurrent_starts_in_the_same_second_get_their_own_reserved_ids(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_start_at_the_same_time, args=(tmp_path, barrier, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    ids = sorted(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(60)
    base = "2030-01-02-03-04-05"
    assert ids == [base, f"{base}-1", f"{base}-2", f"{base}-3"]
    # Each id was reserved by creating its folder when it was chosen. (A process that then fails before
    # its first step removes its folder at exit: test_exitcodes.py; forked children here skip exit handlers.)
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == ids


@pytest.mark.slow
def test_a_reserved_folder_is_kept_once_the_run_steps_and_is_never_taken_over(project):
    from otter.runinfo import new_run_id

    run_id = new_run_id(project, "tiny")
    assert (project / "runs" / "tiny" / run_id).is_dir()
    # A reserved folder with no checkpoint is not "the latest run".
    with pytest.raises(OtterConfigError, match="has no run yet"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
    _, _, cfg = tinyproj.train(project, overrides=["trainer.max_epochs=1"])
    assert (Path(cfg.root_dir) / "checkpoint" / "last.ckpt").is_file()
    # Another process's folder (not reserved here) is never written into.
    other = project / "runs" / "tiny" / "2020-01-01-00-00-00"
    other.mkdir()
    model, cfg2 = otter.load_model_from_config("tiny", root=project, network=tinyproj)
    cfg2.name_ind = other.name
    with pytest.raises(OtterError, match="exists already"):
        otter.build_trainer(cfg2, root=project)


@pytest.mark.slow
def test_a_dotted_config_name_is_its_own_config_and_run_folder(project):
    (project / "config" / "tiny.v2.yaml").write_text((project / "config" / "tiny.yaml").read_text())
    _, _, cfg = tinyproj.train(project, cfg_name="tiny.v2", overrides=["trainer.max_epochs=1"])
    assert cfg.name == "tiny.v2"
    assert Path(cfg.root_dir).parent == project / "runs" / "tiny.v2"
    assert not (project / "runs" / "tiny").exists()
    # And "the latest run of tiny" is not the tiny.v2 run.
    with pytest.raises(OtterConfigError, match="has no run yet"):
        otter.load_model_from_config("tiny", root=project, network=tinyproj, overrides=["common.is_restore=true"])
