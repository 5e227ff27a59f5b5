"""The demo's MRZ branch: scaffold an MRZ project, train it on CPU, export, read unseen pages.

Run on its own (``python scripts/demo_mrz.py [--workdir DIR] [key.path=value ...]``) or
as ``scripts/demo.py --task mrz`` (which calls :func:`mrz_demo` after its own scaffold,
train and export steps). Every step is the command a user would type:

1. ``cookiecutter <this repo> --directory template`` with ``task=mrz`` makes ``Demo/``;
2. ``python -m Demo.model train default`` trains the reader on synthetic MRZ bands;
3. ``python -m Demo.model to_onnx default`` exports and verifies the ONNX file;
4. ``python -m Demo.infer model.onnx <pages and bands> --json`` reads synthetic pages and
   cropped bands whose designs and field values training never saw;

then prints the validation metrics, the time of each phase, and a few reads with their
check-digit verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
PROJECT = "Demo"
CFG = "default"
PAGES = 6
BANDS = 6

MAKE_IMAGES = """
import json, random, sys
from pathlib import Path
import cv2
from {project}.model import dataset
from {project}.model.text import random_mrz

out = Path(sys.argv[1])
font = dataset.find_font()[0]
designs = dataset._design_bank(424242, 8)  # seeds no training run uses: unseen page designs
truth = {{}}
for i in range({pages} + {bands}):
    rng = random.Random(f"demo/{{i}}")
    lines = random_mrz(rng)
    if i < {pages}:
        image, _ = dataset.render_page(lines, rng, (600, 800), designs, font)
        name = f"page_{{i}}.jpg"
    else:
        image = dataset.render_band(lines, rng, (96, 768), designs, font)
        name = f"band_{{i}}.png"
    cv2.imwrite(str(out / name), image)
    truth[name] = lines
(out / "truth.json").write_text(json.dumps(truth))
"""


def _run(cmd: Sequence[str], cwd: Path, env: Dict[str, str], capture: bool = False) -> Tuple[float, str]:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    out = subprocess.run(list(cmd), cwd=cwd, env=env, check=True, capture_output=capture, text=True)
    return time.perf_counter() - start, out.stdout if capture else ""


def _scalars(log_dir: Path) -> Dict[str, float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}


def mrz_demo(ctx: Sequence) -> List[Tuple[str, str]]:
    """Read unseen pages and bands with the trained reader; the summary rows.

    Args:
        ctx: ``(work, py, env, run_dir, onnx_file, times)`` after scaffold, train and export
            (``scripts/demo.py``'s ``Context``); ``times`` gains ``inference``.
    """
    work, py, env, run_dir, onnx_file, times = ctx
    images = work / "images"
    images.mkdir(exist_ok=True)
    start = time.perf_counter()
    _run([py, "-c", MAKE_IMAGES.format(project=PROJECT, pages=PAGES, bands=BANDS), str(images)], work, env)
    truth = json.loads((images / "truth.json").read_text())
    files = sorted(p for p in images.iterdir() if p.suffix in (".jpg", ".png"))
    _, out = _run([py, "-m", f"{PROJECT}.infer", str(onnx_file), *map(str, files), "--json"], work, env, capture=True)
    times["inference"] = time.perf_counter() - start
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    metrics = _scalars(run_dir / "logs")
    meta = json.loads(subprocess.run(
        [py, "-c", "import json, sys; from otter.export import read_onnx_meta; print(json.dumps(read_onnx_meta(sys.argv[1])))", str(onnx_file)],
        cwd=work, env=env, check=True, capture_output=True, text=True).stdout)
    right = sum(r["lines"] == truth[Path(r["image"]).name] for r in results)
    passing = [r for r in results if r["all_valid"]]
    rows = [
        ("valid_nls (unseen designs)", f"{metrics.get('valid_nls', float('nan')):.4f}"),
        ("valid_exact", f"{metrics.get('valid_exact', float('nan')):.4f}"),
        ("valid_check_pass", f"{metrics.get('valid_check_pass', float('nan')):.4f}"),
        ("valid_pass_precision", f"{metrics.get('valid_pass_precision', float('nan')):.4f}"),
        ("ONNX parity max |diff|", json.dumps(meta.get("parity_max_abs_diff"))),
        ("inference: read exactly", f"{right}/{len(results)} ({PAGES} photographed pages, {BANDS} cropped bands)"),
        ("inference: check digits hold", f"{len(passing)}/{len(results)}, of which {sum(r['lines'] == truth[Path(r['image']).name] for r in passing)} right"),
    ]
    print("\nA few reads:")
    for r in results[:3] + results[PAGES : PAGES + 2]:
        verdict = "all check digits hold" if r["all_valid"] else "FAILS: " + (", ".join(k for k, v in r["valid"].items() if not v) or "no format")
        ok = "right" if r["lines"] == truth[Path(r["image"]).name] else "wrong"
        print(f"  {Path(r['image']).name}: {r['format']} score {r['score']:.3f}, {verdict} ({ok})")
        for line in r["lines"]:
            print(f"    {line}")
        for c in r["corrections"]:
            print(f"    corrected line {c['line'] + 1} col {c['position'] + 1}: {c['from']} -> {c['to']} ({c['reason']})")
    return rows


def run_mrz(work: Path, py: str, env: Dict[str, str], overrides: Sequence[str] = ()) -> List[Tuple[str, str]]:
    """Scaffold, train, export and read; returns the summary rows ``(what, value)``."""
    times: Dict[str, float] = {}
    times["scaffold"], _ = _run(
        [py, "-m", "cookiecutter", str(REPO), "--directory", "template", "--no-input", "--output-dir", str(work),
         f"project_name={PROJECT}", "task=mrz"],
        REPO, env,
    )
    times["train"], _ = _run([py, "-m", f"{PROJECT}.model", "train", CFG, *overrides], work, env)
    times["export"], _ = _run([py, "-m", f"{PROJECT}.model", "to_onnx", CFG, *overrides], work, env)
    run_dir = sorted((work / PROJECT / "runs" / CFG).iterdir())[-1]
    onnx_file = sorted((run_dir / "export").glob("*.onnx"))[-1]
    rows = mrz_demo((work, py, env, run_dir, onnx_file, times))
    return rows + [*[(f"time: {k}", f"{v:.1f} s") for k, v in times.items()], ("run folder", str(run_dir)), ("ONNX file", str(onnx_file))]


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="where to create Demo/ (default: a new temporary folder)")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides for training and export")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="otter-demo-mrz-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    rows = run_mrz(work, sys.executable, env, args.overrides)
    width = max(len(k) for k, _ in rows)
    print("\n" + "=" * (width + 50))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("=" * (width + 50))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
