"""The CuPy attention-softmax twins agree with the numba kernels (runs only where CuPy sees a GPU)."""
import numpy as np
import pytest

from tinydl import backend

if not backend.cupy_available():
    pytest.skip("CuPy with a GPU is not available", allow_module_level=True)

import cupy  # noqa: E402

from tinydl.backend.cpu import attention as cpu  # noqa: E402
from tinydl.backend.cuda import attention as gpu  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_cuda_softmax_matches_numba(dtype, causal):
    rng = np.random.default_rng(0)
    scores = (rng.standard_normal((2, 3, 5, 7)) * 4).astype(dtype)
    mask = rng.random((2, 1, 5, 7)) > 0.3
    mask[0, 0, 1] = False  # a fully masked row
    w_cpu = cpu.attention_softmax_fwd(scores, mask, causal, 0.5)
    w_gpu = gpu.attention_softmax_fwd(cupy.asarray(scores), cupy.asarray(mask), causal, 0.5)
    np.testing.assert_allclose(w_gpu.get(), w_cpu, atol=1e-6)
    assert np.all(w_gpu.get()[np.broadcast_to(~mask, scores.shape)] == 0)
    g = rng.standard_normal(scores.shape).astype(dtype)
    np.testing.assert_allclose(gpu.attention_softmax_bwd(w_gpu, cupy.asarray(g), 0.5).get(),
                               cpu.attention_softmax_bwd(w_cpu, g, 0.5), atol=1e-6)
