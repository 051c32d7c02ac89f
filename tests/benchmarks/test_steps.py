"""The speed issue's table (benchmarks/steps.py): verdicts, the memory probe, the thread switch, the layout."""
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from benchmarks import steps


def test_a_row_passes_at_or_below_its_aim_and_fails_above():
    assert steps._row("w", 0.9, 1.0, 1.0)["verdict"] == "PASS"
    assert steps._row("w", 1.0, 1.0, 1.0)["verdict"] == "PASS"
    row = steps._row("w", 3.0, 2.0, 1.0)
    assert row["verdict"] == "FAIL" and row["ratio"] == 1.5
    assert steps._row("w", 3.0, 2.0, None)["verdict"] == "-"


def test_memory_rows_allow_a_slack_the_probe_cannot_resolve():
    assert steps._row("m", 0.1, 0.0, 1.0, unit="MiB", slack=1.0)["verdict"] == "PASS"
    assert steps._row("m", 2.5, 1.0, 1.0, unit="MiB", slack=1.0)["verdict"] == "FAIL"


def test_the_table_prints_times_ratio_aim_and_verdict(capsys):
    steps.print_table([steps._row("lstm step [1 thr]", 0.012, 0.010, 1.0),
                       steps._row("cnn [peak step memory]", 40.0, 16.0, 1.0, unit="MiB")])
    out = capsys.readouterr().out
    assert "12 ms" in out and "10 ms" in out and "1.20x" in out and "<= 1.00x" in out and "FAIL" in out
    assert "40.0 MiB" in out and "2.50x" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_peak_step_memory_sees_a_temporary_allocation():
    def step():
        a = np.ones(64 * 2**20 // 8)  # 64 MiB, freed before the step returns
        return float(a[-1])
    assert 60 < steps.peak_step_memory(step) < 80


def test_interleaved_returns_each_sides_fastest_call():
    import time
    a, b = steps.interleaved(lambda: time.sleep(0.002), lambda: None, rounds=3)
    assert 0.002 <= a < 0.05 and 0 <= b < 0.001


def test_one_thread_means_one_thread_everywhere_and_the_defaults_come_back():
    torch = pytest.importorskip("torch")
    import numba
    torch.set_num_threads(2)
    with steps.thread_limit(torch, 2):  # loads every thread layer, so both snapshots list the same libraries
        pass
    before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}, numba.get_num_threads()
    with steps.thread_limit(torch, 1):
        assert {i["num_threads"] for i in threadpool_info()} == {1}
        assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1
    assert ({i["filepath"]: i["num_threads"] for i in threadpool_info()}, numba.get_num_threads()) == before
    assert torch.get_num_threads() == 2
