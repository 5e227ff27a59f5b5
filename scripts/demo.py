"""The demo (DESIGN J7): J1 scaffold -> CPU training on synthetic data -> ONNX export -> inference.

Every step runs the command a user would type, in a fresh folder:

1. ``cookiecutter <this repo> --directory template`` makes ``Demo/`` (``--task``, default classifier);
2. ``python -m Demo.model train default`` trains on the task's synthetic data;
3. ``python -m Demo.model to_onnx default`` exports and verifies the ONNX file;
4. ``python -m Demo.infer`` on new synthetic images the model never saw:
   - classifier: registers examples of unseen document templates and matches new photos of them;
   - aligner: finds the corners of unseen documents in photos and flattens them;
   - mrz: reads the MRZ of unseen photographed pages and cropped bands (scripts/demo_mrz.py);

then prints a table of metrics, timings and file paths.
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
from typing import Dict, List, NamedTuple, Sequence, Tuple

from demo_mrz import mrz_demo  # scripts/ is on sys.path when this script runs

REPO = Path(__file__).resolve().parent.parent
PROJECT = "Demo"
CFG = "default"
# Unseen templates; per template, examples to register and other photos to match.
N_TEMPLATES = 8
REGISTER_PER_TEMPLATE = 2
PHOTOS_PER_TEMPLATE = 3
# Aligner: unseen photos to find and flatten documents in.
N_PHOTOS = 6


def run(cmd: Sequence[str], cwd: Path, env: Dict[str, str]) -> float:
    """Run a command, streaming its output; return its wall time."""
    print(f"\n$ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    subprocess.run(list(cmd), cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def capture(cmd: Sequence[str], cwd: Path, env: Dict[str, str]) -> str:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    return subprocess.run(list(cmd), cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def latest_scalars(log_dir: Path) -> Dict[str, float]:
    """The last value of each scalar TensorBoard logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: acc.Scalars(tag)[-1].value for tag in acc.Tags()["scalars"]}


MAKE_IMAGES = """
import sys
from pathlib import Path
from PIL import Image
from {project}.model.dataset import SynthValidDataset

out = Path(sys.argv[1])
ds = SynthValidDataset(image_size={size}, num_classes={n}, views_per_class={views}, seed=12345, return_tensor=False)
pages = {{}}
for i in range(len(ds)):
    image, label = ds[i]
    pages.setdefault(int(label), []).append(image)
for label, images in sorted(pages.items()):
    for k, image in enumerate(images[:{registers}]):
        Image.fromarray(image).save(out / f"register_t{{label}}_{{k}}.png")
    for k, image in enumerate(images[{registers}:]):
        Image.fromarray(image).save(out / f"photo_t{{label}}_{{k}}.png")
"""


class Context(NamedTuple):
    """What the shared steps leave for a task's inference step."""

    work: Path
    py: str
    env: Dict[str, str]
    run_dir: Path
    onnx_file: Path
    times: Dict[str, float]


