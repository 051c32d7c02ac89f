"""Conv backward drops its patch matrix once the kernel gradient is taken; a retained graph still works."""
import numpy as np

import tinydl as td


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
