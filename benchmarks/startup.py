"""Benchmark: start-up costs a user feels (DESIGN §11), each in a fresh interpreter.

- ``import otter``: wall time, and whether torch or lightning got imported;
- ``otter --help``;
- ``otter check config/default.yaml`` of a baked classifier project, cold (empty cache:
  ``OTTER_CACHE_DIR`` a new folder) and warm (the same command again).

The commands run in turn, repeated; each figure is best and median over the repeats. Prints one JSON line.

    python benchmarks/startup.py [--repeats 5] [--task classifier]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import TASKS, bake, emit, project_name, stats

IMPORT = "import json, sys, otter; print(json.dumps({m: m in sys.modules for m in ('torch', 'lightning', 'lightning.pytorch')}))"


def timed(cmd, env, cwd=None) -> tuple:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--task", default="classifier", choices=TASKS)
    args = parser.parse_args()
    py = sys.executable
    otter_cmd = [py, "-c", "import sys; from otter.cli import main; sys.exit(main())"]
    config = bake(args.task) / project_name(args.task) / "config" / "default.yaml"
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    base.pop("OTTER_NO_CACHE", None)
    times = {"import": [], "help": [], "check_cold": [], "check_warm": []}
    imported = {}
    timed([py, "-c", "import otter"], base)  # page cache warm for every command alike
    for _ in range(args.repeats):
        seconds, out = timed([py, "-c", IMPORT], base)
        times["import"].append(seconds)
        imported = json.loads(out.strip().splitlines()[-1])
        times["help"].append(timed([*otter_cmd, "--help"], base)[0])
        env = {**base, "OTTER_CACHE_DIR": tempfile.mkdtemp(prefix="otter-bench-cache-")}
        times["check_cold"].append(timed([*otter_cmd, "check", str(config)], env)[0])
        times["check_warm"].append(timed([*otter_cmd, "check", str(config)], env)[0])
    baseline = stats([timed([py, "-c", "pass"], base)[0] for _ in range(args.repeats)])
    emit({"bench": "startup", "task": args.task, "imports": imported, "python_start": baseline,
          **{k: stats(v) for k, v in times.items()}})


if __name__ == "__main__":
    main()
