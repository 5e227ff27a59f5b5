import os

import torch

from otter.runinfo import RUN_ID_ENV, RUN_PID_ENV, latest_run, model_complexity, new_run_id, write_json


def test_model_complexity_counts_params_flops_and_macs():
    stats = model_complexity(torch.nn.Linear(4, 2), (torch.zeros(3, 4),))
    assert stats == {"params": 10, "flops": 48, "macs": 24}


def test_run_id_never_reuses_an_existing_folder(tmp_path):
    first = new_run_id(tmp_path, "cfg")
    (tmp_path / "runs" / "cfg" / first).mkdir(parents=True)
    os.environ.pop(RUN_ID_ENV)
    second = new_run_id(tmp_path, "cfg")
    assert second != first and second.startswith(first[:16])


def test_run_id_is_shared_with_child_processes_only(tmp_path):
    run_id = new_run_id(tmp_path, "cfg")
    assert os.environ[RUN_ID_ENV] == run_id and os.environ[RUN_PID_ENV] == str(os.getpid())
    # This process made it: a second run here gets a new one (its folder exists by then).
    (tmp_path / "runs" / "cfg" / run_id).mkdir(parents=True)
    assert new_run_id(tmp_path, "cfg") != run_id
    # A DDP child launched by this process inherits it.
    os.environ[RUN_ID_ENV], os.environ[RUN_PID_ENV] = "shared", str(os.getppid())
    assert new_run_id(tmp_path, "cfg") == "shared"
    # torchrun/SLURM: the id alone is trusted.
    del os.environ[RUN_PID_ENV]
    assert new_run_id(tmp_path, "cfg") == "shared"


def test_latest_run(tmp_path):
    assert latest_run(tmp_path, "cfg") is None
    for name in ("2024-01-01-00-00-00", "2024-01-02-00-00-00"):
        (tmp_path / "runs" / "cfg" / name).mkdir(parents=True)
        os.utime(tmp_path / "runs" / "cfg" / name, (1e9, 1e9 + len(name) + int(name[9])))
    assert latest_run(tmp_path, "cfg").name == "2024-01-02-00-00-00"


def test_write_json_leaves_no_temp_file(tmp_path):
    write_json({"a": 1}, tmp_path / "x.json")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
