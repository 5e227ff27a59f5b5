"""Train a task's default config in a fresh project and copy its previews into the docs.

Run by ``scripts/docs_assets.bash``: for each task, ``otter new`` scaffolds a project,
``python -m <Project>.model train default`` trains it on CPU on the task's synthetic
data, and the last epoch's preview images, with the final validation metrics and
where they came from, land in ``docs/assets/demo/<task>/`` (``run.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "docs" / "assets" / "demo"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def last_scalars(log_dir: Path) -> Dict[str, float]:
    """The last value of each scalar TensorBoard logged under ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: Dict[str, float] = {}
    for events in sorted(log_dir.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            values[tag] = acc.Scalars(tag)[-1].value
    return values


def make_assets(task: str, workdir: Path, overrides: List[str]) -> Optional[Path]:
    """Scaffold, train and copy one task's previews; return the assets folder (None: not available)."""
    project = f"Docs{task.capitalize()}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    made = subprocess.run(
        [sys.executable, "-m", "otter.cli", "new", project, "--task", task, "--output-dir", str(workdir)], env=env, capture_output=True, text=True
    )
    if made.returncode != 0:
        # A task the template offers but this version cannot scaffold yet: say so and go on.
        print(f"{task}: skipped, otter new refused it: {made.stderr.strip()}")
        return None
    subprocess.run([sys.executable, "-m", f"{project}.model", "train", "default", *overrides], cwd=workdir, check=True, env=env)
    runs = sorted((workdir / project / "runs" / "default").iterdir())
    return copy_run(task, runs[-1], overrides)


def copy_run(task: str, run: Path, overrides: List[str]) -> Path:
    """Copy a finished run's last previews and final metrics into ``docs/assets/demo/<task>/``.

    Args:
        task: The task the run trained.
        run: The run folder, ``runs/<cfg_name>/<run_id>/``.
        overrides: The overrides it was trained with (shown on the page).
    """
    epochs = sorted((run / "preview").glob("epoch_*"), key=lambda p: int(p.name.split("_")[-1]))
    if not epochs:
        raise SystemExit(f"{run}: the run wrote no previews")
    out = ASSETS / task
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for image in sorted(epochs[-1].iterdir()):
        if image.suffix.lower() in IMAGE_SUFFIXES:
            shutil.copy2(image, out / image.name)
    from otter import __version__

    scalars = last_scalars(run / "logs")
    info = {
        "task": task,
        "cfg_name": run.parent.name,
        "overrides": overrides,
        "date": datetime.date.today().isoformat(),
        "otter_version": __version__,
        "epochs": int(epochs[-1].name.split("_")[-1]) + 1,
        "metrics": {k: round(v, 4) for k, v in sorted(scalars.items()) if k.startswith("valid_")},
    }
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"{task}: {len(list(out.glob('*.*'))) - 1} images and run.json in {out}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="tasks to run (default: every task the template offers)")
    parser.add_argument("--override", action="append", default=[], metavar="key.path=value", help="passed to training")
    parser.add_argument(
        "--from-run", type=Path, metavar="RUN_DIR", help="copy from this finished run (e.g. the demo's) instead of training; one task"
    )
    args = parser.parse_args()
    if args.from_run:
        if len(args.tasks) != 1:
            parser.error("--from-run needs exactly one task")
        copy_run(args.tasks[0], args.from_run, args.override)
        return 0
    tasks = args.tasks or json.loads((REPO / "template" / "cookiecutter.json").read_text(encoding="utf-8"))["task"]
    with tempfile.TemporaryDirectory(prefix="otter-docs-") as tmp:
        for task in tasks:
            make_assets(task, Path(tmp), args.override)
    return 0


if __name__ == "__main__":
    sys.exit(main())
