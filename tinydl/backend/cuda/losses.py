"""Fused softmax + cross-entropy kernels for integer labels (CuPy twins of backend/cpu/losses.py)."""
import cupy

_bwd = cupy.ElementwiseKernel(
    "T x, float64 lse, T g, int64 label, int64 ncls",
    "T y",
    "y = (T)((exp((double)x - lse) - ((i % ncls) == label ? 1.0 : 0.0)) * (double)g)",
    "tinydl_softmax_xent_bwd",
)


def softmax_xent_fwd(logits, labels):
    """(loss, lse) for logits (n, c) float32/float64 and int labels (n,) in [0, c).

    loss has x's dtype; lse is float64 so that exp(x - lse) stays exact in float32 at logits of 1e4.
    """
    logits = cupy.ascontiguousarray(logits)
    labels = cupy.ascontiguousarray(labels, dtype=cupy.int64)
    m = logits.max(axis=1, keepdims=True)
    s = cupy.exp(logits - m).sum(axis=1, dtype=cupy.float64)   # terms in (0, 1]: exp in the input dtype
    lse = m[:, 0].astype(cupy.float64) + cupy.log(s)
    picked = cupy.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return (lse - picked).astype(logits.dtype), lse


def softmax_xent_bwd(logits, labels, lse, grad):
    """d(sum(loss * grad)) / d logits = (softmax(logits) - onehot(labels)) * grad[:, None]; shape (n, c)."""
    logits = cupy.ascontiguousarray(logits)
    labels = cupy.ascontiguousarray(labels, dtype=cupy.int64)
    lse = cupy.asarray(lse, dtype=cupy.float64)
    grad = cupy.asarray(grad, dtype=logits.dtype)
    return _bwd(logits, lse[:, None], grad[:, None], labels[:, None], logits.shape[1])
