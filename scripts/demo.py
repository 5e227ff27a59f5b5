"""The demo (DESIGN J7): J1 scaffold -> CPU training on synthetic data -> ONNX export -> inference.

Every step runs the command a user would type, in a fresh folder:

1. ``cookiecutter <this repo> --directory template`` makes ``Demo/`` (task: classifier);
2. ``python -m Demo.model train default`` trains on synthetic document templates;
3. ``python -m Demo.model to_onnx default`` exports and verifies the ONNX file;
4. ``python -m Demo.infer`` registers one clean example of each of several document
   templates never seen in training and matches new photos of them;

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
from typing import Dict, List, Sequence

REPO = Path(__file__).resolve().parent.parent
PROJECT = "Demo"
CFG = "default"
# Unseen templates; per template, examples to register and other photos to match.
N_TEMPLATES = 8
REGISTER_PER_TEMPLATE = 2
PHOTOS_PER_TEMPLATE = 3


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


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
         f"project_name={PROJECT}", "task=classifier"],
        REPO, env,
    )
    times["train"] = run([py, "-m", f"{PROJECT}.model", "train", CFG, *args.overrides], work, env)
    times["export"] = run([py, "-m", f"{PROJECT}.model", "to_onnx", CFG], work, env)

    run_dir = sorted((work / PROJECT / "runs" / CFG).iterdir())[-1]
    onnx_file = sorted((run_dir / "export").glob("*.onnx"))[-1]
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
