"""Run every benchmark and write benchmarks/REPORT.md: the machine, versions, and one row per budget of DESIGN §11.

Each benchmark is a script run as its own process that prints one JSON line (its last line
starting with ``{``); this driver collects the lines (also written to ``build/bench/results.jsonl``)
and renders the table. A benchmark for a new task or budget is a script plus an entry in
``BENCHMARKS`` and a few lines in ``rows``.

    python benchmarks/run_all.py [--only step_overhead startup onnx_tasks data_pipeline] [--quick]
                                 [--lock /tmp/otter-cpu.lock] [--note TEXT] [--out benchmarks/REPORT.md]
    python benchmarks/run_all.py --from-jsonl build/bench/results.jsonl   # render only
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


def benchmarks(quick: bool) -> List[Tuple[str, List[str]]]:
    """``(name, argv)`` of each benchmark process; data_pipeline runs once per task (peak RSS is per process)."""
    r = "2" if quick else "3"
    out = [
        ("step_overhead", ["step_overhead.py", "--json", "--steps", "20" if quick else "60", "--repeats", r]),
        ("startup", ["startup.py", "--repeats", r]),
        ("onnx_tasks", ["onnx_tasks.py", "--repeats", "3" if quick else "5"]),
    ]
    out += [(f"data_pipeline:{t}", ["data_pipeline.py", "--tasks", t, "--steps", "12" if quick else "25"]) for t in TASKS]
    return out


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
    record["wall_s"] = wall
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
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"bench": "machine", "cpu": _cpu_model(), "cores": usable, "ram_gib": round(_meminfo_gib(), 1),
            "os": platform.platform(), "load": list(os.getloadavg()), "commit": commit,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "versions": versions()}


# --- rendering ---------------------------------------------------------------------------------------

def _v(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("PASS" if ok else "**FAIL**")


def _ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def _bm(st: Dict[str, float], scale: float = 1.0, unit: str = "ms") -> str:
    return f"{st['best'] * scale:.2f} / {st['median'] * scale:.2f} {unit}"


def rows(records: Sequence[Dict[str, Any]]) -> List[Tuple[str, str, str, str]]:
    """``(what, figure, budget, verdict)`` for each budget, from the benchmarks' JSON records."""
    by = {}
    for r in records:
        if r.get("bench") == "data_pipeline" and "tasks" in r:
            by.setdefault("data_pipeline", []).extend(r["tasks"])
        elif r.get("bench") == "data_pipeline":
            by.setdefault("data_pipeline_errors", []).append(r)
        else:
            by[r.get("bench")] = r
    out: List[Tuple[str, str, str, str]] = []

    s = by.get("step_overhead")
    if s and "error" not in s:
        ok = s["ratio_best"] <= 1.03 and s["max_loss_diff"] <= 1e-5
        out.append(("Training step: otter / hand-written loop (same model, batches, optimizer)",
                    f"{s['ratio_best']:.3f} best, {s['ratio_median']:.3f} median ({s['otter_s']['best'] * 1000:.1f} vs "
                    f"{s['hand_s']['best'] * 1000:.1f} ms/step); max loss diff {s['max_loss_diff']:.1e}",
                    "<= 1.03; losses to 1e-5", _v(ok)))
        out.append(("Training step: plain Lightning / hand-written loop (reference)",
                    f"{s['ratio_plain_best']:.3f} best; otter / plain Lightning {s['ratio_otter_plain_best']:.3f}; "
                    f"max loss diff {s['max_loss_diff_plain']:.1e}", "none (comparison)", "—"))
    elif s:
        out.append(("Training step overhead", s["error"], "<= 1.03", "not measured"))

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
    elif s:
        out.append(("Start-up (`import otter`, `--help`, `check`)", s["error"], "see §11", "not measured"))

    s = by.get("onnx_tasks")
    if s and "error" not in s:
        for t in s["tasks"]:
            b1, b16 = t["batches"]["1"], t["batches"]["16"]
            size = f"{t['onnx_bytes'] / 2**20:.2f} MiB, {t['params']:,} params, input {t['input']}"
            out.append((f"ONNX vs torch eager, {t['task']}, batch 1 ({size})",
                        f"{b1['speedup_median']:.1f}x median, {b1['speedup_best']:.1f}x best "
                        f"(onnxruntime {_bm(b1['onnx_ms'])}, torch {_bm(b1['torch_ms'])} best/median)",
                        ">= 5x faster", _v(b1["speedup_median"] >= 5)))
            out.append((f"ONNX vs torch eager, {t['task']}, batch 16",
                        f"{b16['speedup_median']:.1f}x median (onnxruntime {_bm(b16['onnx_ms'])}, torch {_bm(b16['torch_ms'])})",
                        "faster (> 1x)", _v(b16["speedup_median"] > 1)))
    elif s:
        out.append(("ONNX vs torch eager", s["error"], ">= 5x at batch 1", "not measured"))

    for t in by.get("data_pipeline", []):
        out.append((f"Data wait, {t['task']} ({t['dataset']}, batch {t['batch_size']}, num_workers {t['num_workers']})",
                    f"{t['data_wait_share'] * 100:.0f}% of step time; loader alone {t['loader_images_per_s']:.0f} img/s, "
                    f"model consumes {t['model_images_per_s']:.0f} img/s ({t['steps_timed']} steps)",
                    "<= 5%", _v(t["data_wait_share"] <= 0.05)))
    for t in by.get("data_pipeline", []):
        workers = f" + workers {t['max_rss_children_bytes'] / 2**30:.2f} GiB" if t["num_workers"] else ""
        out.append((f"Peak memory, short default training, {t['task']}",
                    f"max RSS {t['max_rss_bytes'] / 2**30:.2f} GiB{workers}", "none", "—"))
    for r in by.get("data_pipeline_errors", []):
        out.append(("Data wait / peak memory", r["error"], "<= 5%", "not measured"))
    out.append(("Demo end to end (`scripts/demo.py`)", "not run by this report: its phase times are printed by "
                "`python scripts/demo.py --task TASK`", "a few minutes on 2 CPU cores", "not measured"))
    return out


