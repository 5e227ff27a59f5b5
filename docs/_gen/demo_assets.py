"""Copy a demo run's previews and metrics into the docs, or train one to get them.

Run by ``scripts/docs_assets.bash``. With ``--from-run``, a finished run (or the
``--workdir`` of ``scripts/demo.bash``, whose latest run is taken) is copied; without it,
for each task ``otter new`` scaffolds a project and ``python -m <Project>.model train
default`` trains it on CPU on the task's synthetic data. The previews (each from the last
epoch that wrote it, made small enough to commit), the text previews, and the final
validation metrics with where they came from (``run.json``) land in
``docs/assets/demo/<task>/``, which the task pages show.
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
from typing import Dict, List, Optional, Tuple

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


def find_run(path: Path) -> Path:
    """The run folder ``path`` names: a run itself, or the latest run under a demo's or project's folder.

    ``scripts/demo.bash --workdir DIR`` leaves ``DIR/Demo/runs/default/<run_id>/``; any of
    ``DIR``, ``DIR/Demo``, ``DIR/Demo/runs`` or the run folder works.
    """
    if (path / "preview").is_dir():
        return path
    runs = [
        p.parent
        for p in path.resolve().rglob("preview")
        if p.is_dir() and p.parent.parent.parent.name == "runs" and any(p.glob("epoch_*"))  # a run still starting has none
    ]
    if not runs:
        raise SystemExit(f"{path}: no run folder with previews (runs/<cfg_name>/<run_id>/preview/) below it")
    # Run ids are dates: the latest sorts last.
    return max(runs, key=lambda r: r.name)


#: Largest size kept: the site shows figures at most about 800 px wide. A taller preview
#: (a column of many samples) keeps its first rows.
MAX_WIDTH, MAX_HEIGHT = 1000, 1400
#: A PNG larger than this (after palette reduction) is stored as JPEG instead.
PNG_LIMIT = 200_000


def store_image(source: Path, out_dir: Path) -> Tuple[Path, bool]:
    """Copy one preview image, small enough to commit.

    At most ``MAX_WIDTH`` wide and ``MAX_HEIGHT`` tall (cropped at the bottom); a palette PNG
    when that keeps it under ``PNG_LIMIT`` bytes (plots, drawings), else a JPEG (photos,
    scans), greyscale when the image is.

    Returns:
        The file written, and whether it was cropped.
    """
    from PIL import Image, ImageChops

    with Image.open(source) as opened:
        image = opened.convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.Resampling.LANCZOS)
    cropped = image.height > MAX_HEIGHT
    if cropped:
        image = image.crop((0, 0, image.width, MAX_HEIGHT))
    red, green, blue = image.split()
    if ImageChops.difference(red, green).getbbox() is None and ImageChops.difference(green, blue).getbbox() is None:
        image = image.convert("L")
    target = out_dir / f"{source.stem}.png"
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT if image.mode == "RGB" else None, dither=Image.Dither.NONE).save(
        target, optimize=True
    )
    if target.stat().st_size > PNG_LIMIT:
        target.unlink()
        target = out_dir / f"{source.stem}.jpg"
        image.save(target, quality=75, optimize=True, progressive=True)
    return target, cropped


def copy_run(task: str, run: Path, overrides: List[str], assets: Path = ASSETS) -> Path:
    """Copy a finished run's previews and final metrics into ``docs/assets/demo/<task>/``.

    Each preview is taken from the last epoch that wrote it (some, like the classifier's
    validation samples, are written once). Images are made small enough to commit
    (:func:`store_image`); text previews (``*.txt``) are copied as they are.

    Args:
        task: The task the run trained.
        run: The run folder, ``runs/<cfg_name>/<run_id>/``, or a folder above it (:func:`find_run`).
        overrides: The overrides it was trained with (shown on the page).
        assets: Where the tasks' folders are.

    Returns:
        The task's folder.
    """
    run = find_run(run)
    epochs = sorted((run / "preview").glob("epoch_*"), key=lambda p: int(p.name.split("_")[-1]))
    if not epochs:
        raise SystemExit(f"{run}: the run wrote no previews")
    latest: Dict[str, Path] = {}
    for epoch in epochs:
        for item in sorted(epoch.iterdir()):
            if item.suffix.lower() in (*IMAGE_SUFFIXES, ".txt"):
                latest[item.name] = item
    out = assets / task
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    figures: Dict[str, int] = {}
    cropped: List[str] = []
    for name, item in sorted(latest.items()):
        epoch = int(item.parent.name.split("_")[-1])
        if item.suffix.lower() == ".txt":
            shutil.copy2(item, out / name)
        else:
            stored, was_cropped = store_image(item, out)
            figures[stored.name] = epoch
            if was_cropped:
                cropped.append(stored.name)
    from otter import __version__

    config = {}
    if (run / "config.yaml").is_file():
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    scalars = last_scalars(run / "logs")
    info = {
        "task": task,
        "cfg_name": run.parent.name,
        "run_id": run.name,
        "overrides": overrides,
        "date": datetime.date.today().isoformat(),
        "otter_version": __version__,
        "seed": (config.get("common") or {}).get("seed"),
        "epochs": int(epochs[-1].name.split("_")[-1]) + 1,
        "figures": figures,
        "cropped": cropped,
        "metrics": {k: round(v, 4) for k, v in sorted(scalars.items()) if k.startswith("valid_")},
    }
    (out / "run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{task}: {len(figures)} images, {len(latest) - len(figures)} text files and run.json in {out} ({size / 1e3:.0f} kB), from {run}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="tasks to run (default: every task the template offers)")
    parser.add_argument("--override", action="append", default=[], metavar="key.path=value", help="passed to training")
    parser.add_argument(
        "--from-run",
        type=Path,
        metavar="RUN_DIR",
        help="copy from this finished run instead of training (one task); a demo's --workdir finds its latest run",
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
