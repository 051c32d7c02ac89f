"""tests/gpu/run_on_device.sh works before it meets a GPU: its quick CPU mode runs every part (tests,
examples, summary), and the summary reports failures it is given."""
import json
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from tests.gpu import device_examples, device_summary

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_script_runs_every_part_on_the_cpu(tmp_path):
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / "tests/gpu/run_on_device.sh"), str(tmp_path), "--cpu", "--quick"],
                          env=env, capture_output=True, text=True, timeout=300)
    summary = (tmp_path / "summary.md").read_text()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "**PASSED**" in summary and "device: cpu; quick: 1" in summary
    suite = ElementTree.parse(tmp_path / "pytest.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) >= 10 and int(suite.get("failures")) == int(suite.get("errors")) == 0
    rows = json.loads((tmp_path / "examples.json").read_text())
    assert [r["name"] for r in rows] == ["mlp", "gcn"]
    assert all(r["passed"] and 0.5 < r["device_value"] <= 1 for r in rows)


def test_every_example_accepts_its_arguments():
    import importlib
    import inspect
    for name, (module, full, quick, figure, goal) in device_examples.EXAMPLES.items():
        main = importlib.import_module(f"tinydl.examples.{module}").main
        for kwargs in (full, quick):
            inspect.signature(main).bind(verbose=0, **kwargs)
        assert goal in ("max", "min"), name


def test_an_example_below_its_cpu_figure_fails(monkeypatch):
    figures = {"cpu": 0.90, "cuda": 0.80}
    monkeypatch.setattr(device_examples, "run", lambda module, kwargs, device, figure: (figures[device], 1.0))
    row = device_examples.compare("mlp", "cuda")
    assert row["passed"] is False and (row["cpu_value"], row["device_value"]) == (0.90, 0.80)
    figures["cuda"] = 0.89  # within ACCURACY_SLACK
    assert device_examples.compare("mlp", "cuda")["passed"] is True


def test_a_crash_on_the_device_is_reported_not_raised(monkeypatch):
    def run(module, kwargs, device, figure):
        if device == "cuda":
            raise RuntimeError("cudaErrorIllegalAddress")
        return 0.9, 1.0
    monkeypatch.setattr(device_examples, "run", run)
    row = device_examples.compare("gpt", "cuda")
    assert row["passed"] is False and "cudaErrorIllegalAddress" in row["error"]


def test_the_summary_lists_failed_tests_and_missing_parts(tmp_path):
    (tmp_path / "pytest.xml").write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase classname="tests.gpu.test_cuda" name="test_a"/>'
        '<testcase classname="tests.gpu.test_cuda" name="test_b"><failure message="assert 1 == 2"/></testcase>'
        '<testcase classname="tests.gpu.test_cuda" name="test_c"><skipped/></testcase>'
        '</testsuite></testsuites>')
    text, ok = device_summary.summarize(tmp_path)
    assert not ok
    assert "**FAILED**" in text and "1 passed, 1 failed, 0 errors, 1 skipped" in text
    assert "tests.gpu.test_cuda::test_b: assert 1 == 2" in text
    assert "no examples.json" in text


@pytest.mark.parametrize("flag", ["--gpu", "cpu"])
def test_an_unknown_flag_is_a_clear_error(flag, tmp_path):
    done = subprocess.run(["bash", str(ROOT / "tests/gpu/run_on_device.sh"), str(tmp_path), flag],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"unknown flag {flag}" in done.stderr
