"""Two CPU processes (gloo DDP), launched the way a user launches a script: one run folder, written once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinyproj

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent


def test_two_process_ddp_writes_exactly_one_run_folder(tmp_path):
    root = tinyproj.make_project(tmp_path / "proj")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OTTER_RUN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [
            sys.executable,
            str(TESTS / "tinyproj.py"),
            str(root),
            "trainer.strategy=ddp",
            "trainer.devices=2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    runs = list((root / "runs" / "tiny").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert (run / "checkpoint" / "last.ckpt").is_file()
    assert (run / "config.yaml").is_file() and (run / "model_meta_data.json").is_file()
    # Both ranks report the same folder; 32 samples over 2 ranks of batch 4 = 4 steps an epoch.
    # Exactly one line per rank: a test that accepted any number would pass with one rank's line.
    lines = [line for line in out.stdout.splitlines() if line.startswith("RUN_DIR=")]
    assert len(lines) == 2, out.stdout[-3000:]
    assert [line.split()[0] for line in lines] == [f"RUN_DIR={run}"] * 2
    assert all("GLOBAL_STEP=8" in line for line in lines)
