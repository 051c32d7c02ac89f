"""The CuPy graph kernels give the numba kernels' results (runs only where CuPy sees a GPU)."""
import numpy as np
import pytest

from tinydl import backend

if not backend.cupy_available():
    pytest.skip("needs CuPy and a GPU", allow_module_level=True)

import cupy  # noqa: E402

from tinydl.backend.cpu import scatter as cpu  # noqa: E402
from tinydl.backend.cuda import scatter as gpu  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernels_match_cpu(dtype):
    rng = np.random.default_rng(0)
    rows, segments, feats = 200, 37, 5
    index = rng.integers(0, segments - 3, rows)  # the last segments stay empty
    src = rng.standard_normal((rows, feats)).astype(dtype)
    order, indptr = cpu.segment_csr(index, segments)
    g_order, g_indptr = gpu.segment_csr(cupy.asarray(index), segments)
    np.testing.assert_array_equal(g_order.get(), order)
    np.testing.assert_array_equal(g_indptr.get(), indptr)
    g_src = cupy.asarray(src)
    np.testing.assert_allclose(gpu.csr_sum(g_src, g_order, g_indptr).get(), cpu.csr_sum(src, order, indptr),
                               rtol=1e-5)
    out, arg = cpu.csr_max(src, order, indptr)
    g_out, g_arg = gpu.csr_max(g_src, g_order, g_indptr)
    np.testing.assert_array_equal(g_out.get(), out)
    np.testing.assert_array_equal(g_arg.get(), arg)
    g = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_array_equal(gpu.csr_max_backward(cupy.asarray(g), g_arg, rows).get(),
                                  cpu.csr_max_backward(g, arg, rows))
    y = cpu.segment_softmax_forward(src, order, indptr)
    g_y = gpu.segment_softmax_forward(g_src, g_order, g_indptr)
    np.testing.assert_allclose(g_y.get(), y, rtol=1e-5)
    grad = rng.standard_normal(src.shape).astype(dtype)
    np.testing.assert_allclose(gpu.segment_softmax_backward(g_y, cupy.asarray(grad), g_order, g_indptr).get(),
                               cpu.segment_softmax_backward(y, grad, order, indptr), rtol=1e-4, atol=1e-6)
    x = rng.standard_normal((segments, feats)).astype(dtype)
    cols = rng.integers(0, segments, rows)
    values = rng.standard_normal(rows).astype(dtype)
    np.testing.assert_allclose(
        gpu.csr_spmm(cupy.asarray(x), cupy.asarray(cols[order]), cupy.asarray(values[order]), g_indptr).get(),
        cpu.csr_spmm(x, cols[order], values[order], indptr), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        gpu.edge_dot(cupy.asarray(x), cupy.asarray(x), cupy.asarray(index), cupy.asarray(cols)).get(),
        cpu.edge_dot(x, x, index, cols), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gpu.gather_rows(cupy.asarray(x), cupy.asarray(cols)).get(),
                                  cpu.gather_rows(x, cols))


def test_gcn_layer_runs_on_cuda():
    import tinydl as td
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    edge_index = rng.integers(0, 30, (2, 90))
    td.set_seed(0)
    layer = td.layers.GCNConv(3)
    expected = layer([x, edge_index]).numpy()
    weights = layer.get_weights()
    with td.device("cuda"):
        td.set_seed(0)
        on_gpu = td.layers.GCNConv(3)
        xt = td.tensor(x, device="cuda", requires_grad=True)
        out = on_gpu([xt, edge_index])
        on_gpu.set_weights(weights)
        out = on_gpu([xt, edge_index])
        out.sum().backward()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert xt.grad.device == "cuda"
