"""benchmarks/gpu.py and benchmarks/run_gpu_benchmarks.sh work before they meet a GPU: the dry run takes
every Python path of the script on the CPU, and the verdicts follow the issue's aims."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import gpu

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_script_runs_every_part_on_the_cpu(tmp_path):
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks/run_gpu_benchmarks.sh"), str(tmp_path), "--dry-run",
                           "--only", "mlp,gemm", "--rounds", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = (tmp_path / "summary.md").read_text()
    assert "fused kernel tests: exit 0" in summary and "benchmarks: exit 0" in summary
    assert "array-code kernels (TINYDL_FUSED=0): exit 0" in summary and "with the array-code kernels:" in summary
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["key"] for r in rows] == ["mlp", "gemm"]
    for row in rows:
        assert row["tinydl_s"] > 0 and row["reference_s"] > 0 and row["verdict"] in ("PASS", "FAIL")
        assert row["ratio"] == pytest.approx(row["tinydl_s"] / row["reference_s"])
        assert f"| {row['workload']} |" in summary
    assert "| digits-size MLP 64-128-64-10 (batch 64) |" in summary and ">= 70% of cuBLAS" in summary
    profiles = list(tmp_path.glob("profile_*.txt"))
    assert len(profiles) == 1 and "function calls" in profiles[0].read_text()


@pytest.mark.parametrize("key,ratio,verdict", [("mlp", 1.49, "PASS"), ("mlp", 1.51, "FAIL"), ("lstm", 1.9, "PASS"),
                                               ("lstm", 2.1, "FAIL"), ("gemm", 1 / 0.75, "PASS"),
                                               ("gemm", 1 / 0.65, "FAIL")])
def test_a_row_passes_within_the_issues_aim(key, ratio, verdict):
    row = gpu.make_row(key, "w", ratio * 0.01, 0.01, 3.0, 2.0)
    assert row["verdict"] == verdict and row["ratio"] == pytest.approx(ratio)
    table = gpu.format_table([row], "cuda")
    assert f"| {verdict} | 3.0 | 2.0 |" in table
    if key == "gemm":
        assert f"{round(100 / ratio)}% of the rate" in table


def test_a_workload_that_raises_is_a_failed_row_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("cudaErrorIllegalAddress")
    monkeypatch.setitem(gpu.BUILDERS, "gcn", broken)
    assert gpu.main(["--out", str(tmp_path), "--dry-run", "--only", "gcn,mlp", "--rounds", "1"]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [(r["key"], r["verdict"]) for r in rows][0] == ("gcn", "FAIL") and rows[1]["key"] == "mlp"
    table = (tmp_path / "table.md").read_text()
    assert "error: RuntimeError: cudaErrorIllegalAddress | - | - | <= 1.5x | FAIL |" in table
    assert list(tmp_path.glob("profile_mlp.txt"))  # the profile skips the failed row


def test_an_unknown_workload_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu.main(["--out", str(tmp_path), "--dry-run", "--only", "mlp,resnet"])
    assert exit_info.value.code == 2 and "unknown workloads ['resnet']" in capsys.readouterr().err


@pytest.mark.skipif(gpu.cupy_available(), reason="checks the message shown where no GPU is")
def test_without_a_gpu_the_full_run_says_why(tmp_path, capsys):
    assert gpu.main(["--out", str(tmp_path)]) == 2
    assert "needs CuPy and a CUDA GPU" in capsys.readouterr().out


def test_the_cupy_memory_hook_counts_the_peak_in_use():
    pytest.importorskip("cupy")
    hook = gpu.cupy_peak_hook()
    # called as CuPy calls them: every argument by keyword
    hook.malloc_postprocess(device_id=0, size=500, mem_size=512, mem_ptr=1, pmem_id=0)
    hook.malloc_postprocess(device_id=0, size=1000, mem_size=1024, mem_ptr=2, pmem_id=0)
    hook.free_postprocess(device_id=0, mem_size=512, mem_ptr=1, pmem_id=0)
    hook.malloc_postprocess(device_id=0, size=200, mem_size=256, mem_ptr=3, pmem_id=0)
    assert (hook.in_use, hook.peak) == (1280, 1536)
