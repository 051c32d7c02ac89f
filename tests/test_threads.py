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


def test_one_product_gets_one_thread_only_where_openblas_would_thread_it():
    with threadpool_limits(limits=2, user_api="blas"):
        with threads.gemm(64, 128, 128):  # 2**20 multiply-adds: a Dense(128) step on a batch of 64
            assert set(blas_thread_counts().values()) == {1}
        with threads.gemm(16, 16, 16):  # OpenBLAS runs this serially anyway: nothing to change
            assert set(blas_thread_counts().values()) == {2}
        with threads.gemm(1024, 2048, 2048):
            assert set(blas_thread_counts().values()) == {2}
        assert set(blas_thread_counts().values()) == {2}


def test_a_small_dense_product_runs_on_one_thread_and_gives_numpys_result(monkeypatch):
    from tinydl.ops import linalg
    seen = []
    real = linalg.MatMul._product

    def spy(self, a, b, ka):
        seen.append(set(blas_thread_counts().values()))
        return real(self, a, b, ka)

    monkeypatch.setattr(linalg.MatMul, "_product", spy)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 128)), rng.standard_normal((128, 128))
    with threadpool_limits(limits=2, user_api="blas"):
        out = td.matmul(td.tensor(a), td.tensor(b)).numpy()
    assert seen == [{1}]
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


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


def test_a_small_convolution_runs_its_products_on_one_thread(monkeypatch):
    from tinydl.ops import convolution
    seen = []
    real = convolution.Conv._gradients

    def spy(self, g):
        seen.append(set(blas_thread_counts().values()))
        return real(self, g)

    monkeypatch.setattr(convolution.Conv, "_gradients", spy)
    rng = np.random.default_rng(0)
    # one 16x16 image, 32 -> 32 channels, 3x3: 256 x 288 x 32 = 2.4e6 multiply-adds per product
    x = td.tensor(rng.standard_normal((1, 16, 16, 32)), requires_grad=True)
    k = td.tensor(rng.standard_normal((3, 3, 32, 32)), requires_grad=True)
    with threadpool_limits(limits=2, user_api="blas"):
        td.conv(x, k, padding="same").sum().backward()
        assert set(blas_thread_counts().values()) == {2}
    assert seen == [{1}]
