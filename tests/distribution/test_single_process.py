"""Without mpiexec the world has one rank: DataParallel changes nothing and collectives return their input."""
import subprocess
import sys

import numpy as np
import pytest

from tests.distribution import scenarios

mpi4py = pytest.importorskip("mpi4py")

from tinydl import distribution  # noqa: E402
from tinydl.distribution import data_parallel  # noqa: E402


def test_import_tinydl_does_not_import_mpi4py():
    code = ("import sys, tinydl, tinydl.models, tinydl.layers; tinydl.distribution.DataParallel; "
            "print('mpi4py' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"


def test_a_plain_process_is_a_world_of_one_rank():
    assert (distribution.rank(), distribution.size(), distribution.local_rank(), distribution.is_chief()) == \
        (0, 1, 0, True)
    x = np.array([1.5, -2.0], dtype=np.float32)
    for op in ("sum", "average", "max", "min", "prod"):
        out = distribution.allreduce(x, op)
        np.testing.assert_array_equal(out, x)
        assert out is not x and out.dtype == np.float32


def test_data_parallel_on_one_rank_trains_exactly_as_without_it():
    plain_model, plain_history = scenarios.train(scenarios.SEED, "adam", epochs=2)
    distribution.set_distribution(distribution.DataParallel())
    try:
        assert distribution.distribution() is not None and distribution.active() is None
        model, history = scenarios.train(scenarios.SEED, "adam", epochs=2)
    finally:
        distribution.set_distribution(None)
    assert history == plain_history
    for a, b in zip(model.get_weights(), plain_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_arguments_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match=r"DataParallel\(devices=...\).*must be None; got \['cpu:0'\]"):
        distribution.DataParallel(devices=["cpu:0"])
    with pytest.raises(ValueError, match="bucket_size_mb must be > 0, got 0"):
        distribution.DataParallel(bucket_size_mb=0)
    with pytest.raises(TypeError, match="set_distribution expects a DataParallel or None, got str"):
        distribution.set_distribution("data_parallel")
    with pytest.raises(ValueError, match=r"op must be one of .*got 'mean'"):
        distribution.allreduce(np.zeros(2), "mean")
    with pytest.raises(TypeError, match="expected a NumPy or CuPy array, got list"):
        distribution.allreduce([1.0, 2.0])
    with pytest.raises(TypeError, match=r"op='average' needs floating-point arrays, got \['int64'\]; use op='sum'"):
        distribution.allreduce(np.arange(3, dtype=np.int64), "average")
    with pytest.raises(ValueError, match=r"out must be a NumPy array of shape \(3,\) and dtype float32"):
        distribution.allreduce(np.zeros(3, np.float32), "sum", out=np.zeros(3, np.float64))


def test_allreduce_writes_into_out_when_given():
    x, out = np.array([1.0, 2.0, 3.0], np.float32), np.zeros(3, np.float32)
    assert distribution.allreduce(x, "sum", out=out) is out
    np.testing.assert_array_equal(out, x)


def test_distributed_optimizer_is_still_the_optimizer_it_wraps():
    from tinydl import optimizers, tensor
    sgd = optimizers.SGD(learning_rate=0.1, momentum=0.5)
    wrapped = distribution.DistributedOptimizer(sgd)
    assert isinstance(wrapped, optimizers.SGD) and wrapped is not sgd
    assert wrapped.get_config() == sgd.get_config()
    v = tensor(np.zeros(2, np.float32), requires_grad=True)
    for _ in range(2):  # momentum 0.5: steps of 0.1 then 0.15
        wrapped.apply([np.ones(2, np.float32)], [v])
    np.testing.assert_allclose(v.numpy(), [-0.25, -0.25], rtol=1e-6)


def test_gradients_are_packed_into_buckets_of_one_dtype_and_bounded_size():
    f32 = [np.zeros(n, np.float32) for n in (10, 10, 30, 5)]   # 40, 40, 120, 20 bytes
    assert data_parallel.bucket_indices(f32, bucket_bytes=100) == [[0, 1], [2], [3]]
    assert data_parallel.bucket_indices(f32, bucket_bytes=10**6) == [[0, 1, 2, 3]]
    mixed = [np.zeros(4, np.float32), np.zeros(4, np.float64), np.zeros(4, np.float64)]
    assert data_parallel.bucket_indices(mixed, bucket_bytes=10**6) == [[0], [1, 2]]
