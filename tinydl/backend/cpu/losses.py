"""Fused softmax + cross-entropy kernels for integer labels (numba).

Rows of logits (n, c) with labels (n,): the forward pass returns each row's loss
`logsumexp(x) - x[label]` and the log-sum-exp it used, so the backward pass rebuilds the softmax
without storing it: d loss / d x = (softmax(x) - onehot(label)) * g. The max is subtracted before
exponentiating, so logits of 1e4 neither overflow nor lose the loss.
"""
import math

import numba
import numpy as np

_PARALLEL_MIN_ELEMENTS = 1 << 16  # below this, numba's thread start-up costs more than it saves


def softmax_xent_fwd(logits, labels):
    """(loss, lse) for logits (n, c) float32/float64 and int labels (n,) in [0, c).

    loss has x's dtype; lse is float64 so that exp(x - lse) stays exact in float32 at logits of 1e4.
    """
    logits = np.ascontiguousarray(logits)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    n = logits.shape[0]
    loss = np.empty(n, dtype=logits.dtype)
    lse = np.empty(n, dtype=np.float64)
    if n:
        fwd = _fwd_parallel if logits.size >= _PARALLEL_MIN_ELEMENTS else _fwd_serial
        fwd(logits, labels, loss, lse)
    return loss, lse


def softmax_xent_bwd(logits, labels, lse, grad):
    """d(sum(loss * grad)) / d logits = (softmax(logits) - onehot(labels)) * grad[:, None]; shape (n, c)."""
    logits = np.ascontiguousarray(logits)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    lse = np.ascontiguousarray(lse, dtype=np.float64)
    grad = np.ascontiguousarray(grad, dtype=logits.dtype)
    out = np.empty_like(logits)
    if logits.shape[0]:
        bwd = _bwd_parallel if logits.size >= _PARALLEL_MIN_ELEMENTS else _bwd_serial
        bwd(logits, labels, lse, grad, out)
    return out


@numba.njit(cache=True)
def _fwd_row(logits, labels, loss, lse, i):
    c = logits.shape[1]
    m = logits[i, 0]
    for j in range(1, c):
        if logits[i, j] > m:
            m = logits[i, j]
    m64 = np.float64(m)
    s = 0.0
    for j in range(c):
        s += math.exp(np.float64(logits[i, j]) - m64)
    total = m64 + math.log(s)
    lse[i] = total
    loss[i] = total - np.float64(logits[i, labels[i]])


@numba.njit(cache=True)
def _fwd_serial(logits, labels, loss, lse):
    for i in range(logits.shape[0]):
        _fwd_row(logits, labels, loss, lse, i)


@numba.njit(cache=True, parallel=True)
def _fwd_parallel(logits, labels, loss, lse):
    for i in numba.prange(logits.shape[0]):
        _fwd_row(logits, labels, loss, lse, i)


@numba.njit(cache=True)
def _bwd_row(logits, labels, lse, grad, out, i):
    g = grad[i]
    total = lse[i]
    for j in range(logits.shape[1]):
        out[i, j] = math.exp(np.float64(logits[i, j]) - total) * g
    out[i, labels[i]] -= g


@numba.njit(cache=True)
def _bwd_serial(logits, labels, lse, grad, out):
    for i in range(logits.shape[0]):
        _bwd_row(logits, labels, lse, grad, out, i)


@numba.njit(cache=True, parallel=True)
def _bwd_parallel(logits, labels, lse, grad, out):
    for i in numba.prange(logits.shape[0]):
        _bwd_row(logits, labels, lse, grad, out, i)
