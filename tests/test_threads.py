"""The thread policy (tinydl/backend/threads.py): what runs on how many threads, and that limits are restored."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import tinydl as td
from tinydl.backend import threads
from tinydl.backend.cpu import attention, conv, norm, pool, rnn, scatter


def blas_thread_counts():
    """{library file: threads} for every BLAS library loaded in this process."""
    return {info["filepath"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_the_policy_controls_numpys_blas_and_the_scipy_blas_that_numbas_np_dot_calls():
    controlled = {lib.filepath for lib in threads.blas_libraries()}
    assert controlled == set(blas_thread_counts())
    assert len(controlled) >= 2  # numpy's OpenBLAS and scipy's are two libraries with two thread pools


def test_a_loop_of_small_gemms_runs_on_one_blas_thread_and_the_count_is_restored():
    with threadpool_limits(limits=2, user_api="blas"):
        with threads.gemm_loop(32, 512, 128):  # an LSTM(128) step on a batch of 32
            assert set(blas_thread_counts().values()) == {1}
        assert set(blas_thread_counts().values()) == {2}


def test_a_loop_of_large_gemms_keeps_the_users_thread_count():
    with threadpool_limits(limits=2, user_api="blas"):
        with threads.gemm_loop(1024, 2048, 2048):
            assert set(blas_thread_counts().values()) == {2}


def test_the_count_is_restored_when_the_block_raises():
    with threadpool_limits(limits=2, user_api="blas"):
        with pytest.raises(ValueError):
            with threads.single_blas_thread():
                raise ValueError("inside")
        assert set(blas_thread_counts().values()) == {2}


def test_the_users_lower_limit_stays_the_ceiling():
    with threadpool_limits(limits=1, user_api="blas"):
        with threads.gemm_loop(1024, 2048, 2048):
            assert set(blas_thread_counts().values()) == {1}


def test_the_lstm_scan_runs_its_per_step_products_on_one_blas_thread(monkeypatch):
    seen = []
    real = rnn._lstm_fwd_step

    def spy(*args):
        seen.append(set(blas_thread_counts().values()))
        return real(*args)

    monkeypatch.setattr(rnn, "_lstm_fwd_step", spy)
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    layer = td.layers.LSTM(8)
    with threadpool_limits(limits=2, user_api="blas"):
        layer(x)
        assert set(blas_thread_counts().values()) == {2}
    assert seen == [{1}] * 3  # one per step


def test_every_cpu_kernel_module_takes_its_numba_threshold_from_the_policy():
    assert conv.PARALLEL_MIN == pool.PARALLEL_MIN == scatter.PARALLEL_MIN == threads.PARALLEL_MIN == 1 << 24
    assert attention._PARALLEL_MIN == norm._PARALLEL_MIN == threads.PARALLEL_MIN_HEAVY == 1 << 22
