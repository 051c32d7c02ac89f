"""The benchmark runner's contract: workload tuples in, one row per reference out, a readable table."""
import json

from benchmarks import run


def test_run_module_times_tinydl_once_per_name_and_computes_ratios():
    calls = []

    def ours():
        calls.append(1)

    workloads = [("w", ours, lambda: None, "numpy"), ("w", ours, lambda: None, "torch"), ("v", ours, None, "none")]
    rows = run.run_module("fake", workloads, repeat=1)
    assert [(r["workload"], r["reference"]) for r in rows] == [("w", "numpy"), ("w", "torch"), ("v", "none")]
    assert rows[0]["tinydl_s"] == rows[1]["tinydl_s"] > 0
    assert rows[0]["ratio"] > 0 and rows[2]["ratio"] is None and rows[2]["reference_s"] is None


def test_table_and_json(tmp_path, capsys):
    rows = [{"module": "m", "workload": "w", "tinydl_s": 2e-6, "reference": "numpy", "reference_s": 1e-6,
             "ratio": 2.0}]
    run.print_table(rows)
    out = capsys.readouterr().out
    assert "workload" in out and "m: w" in out and "2 us" in out and "numpy 1 us" in out and "2.00x" in out
    run.write_json(rows, tmp_path / "r.json")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["results"] == rows and "numpy" in saved["info"]


def test_overhead_is_a_workload_module():
    assert "overhead" in run.available()
