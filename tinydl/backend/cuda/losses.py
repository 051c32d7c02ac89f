"""Fused softmax + cross-entropy kernels for integer labels (CuPy twins of backend/cpu/losses.py)."""
import cupy

_bwd = cupy.ElementwiseKernel(
    "T x, float64 m, float64 shift, T g, int64 label, int64 ncls",
    "T y",
    "y = (T)((exp(((double)x - m) - shift) - ((i % ncls) == label ? 1.0 : 0.0)) * (double)g)",
    "tinydl_softmax_xent_bwd",
)


def softmax_xent_fwd(logits, labels):
    """(loss, stats) for logits (n, c) float32/float64 and int labels (n,) in [0, c).

    stats (n, 2) float64: the row max m and s = log(sum(exp(x - m))); the loss is s - (x[label] - m),
    never (m + s) - x[label], which loses s at logits of 1e16 (see backend/cpu/losses.py).
    """
    logits = cupy.ascontiguousarray(logits)
    labels = cupy.ascontiguousarray(labels, dtype=cupy.int64)
    m = logits.max(axis=1, keepdims=True)
    s = cupy.exp(logits - m).sum(axis=1, dtype=cupy.float64)   # terms in (0, 1]: exp in the input dtype
    m64, shift = m[:, 0].astype(cupy.float64), cupy.log(s)
    picked = cupy.take_along_axis(logits, labels[:, None], axis=1)[:, 0].astype(cupy.float64)
    return (shift - (picked - m64)).astype(logits.dtype), cupy.stack([m64, shift], axis=1)


def softmax_xent_bwd(logits, labels, stats, grad):
    """d(sum(loss * grad)) / d logits = (softmax(logits) - onehot(labels)) * grad[:, None]; shape (n, c)."""
    logits = cupy.ascontiguousarray(logits)
    labels = cupy.ascontiguousarray(labels, dtype=cupy.int64)
    stats = cupy.asarray(stats, dtype=cupy.float64)
    grad = cupy.asarray(grad, dtype=logits.dtype)
    return _bwd(logits, stats[:, :1], stats[:, 1:], grad[:, None], labels[:, None], logits.shape[1])
