"""Conv backward drops its patch matrix once the kernel gradient is taken; a retained graph still works."""
import numpy as np
import pytest

import tinydl as td
from tinydl.ops.convolution import Conv


def test_a_second_backward_through_a_retained_graph_rebuilds_the_patches_and_gets_the_same_gradients():
    rng = np.random.default_rng(0)
    x = td.tensor(rng.standard_normal((2, 6, 6, 3)), requires_grad=True)
    k = td.tensor(rng.standard_normal((3, 3, 3, 4)), requires_grad=True)
    y = td.conv(x, k, padding="same")
    g = rng.standard_normal(y.shape)
    y.backward(g, retain_graph=True)
    first_x, first_k = x.grad.numpy().copy(), k.grad.numpy().copy()
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x, rtol=1e-12)
    np.testing.assert_allclose(k.grad.numpy(), 2 * first_k, rtol=1e-12)
    # the kernel gradient against a NumPy reference: sum over positions of patch * upstream gradient
    xp = np.pad(x.numpy(), ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = np.einsum("nijc,nijo->co", xp[:, 0:6, 0:6], g)  # tap (0, 0)
    np.testing.assert_allclose(first_k[0, 0], ref, rtol=1e-10)


@pytest.mark.parametrize("groups, strides, padding", [(1, 1, "valid"), (1, 2, "same"), (2, 1, "same")])
def test_a_conv_built_one_batch_slice_at_a_time_matches_the_whole_batch(monkeypatch, groups, strides, padding):
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((5, 7, 6, 4))
    k_np = rng.standard_normal((3, 3, 4 // groups, 6))
    g = None
    results = []
    for patch_bytes in (1 << 30, 1):  # one slice for the whole batch, then one image per slice
        monkeypatch.setattr(Conv, "PATCH_BYTES", patch_bytes)
        x, k = td.tensor(x_np, requires_grad=True), td.tensor(k_np, requires_grad=True)
        y = td.conv(x, k, strides=strides, padding=padding, groups=groups)
        g = rng.standard_normal(y.shape) if g is None else g
        y.backward(g)
        results.append((y.numpy(), x.grad.numpy(), k.grad.numpy()))
    for whole, sliced in zip(*results):
        np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    # and the forward against a plain loop over output pixels
    y = results[0][0]
    pads = [(0, 0) if padding == "valid" else _same_padding(n, out, strides)
            for n, out in zip(x_np.shape[1:3], y.shape[1:3])]
    xp = np.pad(x_np, ((0, 0), *pads, (0, 0)))
    cg, og = 4 // groups, 6 // groups
    ref = np.zeros_like(y)
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            patch = xp[:, i * strides:i * strides + 3, j * strides:j * strides + 3]
            for grp in range(groups):
                ref[..., i, j, grp * og:(grp + 1) * og] = np.einsum(
                    "nabc,abco->no", patch[..., grp * cg:(grp + 1) * cg], k_np[..., grp * og:(grp + 1) * og])
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)


def _same_padding(n, out, stride, k=3):
    """TF/Keras 'same': the total padding split with the odd pixel at the end."""
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2
