"""The benchmark driver renders its report from the benchmarks' JSON lines (no timing here)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import run_all  # noqa: E402


def st(best, median):
    return {"best": best, "median": median, "n": 3}


RECORDS = [
    {"bench": "machine", "cpu": "Test CPU", "cores": 2, "ram_gib": 8.0, "os": "Linux", "load": [1.0, 2.0, 3.0],
     "commit": "abc1234", "date": "2026-01-01 00:00 UTC", "versions": {"python": "3.11", "otter": "0.2.0"}},
    {"bench": "step_overhead", "hand_s": st(0.1, 0.11), "otter_s": st(0.102, 0.12), "plain_lightning_s": st(0.103, 0.12),
     "ratio_best": 1.02, "ratio_median": 1.04, "ratio_plain_best": 1.03, "ratio_otter_plain_best": 0.99,
     "max_loss_diff": 0.0, "max_loss_diff_plain": 2e-6, "wall_s": 50},
    {"bench": "startup", "task": "classifier", "imports": {"torch": False, "lightning": True},
     "python_start": st(0.02, 0.02), "import": st(0.1, 0.12), "help": st(0.2, 0.3),
     "check_cold": st(5.0, 6.0), "check_warm": st(0.5, 1.5)},
    {"bench": "onnx_tasks", "tasks": [{"task": "mrz", "model": "M", "onnx_bytes": 2**20, "params": 1000, "input": "1x48x384",
     "torch_threads": 2, "batches": {"1": {"torch_ms": st(10, 11), "onnx_ms": st(1, 1.1), "speedup_median": 10.0, "speedup_best": 10.0},
                                      "16": {"torch_ms": st(40, 44), "onnx_ms": st(50, 55), "speedup_median": 0.8, "speedup_best": 0.8}}}]},
    {"bench": "data_pipeline", "tasks": [{"task": "aligner", "batch_size": 32, "num_workers": 0, "dataset": "D", "steps_timed": 20,
     "data_wait_share": 0.5, "step_s": st(1, 1), "compute_s": st(0.5, 0.5), "wait_s": st(0.5, 0.5),
     "model_images_per_s": 64.0, "loader_images_per_s": 64.0, "max_rss_bytes": 2**30, "max_rss_children_bytes": 0}]},
    {"bench": "data_pipeline", "error": "exit 1: boom"},
]


def verdicts(text):
    return {line.split(" | ")[0].lstrip("| "): line.rsplit(" | ", 1)[1].rstrip(" |")
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def test_each_budget_gets_a_row_with_its_verdict():
    text = run_all.render(RECORDS, note="busy machine")
    v = verdicts(text)
    assert "Test CPU, 2 usable cores, 8.0 GiB RAM" in text and "> busy machine" in text
    assert v[next(k for k in v if k.startswith("Training step: otter"))] == "PASS"
    assert v[next(k for k in v if k.startswith("`import otter`"))] == "**FAIL**"  # lightning was imported
    assert "imports lightning" in text
    assert v["`otter check` warm (classifier default config)"] == "**FAIL**"  # median 1.5 s
    assert v[next(k for k in v if k.startswith("ONNX vs torch eager, mrz, batch 1 "))] == "PASS"
    assert v["ONNX vs torch eager, mrz, batch 16"] == "**FAIL**"
    assert v[next(k for k in v if k.startswith("Data wait, aligner"))] == "**FAIL**"
    assert "max RSS 1.00 GiB" in text
    assert v["Data wait / peak memory"] == "not measured" and "exit 1: boom" in text
    assert v["Demo end to end (`scripts/demo.py`)"] == "not measured"


@pytest.mark.parametrize("ratio, verdict", [(1.03, "PASS"), (1.031, "**FAIL**")])
def test_step_overhead_budget_edge(ratio, verdict):
    records = [dict(RECORDS[1], ratio_best=ratio)]
    v = verdicts(run_all.render(records))
    assert v[next(k for k in v if k.startswith("Training step: otter"))] == verdict


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
