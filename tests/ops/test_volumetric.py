"""The 3D convolutions run unchanged on the GPU path: with backend/cuda's array-code im2col/col2im twins
(on NumPy arrays standing in for CuPy) conv3d and conv3d_transpose give the numba path's values and gradients."""
import importlib

import numpy as np
import pytest

import tinydl as td
from tinydl import backend

CUDA_CONV = importlib.import_module("tinydl.backend.cuda.conv")


def _run(fn, x, w):
    xt, wt = td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True)
    y = fn(xt, wt)
    (y * td.tensor(np.cos(np.arange(y.size)).reshape(y.shape))).sum().backward()
    return y.numpy(), xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("fn, x_shape, w_shape", [
    (lambda x, w: td.conv3d(x, w, strides=(2, 1, 2), padding="same", groups=2), (2, 5, 4, 5, 4), (3, 2, 3, 2, 4)),
    (lambda x, w: td.conv3d(x, w, dilation_rate=(1, 2, 1)), (1, 4, 5, 3, 2), (2, 2, 2, 2, 3)),
    (lambda x, w: td.conv3d_transpose(x, w, strides=2, padding="same"), (2, 2, 3, 2, 3), (3, 3, 3, 2, 3)),
])
def test_gpu_array_code_path_matches_the_numba_path(monkeypatch, fn, x_shape, w_shape):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    expected = _run(fn, x, w)
    cpu_kernel, used = backend.kernel, set()

    def twin(name, like=None):
        if hasattr(CUDA_CONV, name):
            used.add(name)
            return getattr(CUDA_CONV, name)
        return cpu_kernel(name, like)
    monkeypatch.setattr(backend, "kernel", twin)
    for got, want in zip(_run(fn, x, w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert used == {"im2col", "col2im"}
