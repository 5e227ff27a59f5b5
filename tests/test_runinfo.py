import os

import pytest
import torch

from otter.errors import OtterConfigError
from otter.runinfo import (
    RUN_ID_ENV,
    RUN_PID_ENV,
    find_checkpoint,
    latest_run,
    model_complexity,
    new_run_id,
    run_folder_free,
    write_json,
)


def test_model_complexity_counts_params_flops_and_macs():
    stats = model_complexity(torch.nn.Linear(4, 2), (torch.zeros(3, 4),))
    assert stats == {"params": 10, "flops": 48, "macs": 24}


def test_run_id_never_reuses_an_existing_folder(tmp_path):
    first = new_run_id(tmp_path, "cfg")
    # Choosing the id reserves its folder, so a second start in the same second gets another.
    assert (tmp_path / "runs" / "cfg" / first).is_dir()
    os.environ.pop(RUN_ID_ENV)
    second = new_run_id(tmp_path, "cfg")
    assert second != first and second.startswith(first[:16])


def test_run_id_is_shared_with_child_processes_only(tmp_path):
    run_id = new_run_id(tmp_path, "cfg")
    assert os.environ[RUN_ID_ENV] == run_id and os.environ[RUN_PID_ENV] == str(os.getpid())
    # This process made it: a second run here gets a new one (its folder was reserved).
    assert new_run_id(tmp_path, "cfg") != run_id
    # A DDP child launched by this process inherits it.
    os.environ[RUN_ID_ENV], os.environ[RUN_PID_ENV] = "shared", str(os.getppid())
    assert new_run_id(tmp_path, "cfg") == "shared"
    # torchrun/SLURM: the id alone is trusted.
    del os.environ[RUN_PID_ENV]
    assert new_run_id(tmp_path, "cfg") == "shared"


def test_latest_run(tmp_path):
    assert latest_run(tmp_path, "cfg") is None
    for name in ("2024-01-01-00-00-00", "2024-01-02-00-00-00", "2024-01-03-00-00-00"):
        (tmp_path / "runs" / "cfg" / name / "checkpoint").mkdir(parents=True)
        os.utime(tmp_path / "runs" / "cfg" / name, (1e9, 1e9 + len(name) + int(name[9])))
    for name in ("2024-01-01-00-00-00", "2024-01-02-00-00-00"):
        (tmp_path / "runs" / "cfg" / name / "checkpoint" / "last.ckpt").write_bytes(b"")
    # The newest folder has no checkpoint (a run that never stepped): not a run to resume or export.
    assert latest_run(tmp_path, "cfg").name == "2024-01-02-00-00-00"


def test_write_json_leaves_no_temp_file(tmp_path):
    write_json({"a": 1}, tmp_path / "x.json")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# --------------------------------------------------------------------------- which checkpoint of which run


def fake_run(root, cfg_name, run_id, files):
    folder = root / "runs" / cfg_name / run_id / "checkpoint"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_bytes(b"")
    return folder.parent


def test_find_checkpoint_resumes_from_last_of_the_latest_run(tmp_path):
    fake_run(tmp_path, "cfg", "2024-01-01-00-00-00", ["last.ckpt"])
    newest = fake_run(tmp_path, "cfg", "2024-01-02-00-00-00", ["last.ckpt", "epoch=1.ckpt"])
    os.utime(newest, (2e9, 2e9))
    assert find_checkpoint(tmp_path, "cfg") == (newest, newest / "checkpoint" / "last.ckpt")


def test_find_checkpoint_names_a_run_and_a_file(tmp_path):
    old = fake_run(tmp_path, "cfg", "a", ["last.ckpt", "epoch=1.ckpt"])
    fake_run(tmp_path, "cfg", "b", ["last.ckpt"])
    assert find_checkpoint(tmp_path, "cfg", "a", "epoch=1.ckpt") == (old, old / "checkpoint" / "epoch=1.ckpt")
    with pytest.raises(OtterConfigError, match=r"^common\.restore_ckpt: no checkpoint 'nope\.ckpt' in .* \(there: epoch=1\.ckpt, last\.ckpt\)"):
        find_checkpoint(tmp_path, "cfg", "a", "nope.ckpt")
    with pytest.raises(OtterConfigError, match=r"^common\.restore_ind: no run 'c' in .*runs/cfg \(runs: "):
        find_checkpoint(tmp_path, "cfg", "c")
    with pytest.raises(OtterConfigError, match=r"^common\.is_restore: .*has no run yet"):
        find_checkpoint(tmp_path, "other")


def test_find_checkpoint_for_export_prefers_the_best_and_falls_back_to_last(tmp_path):
    run = fake_run(tmp_path, "cfg", "a", ["epoch=1.ckpt"])
    # What Lightning saves in last.ckpt: the ModelCheckpoint state, with its best file.
    state = {"callbacks": {"ModelCheckpoint{'monitor': 'auc'}": {"best_model_path": "/elsewhere/checkpoint/epoch=1.ckpt"}}}
    torch.save(state, run / "checkpoint" / "last.ckpt")
    assert find_checkpoint(tmp_path, "cfg", prefer="best")[1] == run / "checkpoint" / "epoch=1.ckpt"
    (run / "checkpoint" / "epoch=1.ckpt").unlink()
    assert find_checkpoint(tmp_path, "cfg", prefer="best")[1] == run / "checkpoint" / "last.ckpt"


def test_a_run_folder_is_free_only_when_absent_or_reserved_here(tmp_path):
    assert run_folder_free(tmp_path / "runs" / "cfg" / "x")
    other = fake_run(tmp_path, "cfg", "y", [])
    assert not run_folder_free(other)
    os.environ.pop(RUN_ID_ENV, None)
    mine = tmp_path / "runs" / "cfg" / new_run_id(tmp_path, "cfg")
    assert run_folder_free(mine)
    (mine / "config.yaml").write_text("{}")
    assert not run_folder_free(mine)


def test_a_run_that_never_started_leaves_no_empty_parent_folders(tmp_path):
    import subprocess
    import sys

    # A process that reserves a run id and ends before any optimizer step, as a refused start does.
    code = "import sys; from otter.runinfo import new_run_id; new_run_id(sys.argv[1], 'cfg')"
    env = {k: v for k, v in os.environ.items() if k not in (RUN_ID_ENV, RUN_PID_ENV)}

    def reserve_and_quit():
        subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=True)

    reserve_and_quit()
    assert list(tmp_path.iterdir()) == []  # neither runs/cfg/<id>, nor runs/cfg, nor runs
    # Folders that were there before stay: runs/ with another config's runs, runs/cfg with a run.
    (tmp_path / "runs" / "other").mkdir(parents=True)
    reserve_and_quit()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["other"]
    (tmp_path / "runs" / "cfg" / "2020-01-01-00-00-00").mkdir(parents=True)
    reserve_and_quit()
    assert [p.name for p in (tmp_path / "runs" / "cfg").iterdir()] == ["2020-01-01-00-00-00"]
