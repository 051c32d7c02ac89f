"""batch_norm and layer_norm values against NumPy formulas (both the row kernel and the generic path);
the array-code twins of the kernels are compared with them in tests/test_kernel_twins.py.

Gradients are checked by the registry (cases_norm.py)."""
import sys

import numpy as np
import pytest

import tinydl as td
from tinydl.backend.cpu import norm as cpu_norm

rng = np.random.default_rng(0)


def normalized(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("shape,axis", [((5, 8), -1), ((2, 3, 4), (1, 2)), ((2, 3, 4), 1), ((3, 1), -1)])
def test_layer_norm_matches_the_formula(dtype, tol, shape, axis):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    axes = (axis,) if isinstance(axis, int) else axis
    pshape = tuple(x.shape[a] for a in axes)
    gamma, beta = rng.standard_normal(pshape).astype(dtype), rng.standard_normal(pshape).astype(dtype)
    view = [x.shape[a] if a in [b % x.ndim for b in axes] else 1 for a in range(x.ndim)]
    expected = normalized(x.astype(np.float64), axes, 1e-3) * gamma.reshape(view) + beta.reshape(view)
    out = td.layer_norm(td.tensor(x), td.tensor(gamma), td.tensor(beta), axis=axis)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_batch_norm_matches_the_formula_and_returns_biased_statistics(dtype, tol):
    x = (rng.standard_normal((6, 2, 3)) * 2 - 1).astype(dtype)
    gamma, beta = np.array([0.5, 2.0, 1.0], dtype), np.array([0.0, 1.0, -1.0], dtype)
    y, mean, var = td.batch_norm(td.tensor(x), td.tensor(gamma), td.tensor(beta), epsilon=1e-2, return_stats=True)
    np.testing.assert_allclose(y.numpy(), normalized(x, (0, 1), 1e-2) * gamma + beta, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean.numpy(), x.mean(axis=(0, 1)), rtol=tol, atol=tol)
    np.testing.assert_allclose(var.numpy(), x.var(axis=(0, 1)), rtol=tol, atol=tol)


def test_batch_norm_with_given_statistics_is_an_affine_map():
    x = rng.standard_normal((4, 3))
    m, v = np.array([1.0, 0.0, -1.0]), np.array([0.5, 1.0, 4.0])
    out = td.batch_norm(td.tensor(x), mean=td.tensor(m), variance=td.tensor(v), epsilon=0.0).numpy()
    np.testing.assert_allclose(out, (x - m) / np.sqrt(v))


def test_bad_arguments_are_clear_errors():
    x = td.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="both mean and variance"):
        td.batch_norm(x, mean=td.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="one axis"):
        td.batch_norm(x, axis=(0, 1))


def test_nan_in_a_row_stays_in_that_row():
    x = rng.standard_normal((3, 4))
    x[1, 2] = np.nan
    out = td.layer_norm(td.tensor(x)).numpy()
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


def test_batch_norm_kernel_and_generic_paths_agree_for_channels_last_images():
    x = rng.standard_normal((3, 4, 5, 2))
    g = rng.standard_normal(x.shape)
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)

    def run(layout_off):
        norm = sys.modules["tinydl.ops.norm"]  # tinydl.ops.norm is keras.ops.norm, the function
        original = norm._layout
        if layout_off:
            norm._layout = lambda *a: (None, None)
        try:
            xt, gt, bt = (td.tensor(a, requires_grad=True) for a in (x, gamma, beta))
            y = td.batch_norm(xt, gt, bt)
            y.backward(g)
            return [y.numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()]
        finally:
            norm._layout = original
    for a, b in zip(run(False), run(True)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_parallel_kernels_match_the_serial_ones(monkeypatch):
    x, g = rng.standard_normal((40, 6)), rng.standard_normal((40, 6))
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    serial = cpu_norm.layer_norm_fwd(x, gamma, beta, 1e-3)
    serial_bwd = cpu_norm.layer_norm_bwd(g, serial[1], serial[4], gamma)
    monkeypatch.setattr(cpu_norm, "_PARALLEL_MIN", 1)
    for a, b in zip(cpu_norm.layer_norm_fwd(x, gamma, beta, 1e-3), serial):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)  # summation order differs near zero
    for a, b in zip(cpu_norm.layer_norm_bwd(g, serial[1], serial[4], gamma), serial_bwd):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
