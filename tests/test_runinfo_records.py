"""Run records in detail: the order of runs, the defaults of the finders, their messages, the
config header and the clean-up of folders reserved by runs that never stepped.

Fast (no training): plain folders and files under ``tmp_path``.
"""

import os

import pytest

from otter import runinfo
from otter.errors import OtterConfigError
from otter.runinfo import config_header, find_checkpoint, find_run, list_runs


def run_folder(root, run_id, files=(), mtime=None, cfg_name="cfg"):
    folder = root / "runs" / cfg_name / run_id
    (folder / "checkpoint").mkdir(parents=True)
    for name in files:
        (folder / "checkpoint" / name).write_bytes(b"")
    if mtime is not None:
        os.utime(folder, (mtime, mtime))
    return folder


def test_runs_are_ordered_by_last_change_then_by_name(tmp_path):
    # Name order (a, b, c, d) differs from change order; b and d changed at the same time.
    run_folder(tmp_path, "a", mtime=3e9)
    run_folder(tmp_path, "d", mtime=2e9)
    run_folder(tmp_path, "c", mtime=1e9)
    run_folder(tmp_path, "b", mtime=2e9)
    (tmp_path / "runs" / "cfg" / "not-a-run.txt").write_text("")
    assert [p.name for p in list_runs(tmp_path, "cfg")] == ["c", "b", "d", "a"]
    assert list_runs(tmp_path, "no-such-cfg") == []


def test_find_run_without_an_id_is_the_latest_run_with_a_checkpoint(tmp_path):
    run_folder(tmp_path, "new", mtime=1e9, files=["last.ckpt"])
    newest = run_folder(tmp_path, "old", mtime=2e9, files=["last.ckpt"])
    run_folder(tmp_path, "never-stepped", mtime=3e9)
    assert find_run(tmp_path, "cfg") == newest
    assert find_run(tmp_path, "cfg", "new") == tmp_path / "runs" / "cfg" / "new"


def test_an_unknown_run_lists_the_runs_there_are(tmp_path):
    with pytest.raises(OtterConfigError) as none:
        find_run(tmp_path, "cfg", "x")
    assert str(none.value).endswith("(runs: none)")
    run_folder(tmp_path, "r1", mtime=1e9)
    run_folder(tmp_path, "r2", mtime=2e9)
    with pytest.raises(OtterConfigError) as two:
        find_run(tmp_path, "cfg", "x")
    assert str(two.value).endswith("(runs: r1, r2)")
    assert two.value.key == "common.restore_ind"


def test_without_a_preference_the_last_checkpoint_is_taken_even_when_a_best_exists(tmp_path):
    run = run_folder(tmp_path, "r", files=["epoch=1.ckpt", "last.ckpt"])
    assert find_checkpoint(tmp_path, "cfg") == (run, run / "checkpoint" / "last.ckpt")
    assert find_checkpoint(tmp_path, "cfg", "r") == (run, run / "checkpoint" / "last.ckpt")


def test_a_run_without_checkpoints_says_none_are_there(tmp_path):
    run_folder(tmp_path, "r")
    with pytest.raises(OtterConfigError) as e:
        find_checkpoint(tmp_path, "cfg", "r")
    assert str(e.value).endswith("(there: none)")
    assert e.value.key == "common.restore_ckpt"


def test_config_header_names_the_run():
    header = config_header({"name": "tiny", "name_ind": "2024-01-01-00-00-00"})
    assert header == "# Resolved config of run tiny/2024-01-01-00-00-00; load it again with `otter check`.\n"


def test_reserved_folders_without_a_checkpoint_are_dropped_at_exit(tmp_path, monkeypatch):
    never_stepped = run_folder(tmp_path, "a")
    saved = run_folder(tmp_path, "b", files=["last.ckpt"])
    other_process = run_folder(tmp_path, "c")
    pending = {str(never_stepped): os.getpid(), str(saved): os.getpid(), str(other_process): os.getpid() + 1}
    # The module's own tables, replaced for this test so that folders other tests reserved are not touched.
    monkeypatch.setattr(runinfo, "_UNSTARTED", pending)
    monkeypatch.setattr(runinfo, "_MADE_FOR", {})
    runinfo._drop_unstarted()
    assert not never_stepped.exists()
    # A run that saved a checkpoint stays; so does a folder a forked process reserved (its own exit drops it).
    assert saved.is_dir() and other_process.is_dir()
    assert pending == {}


def test_mark_started_keeps_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(runinfo, "_UNSTARTED", {})
    monkeypatch.setattr(runinfo, "_MADE_FOR", {})
    run_id = runinfo.new_run_id(tmp_path, "cfg")
    run_dir = tmp_path / "runs" / "cfg" / run_id
    assert runinfo._UNSTARTED == {str(run_dir): os.getpid()}
    runinfo.mark_started(run_dir)
    runinfo._drop_unstarted()
    assert run_dir.is_dir()


def test_an_unstarted_run_takes_the_empty_folders_its_reservation_made(tmp_path, monkeypatch):
    monkeypatch.setattr(runinfo, "_UNSTARTED", {})
    monkeypatch.setattr(runinfo, "_MADE_FOR", {})
    first = runinfo.new_run_id(tmp_path, "cfg")
    assert runinfo._MADE_FOR == {str(tmp_path / "runs" / "cfg" / first): [tmp_path / "runs" / "cfg", tmp_path / "runs"]}
    runinfo._drop_unstarted()
    assert list(tmp_path.iterdir()) == [] and runinfo._MADE_FOR == {}
    # runs/ held something else: runs/cfg/ goes, runs/ stays.
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "other").mkdir()
    monkeypatch.delenv(runinfo.RUN_ID_ENV)
    runinfo.new_run_id(tmp_path, "cfg")
    runinfo._drop_unstarted()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["other"]
    # Another run started in runs/cfg/ meanwhile: both parents stay.
    monkeypatch.delenv(runinfo.RUN_ID_ENV)
    runinfo.new_run_id(tmp_path, "cfg2")
    (tmp_path / "runs" / "cfg2" / "another-run").mkdir()
    runinfo._drop_unstarted()
    assert [p.name for p in (tmp_path / "runs" / "cfg2").iterdir()] == ["another-run"]
    assert runinfo._UNSTARTED == {} and runinfo._MADE_FOR == {}


def test_a_reserved_folder_someone_removed_is_no_error_and_the_others_still_go(tmp_path, monkeypatch):
    monkeypatch.setattr(runinfo, "_UNSTARTED", {})
    monkeypatch.setattr(runinfo, "_MADE_FOR", {})
    gone = tmp_path / "runs" / "a" / runinfo.new_run_id(tmp_path, "a")
    monkeypatch.delenv(runinfo.RUN_ID_ENV)
    (tmp_path / "runs" / "a" / "kept").mkdir()  # runs/a/ cannot go: the first parent's removal stops
    other = tmp_path / "runs" / "b" / runinfo.new_run_id(tmp_path, "b")
    gone.rmdir()
    runinfo._drop_unstarted()
    assert not other.exists() and (tmp_path / "runs" / "a" / "kept").is_dir()
    assert runinfo._UNSTARTED == {} and runinfo._MADE_FOR == {}
