"""Run every benchmark and write benchmarks/REPORT.md: the machine, versions, and one row per budget of DESIGN §11.

Each benchmark is a script run as its own process that prints one JSON line (its last line
starting with ``{``); this driver collects the lines (also written to ``build/bench/results.jsonl``)
and renders the table. A benchmark for a new task or budget is a script plus an entry in
``benchmarks()`` and a few lines in ``rows()``. Where torch sees a CUDA device the GPU
benchmarks run too; elsewhere the report says that they were not measured, and why.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--merge] [--no-gpu]
                                 [--lock /tmp/otter-cpu.lock] [--note TEXT] [--out benchmarks/REPORT.md]
    python benchmarks/run_all.py --from-jsonl build/bench/results.jsonl   # render only

A report made in several runs (e.g. the demo apart, on a quiet machine): ``--only`` for the
first, ``--only ... --merge`` for each next; the report lists each run with its time and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import REPO, TASKS, WORK, bake, versions  # noqa: E402

#: Training overrides of the demo in a --quick run: a smoke test of the demo benchmark, not the demo's figure.
QUICK_DEMO = ["trainer.max_epochs=1", "trainer.limit_train_batches=6", "trainer.limit_val_batches=2"]


def benchmarks(quick: bool, gpu: bool) -> List[Tuple[str, List[str]]]:
    """``(name, argv)`` of each benchmark process; per-task ones run one task per process (peak RSS is per process).

    ``--only`` takes a name up to its first ``:`` (every task) or more of it (one task).
    """
    steps = "12" if quick else "25"
    out = [
        ("step_overhead", ["step_overhead.py", "--json", "--steps", "15" if quick else "60", "--repeats", "2" if quick else "9"]),
        ("startup", ["startup.py", "--repeats", "2" if quick else "3"]),
        ("onnx_tasks", ["onnx_tasks.py", "--repeats", "3" if quick else "5"]),
    ]
    out += [(f"data_pipeline:{t}", ["data_pipeline.py", "--tasks", t, "--steps", steps]) for t in TASKS]
    # Beside the default: the classifier's loader in one worker process (a comparison, not a budget figure).
    out.append(("data_workers:classifier", ["data_pipeline.py", "--tasks", "classifier", "--workers", "1", "--steps", steps]))
    out += [(f"demo:{t}", ["demo_phases.py", "--tasks", t, *(["--", *QUICK_DEMO] if quick else [])]) for t in TASKS]
    if gpu:
        out.append(("gpu_step", ["step_overhead.py", "--json", "--device", "cuda", "--steps", "20" if quick else "60",
                                 "--repeats", "2" if quick else "5"]))
        out += [(f"gpu_throughput:{t}:{p}", ["data_pipeline.py", "--tasks", t, "--config", "gpu", "--precision", p,
                                             "--steps", "12" if quick else "40"]) for t in TASKS for p in ("32", "16-mixed")]
        out.append(("gpu_onnx", ["onnx_tasks.py", "--device", "cuda", "--config", "gpu", "--repeats", "3" if quick else "5"]))
    return out


def selected(name: str, only: Sequence[str]) -> bool:
    """``--only`` names a benchmark (``demo``) or one of its parts (``demo:mrz``, ``gpu_throughput:mrz``)."""
    return any(name == o or name.startswith(o + ":") for o in only)


def cuda_probe() -> Tuple[bool, str]:
    """Whether torch sees a CUDA device here, and the device's name or why not (in a child: the driver stays light)."""
    code = ("import json, torch; ok = torch.cuda.is_available(); "
            "print(json.dumps([ok, torch.cuda.get_device_name(0) if ok else "
            "f'torch {torch.__version__} (CUDA build: {torch.version.cuda or \"none\"}) sees no CUDA device: "
            "torch.cuda.is_available() is False']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return False, f"probing CUDA failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    ok, what = json.loads(done.stdout.strip().splitlines()[-1])
    return bool(ok), str(what)


def run_one(name: str, argv: List[str], lock: Optional[str]) -> Dict[str, Any]:
    cmd = [sys.executable, str(HERE / argv[0]), *argv[1:]]
    if lock:
        cmd = ["flock", lock, *cmd]  # one benchmark at a time holds the machine's CPU lock
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONUNBUFFERED": "1"}
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        record = {"bench": name.split(":")[0], "error": f"exit {done.returncode}: {tail[:300]}"}
    else:
        record = json.loads(lines[-1])
    record["name"], record["wall_s"] = name, wall
    print(f"[bench] {name}: {wall:.0f} s{' (failed)' if 'error' in record else ''}", file=sys.stderr, flush=True)
    return record


def _meminfo_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _cpu_model() -> str:
    """The CPU's name, family/model, clock and vector units, as /proc/cpuinfo states them (a VM may hide the name)."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
            if not line.strip():
                break
    except OSError:
        return platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    parts = [f"family {info.get('cpu family', '?')} model {info.get('model', '?')}"]
    if info.get("cpu MHz"):
        parts.append(f"{float(info['cpu MHz']):.0f} MHz")
    parts.append(vector)
    if "hypervisor" in flags:
        parts.append("virtual machine")
    return f"{info.get('model name', platform.machine())} ({', '.join(parts)})"


def machine() -> Dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"bench": "machine", "cpu": _cpu_model(), "cores": usable, "ram_gib": round(_meminfo_gib(), 1),
            "os": platform.platform(), "versions": versions(), "phases": []}


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "otter", "template", "benchmarks", "scripts"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
    return done.stdout.strip() + (" + uncommitted changes" if dirty else "")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --- rendering ---------------------------------------------------------------------------------------

def _v(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("PASS" if ok else "**FAIL**")


def _ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def _bm(st: Dict[str, float], scale: float = 1.0, unit: str = "ms") -> str:
    return f"{st['best'] * scale:.2f} / {st['median'] * scale:.2f} {unit}"


def _ratio(r: Dict[str, Any]) -> str:
    n = len(r.get("rounds", [])) or "?"
    return f"{r['median']:.3f} median of {n} rounds (best {r['best']:.3f}, worst {r['worst']:.3f})"


def _step_rows(s: Dict[str, Any], where: str) -> List[Tuple[str, str, str, str]]:
    r, sec, diff = s["ratio"], s["seconds"], s["max_loss_diff"]
    ms = {k: v["median"] * 1000 for k, v in sec.items()}
    ok = r["otter/hand"]["median"] <= 1.03 and diff["otter"] <= 1e-5
    setup = f"batch {s['batch']}, {s['image']}, {s['steps']} steps a run, {s['torch_threads']} torch threads"
    return [
        (f"Training step{where}: otter / hand-written loop (same model, batches, optimizer; {setup})",
         f"{_ratio(r['otter/hand'])}; {ms['otter']:.1f} vs {ms['hand']:.1f} ms/step; max loss diff {diff['otter']:.1e}",
         "<= 1.03; losses to 1e-5", _v(ok)),
        (f"Training step{where}: plain Lightning / hand-written loop",
         f"{_ratio(r['lightning/hand'])}; {ms['lightning']:.1f} ms/step; max loss diff {diff['lightning']:.1e}",
         "none (comparison)", "—"),
        (f"Training step{where}: LightningCLI / hand-written loop",
         f"{_ratio(r['cli/hand'])}; {ms['cli']:.1f} ms/step; max loss diff {diff['cli']:.1e}", "none (comparison)", "—"),
        (f"Training step{where}: otter / plain Lightning", _ratio(r["otter/lightning"]), "none (comparison)", "—"),
    ]


def _wait_row(t: Dict[str, Any], label: str, budget: str, verdict: str) -> Tuple[str, str, str, str]:
    return (label,
            f"{t['data_wait_share'] * 100:.1f}% of step time; whole step {t.get('step_images_per_s', float('nan')):.0f} img/s, "
            f"the model alone {t['model_images_per_s']:.0f} img/s, the loader alone {t['loader_images_per_s']:.0f} img/s "
            f"({t['steps_timed']} steps)", budget, verdict)


def _by_name(records: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {r.get("name", r.get("bench", "?")): r for r in records if r.get("bench") != "machine"}


NOT_RUN = "not run in this report"


def rows(records: Sequence[Dict[str, Any]]) -> List[Tuple[str, str, str, str]]:
    """``(what, figure, budget, verdict)`` for each budget, from the benchmarks' JSON records."""
    by = _by_name(records)
    out: List[Tuple[str, str, str, str]] = []

    s = by.get("step_overhead")
    if s and "error" not in s:
        out += _step_rows(s, "")
    else:
        out.append(("Training step overhead", s["error"] if s else NOT_RUN, "<= 1.03", "not measured"))

    s = by.get("startup")
    if s and "error" not in s:
        heavy = [m for m, present in s["imports"].items() if present]
        out.append(("`import otter` (fresh interpreter; python alone " + _ms(s["python_start"]["best"]) + ")",
                    f"{_bm(s['import'], 1000)} best/median; imports {', '.join(heavy) if heavy else 'neither torch nor lightning'}",
                    "imports neither torch nor lightning", _v(not heavy)))
        out.append(("`otter --help`", f"{_bm(s['help'], 1000)} best/median", "quick (< 1 s)", _v(s["help"]["median"] < 1.0)))
        out.append((f"`otter check` cold ({s['task']} default config, empty cache)", f"{_bm(s['check_cold'], 1, 's')} best/median",
                    "none (first check after an install or change)", "—"))
        out.append((f"`otter check` warm ({s['task']} default config)", f"{_bm(s['check_warm'], 1, 's')} best/median",
                    "< 1 s warm", _v(s["check_warm"]["median"] < 1.0)))
    else:
        out.append(("Start-up (`import otter`, `--help`, `check`)", s["error"] if s else NOT_RUN,
                    "no torch/Lightning; `check` < 1 s warm", "not measured"))

    s = by.get("onnx_tasks")
    if s and "error" not in s:
        for t in s["tasks"]:
            if "error" in t:
                out.append((f"ONNX vs torch eager, {t['task']}", t["error"], ">= 5x faster at batch 1", "not measured"))
                continue
            b1, b16 = t["batches"]["1"], t["batches"]["16"]
            size = f"{t['onnx_bytes'] / 2**20:.2f} MiB, {t['params']:,} params, input {t['input']}"
            out.append((f"ONNX vs torch eager, {t['task']}, batch 1 ({size})",
                        f"{b1['speedup_median']:.1f}x median, {b1['speedup_best']:.1f}x best "
                        f"(onnxruntime {_bm(b1['onnx_ms'])}, torch {_bm(b1['torch_ms'])} best/median)",
                        ">= 5x faster", _v(b1["speedup_median"] >= 5)))
            out.append((f"ONNX vs torch eager, {t['task']}, batch 16",
                        f"{b16['speedup_median']:.1f}x median (onnxruntime {_bm(b16['onnx_ms'])}, torch {_bm(b16['torch_ms'])})",
                        "faster (> 1x)", _v(b16["speedup_median"] > 1)))
    else:
        out.append(("ONNX vs torch eager", s["error"] if s else NOT_RUN, ">= 5x at batch 1", "not measured"))

    pipelines = [(n, r) for n, r in by.items() if n.split(":")[0] == "data_pipeline"]
    for _, r in pipelines:
        for t in r.get("tasks", []):
            out.append(_wait_row(t, f"Data wait, {t['task']} default ({t['dataset']}, batch {t['batch_size']}, "
                                    f"num_workers {t['num_workers']})", "<= 5%", _v(t["data_wait_share"] <= 0.05)))
    if not pipelines:
        out.append(("Data wait / peak memory of the default pipelines", NOT_RUN, "<= 5%", "not measured"))
    for name, r in by.items():
        if name.split(":")[0] == "data_workers":
            for t in r.get("tasks", []):
                what, figure, budget, verdict = _wait_row(
                    t, f"Data wait, {t['task']} with num_workers {t['num_workers']} (not the default: a comparison)",
                    "none (comparison)", "—")
                memory = f"; max RSS {t['max_rss_bytes'] / 2**30:.2f} GiB + workers {t['max_rss_children_bytes'] / 2**30:.2f} GiB"
                out.append((what, figure + memory, budget, verdict))
    for _, r in pipelines:
        for t in r.get("tasks", []):
            workers = f" + workers {t['max_rss_children_bytes'] / 2**30:.2f} GiB" if t["num_workers"] else ""
            out.append((f"Peak memory, short default training, {t['task']}",
                        f"max RSS {t['max_rss_bytes'] / 2**30:.2f} GiB{workers}", "none", "—"))
    for name, r in by.items():
        if name.split(":")[0] in ("data_pipeline", "data_workers") and "error" in r:
            out.append((f"Data wait / peak memory ({name})", r["error"], "<= 5%", "not measured"))

    demos = [(n, r) for n, r in by.items() if n.split(":")[0] == "demo"]
    for name, r in demos:
        if "error" in r:
            out.append((f"Demo end to end ({name})", r["error"], "a few minutes on 2 CPU cores", "not measured"))
        for t in r.get("tasks", []):
            what = f"Demo end to end, {t['task']} (`bash scripts/demo.bash --task {t['task']}`)"
            if "error" in t:
                out.append((what, t["error"], "a few minutes on 2 CPU cores", "not measured"))
                continue
            phases = ", ".join(f"{k} {v:.0f} s" for k, v in t["phases"].items())
            figure = f"{t['total_s'] / 60:.1f} min in all: {phases}"
            if t.get("overrides"):  # a shortened training is a smoke test of the benchmark, not the demo
                out.append((what, f"{figure}; training shortened ({' '.join(t['overrides'])})",
                            "a few minutes on 2 CPU cores", "not measured (smoke run)"))
            else:
                out.append((what, figure, "a few minutes on 2 CPU cores (taken as <= 5 min)", _v(t["total_s"] <= 300)))
    ran = {t.get("task") for _, r in demos for t in r.get("tasks", [])} | {n.split(":")[1] for n, _ in demos if ":" in n}
    for task in TASKS:
        if task not in ran:
            out.append((f"Demo end to end, {task} (`bash scripts/demo.bash --task {task}`)", NOT_RUN,
                        "a few minutes on 2 CPU cores", "not measured"))

    out += gpu_rows(records)
    return out


def gpu_rows(records: Sequence[Dict[str, Any]]) -> List[Tuple[str, str, str, str]]:
    """The GPU configs on a CUDA device; one row saying why not where there is none."""
    by = _by_name(records)
    skipped = by.get("gpu")
    if skipped:
        return [("GPU: each task's gpu.yaml in 16-mixed vs 32 (images/s), otter vs plain Lightning, onnxruntime-gpu vs "
                 "torch", f"not measured: {skipped['skipped']}", "none in §11 (comparison)", "not measured")]
    out: List[Tuple[str, str, str, str]] = []
    s = by.get("gpu_step")
    if s and "error" not in s:
        out += _step_rows(s, " on the GPU")
    elif s:
        out.append(("Training step on the GPU", s["error"], "<= 1.03", "not measured"))
    per_task: Dict[str, Dict[str, Any]] = {}
    for name, r in by.items():
        if name.split(":")[0] == "gpu_throughput":
            _, task, precision = name.split(":")
            per_task.setdefault(task, {})[precision] = r
    for task, by_p in per_task.items():
        parts, ips = [], {}
        for precision in ("16-mixed", "32"):
            r = by_p.get(precision)
            if r is None:
                continue
            if "error" in r:
                parts.append(f"{precision}: {r['error']}")
                continue
            t = r["tasks"][0]
            ips[precision] = t["step_images_per_s"]
            parts.append(f"{precision}: {t['step_images_per_s']:.0f} img/s, data wait {t['data_wait_share'] * 100:.0f}%")
            setup = f"batch {t['batch_size']}, num_workers {t['num_workers']}, {t['device']}"
        speedup = f"; 16-mixed / 32 = {ips['16-mixed'] / ips['32']:.2f}x" if len(ips) == 2 else ""
        label = f"GPU training, {task} gpu.yaml ({setup})" if ips else f"GPU training, {task} gpu.yaml"
        out.append((label, "; ".join(parts) + speedup, "none (comparison)", "—"))
    s = by.get("gpu_onnx")
    if s and "error" not in s:
        for t in s["tasks"]:
            if "error" in t:
                out.append((f"GPU ONNX, {t['task']} gpu.yaml", t["error"], "none (comparison)", "not measured"))
                continue
            for b in ("1", "16"):
                x = t["batches"][b]
                out.append((f"GPU ONNX, {t['task']} gpu.yaml, batch {b}: onnxruntime ({t['provider']}) vs torch",
                            f"{x['speedup_median']:.1f}x median (onnxruntime {_bm(x['onnx_ms'])}, torch {_bm(x['torch_ms'])})",
                            "none (comparison)", "—"))
    elif s:
        out.append(("GPU ONNX", s["error"], "none (comparison)", "not measured"))
    return out


def render(records: Sequence[Dict[str, Any]], note: str = "") -> str:
    m = next((r for r in records if r.get("bench") == "machine"), None)
    lines = ["# Benchmark report", "",
             "Made by `bash scripts/bench.bash` (benchmarks/run_all.py); every figure below was measured in the run",
             "(or its phases) listed here. Ratios are measured side by side: in one process, the sides taking turns",
             "in rotating order, each ratio taken within a round and reported as the median over the rounds; times",
             "are best / median of the repeats. Absolute times depend on the machine: compare ratios, not times",
             "across machines. Budgets: DESIGN §11.", ""]
    if note:
        lines += [f"> {note}", ""]
    if m:
        v = m["versions"]
        lines += [
            f"- Machine: {m['cpu']}, {m['cores']} usable cores, {m['ram_gib']} GiB RAM; {m['os']}",
            "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        ]
        names = {r.get("phase"): [] for r in records if r.get("bench") != "machine"}
        for r in records:
            if r.get("bench") not in ("machine", "gpu"):
                names[r.get("phase")].append(r.get("name", r.get("bench")))
        for i, p in enumerate(m.get("phases", [])):
            if i not in names:
                continue  # every benchmark of that phase was run again later
            cond = "quick settings" if p.get("quick") else "full settings"
            lines.append(f"- Run {i + 1}: {p['started']} to {p['ended'][-9:]}, commit {p['commit'] or '?'}, {cond}; "
                         f"load average {p['load_start'][0]:.2f} at the start, {p['load_end'][0]:.2f} at the end"
                         + (f"; {p['note']}" if p.get("note") else "") + f": {', '.join(names[i])}")
        lines.append("")
    lines += ["| measurement | figure | budget | verdict |", "|---|---|---|---|"]
    for what, figure, budget, verdict in rows(records):
        lines.append(f"| {what} | {figure} | {budget} | {verdict} |")
    walls = [(r.get("name", r.get("bench")), r["wall_s"]) for r in records if "wall_s" in r]
    if walls:
        lines += ["", "Wall time of each benchmark process: " + ", ".join(f"{b} {w:.0f} s" for b, w in walls) + "."]
    return "\n".join(lines) + "\n"


README = HERE / "README.md"
START, END = "<!-- report:start -->", "<!-- report:end -->"


def embed(report: str, readme: Path = README) -> bool:
    """Put the report (less its title) between the README's markers: the docs' Benchmarks page shows the README."""
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    body = report.split("\n", 1)[1].strip() if report.startswith("# ") else report.strip()
    head, rest = text.split(START, 1)
    readme.write_text(f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    return True


def merge(old: Sequence[Dict[str, Any]], new: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The last report's records with this run's appended: a benchmark run again replaces its old record.

    The machine record keeps every run's phase (``phase`` of a record indexes them).
    """
    machine_old = next((r for r in old if r.get("bench") == "machine"), None)
    machine_new = next(r for r in new if r.get("bench") == "machine")
    if machine_old is None:
        return list(new)
    offset = len(machine_old.get("phases", []))
    machine_old["phases"] = machine_old.get("phases", []) + machine_new["phases"]
    machine_old["versions"], machine_old["cpu"], machine_old["cores"] = machine_new["versions"], machine_new["cpu"], machine_new["cores"]
    rerun = {r.get("name") for r in new}
    kept = [r for r in old if r.get("bench") != "machine" and r.get("name") not in rerun]
    fresh = [dict(r, phase=r.get("phase", 0) + offset) for r in new if r.get("bench") != "machine"]
    return [machine_old, *kept, *fresh]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these (step_overhead startup onnx_tasks data_pipeline data_workers demo; "
                             "on a CUDA machine also gpu_step gpu_throughput gpu_onnx); NAME:TASK for one task")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats, the demo's training shortened (a smoke run)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the last run's results (build/bench/results.jsonl) of the benchmarks not run now: "
                             "a report made in several runs, each listed with its time")
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU benchmarks even where CUDA is available")
    parser.add_argument("--lock", help="run each benchmark under `flock LOCK` (a CPU lock shared with other work)")
    parser.add_argument("--note", default="", help="a line about this run's conditions (e.g. the machine was busy)")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md")
    parser.add_argument("--from-jsonl", type=Path, help="render the report from these JSON lines; run nothing")
    args = parser.parse_args(argv)
    results = WORK / "results.jsonl"
    if args.from_jsonl:
        records = [json.loads(line) for line in args.from_jsonl.read_text().splitlines() if line.strip()]
    else:
        gpu, why = (False, "--no-gpu was given") if args.no_gpu else cuda_probe()
        print(f"[bench] CUDA: {why}", file=sys.stderr, flush=True)
        todo = [(n, c) for n, c in benchmarks(args.quick, gpu) if not args.only or selected(n, args.only)]
        phase = {"started": _now(), "load_start": list(os.getloadavg()), "commit": _commit(), "quick": args.quick,
                 "note": args.note}
        records = [dict(machine(), phases=[phase])]
        if not gpu:  # a fact of this machine, whatever ran: the report says why the GPU rows are missing
            records.append({"bench": "gpu", "name": "gpu", "phase": 0, "skipped": why})
        for task in TASKS:  # each run measures the template as it is now
            shutil.rmtree(WORK / task, ignore_errors=True)
            bake(task)
        for name, cmd in todo:
            records.append(dict(run_one(name, cmd, args.lock), phase=0))
        phase["ended"], phase["load_end"] = _now(), list(os.getloadavg())
        if args.merge and results.is_file():
            old = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
            records = merge(old, records)
        WORK.mkdir(parents=True, exist_ok=True)
        results.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = render(records, args.note if args.from_jsonl else "")
    args.out.write_text(report)
    if args.out.resolve() == (HERE / "REPORT.md").resolve():
        embed(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
