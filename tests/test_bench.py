"""The benchmark driver renders its report from the benchmarks' JSON lines (no timing here)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import demo_phases  # noqa: E402
import run_all  # noqa: E402


def st(best, median):
    return {"best": best, "median": median, "n": 3}


def ratio(median, best=None, worst=None):
    return {"median": median, "best": best or median, "worst": worst or median, "rounds": [median] * 3}


def step(otter_ratio, device="cpu"):
    return {"bench": "step_overhead", "device": device, "steps": 30, "repeats": 3, "batch": 32, "image": "3x64x64",
            "torch_threads": 2, "seconds": {k: st(0.1, 0.1) for k in ("hand", "otter", "lightning", "cli")},
            "ratio": {"otter/hand": ratio(otter_ratio, 0.99, 1.2), "lightning/hand": ratio(1.01), "cli/hand": ratio(1.02),
                      "otter/lightning": ratio(0.99)},
            "max_loss_diff": {"otter": 0.0, "lightning": 2e-6, "cli": 2e-6}}


def wait(task, share, workers=0):
    return {"task": task, "batch_size": 32, "num_workers": workers, "dataset": "D", "steps_timed": 20, "config": "default",
            "precision": "32-true", "device": "cpu", "data_wait_share": share, "step_s": st(1, 1), "compute_s": st(0.5, 0.5),
            "wait_s": st(0.5, 0.5), "model_images_per_s": 64.0, "step_images_per_s": 32.0, "loader_images_per_s": 64.0,
            "max_rss_bytes": 2**30, "max_rss_children_bytes": 2**29 if workers else 0}


PHASE = {"started": "2026-01-01 00:00 UTC", "ended": "2026-01-01 00:09 UTC", "load_start": [1.0, 2.0, 3.0],
         "load_end": [1.5, 2.0, 3.0], "commit": "abc1234", "quick": False, "note": ""}
RECORDS = [
    {"bench": "machine", "cpu": "Test CPU", "cores": 2, "ram_gib": 8.0, "os": "Linux",
     "versions": {"python": "3.11", "otter": "0.2.0"}, "phases": [PHASE]},
    {"bench": "gpu", "name": "gpu", "phase": 0, "skipped": "torch sees no CUDA device"},
    dict(step(1.02), name="step_overhead", phase=0, wall_s=50),
    {"bench": "startup", "name": "startup", "phase": 0, "task": "classifier", "imports": {"torch": False, "lightning": True},
     "python_start": st(0.02, 0.02), "import": st(0.1, 0.12), "help": st(0.2, 0.3),
     "check_cold": st(5.0, 6.0), "check_warm": st(0.5, 1.5)},
    {"bench": "onnx_tasks", "name": "onnx_tasks", "phase": 0, "tasks": [
        {"task": "mrz", "model": "M", "onnx_bytes": 2**20, "params": 1000, "input": "1x48x384", "torch_threads": 2,
         "batches": {"1": {"torch_ms": st(10, 11), "onnx_ms": st(1, 1.1), "speedup_median": 10.0, "speedup_best": 10.0},
                     "16": {"torch_ms": st(40, 44), "onnx_ms": st(50, 55), "speedup_median": 0.8, "speedup_best": 0.8}}},
        {"task": "aligner", "error": "boom in export"}]},
    {"bench": "data_pipeline", "name": "data_pipeline:aligner", "phase": 0, "tasks": [wait("aligner", 0.5)]},
    {"bench": "data_pipeline", "name": "data_pipeline:mrz", "phase": 0, "tasks": [wait("mrz", 0.05)]},
    {"bench": "data_pipeline", "name": "data_pipeline:classifier", "phase": 0, "error": "exit 1: boom"},
    {"bench": "data_pipeline", "name": "data_workers:classifier", "phase": 0, "tasks": [wait("classifier", 0.01, workers=1)]},
    {"bench": "demo", "name": "demo:classifier", "phase": 0, "tasks": [
        {"task": "classifier", "phases": {"scaffold": 2.0, "train": 200.0, "export": 10.0, "inference": 5.0},
         "total_s": 230.0, "overrides": []}]},
    {"bench": "demo", "name": "demo:aligner", "phase": 0, "tasks": [
        {"task": "aligner", "phases": {"scaffold": 2.0, "train": 400.0}, "total_s": 420.0, "overrides": []}]},
    {"bench": "demo", "name": "demo:mrz", "phase": 0, "tasks": [
        {"task": "mrz", "phases": {"scaffold": 2.0, "train": 20.0}, "total_s": 30.0, "overrides": ["trainer.max_epochs=1"]}]},
]


def verdicts(text):
    return {line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def row(v, prefix):
    return v[next(k for k in v if k.startswith(prefix))]


def test_each_budget_gets_a_row_with_its_verdict():
    text = run_all.render(RECORDS, note="busy machine")
    v = verdicts(text)
    assert "Test CPU, 2 usable cores, 8.0 GiB RAM" in text and "> busy machine" in text
    assert "Run 1: 2026-01-01 00:00 UTC to 00:09 UTC, commit abc1234, full settings" in text
    assert row(v, "Training step: otter / hand-written") == "PASS"
    assert "1.020 median of 3 rounds (best 0.990, worst 1.200)" in text
    assert row(v, "Training step: LightningCLI / hand-written") == "—"
    assert row(v, "`import otter`") == "**FAIL**" and "imports lightning" in text
    assert v["`otter check` warm (classifier default config)"] == "**FAIL**"  # median 1.5 s
    assert row(v, "ONNX vs torch eager, mrz, batch 1 ") == "PASS"
    assert v["ONNX vs torch eager, mrz, batch 16"] == "**FAIL**"
    assert v["ONNX vs torch eager, aligner"] == "not measured" and "boom in export" in text
    assert row(v, "Data wait, aligner default") == "**FAIL**"
    assert row(v, "Data wait, mrz default") == "PASS"  # 5% is within the budget
    assert row(v, "Data wait, classifier with num_workers 1 (not the default") == "—"
    assert v["Data wait / peak memory (data_pipeline:classifier)"] == "not measured" and "exit 1: boom" in text
    assert "max RSS 1.00 GiB" in text and "+ workers 0.50 GiB" in text
    assert row(v, "Demo end to end, classifier") == "PASS" and "3.8 min in all: scaffold 2 s, train 200 s" in text
    assert row(v, "Demo end to end, aligner") == "**FAIL**"  # 7 min > a few
    assert row(v, "Demo end to end, mrz") == "not measured (smoke run)"
    assert row(v, "GPU:") == "not measured" and "not measured: torch sees no CUDA device" in text


@pytest.mark.parametrize("median, diff, verdict", [(1.03, 0.0, "PASS"), (1.031, 0.0, "**FAIL**"), (1.0, 2e-5, "**FAIL**")])
def test_step_overhead_budget_is_the_median_ratio_and_the_losses(median, diff, verdict):
    record = dict(step(median), name="step_overhead")
    record["max_loss_diff"]["otter"] = diff
    v = verdicts(run_all.render([record]))
    assert row(v, "Training step: otter / hand-written") == verdict


def test_gpu_rows_on_a_cuda_machine():
    gpu = [
        dict(step(1.01, "cuda"), name="gpu_step"),
        {"bench": "data_pipeline", "name": "gpu_throughput:classifier:32", "tasks": [dict(wait("classifier", 0.1), step_images_per_s=1000.0, device="cuda:0")]},
        {"bench": "data_pipeline", "name": "gpu_throughput:classifier:16-mixed", "tasks": [dict(wait("classifier", 0.2), step_images_per_s=1500.0, device="cuda:0")]},
        {"bench": "onnx_tasks", "name": "gpu_onnx", "tasks": [{"task": "mrz", "error": "onnxruntime has no CUDAExecutionProvider"}]},
    ]
    text = run_all.render(gpu)
    v = verdicts(text)
    assert row(v, "Training step on the GPU: otter / hand-written") == "PASS"
    assert "16-mixed: 1500 img/s, data wait 20%; 32: 1000 img/s, data wait 10%; 16-mixed / 32 = 1.50x" in text
    assert v["GPU ONNX, mrz gpu.yaml"] == "not measured" and "no CUDAExecutionProvider" in text
    assert not any(k.startswith("GPU:") for k in v)  # measured, so no "not measured" row


def test_gpu_benchmarks_are_planned_only_with_cuda():
    names = [n for n, _ in run_all.benchmarks(quick=True, gpu=False)]
    assert not [n for n in names if n.startswith("gpu")]
    assert {"step_overhead", "startup", "onnx_tasks", "demo:mrz", "data_pipeline:aligner"} <= set(names)
    gpu = dict(run_all.benchmarks(quick=False, gpu=True))
    assert gpu["gpu_step"][gpu["gpu_step"].index("--device") + 1] == "cuda"
    assert {"gpu_throughput:mrz:32", "gpu_throughput:mrz:16-mixed", "gpu_onnx"} <= set(gpu)
    assert "--config" in gpu["gpu_onnx"] and "gpu" in gpu["gpu_onnx"]
    quick_demo = dict(run_all.benchmarks(quick=True, gpu=False))["demo:classifier"]
    assert "--" in quick_demo and dict(run_all.benchmarks(quick=False, gpu=False))["demo:classifier"][-1] == "classifier"


def test_merge_keeps_the_other_runs_results_and_lists_each_run():
    first = [RECORDS[0], *RECORDS[2:4]]
    second_phase = dict(PHASE, started="2026-01-01 01:00 UTC", ended="2026-01-01 01:08 UTC", note="demo apart")
    second = [dict(RECORDS[0], phases=[second_phase]), dict(step(1.5), name="step_overhead", phase=0), RECORDS[9]]
    merged = run_all.merge(json.loads(json.dumps(first)), second)
    names = [r.get("name") for r in merged[1:]]
    assert names == ["startup", "step_overhead", "demo:classifier"]  # the old step_overhead replaced
    assert [r["phase"] for r in merged[1:]] == [0, 1, 1]
    text = run_all.render(merged)
    assert "Run 1: 2026-01-01 00:00 UTC to 00:09 UTC" in text and ": startup" in text
    assert "Run 2: 2026-01-01 01:00 UTC to 01:08 UTC" in text and "demo apart: step_overhead, demo:classifier" in text
    assert row(verdicts(text), "Training step: otter / hand-written") == "**FAIL**"  # the new figure, 1.5


def test_demo_phases_are_read_from_the_demo_summary():
    out = "stuff\n====\nvalid_auc  0.9\ntime: scaffold  1.5 s\ntime: train  120.0 s\nproject  /tmp/x\ntime: bogus line\n"
    assert demo_phases.parse_phases(out) == {"scaffold": 1.5, "train": 120.0}


def test_renders_from_a_jsonl_file_without_running_anything(tmp_path):
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "REPORT.md"
    assert run_all.main(["--from-jsonl", str(jsonl), "--out", str(out)]) == 0
    assert out.read_text() == run_all.render(RECORDS)


def test_the_report_goes_between_the_readme_markers_and_nothing_else_changes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\n\nintro\n\n{run_all.START}\nSTALE-REPORT\n{run_all.END}\n\ntail\n")
    report = run_all.render(RECORDS)
    assert run_all.embed(report, readme)
    text = readme.read_text()
    assert text.startswith("# B\n\nintro\n\n") and text.endswith(f"{run_all.END}\n\ntail\n")
    assert "STALE-REPORT" not in text and "| measurement | figure | budget | verdict |" in text and "# Benchmark report" not in text
    assert run_all.embed(report, readme) and readme.read_text() == text  # again: the same file
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not run_all.embed(report, plain) and plain.read_text() == "no markers\n"


def test_only_names_a_benchmark_or_one_of_its_tasks():
    assert run_all.selected("demo:mrz", ["demo"]) and run_all.selected("demo:mrz", ["demo:mrz"])
    assert not run_all.selected("demo:mrz", ["demo:classifier"]) and not run_all.selected("data_workers:classifier", ["data"])
    assert run_all.selected("gpu_throughput:mrz:32", ["gpu_throughput:mrz"]) and run_all.selected("startup", ["startup"])


def test_a_budget_not_run_still_has_its_row():
    v = verdicts(run_all.render([RECORDS[0], RECORDS[9]]))  # only the classifier demo ran
    for what in ("Training step overhead", "Start-up (`import otter`, `--help`, `check`)", "ONNX vs torch eager",
                 "Data wait / peak memory of the default pipelines"):
        assert v[what] == "not measured", what
    assert row(v, "Demo end to end, classifier") == "PASS"
    assert row(v, "Demo end to end, aligner") == row(v, "Demo end to end, mrz") == "not measured"
