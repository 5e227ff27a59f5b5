"""Benchmark: the demo end to end, each phase's wall time (DESIGN §11: a few minutes on 2 CPU cores).

Runs ``scripts/demo.py --task TASK`` as a user would (scaffold, train, export, inference, in a new
folder) and reads the phase times from the summary table it prints (``time: <phase>  <s> s``);
the total is the wall time of the whole command, Python's start-up included. Overrides after
``--`` go to the demo's training (a shortened run is a smoke test, not the demo's figure).
Prints one JSON line.

    python benchmarks/demo_phases.py [--tasks classifier aligner mrz] [-- key.path=value ...]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, TASKS, emit

PHASE = re.compile(r"^time: (\S+)\s+([0-9.]+) s$")


def parse_phases(stdout: str) -> dict:
    """``{phase: seconds}`` from the demo's summary table."""
    return {m.group(1): float(m.group(2)) for m in map(PHASE.match, stdout.splitlines()) if m}


def bench_task(task: str, overrides: list) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"otter-bench-demo-{task}-"))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py"), "--task", task, "--workdir", str(work), *overrides],
                          cwd=REPO, capture_output=True, text=True)
    total = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"task": task, "error": f"demo.py exit {done.returncode}: {tail[:300]}"}
    phases = parse_phases(done.stdout)
    if not phases:
        return {"task": task, "error": "demo.py printed no 'time: <phase>' lines"}
    return {"task": task, "phases": phases, "total_s": total, "overrides": overrides}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides for the demo's training (after --)")
    args = parser.parse_args()
    emit({"bench": "demo", "tasks": [bench_task(t, args.overrides) for t in args.tasks]})


if __name__ == "__main__":
    main()