def classifier_demo(ctx: Context) -> List[Tuple[str, str]]:
    """Register examples of unseen templates, match new photos of them; the summary rows."""
    work, py, env, run_dir, onnx_file, times = ctx
    images = work / "images"
    images.mkdir(exist_ok=True)
    size = json.loads(json.dumps(_onnx_meta(onnx_file, py, work, env)["image_size"]))
    start = time.perf_counter()
    subprocess.run(
        [py, "-c", MAKE_IMAGES.format(
            project=PROJECT, size=size, n=N_TEMPLATES, views=REGISTER_PER_TEMPLATE + PHOTOS_PER_TEMPLATE,
            registers=REGISTER_PER_TEMPLATE), str(images)],
        cwd=work, env=env, check=True,
    )
    registers = sorted(images.glob("register_*.png"))
    photos = sorted(images.glob("photo_*.png"))
    # --threshold=-1: the nearest registered template for every photo; the stored threshold is applied below.
    out = capture(
        [py, "-m", f"{PROJECT}.infer", str(onnx_file), "--json", "--threshold=-1",
         *[f"--register={p.stem.split('_')[1]}={p}" for p in registers], *map(str, photos)],
        work, env,
    )
    times["inference"] = time.perf_counter() - start
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    meta = _onnx_meta(onnx_file, py, work, env)
    threshold = float(meta.get("threshold", 0.5))
    truth = [Path(r["image"]).stem.split("_")[1] for r in results]
    nearest = sum(r["match"] == t for r, t in zip(results, truth))
    accepted = sum(r["match"] == t and r["score"] >= threshold for r, t in zip(results, truth))
    false_accepts = sum(r["match"] != t and r["score"] >= threshold for r, t in zip(results, truth))

    metrics = latest_scalars(run_dir / "logs")
    rows = [
        ("valid_auc (unseen templates)", f"{metrics.get('valid_auc', float('nan')):.4f}"),
        ("valid_fpr@2 / @3 / @4", " / ".join(f"{metrics.get(f'valid_fpr@{k}', float('nan')):.3f}" for k in (2, 3, 4))),
        ("valid_top1 (1-shot register)", f"{metrics.get('valid_top1', float('nan')):.4f}"),
        ("ONNX parity max |diff|", json.dumps(meta.get("parity_max_abs_diff"))),
        ("inference: nearest template", f"{nearest}/{len(results)} photos right ({N_TEMPLATES} unseen templates, {REGISTER_PER_TEMPLATE} examples each)"),
        (f"inference: at threshold {threshold:.3f}", f"{accepted}/{len(results)} matched right, {false_accepts} matched wrong, the rest 'no match'"),
    ]
    return rows


MAKE_PHOTOS = """
import json, sys
from pathlib import Path
from PIL import Image
from {project}.model.dataset import SynthAlignValidDataset

out = Path(sys.argv[1])
# A seed training never used: page designs and backgrounds it has not seen, at photo resolution.
ds = SynthAlignValidDataset(image_size={size}, num_samples={n}, photo_size=[640, 480], page_long_side=640, seed=12345)
truth = {{}}
for i in range(len(ds)):
    photo, corners = ds.raw(i)
    Image.fromarray(photo).save(out / f"photo_{{i}}.png")
    truth[f"photo_{{i}}.png"] = corners.tolist()
(out / "truth.json").write_text(json.dumps(truth))
"""


def aligner_demo(ctx: Context) -> List[Tuple[str, str]]:
    """Find the corners of unseen documents in photos, flatten them, draw before/after; the summary rows."""
    import numpy as np

    from otter.geometry import corner_metrics

    work, py, env, run_dir, onnx_file, times = ctx
    images = work / "images"
    images.mkdir(exist_ok=True)
    meta = _onnx_meta(onnx_file, py, work, env)
    start = time.perf_counter()
    subprocess.run([py, "-c", MAKE_PHOTOS.format(project=PROJECT, size=meta["image_size"], n=N_PHOTOS), str(images)], cwd=work, env=env, check=True)
    truth = json.loads((images / "truth.json").read_text())
    results = {}
    for name in sorted(truth):
        flat = images / name.replace("photo_", "flat_")
        # Exit code 1 means "no document found": a result to report, not a failure.
        out = subprocess.run(
            [py, "-m", f"{PROJECT}.infer", str(onnx_file), str(images / name), "--json", "--out", str(flat)],
            cwd=work, env=env, capture_output=True, text=True,
        )
        if out.returncode not in (0, 1):
            raise SystemExit(out.stderr)
        results[name] = json.loads(out.stdout)
    times["inference"] = time.perf_counter() - start

    found = [n for n in sorted(truth) if results[n]["found"]]
    scores = corner_metrics([results[n]["corners"] for n in found], [truth[n] for n in found]) if found else None
    picture = images / "before_after.png"
    _before_after([images / n for n in sorted(truth)], truth, results, picture)
    metrics = latest_scalars(run_dir / "logs")
    rows = [
        ("valid_iou mean / 5th pct", f"{metrics.get('valid_iou', float('nan')):.4f} / {metrics.get('valid_iou_p5', float('nan')):.4f}"),
        ("valid corner error", f"{metrics.get('valid_err_px', float('nan')):.2f} px, {metrics.get('valid_err_pct', float('nan')):.3f} % of the diagonal"),
        ("valid PCK @1/2/5 %", " / ".join(f"{metrics.get(f'valid_pck@{k}', float('nan')):.3f}" for k in (1, 2, 5))),
        ("ONNX parity max |diff|", json.dumps(meta.get("parity_max_abs_diff"))),
        ("inference: documents found", f"{len(found)}/{len(truth)} unseen 640x480 photos (threshold {meta.get('score_threshold')})"),
    ]
    if scores is not None:
        rows += [
            ("inference: polygon IoU", f"mean {scores['iou_mean']:.4f}, min {float(np.min(scores['iou'])):.4f}"),
            ("inference: corner error", f"{scores['err_px_mean']:.2f} px, {100 * scores['err_diag_mean']:.3f} % of the diagonal"),
        ]
    rows.append(("before / after picture", str(picture)))
    return rows