def render(records: Sequence[Dict[str, Any]], note: str = "") -> str:
    m = next((r for r in records if r.get("bench") == "machine"), None)
    lines = ["# Benchmark report", "",
             "Made by `bash scripts/bench.bash` (benchmarks/run_all.py); every figure below was measured in that run.",
             "Ratios are measured side by side in one process, the two sides alternating; times are best / median of",
             "the repeats. Budgets: DESIGN §11.", ""]
    if note:
        lines += [f"> {note}", ""]
    if m:
        v = m["versions"]
        lines += [
            f"- Machine: {m['cpu']}, {m['cores']} usable cores, {m['ram_gib']} GiB RAM; {m['os']}",
            f"- Load average at the start: {', '.join(f'{x:.2f}' for x in m['load'])}"
            + (f"; at the end: {', '.join(f'{x:.2f}' for x in m['load_end'])}" if "load_end" in m else ""),
            f"- Date: {m['date']}; commit {m['commit'] or '?'}",
            "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            "",
        ]
    lines += ["| measurement | figure | budget | verdict |", "|---|---|---|---|"]
    for what, figure, budget, verdict in rows(records):
        lines.append(f"| {what} | {figure} | {budget} | {verdict} |")
    walls = [(r.get("bench"), r["wall_s"]) for r in records if "wall_s" in r]
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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these (step_overhead, startup, onnx_tasks, data_pipeline)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run; figures are noisier)")
    parser.add_argument("--lock", help="run each benchmark under `flock LOCK` (a CPU lock shared with other work)")
    parser.add_argument("--note", default="", help="a line for the report's header (e.g. the machine was busy)")
    parser.add_argument("--out", type=Path, default=HERE / "REPORT.md")
    parser.add_argument("--from-jsonl", type=Path, help="render the report from these JSON lines; run nothing")
    args = parser.parse_args(argv)
    if args.from_jsonl:
        records = [json.loads(line) for line in args.from_jsonl.read_text().splitlines() if line.strip()]
    else:
        records = [machine()]
        for task in TASKS:  # each run measures the template as it is now
            shutil.rmtree(WORK / task, ignore_errors=True)
            bake(task)
        for name, cmd in benchmarks(args.quick):
            if args.only and name.split(":")[0] not in args.only:
                continue
            records.append(run_one(name, cmd, args.lock))
        records[0]["load_end"] = list(os.getloadavg())
        WORK.mkdir(parents=True, exist_ok=True)
        (WORK / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    report = render(records, args.note)
    args.out.write_text(report)
    if args.out.resolve() == (HERE / "REPORT.md").resolve():
        embed(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