def _before_after(photos: Sequence[Path], truth: Dict, results: Dict, out: Path) -> None:
    """Each photo with the true (green) and found (red) corners, beside its flattened page."""
    import cv2
    import numpy as np

    rows = []
    for path in photos:
        photo = cv2.imread(str(path))
        for quad, color in ((truth[path.name], (60, 200, 60)), (results[path.name]["corners"], (40, 40, 230))):
            if quad is not None:
                cv2.polylines(photo, [np.round(np.asarray(quad) * 4).astype(np.int32)], True, color, 2, cv2.LINE_AA, shift=2)
        flat_path = path.with_name(path.name.replace("photo_", "flat_"))
        flat = cv2.imread(str(flat_path)) if flat_path.is_file() else np.zeros((10, 10, 3), np.uint8)
        h = photo.shape[0]
        flat = cv2.resize(flat, (max(1, round(flat.shape[1] * h / flat.shape[0])), h), interpolation=cv2.INTER_AREA)
        rows.append(np.concatenate([photo, np.full((h, 8, 3), 255, np.uint8), flat], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(out), np.concatenate(rows, axis=0))


#: The per-task part of the demo: inference on new synthetic images and the summary rows.
TASKS = {"classifier": classifier_demo, "aligner": aligner_demo, "mrz": mrz_demo}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="classifier", help="the task to scaffold (default: classifier)")
    parser.add_argument("--workdir", type=Path, help="where to create Demo/ (default: a new temporary folder)")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="overrides for training")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="otter-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    py = sys.executable
    times: Dict[str, float] = {}

    times["scaffold"] = run(
        [py, "-m", "cookiecutter", str(REPO), "--directory", "template", "--no-input", "--output-dir", str(work),
         f"project_name={PROJECT}", f"task={args.task}"],
        REPO, env,
    )
    times["train"] = run([py, "-m", f"{PROJECT}.model", "train", CFG, *args.overrides], work, env)
    times["export"] = run([py, "-m", f"{PROJECT}.model", "to_onnx", CFG], work, env)

    run_dir = sorted((work / PROJECT / "runs" / CFG).iterdir())[-1]
    onnx_file = sorted((run_dir / "export").glob("*.onnx"))[-1]
    rows = TASKS[args.task](Context(work, py, env, run_dir, onnx_file, times))
    rows += [
        *[(f"time: {k}", f"{v:.1f} s") for k, v in times.items()],
        ("project", str(work / PROJECT)),
        ("run folder", str(run_dir)),
        ("ONNX file", str(onnx_file)),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n" + "=" * (width + 50))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("=" * (width + 50))
    return 0


def _onnx_meta(path: Path, py: str, cwd: Path, env: Dict[str, str]) -> Dict:
    code = "import json, sys; from otter.export import read_onnx_meta; print(json.dumps(read_onnx_meta(sys.argv[1])))"
    return json.loads(subprocess.run([py, "-c", code, str(path)], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
